"""`hala merge`: slerp/linear merge of a fine-tuned model with its base, or a t sweep that keeps the best."""

from __future__ import annotations

from pathlib import Path

import typer

from hala.merge.config import MergeConfig  # pydantic only: keeps `hala --help` instant


def _default(name: str):
    """The config's own default, so the CLI and recipes cannot disagree."""
    return MergeConfig.model_fields[name].get_default()


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated numbers, got '{text}'") from None


def merge_cmd(
    base: str = typer.Option(..., "--base", help="Base model (t = 0): embedded:NAME, local directory or hub id."),
    tuned: str = typer.Option(..., "--tuned", help="Fine-tuned model (t = 1), same architecture and vocabulary."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: OUT/model, OUT/merge.json "
                                                     "(and OUT/sweep.json, OUT/sweep.png with --sweep)."),
    method: str = typer.Option(_default("method"), help="slerp (spherical, mergekit's) or linear."),
    t: str = typer.Option(None, "--t", help="Interpolation factor, 0 = base, 1 = tuned (default 0.5). Comma-separated "
                                            "values are a gradient over depth (mergekit semantics), e.g. "
                                            "0,0.5,1."),
    t_filter: list[str] = typer.Option(None, "--t-filter", help="MODULE=VALUES: t for tensors whose name contains "
                                                                "MODULE (e.g. self_attn=0,0.5,1 or mlp=0.7); "
                                                                "repeatable, first match wins, --t for the rest."),
    dtype: str = typer.Option(_default("dtype"), help="Output dtype: auto (keep the inputs'), float32, bfloat16, "
                                                      "float16."),
    tokenizer_from: str = typer.Option(_default("tokenizer_source"), "--tokenizer-from",
                                       help="Copy tokenizer, chat template and generation config from: tuned or "
                                            "base."),
    shard_size_gb: float = typer.Option(_default("shard_size_gb"), help="Largest output weight file, in GB."),
    sweep: str = typer.Option(None, help="Try these t values (e.g. 0,0.25,0.5,0.75,1), keep the best by "
                                         "--select-on."),
    select_on: str = typer.Option(None, help="Sweep score: mcq:TASK (acc_norm), chrf:PAIRS (chrF++) or "
                                             "ppl:FILE (minus perplexity)."),
    select_limit: int = typer.Option(None, help="Score each sweep candidate on at most N items."),
    keep_candidates: bool = typer.Option(False, help="Keep every sweep candidate in OUT/candidates."),
) -> None:
    """Merge a fine-tuned model with its base, streaming tensor by tensor (memory ~ one tensor pair).

    slerp equals mergekit's: each tensor is one vector, nearly parallel pairs (|cos| > 0.9995) are interpolated
    linearly. With --sweep, every t is merged and scored on a dev task and the best model is kept as OUT/model,
    with the table in OUT/sweep.json and the plot in OUT/sweep.png."""
    import json

    from pydantic import ValidationError

    from hala.errors import HalaError
    from hala.merge import run
    from hala.merge.config import parse_schedule

    fields = {"base": base, "tuned": tuned, "method": method, "dtype": dtype, "tokenizer_source": tokenizer_from,
              "shard_size_gb": shard_size_gb, "select_on": select_on, "select_limit": select_limit,
              "keep_candidates": keep_candidates}
    if t is not None or t_filter:
        fields["t"] = parse_schedule(t if t is not None else str(_default("t")), t_filter or [])
    if sweep is not None:
        fields["sweep"] = _floats(sweep, "--sweep")
    try:
        config = MergeConfig(**fields)
    except ValidationError as e:
        raise HalaError("; ".join(_option_error(err) for err in e.errors())) from e
    summary = run(config, out)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2, ensure_ascii=False))
    typer.echo(f"merged model: {out / summary['model']}")


def _option_error(err: dict) -> str:
    """A pydantic error as the option it came from: `--method: Input should be 'slerp' or 'linear'`."""
    message = err["msg"].removeprefix("Value error, ")
    if not err["loc"]:
        return message
    field = str(err["loc"][0])
    return f"--{_OPTION.get(field, field.replace('_', '-'))}: {message}"


_OPTION = {"tokenizer_source": "tokenizer-from"}


def register(app: typer.Typer) -> None:
    app.command("merge")(merge_cmd)
