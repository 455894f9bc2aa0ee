"""Scale simulation of the translate machinery: synthetic multi-turn chat records through `hala translate` with
the instant `echo` engine, so what is measured is hala's own work (reading, validating, segmenting and
protecting, dedup cache, prompts, guards, reassembly, writing, joining), not a model.

    nice -n 19 python bench/scale_translate.py --records 1000,4000,20000 --json bench/results/scale_translate.json

Records look like instruction data (Hermes-3 / Tulu-3 style): 1-3 user/assistant turns, sometimes a system
prompt; prose, numbered and bulleted lists, fenced code, inline code, $-math and URLs; ~1.9k characters per
record on average. Every sentence carries a record-specific number, so the dedup cache gets almost nothing for
free (as with real data). Each size runs `hala translate` in a fresh child process: CPU seconds and peak RSS are
the child's (`resource.getrusage(RUSAGE_CHILDREN)`), its heap (anonymous PSS) is sampled twice a second; the input
file is generated beforehand and not timed.
Goals (issue 14): >= 5,000 records per CPU second on one core, peak RSS <= 2 GB and flat in the record count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory_sampler import tree_sampler

WORDS = (
    "the value function returns list each item order data file system user model number result table "
    "string test error value check loop index sum total first second next step method class object input "
    "output memory time small large simple"
).split()
CODE = [
    "```python\ndef total(xs):\n    return sum(x * {n} for x in xs)\n```",
    "```bash\nls -l /tmp/run{n} | wc -l\n```",
    "```js\nconst f = (a) => a.map((x) => x + {n});\n```",
]


def _sentence(rng: random.Random, n: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 18))
    words[0] = words[0].capitalize()
    extra = rng.random()
    if extra < 0.15:
        words.insert(rng.randint(1, len(words) - 1), f"`x{n}`")
    elif extra < 0.25:
        words.insert(rng.randint(1, len(words) - 1), f"$x^{n % 9 + 2}$")
    elif extra < 0.30:
        words.insert(rng.randint(1, len(words) - 1), f"https://example.org/{n}")
    return " ".join(words) + f" {n}."


def _message(rng: random.Random, n: int, long: bool) -> str:
    parts = []
    for _ in range(rng.randint(2, 5) if long else 1):
        kind = rng.random()
        if kind < 0.55:
            parts.append(" ".join(_sentence(rng, n + i) for i in range(rng.randint(2, 5))))
        elif kind < 0.75:
            parts.append("\n".join(f"{i + 1}. {_sentence(rng, n + i)}" for i in range(rng.randint(2, 5))))
        elif kind < 0.85:
            parts.append("\n".join(f"- {_sentence(rng, n + i)}" for i in range(rng.randint(2, 4))))
        else:
            parts.append(rng.choice(CODE).format(n=n))
    return "\n\n".join(parts)


def record(i: int) -> dict:
    rng = random.Random(i)
    messages = [{"role": "system", "content": "You are a helpful assistant."}] if rng.random() < 0.3 else []
    for t in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": _message(rng, i * 100 + t * 10, long=False)})
        messages.append({"role": "assistant", "content": _message(rng, i * 100 + t * 10 + 5, long=True)})
    return {"id": f"s{i}", "messages": messages}


def write_input(path: Path, n: int) -> int:
    chars = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            r = record(i)
            chars += sum(len(m["content"]) for m in r["messages"])
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return chars


def startup_cpu() -> float:
    """CPU seconds of a child that only imports the CLI: the fixed start-up cost inside each size's figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "from hala.cli import main"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(n: int, work: Path, extra: list[str], startup: float = 0.0) -> dict:
    src = work / f"in-{n}.jsonl"
    chars = write_input(src, n)
    out = work / f"out-{n}"
    cmd = [
        sys.executable,
        "-c",
        "from hala.cli import main; main()",
        "translate",
        str(src),
        "-m",
        "none",
        "-o",
        str(out),
        "--engine",
        "echo",
        *extra,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list = []
    sampler = tree_sampler(proc, samples)
    stderr = proc.communicate()[1]
    sampler.join()
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(stderr[-3000:])
    report = json.loads((out / "report.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    tenth = max(1, len(samples) // 10)
    row = {
        "records": n,
        "input_chars_per_record": round(chars / n),
        "translated": report["translated"],
        "rejected": report["rejected"],
        "segments": report["segments"],
        "unique_segments": report["unique_segments"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "records_per_cpu_s": round(n / cpu, 1),
        # without the start-up (imports), which small sizes would otherwise be dominated by
        "records_per_cpu_s_after_startup": round(n / max(cpu - startup, 1e-9), 1),
        "records_per_wall_s": round(n / wall, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),  # the largest child so far (Linux: kB)
        # Heap alone (anonymous PSS), at each tenth of the run: growth in the record count shows here first.
        "anon_mb_by_tenth": [round(a / 2**20, 1) for _, _, a in samples[tenth::tenth]],
        "peak_anon_mb": round(max((a for _, _, a in samples), default=0) / 2**20, 1),
        "out_dir_mb": round(size / 2**20, 1),
    }
    shutil.rmtree(out)
    src.unlink()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="50000,200000,1000000", help="comma-separated sizes, run in order")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--extra", default="", help="more `hala translate` arguments, e.g. '--shard-size 512'")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="hala-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    startup = startup_cpu()
    for n in (int(x) for x in args.records.split(",")):
        rows.append(measure(n, work, args.extra.split(), startup))
        print(json.dumps(rows[-1]), flush=True)
        result = {
            "benchmark": "translate machinery, echo engine",
            "command": " ".join(sys.argv),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_after_last_run": os.getloadavg(),
            },
            "startup_cpu_s": round(startup, 2),
            "note": "peak_rss_mb is the largest child process so far (ru_maxrss of RUSAGE_CHILDREN): with "
            "sizes in increasing order it is that size's peak",
            "runs": rows,
        }
        if args.json:  # after every size: a long series interrupted still leaves its finished sizes
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
