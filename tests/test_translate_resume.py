"""Resume after a real `kill -9`: no record lost, none duplicated, output identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

# One thread: on a shared 2-core machine two OpenMP threads spin against other jobs (measured: ~25x slower).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CLI = [sys.executable, "-c", "from hala.cli import main; main()", "translate"]
WORDS = ["apple", "river", "green", "house", "stone", "light", "quick", "table", "cloud", "music"]


def _input(path: Path, n: int = 24) -> Path:
    rows = []
    for i in range(n):
        w = WORDS[i % 10], WORDS[(i * 3) % 10], WORDS[(i * 7) % 10]
        # A word, not a digit, makes each record unique: the post-check rejects any output that loses a number,
        # which a random model always does, and some records must get through.
        n = WORDS[i // 10] + WORDS[i % 10]
        rows.append(
            {
                "id": f"r{i:03d}",
                "messages": [
                    {"role": "user", "content": f"The {w[0]} is {w[1]} number {n}. Why {w[2]}?"},
                    {
                        "role": "assistant",
                        "content": f"Because {w[1]} {w[2]} {n}." + (" Run `ls`." if i % 4 == 0 else ""),
                    },
                ],
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _cmd(src: Path, out: Path, model: Path) -> list[str]:
    skip = [
        a for g in ("empty", "max_tokens", "repetition", "length_ratio", "wrong_script") for a in ("--skip-guard", g)
    ]
    return CLI + [
        str(src),
        "-m",
        str(model),
        "-o",
        str(out),
        "--engine",
        "hf",
        "--option",
        "dtype=float32",
        "--template",
        "few-shot",
        "--max-new-tokens",
        "6",
        "--batch-size",
        "2",
        "--shard-size",
        "3",
        *skip,
    ]


def _cached_rows(out: Path) -> int:
    try:
        with sqlite3.connect(out / "cache.sqlite", timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    except sqlite3.Error:
        return 0


def _run_and_kill(cmd: list[str], out: Path, ready) -> None:
    """Start `cmd`, SIGKILL it as soon as `ready()` holds; fail if it finished before that."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.time() + 900  # generous: the shared CI machine can be very loaded
    while not ready():
        assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        assert time.time() < deadline, "timed out waiting for the run to make progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "translated.jsonl").exists()


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path, tiny_model):
    src = _input(tmp_path / "in.jsonl")
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cmd(src, full, tiny_model), check=True, capture_output=True, env=ENV)

    cmd = _cmd(src, killed, tiny_model)
    # Kill inside the first shard (some batches committed, no shard written) ...
    _run_and_kill(cmd, killed, lambda: _cached_rows(killed) > 0)
    # ... and again later, with a few shards done.
    _run_and_kill(cmd, killed, lambda: (killed / "shards" / "part-00002.json").exists())
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]

    assert (killed / "translated.jsonl").read_bytes() == (full / "translated.jsonl").read_bytes()
    assert (killed / "rejects.jsonl").read_bytes() == (full / "rejects.jsonl").read_bytes()
    ids = [json.loads(x)["id"] for x in (killed / "translated.jsonl").read_text().splitlines()]
    rejected = [json.loads(x)["raw"]["id"] for x in (killed / "rejects.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) and sorted(ids + rejected) == [f"r{i:03d}" for i in range(24)]
    # The retry ladder (split around a lost placeholder) now rescues every record of this input; translated
    # records are what the byte comparison above is about.
    assert ids
    report = json.loads((killed / "report.json").read_text())
    assert report["records"] == 24 and report["translated"] == len(ids)
    assert report["rejects_by_reason"] == json.loads((full / "report.json").read_text())["rejects_by_reason"]
