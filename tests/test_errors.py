"""The one error rule (hala.errors): a user error is one line `hala: error: ...` and exit status 2; anything else
shows its traceback and exits with status 1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hala.errors import ConfigError, HalaError, InputError, MissingDependency, require, user_message
from hala.models import ModelUnavailable

# A click command raising what `KIND` names, run through hala's CLI wrapper in a fresh interpreter (the real exit
# status and stderr, as a shell sees them).
SCRIPT = """
import sys, click
from pydantic import BaseModel, ConfigDict
from hala.errors import ConfigError, HalaError, run_cli

class Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int

@click.command()
@click.argument("kind")
def app(kind):
    if kind == "hala":
        raise HalaError("in.tsv:3: no tab; write SRC<TAB>TGT")
    if kind == "config":
        raise ConfigError("unknown engine 'ct3'; known: ct2, hf")
    if kind == "validation":
        Cfg(limit="many", extra=1)
    if kind == "missing-file":
        open("/no/such/input.tsv")
    if kind == "library-value-error":
        int("not a number")  # what a library bug looks like: a ValueError no user can act on
    if kind == "runtime":
        raise RuntimeError("boom in a stage")
    if kind == "os-no-file":
        raise OSError(5, "Input/output error")

run_cli(app)
"""


def _run(kind: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, kind],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HALA_DEBUG": "", **env},
    )


@pytest.mark.parametrize(
    "kind, line",
    [
        ("hala", "hala: error: in.tsv:3: no tab; write SRC<TAB>TGT"),
        ("config", "hala: error: unknown engine 'ct3'; known: ct2, hf"),
        (
            "validation",
            "hala: error: Cfg: field 'limit': Input should be a valid integer, unable to parse string as an "
            "integer; field 'extra': Extra inputs are not permitted",
        ),
        ("missing-file", "hala: error: /no/such/input.tsv: No such file or directory"),
    ],
)
def test_a_user_error_is_one_line_and_exit_status_2(kind, line):
    result = _run(kind)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [line]


@pytest.mark.parametrize(
    "kind, last",
    [
        ("runtime", "RuntimeError: boom in a stage"),
        ("library-value-error", "ValueError: invalid literal for int() with base 10: 'not a number'"),
        ("os-no-file", "OSError: [Errno 5] Input/output error"),
    ],
)
def test_anything_else_shows_its_traceback_and_exit_status_1(kind, last):
    result = _run(kind)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.strip().splitlines()[-1] == last
    assert "hala: error:" not in result.stderr


def test_hala_debug_shows_the_traceback_of_a_user_error_too():
    result = _run("hala", HALA_DEBUG="1")
    assert result.returncode == 1 and "Traceback" in result.stderr and "HalaError: in.tsv:3" in result.stderr


def test_which_errors_are_user_errors():
    assert user_message(ModelUnavailable("model 'x': not found")) == "model 'x': not found"
    for cls in (ConfigError, InputError, MissingDependency):
        assert issubclass(cls, HalaError) and user_message(cls("m")) == "m"
    # they stay what callers (and pydantic validators) already catch
    assert issubclass(ConfigError, ValueError) and issubclass(InputError, ValueError)
    assert issubclass(MissingDependency, ImportError)
    for bug in (ValueError("x"), ImportError("no module named y"), KeyError("k"), FileNotFoundError("no name")):
        assert user_message(bug) is None
    assert user_message(PermissionError(13, "Permission denied", "/etc/out")) == "/etc/out: Permission denied"
    assert (
        user_message(OSError(28, "No space left on device", "out/kept.jsonl"))
        == "disk full while writing out/kept.jsonl (finished work is kept)"
    )


def test_require_names_what_to_install_but_a_broken_package_stays_a_bug(tmp_path, monkeypatch):
    with pytest.raises(MissingDependency, match=r"^the x engine needs it: pip install y \(hala_no_such_pkg is not"):
        require("hala_no_such_pkg", "the x engine needs it: pip install y")
    (tmp_path / "hala_broken_pkg").mkdir()
    (tmp_path / "hala_broken_pkg" / "__init__.py").write_text("import hala_no_such_inner_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError) as e:
        require("hala_broken_pkg", "unused")
    assert not isinstance(e.value, MissingDependency) and e.value.name == "hala_no_such_inner_dependency"


RECIPE = """
name: errors
stages:
  - name: a
    type: toy.write
    with: {{text: "a"}}
  - name: j
    type: toy.join
    with: {{inputs: ["@a/out.txt"{extra}]{marker}}}
"""


def _hala_run(tmp_path: Path, recipe: str, monkeypatch) -> None:
    """`hala run` in this process through the CLI wrapper, with the toy stage types of tests/recipe_toy.py: the
    real CLI, runner and stage code. (What an exception escaping `run_cli` looks like from a shell, a traceback
    and status 1, is Python's own and checked above.)"""
    import recipe_toy  # noqa: F401  (registers the toy stage types)

    from hala.cli import app
    from hala.errors import run_cli

    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(recipe))
    monkeypatch.setattr(sys, "argv", ["hala", "run", str(path), "--run-dir", str(tmp_path / "run")])
    monkeypatch.delenv("HALA_DEBUG", raising=False)
    run_cli(app)


def test_a_crash_inside_a_stage_escapes_with_its_traceback_and_a_missing_input_is_one_line(
    tmp_path, monkeypatch, capsys
):
    marker = tmp_path / "marker"
    with pytest.raises(RuntimeError, match="^simulated crash$") as crash:
        _hala_run(tmp_path, RECIPE.format(extra="", marker=f", fail_once_marker: {marker}"), monkeypatch)
    assert crash.traceback[-1].path.name == "recipe_toy.py"  # the traceback goes down to the failing line
    assert "hala: error:" not in capsys.readouterr().err

    with pytest.raises(SystemExit) as missing:
        _hala_run(tmp_path, RECIPE.format(extra=f", {tmp_path / 'nope.txt'}", marker=""), monkeypatch)
    assert missing.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"hala: error: {tmp_path / 'nope.txt'}: No such file or directory"
    assert "Traceback" not in err
