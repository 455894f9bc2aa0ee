"""The shipped recipes validate offline; the paper recipes name every stage of the Hala pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hala.cli import app
from hala.recipe import load_recipe
from hala.recipe.dryrun import estimates
from hala.recipe.runner import plan

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("size", ["350m", "700m", "1.2b", "9b"])
def test_paper_recipe_dry_run_offline_names_every_stage(size, tmp_path):
    recipe = load_recipe(RECIPES / f"hala-{size}.yaml")
    types = [s.type for s in recipe.stages]
    assert types.count("translate") == 7  # teacher on OpenOrca + six instruction sets
    for t in ("quantize", "filter", "corpus", "train", "merge", "eval.translation", "eval.mcq", "report"):
        assert t in types
    assert recipe.models["teacher"] == "CohereLabs/command-a-translate-08-2025"
    assert recipe.models["translator_base"] == "LiquidAI/LFM2-1.2B"
    merge = recipe.stage("merged").with_
    assert merge["method"] == "slerp" and merge["t"] == 0.5
    assert all(s.with_["tasks"] == ["oall-v2"] for s in recipe.stages if s.type == "eval.mcq")
    planned = plan(recipe, tmp_path)
    est = estimates(planned)
    assert est["sft"]["gpu_hours"] > 0 and "assumption" in est["sft"]["basis"]
    result = CliRunner().invoke(
        app, ["run", str(RECIPES / f"hala-{size}.yaml"), "--dry-run", "--run-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "GPU-hours" in result.output and not list(tmp_path.iterdir())


def test_quickstart_recipe_is_offline_and_complete():
    recipe = load_recipe(RECIPES / "quickstart.yaml")
    assert all(m.startswith("embedded:") for m in recipe.models.values())
    types = [s.type for s in recipe.stages]
    assert types[0] == "quantize" and types[-1] == "report"
    for t in ("data.packages", "translate", "filter", "corpus", "train", "eval.translation", "merge", "eval.mcq"):
        assert t in types
    assert recipe.stage("merged").with_["sweep"]


@pytest.mark.parametrize("name", ["quickstart", "laptop"])
def test_laptop_recipes_compare_student_with_teacher_on_held_out_data(name):
    """Issue 13's baseline rule, as shipped: the headline pair is the teacher with its best prompt (few-shot for a
    base model) and the student, on the same held-out human set, with the same engine and guard settings; no
    other stage names that set."""
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    evals = {s.name: s.with_ for s in recipe.stages if s.type == "eval.translation"}
    teacher = next(w for w in evals.values() if w.get("role") == "teacher" and w.get("heldout"))
    student = next(w for w in evals.values() if w.get("role") == "student" and w.get("heldout"))
    assert teacher["model"] == recipe.models["teacher"] and teacher["template"] == "few-shot"
    assert student["data"] == teacher["data"] and "tico19_heldout" in student["data"]
    assert student["engine_options"] == teacher["engine_options"] and student["limit"] == teacher["limit"]
    assert set(student["directions"]) == set(teacher["directions"]) == {"en-ar", "ar-en"}
    heldout_file = Path(teacher["data"]).name
    for stage in recipe.stages:
        if stage.type != "eval.translation":
            assert heldout_file not in str(stage.with_), stage.name


@pytest.mark.parametrize("name", ["quickstart", "laptop"])
def test_a_recipe_training_on_the_mmlu_pairs_evaluates_nothing_on_mmlu(name):
    """The shipped MMLU EN/AR machine-translation pairs (scripts/build_shipped_data.py) train the student; a
    model that saw MMLU's questions must not be scored on them in the same report."""
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert any("mmlu_en_ar_mt.jsonl" in str(s.with_) for s in recipe.stages if s.type == "filter")
    for stage in recipe.stages:
        if stage.type.startswith("eval."):
            assert "mmlu" not in str(stage.with_).lower(), stage.name
