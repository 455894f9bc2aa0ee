"""The `hala` command line: one thin subcommand per stage.

Each module in this package owns one stage's commands and exposes `register(app)`; modules are found by
discovery (so a stage lands by adding its file) and listed in pipeline order (`ORDER`). A stage command is
generated from the stage's pydantic config (`hala.cli.generate.stage_command`): every config field is an option
(`--field-name`, its type, default and help from the field), plus `--config FILE` (the stage's `with:` mapping)
and repeated `--set KEY=VALUE` (dotted keys for nested settings); precedence defaults < --config < options <
--set, validated by the config class, so the CLI and a recipe accept the same settings. A command module adds
only the established short names (`-o`, `-m`), CLI-only parameters (`--out`, `--json`) and what it prints, then
calls the stage's `run`. The config classes import pydantic only, and heavy libraries are imported inside the
commands, so `hala --help` stays instant. Non-stage commands (`hala run`, `hala models`, `hala data check`,
`hala eval tasks`) are written by hand.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from hala import __version__

# Pipeline order for `hala --help`; modules not named here are listed after these.
ORDER = [
    "run",
    "models",
    "data",
    "quantize",
    "translate",
    "filter",
    "corpus",
    "decontam",
    "vocab",
    "prune",
    "train",
    "merge",
    "eval",
    "report",
    "publish",
]

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
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


# Modules of this package that hold no commands.
NOT_COMMANDS = {"generate"}


def _command_modules() -> list[str]:
    found = [
        m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name not in NOT_COMMANDS
    ]
    return sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


for _name in _command_modules():
    importlib.import_module(f"hala.cli.{_name}").register(app)


def main() -> None:
    from hala.errors import run_cli

    run_cli(app)
