"""`hala run --dry-run`: the stage plan (what would run, skip or resume) and cost estimates, without running."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hala.recipe.runner import PlannedStage


def estimates(planned: list[PlannedStage]) -> dict:
    rows = {}
    for p in planned:
        e = p.spec.estimate
        if e is not None:
            rows[p.name] = {
                "tokens": e.tokens(),
                "gpu_hours": e.gpu_hours(),
                "wall_hours": e.wall_hours(),
                "gpus": e.gpus,
                "basis": e.basis,
            }
    return rows


def print_plan(planned: list[PlannedStage], selected: list[str], console: Console | None = None) -> dict:
    console = console or Console(width=160 if not Console().is_terminal else None)
    est = estimates(planned)
    table = Table(title="stage plan")
    columns = ["#", "stage", "type", "key", "status", "needs"] + (["tokens", "GPU-h", "wall-h"] if est else [])
    for col in columns:
        table.add_column(
            col, justify="right" if col in {"#", "tokens", "GPU-h", "wall-h"} else "left", no_wrap=col != "needs"
        )
    for i, p in enumerate(planned, 1):
        status = p.status if p.name in selected else "not selected"
        needs = "all earlier" if p.deps and len(p.deps) == i - 1 and i > 3 else ", ".join(p.deps) or "-"
        row = [str(i), p.name, p.spec.type, p.key[:12], status, needs]
        e = est.get(p.name)
        if est:
            row += [f"{e['tokens']:.3g}", f"{e['gpu_hours']:.1f}", f"{e['wall_hours']:.1f}"] if e else ["-"] * 3
        table.add_row(*row)
    console.print(table)
    for p in planned:  # why each stage that is not done would run (full text: no table column truncates it)
        if p.reason and p.name in selected:
            console.print(
                f"{p.name} {'resumes' if p.status == 'resume' else 'runs'}: {p.reason}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    if est:
        total_gpu = sum(e["gpu_hours"] for e in est.values())
        total_wall = sum(e["wall_hours"] for e in est.values())
        console.print(
            f"estimated total: {total_gpu:.1f} GPU-hours, {total_wall:.1f} wall-clock hours (sequential stages)"
        )
        for name, e in est.items():
            console.print(f"  {name}: {e['basis']}")
    return est


def resource_check(
    planned: list[PlannedStage],
    gpus: int | None,
    gpu_memory: str | None,
    host_memory: str | None,
    as_json: bool,
    echo=print,
) -> dict:
    """The resource plan (hala/recipe/resources.py) printed as a table or JSON; raises HalaError naming every
    stage that cannot fit, with its numbers (the CLI exits non-zero)."""
    import json

    from hala.errors import HalaError
    from hala.recipe.resources import machine_from_options, print_resource_plan, refusal, resource_plan, summary

    try:
        machine = machine_from_options(gpus, gpu_memory, host_memory)
    except ValueError as e:
        raise HalaError(f"--gpu-memory/--host-memory: {e}") from None
    plans = resource_plan(planned, machine)
    report = summary(plans, machine)
    if as_json:
        echo(json.dumps(report, indent=2))
    else:
        print_resource_plan(plans, machine)
    message = refusal(plans)
    if message:
        raise HalaError(message)
    return report
