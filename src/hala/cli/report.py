"""`hala report RUN_DIR`: a Markdown and a self-contained HTML report of a run."""

from __future__ import annotations

from pathlib import Path

import typer


def report_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory (manifest.json and the stages' directories)."),
    out: Path = typer.Option(None, "--out", "-o", help="Where to write report.md / report.html (default: RUN_DIR)."),
    title: str = typer.Option(None, help="Report title (default: the recipe name)."),
    worst_examples: int = typer.Option(5, help="Lowest-chrF++ sentences shown per translation direction."),
) -> None:
    """Render RUN_DIR/report.md and a self-contained RUN_DIR/report.html (plots embedded): translator quality
    before/after, benchmark bars per model, merge t sweep, filter reasons, quantization checks, throughput.
    Sections whose files are missing are listed as skipped."""
    from hala.report import ReportConfig, run

    summary = run(ReportConfig(run_dir=str(run_dir), title=title, worst_examples=worst_examples), out or run_dir)
    where = out or run_dir
    typer.echo(f"wrote {where / 'report.html'} and {where / 'report.md'} "
               f"({summary['metrics']['figures']} figures)")
    if summary["skipped"]:
        typer.echo(f"skipped (no data): {', '.join(summary['skipped'])}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
