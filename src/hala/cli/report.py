"""`hala report RUN_DIR`: a Markdown and a self-contained HTML report of a run.

Options generated from `ReportConfig` (hala.cli.generate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, stage_command


def report(config: Any, out: Path | None) -> None:
    """Render RUN_DIR/report.md and a self-contained RUN_DIR/report.html (plots embedded): translator quality
    before/after, benchmark bars per model, merge t sweep, filter reasons, quantization checks, throughput.
    Sections whose files are missing are listed as skipped."""
    from hala.report import run

    where = out or Path(config.run_dir)
    summary = run(config, where)
    typer.echo(f"wrote {where / 'report.html'} and {where / 'report.md'} ({summary['metrics']['figures']} figures)")
    if summary["skipped"]:
        typer.echo(f"skipped (no data): {', '.join(summary['skipped'])}")


def register(app: typer.Typer) -> None:
    stage_command(
        app,
        "report",
        "report",
        report,
        fields={
            "run_dir": Opt(argument=True, help="Run directory (manifest.json and the stages' directories)."),
            "title": Opt(help="Report title (default: the recipe name)."),
        },
        extras=[
            Extra(
                "out",
                Path,
                typer.Option(None, "--out", "-o", help="Where to write report.md / report.html (default: RUN_DIR)."),
            )
        ],
    )
