"""Turn expected failures into one clear line and a non-zero exit, never a stack trace.

Set HALA_DEBUG=1 to see the full traceback instead.
"""

from __future__ import annotations

import os
import sys

from hala.models import ModelUnavailable


class HalaError(RuntimeError):
    """An error whose message is complete for the user (what failed, where, and what to do)."""


USER_ERRORS = (HalaError, ModelUnavailable, FileNotFoundError, ValueError, PermissionError, ImportError)


def run_cli(app) -> None:
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("hala: interrupted (finished work is kept; rerun the same command to resume)", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        if os.environ.get("HALA_DEBUG"):
            raise
        if isinstance(e, OSError) and e.errno == 28:
            print(f"hala: error: disk full while writing {e.filename or ''} (finished work is kept)",
                  file=sys.stderr)
            sys.exit(1)
        if isinstance(e, USER_ERRORS):
            print(f"hala: error: {_one_line(e)}", file=sys.stderr)
            sys.exit(1)
        raise


def _one_line(e: Exception) -> str:
    """A pydantic error (an option a command passed into a stage config) as `Config: field 'x': message`."""
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        from hala.records import describe_validation_error

        return f"{e.title}: {describe_validation_error(e)}"
    return str(e)
