"""`hala models`: list embedded models, prepare (convert once) any model reference, generate a quick sample."""

from __future__ import annotations

import json

import typer

models_app = typer.Typer(
    help="Model references: hub ids, local directories, and embedded offline models.", no_args_is_help=True
)


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the embedded models (shipped inside PyPI packages, usable offline) and whether they are prepared.
    On a terminal: a table; piped or redirected: one tab-separated line per model (header first), nothing cut."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from hala.models import hala_home, list_models

    rows = list_models()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    cells = [(r["ref"], "yes" if r["prepared"] else "no", r["package"], r["description"]) for r in rows]
    if not sys.stdout.isatty():  # a table sized for 80 columns would cut the references (`embedded:gemma-3-27…`)
        for line in [("ref", "prepared", "package", "description"), *cells]:
            typer.echo("\t".join(line))
        return
    table = Table(title=f"embedded models (HALA_HOME={hala_home()})")
    for col in ("ref", "prepared", "package", "description"):
        table.add_column(col, no_wrap=col == "ref", overflow="fold")
    for c in cells:
        table.add_row(*c)
    Console().print(table)


@models_app.command("prepare")
def prepare_cmd(
    ref: str = typer.Argument(..., help="embedded:NAME, a hub id (org/name) or a local directory."),
) -> None:
    """Resolve a model to a local safetensors directory; embedded GGUFs are converted once (about a minute),
    later calls return at once. Prints the directory."""
    from hala.models import resolve_model
    from hala.progress import console

    with console.status(f"preparing {ref}") as status:
        path = resolve_model(ref, progress=lambda msg: status.update(f"{ref}: {msg}"))
    typer.echo(str(path))


@models_app.command("generate")
def generate_cmd(
    ref: str = typer.Argument(..., help="Model reference."),
    prompt: str = typer.Argument(..., help="Prompt text (raw, no chat template unless --chat)."),
    max_new_tokens: int = typer.Option(32, help="Tokens to generate (greedy)."),
    chat: bool = typer.Option(False, help="Wrap the prompt as one user turn with the model's chat template."),
) -> None:
    """Greedy-generate a continuation: a quick check that a model loads and produces text."""
    from hala.models import generate_text

    typer.echo(generate_text(ref, prompt, max_new_tokens=max_new_tokens, chat=chat))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
