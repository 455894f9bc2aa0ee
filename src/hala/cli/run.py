"""`hala run`: run a recipe (the whole pipeline), cached and resumable."""

from __future__ import annotations

from pathlib import Path

import typer


def run_cmd(
    recipe: Path = typer.Argument(..., help="Recipe YAML (e.g. recipes/quickstart.yaml)."),
    only: list[str] = typer.Option(None, "--only", help="Run only these stages (their inputs must be done)."),
    from_stage: str = typer.Option(None, "--from", help="Run this stage and every later one."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate offline, print the stage plan and cost estimates; run nothing."
    ),
    run_dir: Path = typer.Option(
        None, "--run-dir", help="Where stage outputs go (default: the recipe's run_dir or runs/<name>)."
    ),
    rehearse: bool = typer.Option(
        False,
        "--rehearse",
        help="Run every stage on this CPU at toy scale: tiny "
        "random models of the recipe's architectures, fixture rows in the hub datasets' "
        "schemas, CPU engines, small counts; offline, in runs/<name>-rehearsal "
        "(docs/SCALING.md).",
    ),
    rehearse_engine: list[str] = typer.Option(
        None, "--rehearse-engine", help="With --rehearse: engine substitution FROM=TO (default vllm=hf; e.g. vllm=ct2)."
    ),
    gpus: int = typer.Option(
        None,
        "--gpus",
        min=0,
        help="With --dry-run: size every stage for a machine with N "
        "GPUs (peak host/GPU memory, GPU-hours, wall time); exits non-zero naming a stage that "
        "cannot fit (docs/SCALING.md).",
    ),
    gpu_memory: str = typer.Option(
        None, "--gpu-memory", help="With --dry-run: memory per GPU, e.g. 80GB [default: 80GB]."
    ),
    host_memory: str = typer.Option(None, "--host-memory", help="With --dry-run: host RAM, e.g. 1TB [default: 1TB]."),
    as_json: bool = typer.Option(False, "--json", help="With --dry-run: print the resource plan as JSON."),
) -> None:
    """Run a recipe: every stage in order, each in RUN_DIR/<stage>-<key>. Finished stages are skipped, a
    changed setting reruns only what depends on it, an interrupted stage resumes; RUN_DIR/manifest.json records
    versions, keys, timings and metrics."""
    from hala.recipe.dryrun import print_plan
    from hala.recipe.runner import default_run_dir, plan, run_recipe, select
    from hala.recipe.schema import load_recipe

    if rehearse:
        from hala.rehearse.transform import rehearse as rehearse_recipe
        from hala.rehearse.transform import run_rehearsal

        engines = dict(e.split("=", 1) for e in rehearse_engine) if rehearse_engine else None
        if not dry_run:
            result = run_rehearsal(recipe, run_dir, typer.echo, engines, only, from_stage)
            typer.echo(f"rehearsal: ran {len(result.ran)}, skipped {len(result.skipped)}; manifest: {result.manifest}")
            return
        parsed = rehearse_recipe(load_recipe(recipe), log=typer.echo, engine_map=engines)
        target = run_dir or default_run_dir(parsed, None)
    else:
        parsed = load_recipe(recipe)
        target = run_dir or default_run_dir(parsed, recipe)
    if dry_run:
        planned = plan(parsed, target)
        if gpus is not None or gpu_memory or host_memory or as_json:
            from hala.recipe.dryrun import resource_check

            resource_check(planned, gpus, gpu_memory, host_memory, as_json, typer.echo)
            return
        print_plan(planned, select(planned, only, from_stage))
        typer.echo(f"recipe '{parsed.name}' is valid; run directory: {target}")
        return
    result = run_recipe(parsed, target, recipe, only, from_stage, log=typer.echo)
    typer.echo(f"ran {len(result.ran)}, skipped {len(result.skipped)}; manifest: {result.manifest}")


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
