"""Recipe runner: validation with key paths, stage keys, skip on rerun, rerun only dependents, resume."""

from __future__ import annotations

import json
import textwrap

import pytest
import recipe_toy  # noqa: F401  (registers the toy stage types)

from hala.errors import HalaError
from hala.recipe import load_recipe, run_recipe

RECIPE = """
name: toy
models: {m: "embedded:gemma-3-270m"}
vars: {times: 2}
stages:
  - name: a
    type: toy.write
    with: {text: "${models.m}", repeat: "${vars.times}"}
  - name: b
    type: toy.write
    with: {text: "bee"}
  - name: c
    type: toy.join
    with: {inputs: ["@a/out.txt", "@b/out.txt"]}
  - name: d
    type: toy.join
    with: {inputs: ["@b/out.txt"]}
"""


def _write(tmp_path, text=RECIPE, name="r.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_run_skip_and_rerun_only_dependents(tmp_path):
    path = _write(tmp_path)
    run_dir = tmp_path / "run"
    first = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    assert first.ran == ["a", "b", "c", "d"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    c_dir = run_dir / manifest["stages"]["c"]["dir"]
    assert (c_dir / "joined.txt").read_text() == "embedded:gemma-3-270membedded:gemma-3-270m+bee"
    assert manifest["stages"]["a"]["metrics"] == {"chars": 42}
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in manifest["stages"].values())
    assert "torch" in manifest["versions"] and "transformers" in manifest["versions"]

    second = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    assert second.ran == [] and second.skipped == ["a", "b", "c", "d"]

    changed = _write(tmp_path, RECIPE.replace("times: 2", "times: 3"))
    third = run_recipe(load_recipe(changed), run_dir, changed, log=lambda m: None)
    assert third.ran == ["a", "c"] and third.skipped == ["b", "d"]


def test_interrupted_stage_resumes_and_finished_stages_are_kept(tmp_path):
    marker = tmp_path / "crashed-once"
    path = _write(
        tmp_path, RECIPE.replace('inputs: ["@b/out.txt"]', f'inputs: ["@b/out.txt"], fail_once_marker: "{marker}"')
    )
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["d"]["status"] == "failed" and "simulated crash" in manifest["stages"]["d"]["error"]
    assert [manifest["stages"][s]["status"] for s in "abc"] == ["done"] * 3
    tmp_dirs = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert len(tmp_dirs) == 1 and tmp_dirs[0].startswith("d-")

    again = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    assert again.ran == ["d"] and again.skipped == ["a", "b", "c"]
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_only_and_from_select_stages(tmp_path):
    path = _write(tmp_path)
    run_dir = tmp_path / "run"
    with pytest.raises(HalaError, match="stage 'a' has not finished"):
        run_recipe(load_recipe(path), run_dir, path, only=["c"], log=lambda m: None)
    assert run_recipe(load_recipe(path), run_dir, path, only=["a", "b"], log=lambda m: None).ran == ["a", "b"]
    assert run_recipe(load_recipe(path), run_dir, path, from_stage="c", log=lambda m: None).ran == ["c", "d"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ('repeat: "${vars.times}"', None),  # control: valid
        ('repeat: "${vars.nope}"', "${vars.nope} is not defined"),
        ('repeat: "lots"', "stages.a.with.repeat: Input should be a valid integer"),
        ('text: "${models.m}", repeat', "stages.a.with.text"),
    ],
)
def test_validation_errors_name_the_key_path(tmp_path, bad, message):
    text = (
        RECIPE.replace('text: "${models.m}", repeat: "${vars.times}"', 'text: "${models.m}", ' + bad)
        if "text" not in bad
        else RECIPE.replace('text: "${models.m}", repeat: "${vars.times}"', "repeat: 1")
    )
    path = _write(tmp_path, text)
    if message is None:
        assert load_recipe(path).stages[0].with_["repeat"] == 2
        return
    with pytest.raises(HalaError) as e:
        load_recipe(path)
    assert message.replace("text", "text") in str(e.value) and str(path) in str(e.value)


def test_reference_to_a_later_or_unknown_stage_and_unknown_type_fail(tmp_path):
    later = RECIPE.replace('inputs: ["@a/out.txt", "@b/out.txt"]', 'inputs: ["@d/out.txt"]')
    with pytest.raises(HalaError, match=r"'@d/...' must name an earlier stage"):
        load_recipe(_write(tmp_path, later))
    with pytest.raises(HalaError, match=r"stages\[1\] \(b\).type: unknown stage type 'toy.nope'"):
        load_recipe(
            _write(
                tmp_path,
                RECIPE.replace('type: toy.write\n    with: {text: "bee"}', 'type: toy.nope\n    with: {text: "bee"}'),
            )
        )
    with pytest.raises(HalaError, match="stages: Field required"):
        load_recipe(_write(tmp_path, "name: x\n"))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(HalaError, match=r"r.yaml:3: invalid YAML"):
        load_recipe(_write(tmp_path, "name: x\nstages:\n  - a: b: c\n"))


def test_cli_dry_run_prints_plan_and_runs_nothing(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    path = _write(tmp_path)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "stage plan" in result.output and "toy.join" in result.output and "pending" in result.output
    assert not (run_dir / "manifest.json").exists()
    result = CliRunner().invoke(app, ["run", str(path), "--run-dir", str(run_dir)])
    assert result.exit_code == 0 and "ran 4, skipped 0" in result.output
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run", "--run-dir", str(run_dir)])
    assert result.output.count("done") >= 4


def test_stage_metrics_fall_back_to_the_numbers_a_summary_reports():
    from hala.recipe.runner import stage_metrics

    assert stage_metrics({"metrics": {"acc": 0.5}, "kept": 3}) == {"acc": 0.5}
    summary = {
        "kept": 3,
        "kept_share": 0.75,
        "ok": True,
        "output": "kept.jsonl",
        "rejected_by_rule": {"duplicate": 1},
        "provenance": {"engine": "hf"},
    }
    assert stage_metrics(summary) == {"kept": 3, "kept_share": 0.75, "rejected_by_rule": {"duplicate": 1}}
