"""Progress display shared by every long-running stage: counts, rate and ETA on stderr (rich)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(total: int | None, description: str, unit: str = "records") -> Iterator["Tracker"]:
    """`with progress_bar(n, "translate") as bar: bar.advance(k, info="12.3 tok/s")`."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[cyan]{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console)
    with progress:
        task = progress.add_task(description, total=total, rate="", info="")
        yield Tracker(progress, task, unit)


class Tracker:
    def __init__(self, progress: Progress, task, unit: str):
        self.progress, self.task, self.unit = progress, task, unit

    def advance(self, n: int = 1, info: str = "") -> None:
        self.progress.advance(self.task, n)
        speed = self.progress.tasks[self.task].speed or 0.0
        self.progress.update(self.task, rate=f"{speed:.1f} {self.unit}/s", info=info)

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)
