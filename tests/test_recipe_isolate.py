"""Stages in child processes (defect 7: GPU memory returned between stages): same outputs as in-process, failures
propagated faithfully, GPU stages isolated by default; and a multi-GPU training stage in one process refused
with the `accelerate launch` line (defect 13)."""

from __future__ import annotations

import json
import os
import textwrap
from types import SimpleNamespace

import pytest
import recipe_toy  # noqa: F401  (registers the toy stage types)

from hala.errors import HalaError
from hala.recipe import load_recipe, run_recipe
from hala.recipe.isolate import StageProcessError, should_isolate, uses_gpu

RECIPE = """
name: iso
stages:
  - name: a
    type: toy.write
    isolate: {iso}
    with: {{text: "abc", repeat: 3}}
  - name: c
    type: toy.join
    isolate: {iso}
    with: {{inputs: ["@a/out.txt"], fail_once_marker: "{marker}"}}
"""


def _run(tmp_path, iso: bool, sub: str):
    path = tmp_path / f"{sub}.yaml"
    path.write_text(textwrap.dedent(RECIPE.format(iso=str(iso).lower(), marker=tmp_path / f"{sub}.marker")))
    return run_recipe(load_recipe(path), tmp_path / sub, path, log=lambda m: None)


def _outputs(run_dir):
    out = {}
    for d in sorted(run_dir.iterdir()):
        if d.is_dir():
            info = json.loads((d / "stage.json").read_text())
            files = {f.name: f.read_text() for f in d.iterdir() if f.suffix == ".txt"}
            out[info["name"]] = (info["status"], info.get("metrics"), info.get("outputs"), info.get("error"), files)
    return out


def test_child_process_gives_the_same_outputs_and_propagates_failures(tmp_path):
    results = {}
    for iso in (False, True):
        sub = f"iso-{iso}"
        with pytest.raises(RuntimeError, match="simulated crash") as failure:  # first run: stage c crashes
            _run(tmp_path, iso, sub)
        if iso:  # the child's exception arrives as StageProcessError naming the original type and message
            assert failure.type is StageProcessError and "RuntimeError: simulated crash" in str(failure.value)
            assert "recipe_toy.py" in failure.value.child_traceback
        failed = json.loads(next((tmp_path / sub).glob("c-*.tmp")).joinpath("stage.json").read_text())
        assert failed["status"] == "failed" and "simulated crash" in failed["error"]
        result = _run(tmp_path, iso, sub)  # the rerun resumes c, in the child too
        assert result.ran == ["c"] and result.skipped == ["a"]
        results[iso] = _outputs(tmp_path / sub)
    assert results[True] == results[False]
    joined = results[True]["c"]
    assert joined[0] == "done" and joined[4]["joined.txt"] == "abcabcabc"


def test_a_hala_error_in_the_child_is_the_same_one_line_error(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        textwrap.dedent("""
        name: iso
        stages:
          - {name: c, type: toy.join, isolate: true, with: {inputs: ["/no/such/file.txt"]}}
    """)
    )
    with pytest.raises(StageProcessError) as failure:
        run_recipe(load_recipe(path), tmp_path / "run", path, log=lambda m: None)
    assert "FileNotFoundError" in str(failure.value) and "/no/such/file.txt" in str(failure.value)

    from hala.recipe.isolate import _reraise

    with pytest.raises(HalaError, match="^kl_mean 0.5 exceeds max 0.1$") as drift:
        _reraise(
            {"module": "hala.quantize.checks", "type": "DriftError", "message": "kl_mean 0.5 exceeds max 0.1"},
            "teacher_fp8",
        )
    assert type(drift.value).__name__ == "DriftError"


def test_gpu_stages_are_isolated_by_default_and_never_under_a_launcher(monkeypatch):
    spec = SimpleNamespace(isolate=None)
    vllm = SimpleNamespace(engine="vllm")
    cpu = SimpleNamespace(engine="ct2", device=None)
    stage = SimpleNamespace(name="translate")
    assert uses_gpu("translate", vllm) and not uses_gpu("translate", cpu)
    assert uses_gpu("quantize", SimpleNamespace(device="cuda:0")) and uses_gpu(
        "eval.mcq", SimpleNamespace(device=None, device_map="auto")
    )
    assert should_isolate(spec, stage, vllm) and not should_isolate(spec, stage, cpu)
    assert should_isolate(SimpleNamespace(isolate=True), stage, cpu)
    assert not should_isolate(SimpleNamespace(isolate=False), stage, vllm)
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert not should_isolate(SimpleNamespace(isolate=True), stage, vllm)


def test_multi_gpu_training_in_one_process_is_refused_with_the_launch_command(tmp_path, monkeypatch):
    """Defect 13: 8 visible GPUs and a plain `hala run` reaching a training stage would make the Trainer use
    nn.DataParallel; the runner refuses before the stage starts and names the exact command."""
    from hala.train import hardware

    monkeypatch.setattr(hardware, "visible_gpus", lambda: 8)
    monkeypatch.setattr("sys.argv", ["hala", "run", "recipes/hala-1.2b.yaml", "--from", "corpus"])
    path = tmp_path / "r.yaml"
    path.write_text("name: t\nstages:\n  - {name: sft, type: train, with: {model: m, train: t.jsonl}}\n")
    with pytest.raises(HalaError) as refused:
        run_recipe(load_recipe(path), tmp_path / "run", path, log=lambda m: None)
    assert (
        "`accelerate launch --config_file configs/accelerate/ddp-8gpu.yaml --num_processes 8 -m hala.cli run "
        "recipes/hala-1.2b.yaml --only sft`"
    ) in str(refused.value)
    assert "DataParallel" in str(refused.value)
    # under the launcher (WORLD_SIZE set), or with one GPU, nothing is refused
    monkeypatch.setenv("WORLD_SIZE", "8")
    hardware.refuse_data_parallel(only="sft")
    monkeypatch.delenv("WORLD_SIZE")
    hardware.refuse_data_parallel(n_gpus=1)
    assert os.environ.get("WORLD_SIZE") is None
