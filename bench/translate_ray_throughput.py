"""`hala translate` single-process vs `--distributed ray` on one machine, in one run (side by side, ratios).

    python bench/translate_ray_throughput.py [--sentences 160] [--model embedded:gemma-3-270m] [--workers 2]

Variants (same input, model, engine ct2 int8, few-shot template, greedy, batch 16):
    single-1t   the stage in this process, CTranslate2 on 1 thread (what one Ray worker gets)
    single-Nt   the stage in this process, CTranslate2 on N = --workers threads (the whole machine)
    ray-Nx1     `run_ray` on a local Ray cluster: N engine actors x 1 CPU each
Every variant starts from an empty output directory, so model load (and, for Ray, actor start-up) is in its
wall time; Ray's cluster start (`ray.init`) is timed on its own, once, because a cluster outlives its jobs.
Data: TICO-19 test English side (CC0) from ../shared/data/tico19-en-ar, as pairs. Writes
bench/results/translate_ray_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICO = ROOT.parent / "shared" / "data" / "tico19-en-ar"


def pairs_file(n: int, path: Path) -> Path:
    en = (TICO / "tico19-test.en").read_text(encoding="utf-8").splitlines()[:n]
    ar = (TICO / "tico19-test.ar").read_text(encoding="utf-8").splitlines()[:n]
    rows = [
        {"id": f"tico-{i}", "src": e, "tgt": a, "src_lang": "en", "tgt_lang": "ar"}
        for i, (e, a) in enumerate(zip(en, ar))
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def one(name: str, config, out: Path) -> dict:
    from hala.translate import run

    t0, c0 = time.time(), time.process_time()
    report = run(config, out)  # config.distributed picks the executor
    wall, cpu = time.time() - t0, time.process_time() - c0
    texts = [json.loads(x)["tgt"] for x in (out / config.output).read_text(encoding="utf-8").splitlines()]
    r = {
        "variant": name,
        "wall_s": round(wall, 2),
        "driver_cpu_s": round(cpu, 2),
        "tokens": report["tokens"],
        "records": report["records"],
        "translated": report["translated"],
        "rejected": report["rejected"],
        "tokens_per_s_wall": round(report["tokens"] / wall, 2),
        "records_per_s_wall": round(report["records"] / wall, 3),
        "engine_tokens_per_s": report["tokens_per_s"],
        "ray": report.get("ray"),
        "texts": texts,
    }
    print(
        f"  {name}: {r['records']} records, {r['tokens']} tokens in {wall:.1f} s wall = "
        f"{r['tokens_per_s_wall']:.1f} tok/s ({r['records_per_s_wall']:.2f} records/s); "
        f"engine rate per worker {r['engine_tokens_per_s']} tok/s",
        flush=True,
    )
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--sentences", type=int, default=160)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--variants", default="single-1t,single-Nt,ray-Nx1")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "translate_ray_throughput.json")
    args = ap.parse_args()
    if not TICO.exists():
        raise SystemExit(f"benchmark data not found: {TICO} (../shared is on developer machines and CI only)")

    from hala.models import resolve_model
    from hala.translate import TranslateConfig

    model = str(resolve_model(args.model))
    tmp = Path(tempfile.mkdtemp(prefix="hala-bench-ray-"))
    src = pairs_file(args.sentences, tmp / "in.jsonl")
    n = args.workers

    def config(threads: int, distributed: str = "none") -> TranslateConfig:
        return TranslateConfig(
            input=str(src),
            model=model,
            engine="ct2",
            template="few-shot",
            engine_options={"compute_type": "int8", "threads": threads},
            batch_size=args.batch,
            max_new_tokens=args.max_new_tokens,
            shard_size=32,
            distributed=distributed,
            ray={"workers": n, "cpus_per_worker": 1},
        )

    runs, ray_init_s = {}, None
    for v in args.variants.split(","):
        print(f"running {v} ...", flush=True)
        if v == "single-1t":
            runs[v] = one(v, config(1), tmp / v)
        elif v == "single-Nt":
            runs[v] = one(v, config(n), tmp / v)
        elif v == "ray-Nx1":
            import ray

            t0 = time.time()
            ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False)
            ray_init_s = round(time.time() - t0, 2)
            print(f"  ray.init: {ray_init_s} s", flush=True)
            runs[v] = one(v, config(1, "ray"), tmp / v)
            ray.shutdown()
        else:
            raise SystemExit(f"unknown variant {v}")
    base = runs.get("single-1t")
    print(
        f"\n{'variant':<10} {'records':>7} {'tokens':>7} {'wall s':>7} {'tok/s':>7} {'x single-1t':>11} "
        f"{'same text as single-1t':>22}"
    )
    for v, r in runs.items():
        r["speedup_vs_single_1t"] = round(r["tokens_per_s_wall"] / base["tokens_per_s_wall"], 3) if base else None
        r["same_output_as_single_1t"] = r["texts"] == base["texts"] if base else None
        print(
            f"{v:<10} {r['records']:>7} {r['tokens']:>7} {r['wall_s']:>7.1f} {r['tokens_per_s_wall']:>7.1f} "
            f"{str(r['speedup_vs_single_1t']):>11} {str(r['same_output_as_single_1t']):>22}"
        )
    result = {
        "benchmark": "translate_ray_throughput",
        "model": args.model,
        "engine": "ct2 int8",
        "data": "TICO-19 test EN (CC0)",
        "sentences": args.sentences,
        "batch": args.batch,
        "max_new_tokens": args.max_new_tokens,
        "workers": n,
        "ray_init_s": ray_init_s,
        "load_average_at_end": os.getloadavg(),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "runs": {v: {k: x for k, x in r.items() if k != "texts"} for v, r in runs.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
