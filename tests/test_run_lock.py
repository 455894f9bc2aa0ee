"""One run directory, one writer (issue 16): a second `hala run` is refused naming the holder; a lock left by a
killed run is taken over; under accelerate launch only rank 0 takes it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import recipe_toy  # noqa: F401  (registers the toy stage types)

from hala.errors import HalaError
from hala.recipe import load_recipe, run_recipe
from hala.recipe.lock import OWNER_FILE, run_dir_lock

REPO = Path(__file__).resolve().parents[1]
RECIPE = """
name: lock
stages:
  - name: a
    type: toy.write
    with: {text: "x"}
"""


def _recipe(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(RECIPE))
    return path


def test_second_run_is_refused_naming_the_holder(tmp_path):
    path, run_dir = _recipe(tmp_path), tmp_path / "run"
    with run_dir_lock(run_dir):  # the "first run" holds the directory
        with pytest.raises(HalaError) as e:
            run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
        msg = str(e.value)
        assert "run directory in use by" in msg and f"pid {os.getpid()}" in msg
        assert f"host {socket.gethostname()}" in msg and "--run-dir" in msg
        assert not list(run_dir.glob("a-*"))  # nothing was started
    assert run_recipe(load_recipe(path), run_dir, path, log=lambda m: None).ran == ["a"]
    assert not (run_dir / OWNER_FILE).exists()  # released and cleaned up


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    path, run_dir = _recipe(tmp_path), tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from hala.recipe.lock import run_dir_lock\n"
            "with run_dir_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(HalaError, match=f"pid {holder.pid} on host"):
            run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run_dir / OWNER_FILE).exists()  # kill -9: the owner record is left behind, the OS lock is not
    logs: list[str] = []
    assert run_recipe(load_recipe(path), run_dir, path, log=logs.append).ran == ["a"]
    assert any(m.startswith("[lock] taking over") and f"pid {holder.pid}" in m for m in logs)


def test_only_rank_zero_takes_the_lock(tmp_path, monkeypatch):
    path, run_dir = _recipe(tmp_path), tmp_path / "run"
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "1")  # a non-main rank (world 1 keeps the multi-process checks out of it)
    with run_dir_lock(run_dir):  # rank 0 of the same launch holds it
        t0 = time.time()
        result = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
        assert result.ran == ["a"] and time.time() - t0 < 30
