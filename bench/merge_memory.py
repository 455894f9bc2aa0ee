"""Peak memory and time of a slerp merge: hala's streaming merge vs mergekit's run_merge, same inputs, same run.

    python bench/merge_memory.py                       # embedded Gemma-3-270M + a stand-in fine-tune of itself
    python bench/merge_memory.py --base DIR --tuned DIR

Each variant runs in a fresh subprocess that reports its own peak resident set size (VmHWM: the kernel's
high-water mark, no sampling), wall and CPU time. A baseline subprocess that only imports torch and
hala.merge shows the interpreter's floor. The two outputs are then compared tensor by tensor (max |difference|),
so the benchmark also checks the equality with mergekit on the whole model. The target: peak RSS <= 1.3x the size
of one model. Results print as a table and go to bench/results/merge_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "merge_memory.json"
TARGET_RATIO = 1.3


# ------------------------------------------------------------------------------------------------ child side
def _peak_rss() -> int:
    """This process's peak RSS. VmHWM belongs to the process image, unlike getrusage's ru_maxrss, which Linux
    carries over from the parent through fork and exec (the parent here held the stand-in's tensors)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: KiB on Linux, bytes on macOS


def _child(variant: str, base: str, tuned: str, out: str, t: float) -> None:
    start, cpu0 = time.time(), time.process_time()
    if variant == "baseline":
        import torch  # noqa: F401

        import hala.merge.merge  # noqa: F401
    elif variant == "hala":
        from hala.merge import MergeConfig
        from hala.merge.merge import merge_models

        merge_models(MergeConfig(base=base, tuned=tuned, t=t), out)
    elif variant == "mergekit":
        from mergekit.config import MergeConfiguration
        from mergekit.merge import MergeOptions, run_merge

        config = MergeConfiguration.model_validate(
            {
                "merge_method": "slerp",
                "base_model": base,
                "models": [{"model": base}, {"model": tuned}],
                "parameters": {"t": t},
            }
        )
        run_merge(config, out, MergeOptions(quiet=True, write_model_card=False))
    print(
        json.dumps(
            {
                "peak_rss_bytes": _peak_rss(),
                "wall_s": round(time.time() - start, 2),
                "cpu_s": round(time.process_time() - cpu0, 2),
            }
        )
    )


# ------------------------------------------------------------------------------------------------ parent side
def _measure(variant: str, base: Path, tuned: Path, out: Path, t: float) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        variant,
        "--base",
        str(base),
        "--tuned",
        str(tuned),
        "--out",
        str(out),
        "--t",
        str(t),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compare(a_dir: Path, b_dir: Path) -> dict:
    """Max |a - b| over every tensor, read one tensor at a time."""
    from hala.merge.safetensors_stream import CheckpointReader

    worst, equal = 0.0, 0
    with CheckpointReader(a_dir) as ra, CheckpointReader(b_dir) as rb:
        if set(ra.tensors) != set(rb.tensors):
            raise SystemExit(f"tensor names differ: {sorted(set(ra.tensors) ^ set(rb.tensors))[:5]}")
        for name in ra.tensors:
            x, y = ra.read(name), rb.read(name)
            if x.dtype != y.dtype:
                raise SystemExit(f"{name}: dtype {x.dtype} vs {y.dtype}")
            equal += bool((x == y).all())
            worst = max(worst, (x.double() - y.double()).abs().max().item() if x.numel() else 0.0)
    return {"tensors": len(ra.tensors), "bitwise_equal_tensors": equal, "max_abs_diff": worst}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="embedded:gemma-3-270m")
    ap.add_argument("--tuned", default=None, help="default: a stand-in fine-tune of the base (made once)")
    ap.add_argument("--t", type=float, default=0.5)
    ap.add_argument("--work", default="/tmp/hala-bench-merge", help="scratch directory")
    ap.add_argument("--child", choices=["baseline", "hala", "mergekit"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(args.child, args.base, args.tuned, args.out, args.t)

    from hala.merge.safetensors_stream import weight_files
    from hala.merge.standin import perturbed_copy
    from hala.models import resolve_model

    work = Path(args.work)
    base = resolve_model(args.base)
    tuned = Path(args.tuned) if args.tuned else work / "tuned"
    if not args.tuned and not tuned.exists():
        perturbed_copy(base, tuned, seed=1)
    model_bytes = sum(f.stat().st_size for f in weight_files(base))

    rows = {}
    for variant in ("baseline", "hala", "mergekit"):
        rows[variant] = _measure(variant, base, tuned, work / f"out-{variant}", args.t)
        rows[variant]["rss_over_model"] = round(rows[variant]["peak_rss_bytes"] / model_bytes, 3)
    equality = _compare(work / "out-hala", work / "out-mergekit")

    result = {
        "base": args.base,
        "tuned": str(tuned) if args.tuned else "stand-in (hala.merge.standin)",
        "t": args.t,
        "model_bytes": model_bytes,
        "target_rss_over_model": TARGET_RATIO,
        "hala_within_target": rows["hala"]["rss_over_model"] <= TARGET_RATIO,
        "hala_vs_mergekit_peak_rss": round(rows["hala"]["peak_rss_bytes"] / rows["mergekit"]["peak_rss_bytes"], 3),
        "variants": rows,
        "equality_hala_vs_mergekit": equality,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
    }
    print(f"model: {args.base}  ({model_bytes / 1e9:.3f} GB of weights), slerp t={args.t}")
    print(f"{'variant':<10} {'peak RSS GB':>12} {'x model':>8} {'wall s':>8} {'cpu s':>8}")
    for name, r in rows.items():
        print(
            f"{name:<10} {r['peak_rss_bytes'] / 1e9:>12.3f} {r['rss_over_model']:>8.3f} {r['wall_s']:>8.1f} "
            f"{r['cpu_s']:>8.1f}"
        )
    print(
        f"hala within {TARGET_RATIO}x: {result['hala_within_target']}; hala/mergekit peak RSS: "
        f"{result['hala_vs_mergekit_peak_rss']}"
    )
    print(
        f"hala vs mergekit: {equality['bitwise_equal_tensors']}/{equality['tensors']} tensors bitwise equal, "
        f"max |diff| {equality['max_abs_diff']:.3g}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
