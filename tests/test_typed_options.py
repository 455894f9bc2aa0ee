"""Typed nested options (issue 15, item 4): a misspelt key inside any nested option of a stage is an error when
the recipe loads (`hala run --dry-run`), naming the stage and the dotted key, and the shipped spellings still load
and keep the mapping as written (stage keys, resume keys and provenance unchanged)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hala.cli import app
from hala.errors import HalaError
from hala.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _stage(raw: dict, name: str) -> dict:
    return next(s for s in raw["stages"] if s["name"] == name)["with"]


def _set(node: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[last] = value


CAP_TYPO = "engine_options.length_cap.extar"
# (recipe, stage, dotted key set inside the stage's `with:`, value, where the error is located if not at that key):
# every nested option of every stage that has one
TYPOS = [
    ("quickstart", "teacher_pairs", "engine_options.dtyp", "float32", None),  # translate, hf
    ("quickstart", "instructions_ar", "engine_options.compute_typ", "int8", None),  # translate, ct2
    ("quickstart", "instructions_ar", "fallback.engine_options.compute_typ", "int8", None),
    ("quickstart", "instructions_ar", "fallback.modle", "x", None),
    ("quickstart", "instructions_ar", "guards.skp", ["numbers"], None),
    ("quickstart", "instructions_ar", "length_cap.ratoi", 2.0, None),
    ("quickstart", "instructions_ar", "ray.worker", 2, None),
    ("hala-9b", "openorca_ar", "engine_options.tensor_paralel_size", 8, None),  # translate, vllm
    ("quickstart", "teacher_heldout", "engine_options.compute_typ", "int8", None),  # eval.translation, ct2
    ("quickstart", "teacher_heldout", "engine_options.guards.skp", ["numbers"], None),
    ("quickstart", "teacher_heldout", "engine_options.length_cap", {"ratio": 2, "extar": 8}, CAP_TYPO),
    ("quickstart", "teacher_heldout", "engine_options.segmnet", "line", None),
    ("quickstart", "teacher_heldout", "hypotheses.en-ra", "hyp.txt", "en-ra"),  # a check of the whole config
    ("quickstart", "teacher_fp8", "thresholds.max_kll", 0.1, None),  # quantize
    ("quickstart", "corpus", "sources.0.nmae", "x", None),  # corpus
]


@pytest.mark.parametrize("recipe, stage, key, value, located", TYPOS, ids=[f"{t[1]}.{t[2]}" for t in TYPOS])
def test_a_misspelt_nested_option_is_named_when_the_recipe_loads(tmp_path, recipe, stage, key, value, located):
    raw = yaml.safe_load((RECIPES / f"{recipe}.yaml").read_text(encoding="utf-8"))
    _set(_stage(raw, stage), key, value)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(HalaError) as e:
        load_recipe(bad)
    message = str(e.value)
    if located and "." not in located:  # not a key: the config's own check, at the stage, naming the value
        assert f"stages.{stage}.with: " in message and located in message, message
    else:
        assert f"stages.{stage}.with.{located or key}: " in message, message


def test_the_shipped_spellings_load_and_keep_the_mapping_as_written():
    raw = yaml.safe_load((RECIPES / "quickstart.yaml").read_text(encoding="utf-8"))
    recipe = load_recipe(RECIPES / "quickstart.yaml")
    from hala.evaluate.stage import EvalTranslationConfig
    from hala.translate.config import TranslateConfig

    heldout = EvalTranslationConfig.model_validate(recipe.stage("teacher_heldout").with_)
    assert heldout.engine_options == _stage(raw, "teacher_heldout")["engine_options"]
    assert heldout.model_dump(mode="json")["engine_options"] == {
        "compute_type": "int8",
        "length_cap": [2.0, 8],
        "guards": {"skip": ["empty", "max_tokens", "repetition", "length_ratio", "wrong_script", "numbers"]},
    }  # no defaults added: the translation cache's settings stay what the recipe wrote
    translate = TranslateConfig.model_validate(recipe.stage("instructions_ar").with_)
    assert translate.fallback.engine_options == {"compute_type": "int8"}
    raw9 = yaml.safe_load((RECIPES / "hala-9b.yaml").read_text(encoding="utf-8"))
    with_ = copy.deepcopy(_stage(raw9, "openorca_ar"))
    with_["engine_options"]["llm_kwargs"] = {"enforce_eager": True}  # vllm.LLM's own keywords: passed through
    TranslateConfig.model_validate({**with_, "input": "x", "model": "y"})


@pytest.mark.parametrize("stage", ["eval", "translate"])
def test_every_engine_rejects_a_misspelt_option(stage):
    from pydantic import ValidationError

    from hala.evaluate.stage import EvalTranslationConfig
    from hala.translate.config import TranslateConfig
    from hala.translate.engines.options import ENGINE_OPTIONS, EngineName

    assert set(ENGINE_OPTIONS) == set(EngineName.__args__)
    for engine in ENGINE_OPTIONS:
        options = {"engine": engine, "engine_options": {"no_such_option": 1}}
        with pytest.raises(ValidationError) as e:
            if stage == "eval":
                EvalTranslationConfig(data="d", model="m", **options)
            else:
                TranslateConfig(input="i", model="m", **options)
        [err] = e.value.errors()
        assert err["loc"] == ("engine_options", "no_such_option")
        assert f"unknown {engine} engine option 'no_such_option' (known: " in err["msg"]


def test_the_calls_own_settings_belong_to_eval_only():
    """The translate stage has them as top-level fields; in its engine_options they would be passed to the engine."""
    from pydantic import ValidationError

    from hala.evaluate.stage import EvalTranslationConfig
    from hala.translate.config import TranslateConfig

    EvalTranslationConfig(data="d", model="m", engine="ct2", engine_options={"length_cap": [2, 8], "segment": "line"})
    with pytest.raises(ValidationError, match="length_cap"):
        TranslateConfig(input="i", model="m", engine="ct2", engine_options={"length_cap": [2, 8]})


def test_the_eval_command_sets_an_engine_option_and_names_a_misspelt_one(tmp_path, monkeypatch, capsys):
    from hala.errors import run_cli

    data, hyp = tmp_path / "pairs.tsv", tmp_path / "hyp.txt"
    data.write_text("Hello.\tمرحبا.\n", encoding="utf-8")
    hyp.write_text("مرحبا.\n", encoding="utf-8")
    common = ["eval", "translation", "--data", str(data), "--hyp", str(hyp), "--engine", "ct2", "-o", str(tmp_path)]
    ok = CliRunner().invoke(app, [*common, "--set", "engine_options.compute_type=float32"])
    assert ok.exit_code == 0, ok.output
    summary = json.loads((tmp_path / "eval_translation.json").read_text(encoding="utf-8"))
    assert summary["engine_options"] == {"compute_type": "float32"}
    monkeypatch.setattr(sys, "argv", ["hala", *common, "--set", "engine_options.compute_typ=float32"])
    monkeypatch.delenv("HALA_DEBUG", raising=False)
    with pytest.raises(SystemExit) as bad:
        run_cli(app)
    assert bad.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("hala: error: ") and "engine_options.compute_typ" in line and "known: compute_type" in line
