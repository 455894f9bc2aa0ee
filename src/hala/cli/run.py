"""`hala run`: run a recipe (the whole pipeline), cached and resumable."""

from __future__ import annotations

from pathlib import Path

import typer


def run_cmd(
    recipe: Path = typer.Argument(..., help="Recipe YAML (e.g. recipes/quickstart.yaml)."),
    only: list[str] = typer.Option(None, "--only", help="Run only these stages (their inputs must be done)."),
    from_stage: str = typer.Option(None, "--from", help="Run this stage and every later one."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Validate offline, print the stage plan and cost estimates; run nothing."),
    run_dir: Path = typer.Option(None, "--run-dir", help="Where stage outputs go (default: the recipe's run_dir "
                                                         "or runs/<name>)."),
) -> None:
    """Run a recipe: every stage in order, each in RUN_DIR/<stage>-<key>. Finished stages are skipped, a
    changed setting reruns only what depends on it, an interrupted stage resumes; RUN_DIR/manifest.json records
    versions, keys, timings and metrics."""
    from hala.recipe.dryrun import print_plan
    from hala.recipe.runner import default_run_dir, plan, run_recipe, select
    from hala.recipe.schema import load_recipe

    parsed = load_recipe(recipe)
    target = run_dir or default_run_dir(parsed, recipe)
    if dry_run:
        planned = plan(parsed, target)
        print_plan(planned, select(planned, only, from_stage))
        typer.echo(f"recipe '{parsed.name}' is valid; run directory: {target}")
        return
    result = run_recipe(parsed, target, recipe, only, from_stage, log=typer.echo)
    typer.echo(f"ran {len(result.ran)}, skipped {len(result.skipped)}; manifest: {result.manifest}")


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
