"""Do the vllm, hf and ct2 engines give the same greedy translations? (issue 14, Deliver 5; bench only, not CI)

Runs `hala translate` once per engine on the same English sentences (embedded Gemma-3-270M, few-shot template,
same max_new_tokens and length cap), each engine from its own venv: vLLM's CPU build pins transformers < 5.20,
so it lives in a separate venv (docs/BENCHMARKS.md, "vLLM on this CPU"). Then compares the outputs record by
record and writes bench/results/vllm_parity.json: lines equal / differ per engine pair, sentences/s per engine.

    python bench/vllm_parity.py --vllm-hala /work/vllm-venv/bin/hala --work /tmp/vllm-parity

An engine whose output directory under --work already holds a finished report.json is not rerun (its figures
are read back and marked "reused"): vLLM's CPU start-up alone takes minutes here. Nothing imports this file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

from hala.atomic import write_json

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "src" / "hala" / "data" / "teacher_en.jsonl"  # handwritten for hala, not a test set
MAIN_HALA = Path(sys.executable).with_name("hala")


def engines(vllm_hala: str, dtype: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (hala executable, engine arguments). fp32 everywhere: ct2 refuses bf16 on this CPU."""
    ct2_type = "float32" if dtype == "float32" else "int8"
    return {
        "hf": (str(MAIN_HALA), ["--engine", "hf", "--option", f"dtype={dtype}"]),
        "ct2": (str(MAIN_HALA), ["--engine", "ct2", "--option", f"compute_type={ct2_type}"]),
        "vllm": (vllm_hala, ["--engine", "vllm", "--option", f"dtype={dtype}"]),
    }


def run_engine(name: str, hala: str, args: list[str], src: Path, out: Path, a) -> dict:
    report = out / "report.json"
    reused = report.exists()
    if not reused:
        cmd = [hala, "translate", str(src), "-o", str(out), "-m", a.model, "--template", "few-shot",
               "--max-new-tokens", str(a.max_new_tokens), "--batch-size", "8", *args]  # fmt: skip
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"})
    r = json.loads(report.read_text())
    return {
        "reused": reused,
        "records": r["records"],
        "translated": r["translated"],
        "generation_seconds": r["seconds"],
        "sentences_per_s": round(r["records"] / r["seconds"], 3) if r["seconds"] else None,
        "wall_seconds": r.get("wall_seconds_this_run"),
        "tokens": r["tokens"],
        "settings": r["provenance"]["settings"],
        "engine_options": r["provenance"]["engine_options"],
    }


def outputs(out: Path) -> dict[str, str]:
    """id -> translation; a rejected record counts as its reject reason, so a reject on one side is a difference."""
    rows = {r["id"]: r["tgt"] for r in map(json.loads, (out / "translated.jsonl").open())}
    rej = out / "rejects.jsonl"
    if rej.exists():
        # a reject row holds the input record under "raw" (`hala translate`'s rejects.jsonl)
        rows.update({r["raw"]["id"]: f"<rejected: {r['reason']}>" for r in map(json.loads, rej.open())})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vllm-hala", default="/work/vllm-venv/bin/hala", help="hala inside the vLLM venv")
    p.add_argument("--work", type=Path, required=True, help="output directories per engine (kept)")
    p.add_argument("--model", default="embedded:gemma-3-270m")
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    src = a.work / f"en{a.n}.jsonl"
    if not src.exists():
        src.write_text("".join(itertools.islice(DATA.open(), a.n)))
    suffix = {"float32": "32", "bfloat16": "bf16"}[a.dtype]
    dirs = {name: a.work / f"{name}{suffix}" for name in ("hf", "ct2", "vllm")}
    per_engine = {n: run_engine(n, h, args, src, dirs[n], a) for n, (h, args) in engines(a.vllm_hala, a.dtype).items()}
    texts = {n: outputs(d) for n, d in dirs.items()}
    pairs = {}
    for x, y in itertools.combinations(texts, 2):
        differ = sorted(k for k in texts[x] if texts[x][k] != texts[y].get(k))
        pairs[f"{x}-{y}"] = {
            "equal": len(texts[x]) - len(differ),
            "differ": len(differ),
            "examples": [{"id": k, x: texts[x][k], y: texts[y].get(k)} for k in differ[:5]],
        }
    result = {"model": a.model, "sentences": a.n, "dtype": a.dtype, "engines": per_engine, "pairs": pairs}
    for name, r in pairs.items():
        print(f"{name}: {r['equal']} equal, {r['differ']} differ")
    for name, r in per_engine.items():
        secs, reused = r["generation_seconds"], r["reused"]
        print(f"{name}: {r['sentences_per_s']} sentences/s ({secs} s generating, reused={reused})")
    dest = HERE / "results" / ("vllm_parity.json" if a.dtype == "float32" else f"vllm_parity_{a.dtype}.json")
    write_json(dest, result)
    print("wrote", dest)


if __name__ == "__main__":  # vLLM's CPU build spawns workers that re-import __main__
    main()
