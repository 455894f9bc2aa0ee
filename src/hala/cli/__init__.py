"""The `hala` command line: one thin subcommand per stage.

Each module in this package owns one stage's commands and exposes `register(app)`; modules are found by
discovery (so a stage lands by adding its file) and listed in pipeline order (`ORDER`). Commands only parse
options into the stage's config object and call the stage's `run`; heavy libraries are imported inside the
command so `hala --help` stays instant.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from hala import __version__

# Pipeline order for `hala --help`; modules not named here are listed after these.
ORDER = ["run", "models", "data", "quantize", "translate", "filter", "corpus", "vocab", "train", "merge", "eval",
         "report", "publish"]

app = typer.Typer(
    name="hala",
    help="hala — translate-and-tune: build language-centric translation and instruction models "
         "(Hala, arXiv 2509.14008). Every stage of the recipe is a subcommand; `hala run` runs them all.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hala {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


def _command_modules() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


for _name in _command_modules():
    importlib.import_module(f"hala.cli.{_name}").register(app)


def main() -> None:
    from hala.errors import run_cli

    run_cli(app)
