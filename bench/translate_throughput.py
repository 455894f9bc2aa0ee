"""Translation throughput on CPU: each hala engine vs a naive loop of batch-1 `generate`, in one run.

    python bench/translate_throughput.py [--sentences 200] [--naive-sentences 200] [--model embedded:gemma-3-270m]

Same few-shot prompts (hala's `few-shot` template), same greedy decoding and the same stop rule (end of line)
for every variant, so generated tokens are comparable; model loading is timed separately and not counted.
Data: TICO-19 test English side (CC0) from ../shared/data/tico19-en-ar. Writes bench/results/translate_throughput.json.
`--naive-sentences` can time the slow baseline on the first N sentences only (its rate is per token; say so).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICO = ROOT.parent / "shared" / "data" / "tico19-en-ar" / "tico19-test.en"


def naive_loop(model_ref: str, prompts, max_new_tokens: int, stop: tuple[str, ...]) -> dict:
    """What one writes first: one prompt at a time through `model.generate`, bf16, same stop tokens."""
    import torch

    from hala.models import load_model, load_tokenizer
    from hala.translate.engines.base import eos_ids, finish, prompt_ids, stop_token_ids

    t0 = time.time()
    tok, model = load_tokenizer(model_ref), load_model(model_ref, dtype="bfloat16")
    load = time.time() - t0
    ends = eos_ids(tok, model.generation_config) | stop_token_ids(tok, stop)
    t0, c0, tokens, texts = time.time(), time.process_time(), 0, []
    for p in prompts:
        ids = torch.tensor([prompt_ids(tok, p)])
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                eos_token_id=sorted(ends),
                pad_token_id=tok.pad_token_id,
                top_p=None,
                top_k=None,
                temperature=None,
            )
        g = finish(tok, out[0, ids.shape[1] :].tolist(), ends, max_new_tokens, stop)
        tokens += g.tokens
        texts.append(g.text)
    return {
        "load_s": load,
        "seconds": time.time() - t0,
        "cpu_s": time.process_time() - c0,
        "tokens": tokens,
        "texts": texts,
    }


def engine_run(name: str, model_ref: str, prompts, max_new_tokens: int, stop, batch: int, **options) -> dict:
    from hala.translate.engines import GenSettings, make_engine

    t0 = time.time()
    engine = make_engine(name, model_ref, batch_size=batch, **options)
    load = time.time() - t0
    engine.generate(prompts[:2], GenSettings(max_new_tokens=4, stop=stop))  # warm-up (stop-token table, kernels)
    t0, c0 = time.time(), time.process_time()
    gens = engine.generate(prompts, GenSettings(max_new_tokens=max_new_tokens, stop=stop))
    return {
        "load_s": load,
        "seconds": time.time() - t0,
        "cpu_s": time.process_time() - c0,
        "tokens": sum(g.tokens for g in gens),
        "texts": [g.text for g in gens],
    }


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--naive-sentences", type=int, default=None, help="time the naive loop on the first N only")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=0, help="torch and CTranslate2 threads (0: library default)")
    ap.add_argument("--variants", default="naive,hf,ct2", help="comma list of naive, hf, ct2, ct2-fp32")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "translate_throughput.json")
    args = ap.parse_args()

    import torch

    from hala.prompts import get_template
    from hala.translate.translator import build_prompt

    if args.threads:
        torch.set_num_threads(args.threads)
    if not TICO.exists():
        raise SystemExit(f"benchmark data not found: {TICO} (../shared is on developer machines and CI only)")
    sentences = [line.rstrip("\n") for line in TICO.open(encoding="utf-8")][: args.sentences]
    prompts = [build_prompt("few-shot", s, "en", "ar") for s in sentences]
    stop = get_template("few-shot").stop
    runs = {}
    for v in args.variants.split(","):
        print(f"running {v} ...", flush=True)
        if v == "naive":
            n = args.naive_sentences or len(prompts)
            r = naive_loop(args.model, prompts[:n], args.max_new_tokens, stop)
            r.update(engine="transformers generate, batch 1 loop", dtype="bfloat16", batch=1)
        elif v == "hf":
            r = engine_run("hf", args.model, prompts, args.max_new_tokens, stop, args.batch, dtype="bfloat16")
            r.update(engine="hala hf (length-sorted, left-padded batches)", dtype="bfloat16", batch=args.batch)
        elif v in ("ct2", "ct2-fp32"):
            ct = "int8" if v == "ct2" else "float32"
            r = engine_run(
                "ct2", args.model, prompts, args.max_new_tokens, stop, args.batch, compute_type=ct, threads=args.threads
            )
            r.update(engine="hala ct2 (CTranslate2)", dtype=ct, batch=args.batch)
        else:
            raise SystemExit(f"unknown variant {v}")
        r["sentences"] = len(r["texts"])
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        r["tokens_per_cpu_s"] = r["tokens"] / r["cpu_s"]
        r["sentences_per_cpu_s"] = r["sentences"] / r["cpu_s"]  # fairer when variants stop at other lengths
        r["sentences_per_s"] = r["sentences"] / r["seconds"]
        runs[v] = r
        print(
            f"  {v}: {r['sentences']} sentences, {r['tokens']} tokens in {r['seconds']:.1f} s "
            f"({r['cpu_s']:.1f} CPU s) = {r['tokens_per_s']:.1f} tok/s, {r['sentences_per_s']:.2f} sent/s "
            f"(load {r['load_s']:.1f} s)",
            flush=True,
        )
    base = runs.get("naive")
    # On a shared machine wall time is noisy; tokens per CPU-second is the steadier comparison.
    print(
        f"\n{'variant':<10} {'dtype':<9} {'batch':>5} {'sent':>5} {'tok/s':>8} {'tok/CPUs':>9} {'sent/s':>7} "
        f"{'x naive tok/s':>14} {'x naive tok/CPUs':>17}"
    )
    for v, r in runs.items():
        ratio = r["tokens_per_s"] / base["tokens_per_s"] if base else None
        cpu_ratio = r["tokens_per_cpu_s"] / base["tokens_per_cpu_s"] if base else None
        r["speedup_vs_naive_tokens_per_s"], r["speedup_vs_naive_tokens_per_cpu_s"] = ratio, cpu_ratio
        print(
            f"{v:<10} {r['dtype']:<9} {r['batch']:>5} {r['sentences']:>5} {r['tokens_per_s']:>8.1f} "
            f"{r['tokens_per_cpu_s']:>9.1f} {r['sentences_per_s']:>7.2f} {_times(ratio):>14} {_times(cpu_ratio):>17}"
        )
    result = {
        "benchmark": "translate_throughput",
        "model": args.model,
        "data": "TICO-19 test EN (CC0)",
        "template": "few-shot",
        "max_new_tokens": args.max_new_tokens,
        "threads": args.threads or "default",
        "machine": {
            "cpu_count": __import__("os").cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
        },
        "runs": {v: {k: x for k, x in r.items() if k != "texts"} for v, r in runs.items()},
        "examples": {v: r["texts"][:3] for v, r in runs.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
