"""`hala vocab trim`: a copy of a model whose vocabulary keeps only the tokens its languages need.

Options generated from `TrimConfig` (hala.cli.generate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Opt, out_dir, stage_command

vocab_app = typer.Typer(help="Vocabulary operations on a model.", no_args_is_help=True)


def trim(config: Any, out: Path) -> None:
    """Cut the vocabulary to the tokens of TEXTS (plus the pieces that spell anything else): for Gemma-3-270M
    on English/Arabic data, 262k → ~16k tokens and 268M → ~111M parameters, with every text tokenized as before
    (checked). The output layer is most of a small multilingual model's compute, so training and decoding get
    faster."""
    from hala.vocab.stage import run

    result = run(config, out)
    m = result["metrics"]
    typer.echo(
        f"vocabulary {m['vocab_before']} -> {m['vocab_after']} tokens, parameters {m['params_before']:,} -> "
        f"{m['params_after']:,}; model: {out / 'model'}"
    )


stage_command(
    vocab_app,
    "trim",
    "vocab.trim",
    trim,
    fields={
        "model": Opt(("-m",)),
        "texts": Opt(("-t",)),
    },
    extras=[out_dir("hala-trim", "Output directory (the model goes to OUT/model).")],
)


def register(app: typer.Typer) -> None:
    app.add_typer(vocab_app, name="vocab")
