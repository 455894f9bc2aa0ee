"""A tiny-model recipe end to end through every stage type, then: a rerun skips everything, and a changed
training setting reruns only the stages that depend on it."""

from __future__ import annotations

import json

import pytest

from hala.recipe import load_recipe, run_recipe

RECIPE = """
name: tiny-e2e
models: {{tiny: "{tiny}"}}
stages:
  - name: teacher_fp8
    type: quantize
    with: {{model: "${{models.tiny}}", translation_check: skip, dtype: float32,
            thresholds: {{max_ppl_ratio: 100.0, max_kl: 100.0, min_top1: 0.0}}}}
  - name: pairs
    type: data.packages
    with: {{limit: 300}}
  - name: teacher_pairs
    type: translate
    with: {{input: "${{hala.data}}/teacher_en.jsonl", model: "@teacher_fp8/model", engine: hf, template: few-shot,
            max_new_tokens: 8, limit: 4}}
  - name: filter
    type: filter
    with: {{inputs: ["@pairs/pairs.jsonl", "@teacher_pairs/translated.jsonl"], progress: false}}
  - name: corpus
    type: corpus
    with: {{sources: [{{ref: "@filter/kept.jsonl"}}], dev_fraction: 0.05, test_fraction: 0.05}}
  - name: translator
    type: train
    with: {{model: "${{models.tiny}}", train: "@corpus/train.jsonl", max_steps: {steps}, batch_size: 4,
            max_length: 64, save_steps: 50}}
  - name: translator_eval
    type: eval.translation
    with: {{model: "@translator/model", data: "@corpus/pairs_test.jsonl", limit: 4, max_new_tokens: 8,
            label: trained}}
  - name: instructions_ar
    type: translate
    # echo: a random tiny translator now stops at once at its end-of-turn token (an empty answer, which training
    # rejects); the runner behaviour tested here needs text, not translation quality
    with: {{input: "{chat}", model: "@translator/model", engine: echo,
            max_new_tokens: 8, guards: {{skip: [empty, max_tokens, repetition, length_ratio, wrong_script]}}}}
  - name: sft
    type: train
    with: {{model: "${{models.tiny}}", train: "@instructions_ar/translated.jsonl", max_steps: 2, batch_size: 2,
            max_length: 96}}
  - name: merged
    type: merge
    with: {{base: "${{models.tiny}}", tuned: "@sft/model", t: 0.5}}
  - name: mcq_merged
    type: eval.mcq
    with: {{model: "@merged/model", tasks: [quickstart], limit: 4, label: merged}}
  - name: report
    type: report
    with: {{run_dir: "@run/"}}
"""


def write_prose_chat(path):
    """Chat samples without code or markup: a random tiny model cannot copy inline placeholders back, and the
    protection check (always on) would rightly reject every record that has them."""
    texts = [
        ("Name a fruit.", "An apple is a fruit."),
        ("What colour is the sky?", "The sky is blue."),
        ("Say hello.", "Hello there, friend."),
    ]
    rows = [
        {"id": f"c{i}", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for i, (q, a) in enumerate(texts)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


DOWNSTREAM_OF_TRANSLATOR = ["translator", "translator_eval", "instructions_ar", "sft", "merged", "mcq_merged", "report"]


@pytest.mark.slow
def test_tiny_recipe_end_to_end_skip_and_partial_rerun(tmp_path, tiny_model):
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE.format(tiny=tiny_model, steps=2, chat=write_prose_chat(tmp_path / "chat.jsonl")))
    run_dir = tmp_path / "run"
    first = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    names = [s.name for s in load_recipe(path).stages]
    assert first.ran == names

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert all(s["status"] == "done" for s in manifest["stages"].values())
    report_dir = run_dir / manifest["stages"]["report"]["dir"]
    html = (report_dir / "report.html").read_text()
    acc = manifest["stages"]["mcq_merged"]["metrics"]
    assert "<html" in html.lower() and acc  # the report rendered from this run's stages

    second = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    assert second.ran == [] and second.skipped == names

    path.write_text(RECIPE.format(tiny=tiny_model, steps=3, chat=tmp_path / "chat.jsonl"))
    third = run_recipe(load_recipe(path), run_dir, path, log=lambda m: None)
    assert third.ran == DOWNSTREAM_OF_TRANSLATOR
    assert third.skipped == [n for n in names if n not in DOWNSTREAM_OF_TRANSLATOR]
