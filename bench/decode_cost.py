"""Decoding cost of models alone: every sentence decoded to exactly N tokens (min = max length), so only model
compute differs — output length, stopping and quality do not enter. For the student-vs-teacher speed budget:
the teacher with its 3-shot prompt and full vocabulary vs students (trimmed vocabulary, plain prompt, fewer layers).

    python bench/decode_cost.py teacher=embedded:gemma-3-270m s18=RUN/translator-KEY/model s10=PRUNED/model \
        [--tokens 40] [--sentences 48] [--batch-sizes 16,64] [--json bench/results/decode_cost.json]

The model named `teacher` gets the `few-shot` prompt, every other one the `plain` prompt; CTranslate2 int8,
held-out TICO-19 sentences, each batch size in turn. The teacher is measured twice: with the whole prompt
prefilled per sentence (`teacher`) and with the 3-shot prefix all its prompts share given once as CTranslate2's
static prompt, as the ct2 engine does (`teacher+prefix`). Prints sentences per CPU-second and the ratio to the
teacher at the same batch size.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def prompts_for(name: str, texts: list[str], src: str, tgt: str) -> list[str]:
    from hala.prompts import get_template

    if name == "teacher":
        return [get_template("few-shot").completion(x, src, tgt) for x in texts]
    return [get_template("plain").chat_messages(x, src, tgt)[0]["content"] for x in texts]


def main() -> None:
    import ctranslate2
    from transformers import AutoTokenizer

    from hala.models import resolve_model
    from hala.translate.engines.ct2 import converted, shared_prefix

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="NAME=MODEL_REF; the one named `teacher` is the reference")
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--sentences", type=int, default=48)
    parser.add_argument("--batch-sizes", default="16", help="comma-separated, each measured in turn")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    models = dict(m.split("=", 1) for m in args.models)
    data = ROOT / "src" / "hala" / "data" / "tico19_heldout_en_ar.jsonl"
    rows = [json.loads(line) for line in data.open(encoding="utf-8")][: args.sentences]
    out: dict = {}
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    for name, ref in models.items():
        tok = AutoTokenizer.from_pretrained(resolve_model(ref))
        gen = ctranslate2.Generator(str(converted(ref, "int8")), device="cpu", compute_type="int8")
        for direction, (src, tgt, field) in {"en-ar": ("en", "ar", "src"), "ar-en": ("ar", "en", "tgt")}.items():
            toks = [
                tok.convert_ids_to_tokens(tok(p)["input_ids"])
                for p in prompts_for(name, [r[field] for r in rows], src, tgt)
            ]
            variants = {name: ([], toks)}
            if name == "teacher":
                prefix = shared_prefix(toks)
                variants["teacher+prefix"] = (prefix, [t[len(prefix) :] for t in toks])
            for variant, (prefix, inputs) in variants.items():
                static = {"static_prompt": prefix, "cache_static_prompt": True} if prefix else {}
                for bs in sizes:
                    c0, w0 = cpu_seconds(), time.time()
                    for i in range(0, len(inputs), bs):
                        gen.generate_batch(
                            inputs[i : i + bs],
                            **static,
                            max_batch_size=bs,
                            min_length=args.tokens,
                            max_length=args.tokens,
                            sampling_topk=1,
                            include_prompt_in_result=False,
                        )
                    cpu = cpu_seconds() - c0
                    out.setdefault(f"{variant} b{bs}", {})[direction] = {
                        "batch_size": bs,
                        "cpu_s": round(cpu, 2),
                        "wall_s": round(time.time() - w0, 2),
                        "mean_prompt_tokens": round(sum(map(len, toks)) / len(toks), 1),
                        "shared_prefix_tokens": len(prefix),
                        "sentences_per_cpu_second": round(len(toks) / cpu, 3),
                    }
    for name, dirs in out.items():
        for direction, r in dirs.items():
            ratio, ref = "", out.get(f"teacher b{r['batch_size']}")
            if ref and not name.startswith("teacher b"):
                ratio = f" ({r['sentences_per_cpu_second'] / ref[direction]['sentences_per_cpu_second']:.2f}x)"
            print(f"{name:<20} {direction}: {r['sentences_per_cpu_second']:.3f} sent/CPU-s{ratio}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"tokens": args.tokens, "sentences": len(rows), "models": models, "results": out}, indent=1)
        )


if __name__ == "__main__":
    main()
