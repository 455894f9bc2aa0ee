"""Atomic artifacts: every file or directory hala writes appears whole or not at all.

A writer works on a temporary sibling (same filesystem, so the final `os.replace` is atomic) and renames it
into place only when it finished without error. Readers therefore never see half-written outputs, and an
interrupted job leaves at most a `*.tmp*` sibling behind that the next run overwrites.

This is the only module that renames anything into place (`os.replace`): tests/test_atomic.py fails on a call
anywhere else in src/hala, so a new writer uses `atomic_path`, `atomic_dir`, `AtomicFile` or `replace_dir`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from hala.errors import DISK_FULL, HalaError

# A write that fails for lack of room or rights: the error is re-raised naming the artifact (a failed write()
# names no file at all), and nothing partial is published.
NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def write_error(e: OSError, path: str | os.PathLike) -> Exception:
    """`e` as the error a user can act on: disk full -> OSError naming `path` (hala.errors prints it as "disk full
    while writing PATH"); read-only or forbidden -> HalaError naming `path`; anything else unchanged."""
    if e.errno in DISK_FULL:
        return OSError(e.errno, f"{os.strerror(e.errno)} while writing {path}", str(path))
    if e.errno in NOT_WRITABLE:
        return HalaError(f"{path}: cannot write ({os.strerror(e.errno)}); choose a writable output location")
    return e


@contextlib.contextmanager
def _named_write_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        # Only errors of this artifact's own writes (no file named, or one beside it): an input that cannot be
        # read inside the block keeps its own error.
        ours = e.filename is None or str(e.filename).startswith(str(path.parent))
        named = write_error(e, path) if ours else e
        if named is e:
            raise
        raise named from e


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: Path) -> None:
    """Remove temporary siblings `.NAME.PID.*.tmp` of `path` left by a process that died mid-write (kill -9,
    power loss): a resumed stage would otherwise publish them inside its directory. A live writer's (its pid
    still running) are left alone."""
    for sibling in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = sibling.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                sibling.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    with _named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _named_write_errors(path):
            yield tmp_path
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


class AtomicFile:
    """`atomic_path` for a writer whose lifetime is not one `with` block (a rejects log opened at the first
    reject, a record writer closed by its owner): `tmp` is the temporary sibling to write, `commit()` puts it at
    `path`, `discard()` removes it and leaves `path` as it was. Either is final; a second call does nothing."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._ctx: contextlib.AbstractContextManager[Path] | None = atomic_path(self.path)
        self.tmp: Path = self._ctx.__enter__()

    def commit(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.__exit__(None, None, None)

    def discard(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            aborted = RuntimeError("write discarded")
            with contextlib.suppress(RuntimeError):
                ctx.__exit__(RuntimeError, aborted, None)


def replace_dir(src: Path, dst: Path) -> None:
    """Put directory `src` at `dst` (same file system), replacing an old `dst` with renames only."""
    if dst.exists():
        # A directory cannot be os.replace'd over a non-empty one: move the old one aside first.
        old = dst.with_name(f".{dst.name}.old.{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success it becomes `path` (replacing an old one), on error it is removed."""
    path = Path(path)
    with _named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))
    try:
        with _named_write_errors(path):
            yield tmp
            replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
