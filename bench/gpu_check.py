"""GPU check: hala's GPU paths on tiny random models built in-process (no hub, no internet), in one short run.

    python bench/gpu_check.py --json gpu_check.json          # on a GPU machine (bench/gpu_check.sh wraps it)
    python bench/gpu_check.py --cpu --json /tmp/check.json   # smoke mode here: the same steps on the CPU

Steps, each timed and recorded (ok / error) so one failure does not hide the others:
1. hf engine on the GPU: `hala.translate.translate_texts` with engine hf, device cuda, a tiny Llama;
2. FP8: `hala quantize` (llm-compressor FP8-dynamic) of the tiny model, then its verification on the GPU, which
   loads the compressed-tensors checkpoint there and runs forwards (one model at a time, device cuda);
3. a few bf16 SFT steps: `hala.train.run` (full fine-tuning, bf16, 3 steps) through the cached data preparation;
4. log-likelihood MCQ on the GPU: the `eval.mcq` stage on the shipped quickstart task (5 questions).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path


def step(results: dict, name: str, fn) -> None:
    t0 = time.time()
    try:
        detail = fn() or {}
        results[name] = {"ok": True, "seconds": round(time.time() - t0, 2), **detail}
    except Exception as e:  # noqa: BLE001 - record and go on: the report should show every step
        results[name] = {
            "ok": False,
            "seconds": round(time.time() - t0, 2),
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-2000:],
        }
    print(
        f"[{name}] {'ok' if results[name]['ok'] else 'FAILED'} in {results[name]['seconds']} s"
        + ("" if results[name]["ok"] else f": {results[name]['error']}"),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", action="store_true", help="smoke mode: run every step on the CPU")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from hala.testing import build_tiny_model

    device = "cpu" if args.cpu else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible (use --cpu for the smoke mode)")
    work = args.work or Path(tempfile.mkdtemp(prefix="hala-gpu-check-"))
    results: dict = {
        "mode": "cpu-smoke" if args.cpu else "gpu",
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
    }
    tiny = build_tiny_model(work / "tiny", hidden=64, layers=2, heads=4)

    def hf_engine():
        from hala.translate import translate_texts

        out = translate_texts(
            ["Hello, how are you?", "The cat sits on the mat."],
            str(tiny),
            src_lang="en",
            tgt_lang="ar",
            engine="hf",
            template="zero-shot",
            max_new_tokens=16,
            device=device,
        )
        return {"outputs": len(out)}

    def fp8():
        from hala.quantize import DriftThresholds, QuantizeConfig, run

        # a random tiny model: thresholds are loose, the point is that FP8 loads and runs on the device
        summary = run(
            QuantizeConfig(
                model=str(tiny),
                translation_check="skip",
                device=device,
                batch_size=8,
                verify_texts_per_lang=4,
                thresholds=DriftThresholds(max_ppl_ratio=100, max_kl=100, min_top1=0),
            ),
            work / "fp8",
        )
        report = json.loads((work / "fp8" / "verification.json").read_text())
        return {
            "kl_mean": summary["metrics"]["kl_mean"],
            "fp8_linear_layers": report["linear_layers"]["fp8"],
            "placement": report["placement"],
        }

    def sft():
        from hala.prompts import translation_messages
        from hala.train import TrainConfig, run

        data = work / "sft.jsonl"
        data.write_text(
            "".join(
                json.dumps(
                    {
                        "id": f"s{i}",
                        "messages": translation_messages(f"sentence {i}", "en", "ar")
                        + [{"role": "assistant", "content": f"جملة {i}"}],
                    },
                    ensure_ascii=False,
                )
                + "\n"
                for i in range(32)
            ),
            encoding="utf-8",
        )
        summary = run(
            TrainConfig(
                model=str(tiny),
                train=str(data),
                mode="full",
                max_steps=3,
                batch_size=4,
                bf16=not args.cpu,
                learning_rate=1e-3,
                save_steps=100,
                data_cache=str(work / "data-cache"),
            ),
            work / "sft",
        )
        return {
            "steps": summary["steps"],
            "final_loss": summary["final_loss"],
            "settings": summary["settings"],
            "real_tokens_per_second": summary["session"]["real_tokens_per_second"],
        }

    def mcq():
        from hala.evaluate.stage import EvalMCQConfig, run_mcq

        summary = run_mcq(
            EvalMCQConfig(
                model=str(tiny),
                tasks=["quickstart"],
                limit=5,
                device=device,
                dtype="float32" if args.cpu else "bfloat16",
            ),
            work / "mcq",
        )
        return {k: v for k, v in summary.items() if isinstance(v, (int, float, str))}

    t0 = time.time()
    for name, fn in [("hf_engine", hf_engine), ("fp8_load_forward", fp8), ("sft_bf16_steps", sft), ("loglik_mcq", mcq)]:
        step(results, name, fn)
    results["total_seconds"] = round(time.time() - t0, 1)
    results["ok"] = all(v["ok"] for v in results.values() if isinstance(v, dict) and "ok" in v)
    text = json.dumps(results, indent=2, ensure_ascii=False, default=str)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    sys.exit(0 if results["ok"] else 1)


if __name__ == "__main__":
    main()
