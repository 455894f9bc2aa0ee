"""hala.atomic is the one place that renames an artifact into place, and its writers publish whole or nothing.

The rule is checked from the source text (ast, nothing imported): outside src/hala/atomic.py no module calls
`os.replace`, `os.rename`, `os.renames`, `shutil.move`, or `Path.replace` / `Path.rename` (a one-argument
`.replace(x)` / `.rename(x)`: `str.replace` takes two). A hand-rolled temp-and-rename drifts from atomic.py's rules
(stale temporaries of a killed writer, errors naming the artifact, a directory replaced by renames only).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from hala.atomic import AtomicFile, replace_dir

SRC = Path(__file__).resolve().parents[1] / "src"
RENAMES = {("os", "replace"), ("os", "rename"), ("os", "renames"), ("shutil", "move")}


def renames_in(text: str) -> list[tuple[int, str]]:
    """(line, call) of every rename-into-place call in a module's source."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        attr, owner = node.func.attr, node.func.value
        if isinstance(owner, ast.Name) and (owner.id, attr) in RENAMES:
            found.append((node.lineno, f"{owner.id}.{attr}"))
        elif attr in ("replace", "rename") and len(node.args) == 1 and not node.keywords:
            found.append((node.lineno, f".{attr}(...)"))
    return found


def test_only_atomic_py_renames_into_place():
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line}: {call} (use hala.atomic: atomic_path, atomic_dir, AtomicFile, "
        "replace_dir)"
        for path in sorted((SRC / "hala").rglob("*.py"))
        if path.name != "atomic.py" or path.parent != SRC / "hala"
        for line, call in renames_in(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "\n".join(offenders)


def test_the_check_sees_each_kind_of_rename():
    text = (
        "import os, shutil\n"
        "os.replace(a, b)\n"
        "os.rename(a, b)\n"
        "shutil.move(a, b)\n"
        "Path(a).replace(b)\n"
        "p.rename(b)\n"
        "s.replace('x', 'y')\n"  # str.replace: not a rename
        "df.rename(columns={})\n"  # pandas: not a rename
    )
    assert [line for line, _ in renames_in(text)] == [2, 3, 4, 5, 6]


# ------------------------------------------------------------------------------------------------ AtomicFile
def test_atomic_file_commit_publishes_whole(tmp_path):
    target = tmp_path / "sub" / "out.jsonl"
    f = AtomicFile(target)
    f.tmp.write_text("partial", encoding="utf-8")
    assert not target.exists()  # nothing visible before commit
    f.tmp.write_text("whole\n", encoding="utf-8")
    f.commit()
    assert target.read_text(encoding="utf-8") == "whole\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.jsonl"]  # no temporary left
    f.commit()  # final: a second call does nothing
    f.discard()
    assert target.read_text(encoding="utf-8") == "whole\n"


def test_atomic_file_discard_keeps_the_old_target(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    f = AtomicFile(target)
    f.tmp.write_text("new\n", encoding="utf-8")
    f.discard()
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_atomic_file_removes_a_dead_writers_temporary(tmp_path):
    target = tmp_path / "out.jsonl"
    stale = tmp_path / ".out.jsonl.999999999.abc.tmp"  # a pid that cannot be running
    stale.write_text("left by kill -9", encoding="utf-8")
    f = AtomicFile(target)
    assert not stale.exists()
    f.discard()


def test_atomic_file_names_the_artifact_when_it_cannot_be_written(tmp_path):
    from hala.errors import HalaError

    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(HalaError, match=r"ro/out.jsonl: cannot write"):
            AtomicFile(ro / "out.jsonl")
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------------------------------------ replace_dir
def test_replace_dir_puts_a_directory_over_an_old_one_by_renames(tmp_path):
    old, new = tmp_path / "model", tmp_path / "cand"
    old.mkdir()
    (old / "a.safetensors").write_text("old", encoding="utf-8")
    (old / "only-old.txt").write_text("x", encoding="utf-8")
    new.mkdir()
    (new / "a.safetensors").write_text("new", encoding="utf-8")
    replace_dir(new, old)
    assert not new.exists()
    assert sorted(p.name for p in old.iterdir()) == ["a.safetensors"]  # the old directory is gone whole
    assert (old / "a.safetensors").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no `.model.old.*` left behind


def test_replace_dir_to_a_new_place(tmp_path):
    new = tmp_path / "cand"
    new.mkdir()
    (new / "f").write_text("1", encoding="utf-8")
    replace_dir(new, tmp_path / "model")
    assert (tmp_path / "model" / "f").read_text(encoding="utf-8") == "1" and not new.exists()
