"""Memory and speed of the readers' duplicate-id check (`hala.records.SeenIds`) against a plain dict of
id hash -> first line (what the readers used before), on N synthetic ids each.

    python bench/unique_ids.py --ids 1000000,4500000 --json bench/results/unique_ids.json

Peak traced memory (tracemalloc: Python objects and numpy buffers) and CPU microseconds per id (a second,
untraced pass); both structures answer the same question (an id's first line), so they compare like with like.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path


def _fill(kind: str, n: int) -> None:
    from hala.records import SeenIds

    if kind == "dict":
        first: dict[int, int] = {}
        for line in range(n):
            first.setdefault(hash(f"record-{line:09d}"), line)
    else:
        seen = SeenIds()
        for line in range(n):
            seen.first_line(f"record-{line:09d}", line)


def measure(kind: str, n: int) -> dict:
    """Memory under tracemalloc (which slows allocation), CPU in a second pass without it."""
    tracemalloc.start()
    _fill(kind, n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    t = time.process_time()
    _fill(kind, n)
    cpu = time.process_time() - t
    return {
        "ids": n,
        "structure": kind,
        "peak_mb": round(peak / 2**20, 1),
        "bytes_per_id": round(peak / n, 1),
        "cpu_us_per_id": round(1e6 * cpu / n, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", default="1000000")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    runs = [measure(kind, int(n)) for n in args.ids.split(",") for kind in ("dict", "SeenIds")]
    for r in runs:
        print(r)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"command": "python bench/unique_ids.py --ids " + args.ids, "runs": runs}, indent=2) + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
