"""The resource plan (`hala run RECIPE --dry-run --gpus N --gpu-memory G --host-memory H [--json]`): per-stage
memory and time from real model sizes; impossible machines refused naming the stage; defect 2 (the FP8 teacher
check holding two float32 copies of a 111B model) refused before the fix and passing after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hala.cli import app

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
PAPER = ["hala-350m", "hala-700m", "hala-1.2b", "hala-9b"]
MACHINE = ["--gpus", "8", "--gpu-memory", "80GB", "--host-memory", "1TB"]


def _plan(recipe: str, *extra: str):
    return CliRunner().invoke(app, ["run", str(RECIPES / f"{recipe}.yaml"), "--dry-run", *extra])


@pytest.mark.parametrize("recipe", PAPER)
def test_paper_recipes_fit_an_8x80gb_node_and_report_every_stage(recipe):
    result = _plan(recipe, *MACHINE, "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["fits"] and plan["machine"] == {"gpus": 8, "gpu_memory_gb": 80.0, "host_memory_gb": 1000.0}
    stages = {s["stage"]: s for s in plan["stages"]}
    for s in stages.values():
        assert {"host_peak_gb", "gpu_peak_gb", "gpu_hours", "wall_hours", "placement", "fits"} <= set(s)
    teacher = stages["teacher_fp8"]
    # the fixed verification: one bf16 copy of the 111B teacher spread over the 8 GPUs
    assert "device_map over 8 GPUs (bfloat16), 1 copy at once" in teacher["placement"]
    assert 25 < teacher["gpu_peak_gb"] < 40 and teacher["host_peak_gb"] < 400
    assert stages["sft"]["gpu_hours"] > 0 and plan["totals"]["gpu_hours"] > 100
    assert all(a["basis"] for a in plan["assumptions"].values())
    assert plan["model_sizes"]["CohereLabs/command-a-translate-08-2025"]["params"] == 111_000_000_000


def test_9b_sft_needs_fsdp_and_names_the_launch_command():
    result = _plan("hala-9b", *MACHINE)
    assert result.exit_code == 0, result.output
    assert "FSDP x 8" in result.output and "configs/accelerate/fsdp-8gpu.yaml" in result.output
    assert "assumptions (not measured by hala" in result.output


def test_an_impossible_machine_is_refused_naming_the_stage_and_numbers():
    result = _plan("hala-9b", "--gpus", "1", "--gpu-memory", "24GB", "--host-memory", "256GB")
    assert result.exit_code != 0
    message = str(result.exception) if result.exception else result.output
    assert "stage 'openorca_ar' (translate) cannot fit" in message and "needs 8 GPUs" in message
    assert "stage 'teacher_fp8' (quantize) cannot fit" in message and "GB of host memory" in message


def _old_placement(config, n_params, ckpt_dtype):
    """The verification before the fix: original and FP8 copies loaded together, in float32 (verify_dtype's old
    default), on `device` (one GPU) or the host; no device_map."""
    where = "one-gpu" if str(config.device or "").startswith("cuda") else "cpu"
    return {
        "dtype": config.verify_dtype if config.verify_dtype != "auto" else "float32",
        "where": where,
        "copies_at_once": 2,
    }


def test_defect_2_old_teacher_check_is_refused_and_the_fix_passes(monkeypatch, tmp_path):
    from hala.quantize import placement

    recipe = (RECIPES / "hala-9b.yaml").read_text(encoding="utf-8")
    old_recipe = tmp_path / "old.yaml"  # the recipe as it was: no device_map
    old_recipe.write_text(recipe.replace(",\n           device_map: auto}", "}"), encoding="utf-8")
    assert "device_map" not in old_recipe.read_text().split("- name: openorca")[0]

    monkeypatch.setattr(placement, "verify_placement", _old_placement)
    result = CliRunner().invoke(app, ["run", str(old_recipe), "--dry-run", *MACHINE])
    assert result.exit_code != 0
    message = str(result.exception)
    assert message.startswith(
        "stage 'teacher_fp8' (quantize) cannot fit: verification needs 890 GB of host "
        "memory (2 copies at once, 111B parameters at float32), usable 850 GB of 1000 GB"
    )
    # ... and with a cuda device: a whole float32 copy (two, in fact) on one GPU
    cuda = tmp_path / "cuda.yaml"
    cuda.write_text(recipe.replace("device_map: auto}", "device: cuda}"), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(cuda), "--dry-run", *MACHINE])
    assert result.exit_code != 0 and "888 GB per GPU (one GPU (float32), 2 copies at once)" in str(result.exception)

    monkeypatch.undo()  # the fixed placement: the same old recipe fits (bf16, one copy, on the host)
    result = CliRunner().invoke(app, ["run", str(old_recipe), "--dry-run", *MACHINE, "--json"])
    assert result.exit_code == 0, result.output
    teacher = next(s for s in json.loads(result.output)["stages"] if s["stage"] == "teacher_fp8")
    assert teacher["placement"].endswith("verify on host (bfloat16), 1 copy at once") and teacher["fits"]


def test_sizes_parse_decimal_and_binary_units():
    from hala.recipe.resources import parse_size

    assert parse_size("80GB") == 80 * 10**9 and parse_size("1TB") == 10**12 and parse_size("64GiB") == 64 * 2**30
    assert parse_size("512") == 512 * 10**9
    with pytest.raises(ValueError, match="cannot read size"):
        parse_size("lots")


def test_real_model_sizes_are_sourced_and_consistent():
    from hala.recipe.resources import MODELS

    for ref, m in MODELS.items():
        assert m.source and m.params > 0 and m.dtype == "bfloat16", ref
    g = MODELS["QCRI/Fanar-1-9B-Instruct"]  # Gemma-2-9B shape -> its parameter count
    per_layer = (
        g.hidden * g.heads * g.head_dim * 2
        + g.hidden * g.kv_heads * g.head_dim * 2
        + 3 * g.hidden * 14336
        + 4 * g.hidden
    )
    assert g.params == g.layers * per_layer + g.vocab * g.hidden + g.hidden
