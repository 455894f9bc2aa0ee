"""`hala run` under `accelerate launch`: training stages run on every process, only the main process publishes
them; stages not built for several processes are refused before anything runs."""

from __future__ import annotations

import json
import subprocess

import pytest
from test_train import PAIRS, chat_sample, write_jsonl
from test_train_distributed import two_process_hala

from hala.errors import HalaError
from hala.recipe import load_recipe, run_recipe

RECIPE = """
name: mp
stages:
  - name: pairs
    type: data.packages
    with: {{limit: 20}}
  - name: sft
    type: train
    with: {{model: "{model}", train: "{train}", mode: full, max_steps: 2, batch_size: 2, save_steps: 100}}
"""


def write_recipe(tmp_path, tiny_model):
    train = write_jsonl(tmp_path / "train.jsonl", [chat_sample(i, s, t) for i, (s, t) in enumerate(PAIRS * 2)])
    path = tmp_path / "mp.yaml"
    path.write_text(RECIPE.format(model=tiny_model, train=train))
    return path


def test_stages_not_built_for_several_processes_are_refused(tmp_path, tiny_model, monkeypatch):
    path = write_recipe(tmp_path, tiny_model)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(HalaError, match=r"stage 'pairs' \(data.packages\) cannot run in 2 processes"):
        run_recipe(load_recipe(path), tmp_path / "run", path, log=lambda m: None)
    assert not any((tmp_path / "run").glob("pairs-*"))


@pytest.mark.timeout(420)
def test_training_stage_runs_in_two_processes_and_is_published_once(tmp_path, tiny_model):
    path = write_recipe(tmp_path, tiny_model)
    run_dir = tmp_path / "run"
    cmd, env = two_process_hala("run", str(path), "--run-dir", str(run_dir), "--only", "sft")
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=360)
    assert result.returncode == 0, result.stderr[-3000:]

    manifest = json.loads((run_dir / "manifest.json").read_text())
    sft = manifest["stages"]["sft"]
    assert sft["status"] == "done" and manifest["stages"]["pairs"]["status"] == "pending"
    assert sft["metrics"]["processes"] == 2
    assert (run_dir / sft["dir"] / "model" / "model.safetensors").exists()
    assert not list(run_dir.glob("*.tmp"))
    # a plain rerun finds the stage finished and runs only the stage that was left out
    again = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    assert again.skipped == ["sft"] and again.ran == ["pairs"]
