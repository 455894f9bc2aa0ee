"""The runner fails a stage whose output is empty or that lost most of its rows (issue 14, defect 3's general rule):
stage summaries report `records_in` / `records_out`; a recipe can lower the bar per stage with `min_kept`."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ConfigDict

from hala.errors import HalaError
from hala.recipe import load_recipe, run_recipe
from hala.recipe.registry import StageType, register


class CountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    read: int
    kept: int


def count(config: CountConfig, out_dir) -> dict:
    (out_dir / "out.jsonl").write_text("{}\n" * config.kept)
    return {"outputs": {"out": "out.jsonl"}, "metrics": {"records_in": config.read, "records_out": config.kept}}


register(StageType("toy.count", "test_recipe_kept:CountConfig", "test_recipe_kept:count"))


def _run(tmp_path, read, kept, extra=""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "r.yaml"
    path.write_text(
        f"name: kept\nstages:\n  - name: mapped\n    type: toy.count\n    with: {{read: {read}, kept: {kept}}}\n{extra}"
    )
    return run_recipe(load_recipe(path), tmp_path / "run", path, log=lambda m: None)


def test_empty_output_fails_naming_stage_and_counts(tmp_path):
    with pytest.raises(HalaError, match=r"stage 'mapped' \(toy.count\) produced no records \(read 52000"):
        _run(tmp_path, 52000, 0)
    stage = next((tmp_path / "run").glob("mapped-*.tmp"))
    assert json.loads((stage / "stage.json").read_text())["status"] == "failed"  # not published as done


def test_losing_most_rows_fails_and_min_kept_overrides(tmp_path):
    with pytest.raises(HalaError, match=r"kept 10 of 100 records \(10.0%\), below its min_kept 20%"):
        _run(tmp_path, 100, 10)
    assert _run(tmp_path, 100, 10, "    min_kept: 0.05\n").ran == ["mapped"]
    assert _run(tmp_path / "b", 100, 0, "    min_kept: 0\n").ran == ["mapped"]
    assert _run(tmp_path / "c", 100, 44).ran == ["mapped"]  # the paper's OPUS-100 filter keeps ~44%: fine
