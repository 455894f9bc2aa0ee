"""Recorded eval runs on the embedded Gemma-3-270M base model (CPU), with wall times.

Parts (each appends its results to the JSON file, so they can run one at a time on a shared machine):
  translation  chrF++ / BLEU on TICO-19 EN→AR and AR→EN (a spread slice), few-shot template, hf engine
  mcq          acc / acc_norm on MMLU-ar-mt (AceGPT machine translation) and ACVA, zero-shot, OALL prompts
  refcheck     hala vs lm-evaluation-harness 0.4.13 on the same rendered questions: acc, acc_norm, log-probs,
               and both wall times side by side (hala's prefix-shared scorer vs lm-eval's HFLM)

    python bench/eval_embedded.py translation --tico-limit 100
    python bench/eval_embedded.py mcq --mmlu-limit 200 --acva-limit 300
    python bench/eval_embedded.py refcheck --ref-limit 60

Needs ../shared/data (developer machines). Results: bench/results/eval_embedded.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MODEL = "embedded:gemma-3-270m"


def _record(out: Path, key: str, entry: dict) -> None:
    import torch

    data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    data[key] = {
        **entry,
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs), "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}",
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def translation(args) -> None:
    from hala.evaluate.translation import evaluate_translation

    for src, tgt in (("en", "ar"), ("ar", "en")):
        t0 = time.time()
        r = evaluate_translation(
            MODEL,
            SHARED / "tico19-en-ar" / "tico19-test",
            src_lang=src,
            tgt_lang=tgt,
            template="few-shot",
            limit=args.tico_limit,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            cache=args.work / f"tico_{src}-{tgt}.jsonl",
        )
        wall = time.time() - t0
        entry = {
            "model": MODEL,
            "data": "TICO-19 test (../shared/data/tico19-en-ar), spread slice",
            "template": "few-shot (3 shots)",
            "engine": "hf (bf16)",
            "n": r["n"],
            "chrf": r["chrf"],
            "bleu": r["bleu"],
            "rejected_by_guards": r["rejected"],
            "signature": r["signature"],
            "wall_seconds": round(wall, 1),
            "sentences_per_second": r["sentences_per_second"],
            "worst": r["worst"][:3],
        }
        print(
            f"{src}->{tgt}: chrF++ {r['chrf']:.2f}  BLEU {r['bleu']:.2f}  n={r['n']}  rejected={r['rejected']}  "
            f"{wall:.0f} s"
        )
        _record(args.out, f"translation_{src}-{tgt}", entry)


def mcq(args) -> None:
    from hala.evaluate.loglik import LoglikScorer
    from hala.evaluate.mcq import evaluate_task
    from hala.evaluate.tasks import resolve_task

    t0 = time.time()
    scorer = LoglikScorer.load(MODEL, batch_size=args.batch_size)
    load = time.time() - t0
    for name, path, limit in (
        ("mmlu-ar-mt", SHARED / "mmlu-ar-mt", args.mmlu_limit),
        ("acva-ar", SHARED / "acva-ar", args.acva_limit),
    ):
        t0 = time.time()
        r = evaluate_task(scorer, resolve_task(f"{name}={path}"), few_shot=args.few_shot, limit=limit)
        wall = time.time() - t0
        chance = sum(1 / len(d["logprobs"]) for d in r["details"]) / r["n"]
        gold_share = sum(d["gold"] == 0 for d in r["details"]) / r["n"]
        pred_share = sum(d["pred"] == 0 for d in r["details"]) / r["n"]  # a label bias shows up here
        entry = {
            "model": MODEL,
            "task": name,
            "prompt": r["prompt"],
            "few_shot": args.few_shot,
            "n": r["n"],
            "acc": r["acc"],
            "acc_norm": r["acc_norm"],
            "chance": round(chance, 4),
            "share_of_gold_first_choice": round(gold_share, 4),
            "share_of_pred_first_choice": round(pred_share, 4),
            "wall_seconds": round(wall, 1),
            "model_load_seconds": round(load, 1),
            "questions_per_second": r["questions_per_second"],
        }
        print(
            f"{name}: acc {r['acc']:.4f}  acc_norm {r['acc_norm']:.4f}  n={r['n']}  chance {chance:.3f}  {wall:.0f} s"
        )
        _record(args.out, f"mcq_{name}", entry)


def refcheck(args) -> None:
    import tempfile

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from hala.evaluate.formats import context, render
    from hala.evaluate.loglik import LoglikScorer
    from hala.evaluate.mcq import evaluate_task
    from hala.evaluate.subset import spread
    from hala.evaluate.tasks import resolve_task
    from hala.models import resolve_model

    sys.path.insert(0, str(ROOT / "tests"))
    from test_eval_refcheck import TASK_YAML

    model_dir = resolve_model(MODEL)
    tasks = [resolve_task(f"acva-ar={SHARED / 'acva-ar'}"), resolve_task(f"mmlu-ar-mt={SHARED / 'mmlu-ar-mt'}")]
    t0 = time.time()
    scorer = LoglikScorer.load(str(model_dir), batch_size=args.batch_size)
    details, docs = [], []
    for data in tasks:
        details += evaluate_task(scorer, data, limit=args.ref_limit)["details"]
        docs += [render(data.prompt, item) for item in spread(data.items, args.ref_limit)]
    hala_seconds = time.time() - t0
    del scorer  # two float32 copies of the model plus lm-eval's full-vocabulary log-softmax do not fit beside others
    work = Path(tempfile.mkdtemp(prefix="hala-refcheck-"))
    with open(work / "docs.jsonl", "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(
                json.dumps(
                    {"context": context(doc, []), "choices": doc.continuations, "gold": doc.gold}, ensure_ascii=False
                )
                + "\n"
            )
    (work / "hala_refcheck.yaml").write_text(TASK_YAML.format(docs=work / "docs.jsonl"), encoding="utf-8")
    t0 = time.time()
    # lm-eval materialises [batch, length, 262k] log-probabilities: batch 1 keeps that near 300 MB for Gemma.
    lm = HFLM(pretrained=str(model_dir), dtype="float32", batch_size=args.ref_batch_size, device="cpu")
    out = simple_evaluate(
        model=lm,
        tasks=["hala_refcheck"],
        log_samples=True,
        task_manager=TaskManager(include_path=str(work), include_defaults=False),
    )
    lm_seconds = time.time() - t0
    ref = out["results"]["hala_refcheck"]
    samples = sorted(out["samples"]["hala_refcheck"], key=lambda s: s["doc_id"])
    diffs = [abs(a[0] - b) for s, d in zip(samples, details) for a, b in zip(s["filtered_resps"], d["logprobs"])]
    n = len(details)
    entry = {
        "model": MODEL,
        "examples": f"{args.ref_limit} ACVA (acva prompt) + {args.ref_limit} MMLU-ar-mt "
        f"(arabic_mmlu_mt prompt), zero-shot, float32",
        "n": n,
        "hala_acc": sum(d["acc"] for d in details) / n,
        "hala_acc_norm": sum(d["acc_norm"] for d in details) / n,
        "lm_eval_acc": ref["acc,none"],
        "lm_eval_acc_norm": ref["acc_norm,none"],
        "per_question_agreement": sum(
            (s["acc"], s["acc_norm"]) == (d["acc"], d["acc_norm"]) for s, d in zip(samples, details)
        )
        / n,
        "max_abs_logprob_diff": max(diffs),
        "pred_differs_from_pred_norm": sum(d["pred"] != d["pred_norm"] for d in details),
        "hala_seconds_incl_load": round(hala_seconds, 1),
        "lm_eval_seconds_incl_load": round(lm_seconds, 1),
        "lm_eval_batch_size": args.ref_batch_size,
        "hala_batch_size": args.batch_size,
        "lm_eval_version": __import__("lm_eval").__version__,
    }
    print(json.dumps(entry, indent=2))
    _record(args.out, "refcheck_lm_eval", entry)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["translation", "mcq", "refcheck"])
    p.add_argument("--tico-limit", type=int, default=100)
    p.add_argument("--mmlu-limit", type=int, default=200)
    p.add_argument("--acva-limit", type=int, default=300)
    p.add_argument("--ref-limit", type=int, default=60)
    p.add_argument("--ref-batch-size", type=int, default=1, help="lm-eval's batch size in the refcheck part")
    p.add_argument("--few-shot", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on the shared, oversubscribed 2-core dev machine one thread "
        "measured 2.5x (generation) to 10x (scoring) faster than two)",
    )
    p.add_argument("--work", type=Path, default=Path("/tmp/hala-bench-eval"))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "eval_embedded.json")
    args = p.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs the shared dev data at {SHARED}")
    import torch

    torch.set_num_threads(args.threads)
    {"translation": translation, "mcq": mcq, "refcheck": refcheck}[args.part](args)


if __name__ == "__main__":
    main()
