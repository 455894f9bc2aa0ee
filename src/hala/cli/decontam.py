"""`hala decontam`: drop training records that share word n-grams with the evaluation sets.

Options generated from `DecontamConfig` (hala.cli.generate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Opt, out_dir, stage_command


def decontam(config: Any, out: Path) -> None:
    """Drop every training record (chat sample or pair) that shares a word n-gram with an evaluation text (the
    questions of --tasks, the texts of --files), compared Arabic-aware (diacritics, alef/yeh variants, digits
    folded). Kept records: OUT/samples.jsonl; dropped ones with the evaluation item they overlap:
    OUT/rejects.jsonl; counts: OUT/decontam_report.json."""
    from hala.decontam import run

    r = run(config, out)
    for source, n in r["dropped_by_eval_set"].items():
        typer.echo(f"  {source}: {n} dropped")
    typer.echo(
        f"kept {r['records_out']}/{r['records_in']} ({r['dropped']} dropped, {sum(r['eval_texts'].values())} "
        f"evaluation texts, {r['ngram']}-grams) -> {out / r['outputs']['samples']}"
    )


def register(app: typer.Typer) -> None:
    stage_command(
        app,
        "decontam",
        "decontam",
        decontam,
        fields={
            "input": Opt(argument=True),
            "tasks": Opt(("--task", "-t")),
        },
        extras=[out_dir(None)],
    )
