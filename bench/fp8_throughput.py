"""BF16 vs FP8 generation throughput of the same model, side by side in one run.

    python bench/fp8_throughput.py                                   # HF generate on CPU, embedded Gemma-3-270M
    python bench/fp8_throughput.py --fp8 runs/q/model                # reuse a `hala quantize` output
    python bench/fp8_throughput.py --vllm --model ORG/NAME           # GPU machine with vLLM installed

Both variants generate exactly `--max-new-tokens` tokens per prompt (EOS ignored), greedy, from the same prompts,
so tokens/s compare like for like. On a CPU the FP8 model is *emulated* by compressed-tensors (FP8 weights are
dequantised and activations fake-quantised in every Linear), so expect it to be slower than BF16 there; the
speed-up the Hala paper reports (~2x) needs FP8 tensor cores (H100/L40S/4090) and vLLM's FP8 kernels.
Variants are named "original" and "fp8"; both are loaded at `--dtype` (bfloat16 by default, as a GPU serves
them). On a CPU without bf16 instructions (AVX2 only) bf16 is itself emulated and ~4-5x slower than float32, so
`--dtype float32` is the fair CPU comparison there. The JSON records CPU seconds next to wall seconds because a
shared machine's wall time depends on its neighbours.
Writes bench/results/fp8_throughput[_vllm].json (or --out).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def prompts(n: int) -> list[str]:
    from hala.quantize.texts import load_texts

    texts = load_texts(None)
    pool = [t for lang in ("en", "ar") for t in texts[lang]]
    return [pool[i % len(pool)] for i in range(n)]


def quantize(model: str, out: Path) -> Path:
    from hala.models import resolve_model
    from hala.quantize.config import QuantizeConfig
    from hala.quantize.convert import convert

    config = QuantizeConfig(model=model, scheme="fp8-dynamic")
    convert(config, resolve_model(model), out / "model", out / "rejects.jsonl")
    return out / "model"


def hf_throughput(ref: str, texts: list[str], batch_size: int, max_new_tokens: int, dtype: str) -> dict:
    import torch

    from hala.models import load_model, load_tokenizer

    tok = load_tokenizer(ref)
    tok.padding_side = "left"  # a batch decodes together only if every prompt ends at the same position
    model = load_model(ref, dtype=dtype)
    gen = dict(
        max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
    )
    with torch.no_grad():
        model.generate(**tok(texts[:1], return_tensors="pt"), **{**gen, "max_new_tokens": 2, "min_new_tokens": 2})
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i : i + batch_size], return_tensors="pt", padding=True)
            model.generate(**enc, **gen)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    del model
    gc.collect()
    tokens = len(texts) * max_new_tokens
    # on a shared machine wall time depends on the neighbours; CPU seconds are what the generation cost
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 2),
        "tokens_per_cpu_s": round(tokens / cpu, 2),
    }


def vllm_throughput(ref: str, texts: list[str], max_new_tokens: int, dtype: str) -> dict:
    import torch
    from vllm import LLM, SamplingParams

    llm = LLM(model=ref, dtype=dtype, enforce_eager=False)
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, ignore_eos=True)
    llm.generate(texts[:4], params)  # warm-up: CUDA graphs, kernels
    t0 = time.perf_counter()
    outputs = llm.generate(texts, params)
    seconds = time.perf_counter() - t0
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    del llm
    gc.collect()
    torch.cuda.empty_cache()
    return {"seconds": round(seconds, 2), "generated_tokens": tokens, "tokens_per_s": round(tokens / seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="embedded:gemma-3-270m", help="original model reference")
    ap.add_argument("--fp8", help="FP8 checkpoint of the same model (default: quantise it now, fp8-dynamic)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batch-size", type=int, nargs="+", default=[1, 16], help="HF batch sizes to measure")
    ap.add_argument("--max-new-tokens", type=int, default=30)
    ap.add_argument(
        "--dtype",
        default="bfloat16",
        help="load dtype of both variants (the original, and FP8's unquantised tensors and compute)",
    )
    ap.add_argument("--vllm", action="store_true", help="measure with vLLM (GPU machine; all prompts at once)")
    ap.add_argument("--out", default=None, help="JSON output (default bench/results/fp8_throughput[_vllm].json)")
    args = ap.parse_args()

    import torch

    from hala.models import resolve_model

    original = str(resolve_model(args.model))
    tmp = tempfile.TemporaryDirectory(prefix="hala-fp8-bench-")
    fp8 = args.fp8 or str(quantize(args.model, Path(tmp.name)))
    texts = prompts(args.prompts)
    variants = {"original": original, "fp8": fp8}
    rows = []
    if args.vllm:
        for name, ref in variants.items():
            rows.append(
                {
                    "variant": name,
                    "engine": "vllm",
                    "batch_size": len(texts),
                    **vllm_throughput(ref, texts, args.max_new_tokens, args.dtype),
                }
            )
    else:
        for bs in args.batch_size:
            for name, ref in variants.items():
                rows.append(
                    {
                        "variant": name,
                        "engine": "hf",
                        "batch_size": bs,
                        **hf_throughput(ref, texts, bs, args.max_new_tokens, args.dtype),
                    }
                )
    for r in rows:
        print(
            f"{r['engine']:>4} b{r['batch_size']:<3} {r['variant']:>8}: {r['tokens_per_s']:8.2f} tok/s "
            f"({r['generated_tokens']} tokens in {r['seconds']} s)"
        )
    ratios = {}
    for bs in sorted({r["batch_size"] for r in rows}):
        by = {r["variant"]: r for r in rows if r["batch_size"] == bs}
        for key in ("tokens_per_s", "tokens_per_cpu_s"):
            if key in by["original"]:
                ratios[f"b{bs}_{key}"] = round(by["fp8"][key] / by["original"][key], 3)
                print(f"fp8/original {key} at b{bs}: {ratios[f'b{bs}_{key}']:.3f}x")
    result = {
        "model": args.model,
        "fp8_checkpoint": args.fp8 or "quantised in this run (fp8-dynamic)",
        "prompts": len(texts),
        "max_new_tokens": args.max_new_tokens,
        "dtype": args.dtype,
        "device": torch.cuda.get_device_name()
        if args.vllm
        else f"cpu ({os.cpu_count()} cores, {platform.processor() or 'unknown'})",
        "load_average_1min": os.getloadavg()[0],
        "torch": torch.__version__,
        "runs": rows,
        "fp8_over_original": ratios,
    }
    out = Path(args.out or f"bench/results/fp8_throughput{'_vllm' if args.vllm else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    tmp.cleanup()


if __name__ == "__main__":  # vLLM spawns worker processes that re-import this file
    main()
