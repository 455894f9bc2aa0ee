"""Stage-key fingerprints: time a full content hash against the quick size+mtime+first/last-block check.

    python bench/fingerprint_speed.py [--sizes 1,16,64,256] [--dir DIR]

Writes files of each size (MiB) under DIR (default: a temp dir), then times, page cache warm (the file was
just written, as an input a user just edited is): blake2b and sha256 of the whole file, and
hala.recipe.fingerprint's quick check. Prints one JSON line per size; results in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from hala.recipe.fingerprint import file_fingerprint


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,16,64,256")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for mib in [int(s) for s in args.sizes.split(",")]:
            path = Path(d) / f"f{mib}.bin"
            with open(path, "wb") as fh:
                fh.writelines(os.urandom(2**20) for _ in range(mib))

            def full(algo: str, path: Path = path) -> None:
                with open(path, "rb") as fh:
                    hashlib.file_digest(fh, algo)

            row = {
                "mib": mib,
                "blake2b_s": round(best_of(lambda: full("blake2b")), 4),
                "sha256_s": round(best_of(lambda: full("sha256")), 4),
                "quick_s": round(best_of(lambda: file_fingerprint(path, full_hash_limit=0)), 5),  # noqa: B023 - called now
            }
            row["sha256_mib_per_s"] = round(mib / row["sha256_s"])
            print(json.dumps(row), flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
