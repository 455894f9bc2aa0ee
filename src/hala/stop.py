"""A stop request (SIGTERM, SIGINT) that a library cannot lose.

`hala run` turns both signals into KeyboardInterrupt so the running stage records that it stopped and keeps its
partial work. But an interrupt raised while library code runs can be swallowed there (a generator that yields
from its `except KeyboardInterrupt` block and is then closed, a `__del__`, a worker pool's cleanup), and the run
would go on as if nothing happened. So the handler also records the request here, and long loops check it at
safe points (each training step; each stage boundary in the runner): a swallowed interrupt is raised again there.
"""

from __future__ import annotations

import threading

_requested = threading.Event()
_why = ["stop requested"]


def request(why: str) -> None:
    _why[0] = why
    _requested.set()


def clear() -> None:
    _requested.clear()


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt (with the signal's name) if a stop was requested."""
    if _requested.is_set():
        raise KeyboardInterrupt(_why[0])
