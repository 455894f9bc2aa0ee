"""`hala merge`: slerp/linear merge of a fine-tuned model with its base, or a t sweep that keeps the best.

Options generated from `MergeConfig` (hala.cli.generate); `--t 0,0.5,1` and `--t-filter MODULE=VALUES` are the
short spellings of a t schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, stage_command


def _prepare(data: dict, extras: dict) -> None:
    """`--t` (text, as typed) and `--t-filter` -> the config's t setting (mergekit semantics)."""
    if not isinstance(data.get("t"), str) and not extras["t_filter"]:
        return  # from --config or the default: already a t setting
    from hala.errors import HalaError
    from hala.merge.config import MergeConfig, parse_schedule, plain

    t = data.get("t", MergeConfig.model_fields["t"].default)
    if not isinstance(t, str):
        t = ",".join(str(v) for v in plain(t)) if isinstance(t, list) else str(t)
    try:
        data["t"] = parse_schedule(t, extras["t_filter"] or [])
    except ValueError as e:
        raise HalaError(str(e)) from None


def merge(config: Any, out: Path, t_filter: list[str]) -> None:
    """Merge a fine-tuned model with its base, streaming tensor by tensor (memory ~ one tensor pair).

    slerp equals mergekit's: each tensor is one vector, nearly parallel pairs (|cos| > 0.9995) are interpolated
    linearly. With --sweep, every t is merged and scored on a dev task and the best model is kept as OUT/model,
    with the table in OUT/sweep.json and the plot in OUT/sweep.png."""
    import json

    from hala.merge import run

    summary = run(config, out)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2, ensure_ascii=False))
    typer.echo(f"merged model: {out / summary['model']}")


FIELDS = {
    "base": Opt(help="Base model (t = 0): embedded:NAME, local directory or hub id."),
    "method": Opt(help="slerp (spherical, mergekit's) or linear."),
    "t": Opt(
        parse=str,
        metavar="T[,T...]",
        help="Interpolation factor, 0 = base, 1 = tuned. Comma-separated values "
        "are a gradient over depth (mergekit semantics), e.g. 0,0.5,1 "
        "[default: 0.5].",
    ),
    "tokenizer_source": Opt(("--tokenizer-from",)),
    "sweep": Opt(help="Try these t values (e.g. 0,0.25,0.5,0.75,1), keep the best by --select-on."),
    "select_on": Opt(
        help="Sweep score: mcq:TASK (acc_norm), chrf:PAIRS (chrF++), ppl:FILE (minus perplexity) or instruct:FILE."
    ),
    "keep_candidates": Opt(help="Keep every sweep candidate in OUT/candidates."),
}

EXTRAS = [
    Extra(
        "out",
        Path,
        typer.Option(
            ...,
            "--out",
            "-o",
            help="Output directory: OUT/model, OUT/merge.json (and OUT/sweep.json, OUT/sweep.png with --sweep).",
        ),
    ),
    Extra(
        "t_filter",
        list[str],
        typer.Option(
            None,
            "--t-filter",
            metavar="MODULE=VALUES",
            help="t for tensors "
            "whose name contains MODULE (e.g. self_attn=0,0.5,1 or mlp=0.7); repeatable, first match wins, --t for "
            "the rest.",
        ),
    ),
]


def register(app: typer.Typer) -> None:
    stage_command(app, "merge", "merge", merge, fields=FIELDS, extras=EXTRAS, prepare=_prepare)
