"""The report stage: `hala report RUN_DIR` renders `report.md` and a self-contained `report.html` from a run
directory (layout in hala.report.rundir and docs/EVAL.md). Sections whose inputs are missing are kept, with a
note, so a partial run still gets a report."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala.atomic import write_json, write_text


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_dir: str = Field(description="the run directory to report on (holds manifest.json and stage dirs)")
    title: str | None = None
    worst_examples: int = Field(5, ge=0, description="lowest-chrF++ sentences shown per direction")


def run(config: ReportConfig, out_dir: Path) -> dict:
    from hala.recipe.runner import work_dir
    from hala.report.render import Figure, Note, to_html, to_markdown
    from hala.report.rundir import read_run
    from hala.report.sections import build

    out_dir = Path(out_dir)
    run_data = read_run(config.run_dir)
    for stage in run_data.stages:  # run as a recipe stage, the report is written in its own work directory
        if stage.dir is not None and work_dir(stage.dir).resolve() == out_dir.resolve():
            stage.status = "running (this report)"
    built = build(run_data, config.worst_examples)
    title = config.title or f"hala run report: {run_data.recipe}"
    intro = f"Run directory {Path(config.run_dir).resolve()}, generated {time.strftime('%Y-%m-%d %H:%M:%S')}."
    figures_dir = out_dir / "report_files"
    figures = [b for s in built for b in s.blocks if isinstance(b, Figure)]
    for f in figures:
        figures_dir.mkdir(parents=True, exist_ok=True)
        with open(figures_dir / f"{f.name}.png", "wb") as fh:
            fh.write(f.png)
    write_text(out_dir / "report.md", to_markdown(title, intro, built, figures_dir))
    write_text(out_dir / "report.html", to_html(title, intro, built))
    skipped = [s.title for s in built if s.blocks and all(isinstance(b, Note) for b in s.blocks)]
    summary = {
        "outputs": {"markdown": "report.md", "html": "report.html", "figures": "report_files"},
        "metrics": {"sections": len(built) - len(skipped), "figures": len(figures)},
        "skipped": skipped,
    }
    write_json(out_dir / "report_summary.json", summary)
    return summary
