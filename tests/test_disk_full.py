"""Disk full and read-only targets (issue 16): a write that fails publishes no partial artifact, the error names
the path, and a resume after freeing space continues. ENOSPC is simulated by monkeypatching the file object."""

from __future__ import annotations

import errno
import json
import sys
import textwrap

import pytest

from hala.atomic import atomic_dir, write_json
from hala.errors import HalaError
from hala.records import RecordWriter, Reject, RejectLog

_real_open = open


class FullDisk:
    """A text file whose writes fail with ENOSPC once `room` characters have been written (like a full disk)."""

    def __init__(self, fh, room: int):
        self.fh, self.room = fh, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            self.fh.write(text[: self.room])  # a partial write lands in the temp file, as on a real full disk
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.fh.write(text)

    def __getattr__(self, name):
        return getattr(self.fh, name)


def fill_disk(monkeypatch, module, room: int, only: str = ""):
    def fake_open(path, mode="r", *args, **kwargs):
        fh = _real_open(path, mode, *args, **kwargs)
        return FullDisk(fh, room) if "w" in mode and only in str(path) else fh

    monkeypatch.setattr(module, "open", fake_open, raising=False)


def _leftovers(directory):
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name)


def test_record_writer_on_a_full_disk_publishes_nothing_and_names_the_path(tmp_path, monkeypatch):
    import hala.records

    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    fill_disk(monkeypatch, hala.records, room=50)
    with pytest.raises(OSError) as e, RecordWriter(target) as w:
        for i in range(10):
            w.write({"id": str(i), "text": "x" * 20})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target) and str(target) in str(e.value)
    assert target.read_text() == "old\n"  # the previous artifact is untouched
    assert _leftovers(tmp_path) == []  # and no partial temp file is left behind


def test_rejects_file_on_a_full_disk_is_not_published(tmp_path, monkeypatch):
    import hala.records

    fill_disk(monkeypatch, hala.records, room=10)
    log = RejectLog(tmp_path / "rejects.jsonl")
    with pytest.raises(OSError, match="rejects.jsonl"):
        log.add(Reject("in.jsonl", 3, "invalid JSON", "x" * 100))
    log.close()
    assert not (tmp_path / "rejects.jsonl").exists() and _leftovers(tmp_path) == []


def test_write_json_and_atomic_dir_name_the_path(tmp_path, monkeypatch):
    from pathlib import Path

    def no_room(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_room)
    with pytest.raises(OSError) as e:
        write_json(tmp_path / "summary.json", {"a": 1})
    assert e.value.filename == str(tmp_path / "summary.json")
    monkeypatch.undo()
    with pytest.raises(OSError, match="model"), atomic_dir(tmp_path / "model") as d:
        (d / "weights.bin").write_bytes(b"123")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not (tmp_path / "model").exists() and _leftovers(tmp_path) == []


def test_read_only_target_is_one_error_naming_it(tmp_path, monkeypatch):
    import hala.atomic

    def read_only(*a, dir=None, **k):
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/.x.tmp")

    monkeypatch.setattr(hala.atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(HalaError, match=r"summary.json: cannot write \(Read-only file system\)"):
        write_json(tmp_path / "summary.json", {"a": 1})


RECIPE = """
name: full
stages:
  - name: filter
    type: filter
    with: {{inputs: ["{tsv}"], rules: [empty], progress: false}}
"""


def test_stage_on_a_full_disk_fails_cleanly_and_resumes_after_space_is_freed(tmp_path, monkeypatch, capsys):
    import hala.records
    from hala.cli import app
    from hala.errors import run_cli
    from hala.recipe import load_recipe, run_recipe

    tsv = tmp_path / "p.tsv"
    tsv.write_text("".join(f"sentence {i}\tجملة {i}\n" for i in range(200)), encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(RECIPE.format(tsv=tsv)))
    clean = run_recipe(load_recipe(recipe), tmp_path / "clean", recipe, log=lambda m: None)
    assert clean.ran == ["filter"]

    run_dir = tmp_path / "run"
    fill_disk(monkeypatch, hala.records, room=2000, only="kept")
    monkeypatch.setattr(sys, "argv", ["hala", "run", str(recipe), "--run-dir", str(run_dir)])
    with pytest.raises(SystemExit) as e:
        run_cli(app)
    assert e.value.code == 2  # a user error (free space, or write elsewhere): one line, status 2
    err = capsys.readouterr().err
    assert "hala: error: disk full while writing" in err and "kept.jsonl" in err
    (stage_tmp,) = run_dir.glob("filter-*.tmp")
    assert not (stage_tmp / "kept.jsonl").exists() and not [p for p in stage_tmp.iterdir() if ".kept" in p.name]
    assert json.loads((stage_tmp / "stage.json").read_text())["status"] == "failed"

    monkeypatch.undo()  # space freed
    again = run_recipe(load_recipe(recipe), run_dir, recipe, log=lambda m: None)
    assert again.ran == ["filter"] and not list(run_dir.glob("*.tmp"))
    (done,) = run_dir.glob("filter-*")
    (ref,) = (tmp_path / "clean").glob("filter-*")
    assert (done / "kept.jsonl").read_bytes() == (ref / "kept.jsonl").read_bytes()
