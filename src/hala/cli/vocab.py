"""`hala vocab trim`: a copy of a model whose vocabulary keeps only the tokens its languages need."""

from __future__ import annotations

from pathlib import Path

import typer

vocab_app = typer.Typer(help="Vocabulary operations on a model.", no_args_is_help=True)


@vocab_app.command("trim")
def trim_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model to trim (embedded:NAME, directory, hub id)."),
    texts: list[str] = typer.Option(..., "--texts", "-t", help="Record files (pairs or chat) whose tokens are "
                                                               "kept; repeat for several."),
    min_count: int = typer.Option(1, help="Keep a token seen at least this many times."),
    out: Path = typer.Option(Path("hala-trim"), "--out", "-o", help="Output directory (the model goes to OUT/model)."),
) -> None:
    """Cut the vocabulary to the tokens of TEXTS (plus the pieces that spell anything else): for Gemma-3-270M
    on English/Arabic data, 262k → ~16k tokens and 268M → ~111M parameters, with every text tokenized as before
    (checked). The output layer is most of a small multilingual model's compute, so training and decoding get
    faster."""
    from hala.vocab.stage import TrimConfig, run

    result = run(TrimConfig(model=model, texts=texts, min_count=min_count), out)
    m = result["metrics"]
    typer.echo(f"vocabulary {m['vocab_before']} -> {m['vocab_after']} tokens, parameters {m['params_before']:,} -> "
               f"{m['params_after']:,}; model: {out / 'model'}")


def register(app: typer.Typer) -> None:
    app.add_typer(vocab_app, name="vocab")
