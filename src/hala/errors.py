"""The one error rule of hala, and the CLI wrapper that applies it.

* A **user error** is something the user can fix in what they asked for: a config field, an input file, a model
  reference, an optional package to install. hala raises it as a `HalaError` (or a subclass) whose message is
  complete: what failed, where (`file:line` or the config field) and what to do. The CLI prints it as one line,
  `hala: error: MESSAGE`, and exits with status 2 (click's status for a bad command line too).
* **Anything else is a bug** (in hala or a library): Python prints its traceback and the exit status is 1. A
  `ValueError` from deep inside a library is not a user error just because of its type.

Two foreign errors are also user errors, because they can only mean that the user must act:
pydantic's `ValidationError` from a stage config (printed as `Config: field 'x': message`), and an `OSError`
naming a file that cannot be read, found or written (no such file, permission denied, is a directory, disk full):
the OS raises these on the paths the user gave, and the file name in the message is what the user needs. An
`OSError` without a file name still shows its traceback.

Set HALA_DEBUG=1 to see the traceback of a user error too. This module imports nothing from hala, so every module
may import it.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class HalaError(RuntimeError):
    """An error whose message is complete for the user (what failed, where, and what to do)."""


class ConfigError(HalaError, ValueError):
    """A setting that cannot be used (unknown name, impossible combination). Also a `ValueError`, so it works
    inside pydantic validators (which turn it into a `ValidationError`) and for callers that catch one."""


class InputError(HalaError, ValueError):
    """An input file whose content cannot be used (unreadable, wrong format, no usable record), named with
    `file:line` where a line is at fault. Also a `ValueError` for callers that catch one."""


class MissingDependency(HalaError, ImportError):
    """An optional package a requested feature needs is not installed; the message says what to install."""


def require(module: str, why: str):
    """`import module`, or a MissingDependency: `why` says what needs it and how to install it. An ImportError
    from inside an installed package (it imports something missing or broken) is a bug and stays one."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingDependency(f"{why} ({module} is not installed)") from e


# OS errors about a named file that only the user can fix (the path is theirs); see the module docstring.
USER_OS_ERRORS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EROFS}
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
USER_EXIT = 2  # a bug exits with Python's own status for an uncaught exception, 1


def user_message(e: BaseException) -> str | None:
    """The one line to print for a user error, or None when `e` is not one (its traceback is shown)."""
    from pydantic import ValidationError  # here: `hala --help` need not import pydantic through every module

    if isinstance(e, HalaError):
        return str(e)
    if isinstance(e, ValidationError):
        return f"{e.title}: {describe_validation_error(e)}"
    if isinstance(e, OSError) and e.filename is not None:
        if e.errno in DISK_FULL:
            return f"disk full while writing {e.filename} (finished work is kept)"
        if e.errno in USER_OS_ERRORS:
            return f"{e.filename}: {e.strerror or e}"
    return None


def describe_validation_error(e: "ValidationError") -> str:
    """A pydantic error as one line: `missing field 'x'; field 'y': message`."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "<record>"
        if err["type"] == "missing":
            parts.append(f"missing field '{loc}'")
        elif err["type"] == "value_error" and loc == "<record>":  # a record-level check: its own message
            parts.append(str(err.get("ctx", {}).get("error", err["msg"])))
        else:
            parts.append(f"field '{loc}': {err['msg']}")
    return "; ".join(parts)


def run_cli(app) -> None:
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("hala: interrupted (finished work is kept; rerun the same command to resume)", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        message = user_message(e)
        if message is None or os.environ.get("HALA_DEBUG"):
            raise  # a bug: Python prints the traceback and exits with status 1
        print(f"hala: error: {message}", file=sys.stderr)
        sys.exit(USER_EXIT)
