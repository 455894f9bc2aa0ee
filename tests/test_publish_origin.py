"""A card names what a model really came from: `@STAGE/model` references are followed through the run's stages
(vocab.trim -> train -> merge, as in the quickstart) to the model outside the run, `embedded:gemma-3-270m` maps to
its Hub origin, and only valid Hub repo ids reach the metadata (fast: a run directory written by hand)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from hala.publish import PublishConfig, build

CHAT = {"id": "a", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
PAIR = {"id": "p", "src": "Hello", "tgt": "مرحبا", "src_lang": "en", "tgt_lang": "ar", "meta": {"license": "MIT"}}


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_run(tmp_path, tiny_model, base: str = "embedded:gemma-3-270m"):
    """corpus (pairs) -> vocab (vocab.trim of `base`) -> sft (train on `@chat/...`) -> merged (base @vocab, tuned
    @sft), an eval of the merged model on `@corpus/pairs_test.jsonl`, and a translate stage whose model is
    `@sft/model`. Only the merged model has weights (the only one published); the others need a config.json."""
    run = tmp_path / "run"
    stages = {
        "corpus": ("corpus", {"sources": []}, []),
        "chat": ("data.chat", {"input": str(tmp_path / "chat.jsonl"), "license": "CC0-1.0"}, []),
        "vocab": ("vocab.trim", {"model": base, "texts": ["@corpus/train.jsonl"]}, ["corpus"]),
        "sft": ("train", {"model": "@vocab/model", "train": "@chat/samples.jsonl", "mode": "lora"}, ["vocab", "chat"]),
        "merged": ("merge", {"base": "@vocab/model", "tuned": "@sft/model", "method": "slerp"}, ["vocab", "sft"]),
        "ev": ("eval.translation", {"model": "@merged/model", "data": "@corpus/pairs_test.jsonl"}, ["merged"]),
        "tr": ("translate", {"input": "@chat/samples.jsonl", "model": "@sft/model", "engine": "echo"}, ["sft"]),
        "inst": ("eval.instruct", {"model": "@merged/model", "label": "merged"}, ["merged"]),
    }
    _write(tmp_path / "chat.jsonl", [CHAT])
    manifest = {"recipe": "hand", "versions": {"hala": "0.1.0"}, "stages": {}}
    for name, (kind, config, deps) in stages.items():
        d = run / f"{name}-k"
        d.mkdir(parents=True)
        record = {"name": name, "type": kind, "status": "done", "config": config, "deps": deps, "metrics": {}}
        (d / "stage.json").write_text(json.dumps(record))
        manifest["stages"][name] = {"type": kind, "key": f"{name}key", "dir": d.name, "deps": deps, "status": "done"}
    corpus, chat, vocab, sft, merged, ev, tr, inst = (run / f"{n}-k" for n in stages)
    _write(corpus / "train.jsonl", [PAIR])
    _write(corpus / "pairs_test.jsonl", [PAIR])
    _write(chat / "samples.jsonl", [{**CHAT, "meta": {"license": "CC0-1.0"}}])
    for d in (vocab, sft):
        (d / "model").mkdir()
        shutil.copy(tiny_model / "config.json", d / "model" / "config.json")
    shutil.copytree(tiny_model, merged / "model")
    (vocab / "trim_report.json").write_text(
        json.dumps({"vocab_before": 262144, "vocab_after": 29416, "scripts": ["latin", "arabic"]})
    )
    (sft / "train_summary.json").write_text(json.dumps({"mode": "lora", "steps": 2, "epochs": 1.0}))
    (merged / "merge.json").write_text(json.dumps({"method": "slerp", "t": 0.75}))
    sig = {"bleu": "nrefs:1|bleu-sig", "chrf": "nrefs:1|chrf-sig"}
    (ev / "eval_translation.json").write_text(
        json.dumps({"label": "merged", "directions": {"en-ar": {"bleu": 8.25, "chrf": 25.6, "n": 1, "signature": sig}}})
    )
    (tr / "translated.jsonl").write_text((chat / "samples.jsonl").read_text())
    (tr / "report.json").write_text(json.dumps({"records": 1, "translated": 1, "rejected": 0}))
    instruct = {
        "label": "merged",
        "n": 12,
        "ref_ppl": 28.4724,
        "lang_share": 1.0,
        "signature": {"lang": "ar", "data": "instruct_heldout_ar.jsonl"},
    }
    (inst / "eval_instruct.json").write_text(json.dumps({**instruct, "signature_text": "prompts:12|lang:ar"}))
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_merged_model_card_names_the_real_base(tmp_path, tiny_model):
    from huggingface_hub import ModelCard
    from huggingface_hub.utils import validate_repo_id

    run = make_run(tmp_path, tiny_model)
    build(PublishConfig(run_dir=str(run), stage="merged", repo="me/m", dry_run=True), tmp_path / "out")
    text = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.base_model == ["google/gemma-3-270m"]  # not `@vocab/model`
    for repo_id in card.data.base_model:
        validate_repo_id(repo_id)  # huggingface_hub's own rules for a repo id
    front = text.split("---")[1]
    assert "@" not in front and "${" not in front  # no run reference anywhere in the metadata
    # the body says where the base came from and what the run's stages did to it
    assert "google/gemma-3-270m (converted by hala as `embedded:gemma-3-270m`" in text
    assert "vocabulary trimmed to the latin, arabic tokens of its texts (262,144 → 29,416) by stage `vocab`" in text
    assert "fine-tuned (LoRA SFT, adapter merged into the weights) on `samples.jsonl` of stage `chat`" in text
    assert "slerp merge at t = 0.75 with the model of stage `sft` by stage `merged`, merge" in text
    # the model-index dataset is a plain name, described in words; the tables name the run's file the same way
    result = card.data.eval_results[0]
    assert (
        result.dataset_type == "corpus-pairs_test"
        and result.dataset_name == "pairs_test.jsonl of stage corpus (hand run)"
    )
    assert "| translation en-ar | `pairs_test.jsonl` of stage `corpus` | BLEU | 8.25 |" in text
    # eval.instruct (the report's instruction-model table) is in the model-index too, with its signature
    ppl = next(r for r in card.data.eval_results if r.metric_name == "reference perplexity")
    assert (ppl.task_type, ppl.task_name, ppl.metric_type, ppl.metric_value) == (
        "text-generation",
        "instructions-ar",
        "perplexity",
        28.4724,
    )
    assert ppl.metric_config == "prompts:12|lang:ar" and ppl.dataset_type == "instruct_heldout_ar"
    body = text.split("## How it was made")[0].split("---", 2)[2]  # above the lineage table of recipe settings
    assert not re.search(r"`@\w+/", body), re.findall(r"`@\w+/[^`]*`", body)


def test_dataset_card_translator_names_the_model_it_really_is(tmp_path, tiny_model):
    run = make_run(tmp_path, tiny_model)
    build(PublishConfig(run_dir=str(run), stage="tr", repo="me/d", dry_run=True), tmp_path / "out")
    text = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| model |"))
    assert "model of stage `sft`: google/gemma-3-270m (converted by hala" in row and "by stage `sft`, train" in row
    assert "@sft" not in row


@pytest.mark.parametrize(
    "base, expected",
    [("embedded:gemma-3-270m", ["google/gemma-3-270m"]), ("Org/some-model", ["Org/some-model"]), ("./local", None)],
)
def test_base_model_metadata_is_a_hub_id_or_absent(tmp_path, tiny_model, base, expected):
    from huggingface_hub import ModelCard

    from hala.publish.origin import valid_hub_id

    run = make_run(tmp_path, tiny_model, base=base)
    cfg = PublishConfig(run_dir=str(run), stage="merged", repo="me/m", dry_run=True, allow_licence=True)
    build(cfg, tmp_path / "out")
    data = ModelCard.load(tmp_path / "out" / "README.md").data
    assert data.base_model == expected
    assert (data.get("base_model_relation") is None) == (expected is None)
    assert not valid_hub_id("@vocab/model") and not valid_hub_id("a--b/c") and valid_hub_id("google/gemma-3-270m")
