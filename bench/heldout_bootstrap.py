"""A trained student translator against its 3-shot teacher on every held-out pair, with a paired bootstrap.

    python bench/heldout_bootstrap.py RUN_DIR [--directions ar-en en-ar] [--samples 1000]

RUN_DIR is a finished quickstart run (its `translator-*/model` is the student). Both models translate all 200
held-out TICO-19 pairs shipped with hala (no stage trains, filters or selects on them) with the quickstart's
headline settings (CTranslate2 int8, greedy, output cap 2 × source tokens + 8, guards off), then the chrF++
difference is resampled over sentences. Prints and writes bench/results/heldout_bootstrap.json. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import sacrebleu

from hala.evaluate.translation import evaluate_translation

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "hala" / "data" / "tico19_heldout_en_ar.jsonl"
GUARDS_OFF = {"skip": ["empty", "max_tokens", "repetition", "length_ratio", "wrong_script", "numbers"]}
OPTIONS = {"compute_type": "int8", "length_cap": [2.0, 8], "guards": GUARDS_OFF}


def translate(model: str, template: str, src: str, tgt: str) -> dict:
    return evaluate_translation(
        model,
        DATA,
        src_lang=src,
        tgt_lang=tgt,
        engine="ct2",
        template=template,
        max_new_tokens=96,
        batch_size=16,
        engine_options=OPTIONS,
    )


def chrf(hyps: list[str], refs: list[str], idx: list[int]) -> float:
    return sacrebleu.corpus_chrf([hyps[i] for i in idx], [[refs[i] for i in idx]], word_order=2).score


def compare(student: str, direction: str, samples: int) -> dict:
    src, tgt = direction.split("-")
    teacher_run = translate("embedded:gemma-3-270m", "few-shot", src, tgt)
    student_run = translate(student, "plain", src, tgt)
    refs = [s["ref"] for s in teacher_run["sentences"]]
    hyp_t = [s["hyp"] for s in teacher_run["sentences"]]
    hyp_s = [s["hyp"] for s in student_run["sentences"]]
    n, rng, deltas = len(refs), random.Random(0), []
    for _ in range(samples):
        idx = [rng.randrange(n) for _ in range(n)]
        deltas.append(chrf(hyp_s, refs, idx) - chrf(hyp_t, refs, idx))
    deltas.sort()
    return {
        "n": n,
        "teacher_chrf": teacher_run["chrf"],
        "student_chrf": student_run["chrf"],
        "delta": chrf(hyp_s, refs, list(range(n))) - chrf(hyp_t, refs, list(range(n))),
        "share_of_resamples_student_not_better": sum(d <= 0 for d in deltas) / samples,
        "ci95": [deltas[int(0.025 * samples)], deltas[int(0.975 * samples) - 1]],
        "signature": teacher_run.get("signature", {}).get("chrf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--directions", nargs="+", default=["ar-en", "en-ar"])
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    student = str(next(args.run_dir.glob("translator-*/model")))
    results = {d: compare(student, d, args.samples) for d in args.directions}
    for d, r in results.items():
        print(
            f"{d}: teacher {r['teacher_chrf']:.2f} -> student {r['student_chrf']:.2f} chrF++ ({r['delta']:+.2f}; "
            f"95% CI {r['ci95'][0]:+.2f}..{r['ci95'][1]:+.2f}; student not better in "
            f"{r['share_of_resamples_student_not_better']:.1%} of {args.samples} resamples), n = {r['n']}"
        )
    out = ROOT / "bench" / "results" / "heldout_bootstrap.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"student": student, "results": results}, indent=1))


if __name__ == "__main__":
    main()
