"""`hala prune layers`: a copy of a model without its least influential decoder layers.

Options generated from `PruneConfig` (hala.cli.generate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Opt, out_dir, stage_command

prune_app = typer.Typer(help="Make a model smaller for a faster student.", no_args_is_help=True)


def layers(config: Any, out: Path) -> None:
    """Remove the DROP decoder layers whose output is most like their input (lowest Block Influence on the
    TEXTS, as ShortGPT), keeping the first and the last; the fine-tuning that follows heals the rest. Decoding
    cost falls with the number of layers."""
    from hala.prune.stage import run

    result = run(config, out)
    m = result["metrics"]
    typer.echo(
        f"layers {m['layers_before']} -> {m['layers_after']}, parameters {m['params_before']:,} -> "
        f"{m['params_after']:,}; calibration perplexity {m['calibration_ppl_before']} -> "
        f"{m['calibration_ppl_after']}; model: {out / 'model'}"
    )


stage_command(
    prune_app,
    "layers",
    "prune.layers",
    layers,
    fields={
        "model": Opt(("-m",)),
        "texts": Opt(("-t",)),
    },
    extras=[out_dir("hala-prune", "Output directory (the model goes to OUT/model).")],
)


def register(app: typer.Typer) -> None:
    app.add_typer(prune_app, name="prune")
