"""Progress display shared by every long-running stage: counts, rate and ETA on stderr (rich).

On a terminal this is a live rich bar. When stderr is a file or a pipe (CI logs, `hala run ... 2> log`), rich
draws nothing until the end, so a plain line with the same counts is printed every `LOG_EVERY_S` seconds instead.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
LOG_EVERY_S = 30.0


@contextlib.contextmanager
def progress_bar(total: int | None, description: str, unit: str = "records") -> Iterator["Tracker"]:
    """`with progress_bar(n, "translate") as bar: bar.advance(k, info="12.3 tok/s")`."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[cyan]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    with progress:
        task = progress.add_task(description, total=total, rate="", info="")
        yield Tracker(progress, task, unit, log_lines=not console.is_terminal)


class Tracker:
    def __init__(self, progress: Progress, task, unit: str, log_lines: bool = False):
        self.progress, self.task, self.unit = progress, task, unit
        self.log_lines = log_lines
        self._last_line = time.monotonic()

    def advance(self, n: int = 1, info: str = "") -> None:
        self.progress.advance(self.task, n)
        speed = self.progress.tasks[self.task].speed or 0.0
        self.progress.update(self.task, rate=f"{speed:.1f} {self.unit}/s", info=info)
        if self.log_lines and time.monotonic() - self._last_line >= LOG_EVERY_S:
            self._last_line = time.monotonic()
            console.print(self.line(), highlight=False)

    def line(self) -> str:
        """One plain status line: `translate 12/60 records, 0.4 records/s, 1m30s elapsed, ETA 2m0s (info)`."""
        t = self.progress.tasks[self.task]
        done = f"{t.completed:.0f}/{t.total:.0f}" if t.total is not None else f"{t.completed:.0f}"
        eta = f", ETA {_duration(t.time_remaining)}" if t.time_remaining is not None else ""
        info = f" ({t.fields['info']})" if t.fields.get("info") else ""
        # the average since the start: rich's windowed speed reads 0 between the rare updates of slow work
        rate = t.completed / t.elapsed if t.elapsed else 0.0
        return (
            f"{t.description} {done} {self.unit}, {rate:.2f} {self.unit}/s, {_duration(t.elapsed or 0)} "
            f"elapsed{eta}{info}"
        )

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
