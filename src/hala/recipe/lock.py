"""One run directory, one writer: `hala run` holds RUN_DIR/.hala-run.lock while it works.

The lock is filelock's (an OS `flock`), so the kernel releases it when its holder dies, however it dies: a lock
left by a killed run is never stale. Who holds it is written beside it (`.hala-run.owner.json`: pid, host,
start time, command) because the lock file itself carries nothing; a second `hala run` is refused with those
details. An owner file found while the lock is free is the trace of a run that died without cleaning up (kill -9,
power loss): it is reported and taken over.

Under `accelerate launch` only the main process (RANK 0) takes the lock: the other ranks are the same run.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from hala.atomic import write_json
from hala.errors import HalaError

LOCK_FILE = ".hala-run.lock"
OWNER_FILE = ".hala-run.owner.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_owner(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def describe(owner: dict) -> str:
    if not owner:
        return "another process (no owner record)"
    where = f"pid {owner.get('pid')} on host {owner.get('host')}"
    since = f", since {owner['started']}" if owner.get("started") else ""
    cmd = f" ({owner['command']})" if owner.get("command") else ""
    return where + since + cmd


@contextmanager
def run_dir_lock(run_dir: Path, enabled: bool = True, log: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the run directory's lock for the block, or raise HalaError naming the holder."""
    if not enabled:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        owner = read_owner(run_dir)
        gone = (
            owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) and not _alive(owner["pid"])
        )
        hint = " (that process has exited; a child it started still holds the lock)" if gone else ""
        raise HalaError(
            f"{run_dir}: run directory in use by {describe(owner)}{hint}; wait for it to finish, or "
            f"give another --run-dir"
        ) from None
    try:
        stale = read_owner(run_dir)
        if stale:
            log(
                f"[lock] taking over {run_dir}: the previous run ({describe(stale)}) ended without releasing it "
                f"(killed?); its unfinished stages resume"
            )
        write_json(
            run_dir / OWNER_FILE,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]),
            },
        )
        yield
    finally:
        try:
            (run_dir / OWNER_FILE).unlink(missing_ok=True)
        finally:
            lock.release()
