"""`hala publish` on a real tiny run (every stage type the quickstart uses that makes what gets published): the
merged model and the translated instruction set are assembled with `--dry-run`, load back with transformers /
datasets, their cards parse with huggingface_hub's card tools, and the card's numbers equal the run's eval
outputs and its report. The run is made once per module."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from hala.recipe import load_recipe, run_recipe

pytestmark = pytest.mark.slow

RECIPE = """
name: tiny-publish
models: {{tiny: "{tiny}"}}
stages:
  - name: instructions_ar
    type: translate
    with: {{input: "{chat}", model: "${{models.tiny}}", engine: echo, max_new_tokens: 64}}
  - name: sft
    type: train
    with: {{model: "${{models.tiny}}", train: "@instructions_ar/translated.jsonl", max_steps: 2, batch_size: 2,
            max_length: 96}}
  - name: merged
    type: merge
    with: {{base: "${{models.tiny}}", tuned: "@sft/model", method: slerp, sweep: [0.25, 0.75],
            select_on: "ppl:${{hala.data}}/verify_en_ar.jsonl", select_limit: 2}}
  - name: translation_base
    type: eval.translation
    with: {{model: "${{models.tiny}}", data: "${{hala.data}}/verify_en_ar.jsonl", limit: 2, max_new_tokens: 4,
            label: base}}
  - name: translation_merged
    type: eval.translation
    with: {{model: "@merged/model", data: "${{hala.data}}/verify_en_ar.jsonl", limit: 2, max_new_tokens: 4,
            label: merged}}
  - name: mcq_base
    type: eval.mcq
    with: {{model: "${{models.tiny}}", tasks: [quickstart], limit: 6, label: base}}
  - name: mcq_merged
    type: eval.mcq
    with: {{model: "@merged/model", tasks: [quickstart], limit: 6, label: merged}}
  - name: report
    type: report
    with: {{run_dir: "@run/"}}
  - name: publish_model
    type: publish
    with: {{run_dir: "@run/", stage: merged, repo: hala-test/tiny-merged, dry_run: true}}
"""


def write_chat(path):
    """Chat samples, one with inline code and a URL (protected spans: they must come back byte-exact). The
    translate stage uses the `echo` engine (Latin letters -> Arabic letters, placeholders kept): a tiny random
    model's output is empty, and a record with an empty turn cannot be trained on."""
    texts = [
        ("Name a fruit.", "An apple is a fruit."),
        ("What colour is the sky?", "The sky is blue."),
        ("How do I reverse a list?", "Call `nums.reverse()` as shown on https://docs.python.org/3/ today."),
    ]
    rows = [
        {
            "id": f"c{i}",
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            "meta": {"source": "handwritten", "license": "CC0-1.0"},
        }
        for i, (q, a) in enumerate(texts)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("publish")
    model = root / "tiny-apache"  # the tiny model with a card that states its licence
    shutil.copytree(tiny_model, model)
    (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    recipe = root / "tiny.yaml"
    recipe.write_text(RECIPE.format(tiny=model, chat=write_chat(root / "chat.jsonl")))
    run_dir = root / "run"
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread sync costs more than the math on a shared 2-core machine
    try:
        result = run_recipe(load_recipe(recipe), run_dir, recipe, log=lambda m: None)
    finally:
        torch.set_num_threads(threads)
    assert "publish_model" in result.ran
    return run_dir, json.loads((run_dir / "manifest.json").read_text())


def stage_dir(run, name):
    run_dir, manifest = run
    return run_dir / manifest["stages"][name]["dir"]


def test_merged_model_folder_loads_back_and_card_validates(tiny_run, tmp_path):
    import torch
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.publish import PublishConfig, publish

    run_dir, manifest = tiny_run
    folder = tmp_path / "merged"
    summary = publish(
        PublishConfig(run_dir=str(run_dir), stage="merged", repo="me/tiny-merged", dry_run=True),
        folder,
        log=lambda m: None,
    )
    assert summary["repo_type"] == "model" and summary["uploaded"] == 0
    names = {p.name for p in folder.iterdir()}
    assert {"README.md", "config.json", "hala_provenance.json", "hala_recipe.yaml"} <= names
    assert any(n.endswith(".safetensors") for n in names) and not any(n.endswith((".bin", ".pt")) for n in names)

    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok.chat_template  # the chat template travels with the model
    source = stage_dir(tiny_run, "merged") / "model"
    expected = {k: v for f in source.glob("*.safetensors") for k, v in load_file(f).items()}
    for name, tensor in model.state_dict().items():
        if name in expected:
            assert torch.equal(tensor, expected[name]), name

    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert data.license == "apache-2.0" and data.library_name == "transformers"
    assert set(data.language) == {"ar", "en"}
    assert data.hala["stage"] == "merged" and data.hala["stage_key"] == manifest["stages"]["merged"]["key"]
    # model-index round trip through huggingface_hub's own parser
    results = data.eval_results
    index = eval_results_to_model_index(data.model_name, results)
    name, parsed = model_index_to_eval_results(index)
    assert name == "tiny-merged" and len(parsed) == len(results) == 4  # BLEU, chrF++; acc, acc_norm

    mcq = json.loads((stage_dir(tiny_run, "mcq_merged") / "eval_mcq.json").read_text())
    by_metric = {r.metric_name: r for r in results}
    tr = json.loads((stage_dir(tiny_run, "translation_merged") / "eval_translation.json").read_text())
    for metric, key in (("BLEU", "bleu"), ("chrF++", "chrf")):
        r = by_metric[metric]
        assert r.metric_value == tr["directions"]["en-ar"][key] and r.task_type == "translation"
        assert r.metric_config == tr["directions"]["en-ar"]["signature"][key]  # the sacrebleu signature
        assert r.dataset_config == "en-ar"
    for metric in ("acc", "acc_norm"):
        r = by_metric[metric]
        assert r.metric_value == mcq["tasks"]["mcq-ar"][metric]
        assert r.dataset_type == "mcq-ar" and "prompt" in r.metric_config
    # the comparison table holds base and merged, each with the run's own numbers
    base = json.loads((stage_dir(tiny_run, "mcq_base") / "eval_mcq.json").read_text())
    text = card.text
    assert "### Comparison" in text and "**(this model)**" in text
    assert f"| acc_norm | {base['tasks']['mcq-ar']['acc_norm']:.4g} |" in text
    # the t sweep that chose the merge
    sweep = json.loads((stage_dir(tiny_run, "merged") / "sweep.json").read_text())
    assert f"t={sweep['best_t']}" in text and "slerp" in text
    # the same numbers as the run's report
    report = (stage_dir(tiny_run, "report") / "report.md").read_text()
    for r in results:
        assert f"{r.metric_value:.4g}" in report
    # licences: the tiny model's card, the chat records' meta.license, hala's shipped selection data
    prov = json.loads((folder / "hala_provenance.json").read_text())
    licences = {lic for i in prov["inputs"] for lic in i["licences"]}
    assert licences == {"apache-2.0", "CC0-1.0", "Apache-2.0"}  # tiny model card; chat records; selection data
    assert str(run_dir.parent) not in (folder / "README.md").read_text()  # no machine paths on a public card


def test_translated_dataset_loads_back_with_datasets(tiny_run, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    from hala.publish import PublishConfig, publish

    run_dir, _ = tiny_run
    folder = tmp_path / "instructions"
    summary = publish(
        PublishConfig(run_dir=str(run_dir), stage="instructions_ar", repo="me/tiny-instructions", dry_run=True),
        folder,
        log=lambda m: None,
    )
    translated = [
        json.loads(line)
        for line in (stage_dir(tiny_run, "instructions_ar") / "translated.jsonl").read_text().splitlines()
    ]
    assert summary["repo_type"] == "dataset" and summary["splits"] == {"train": len(translated)}

    ds = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))  # not a cache of another run
    assert list(ds) == ["train"] and ds["train"].num_rows == len(translated)
    first = ds["train"][0]
    assert first["messages"] == translated[0]["messages"]
    assert json.loads(first["meta"]) == translated[0]["meta"]  # meta is a JSON string, as everywhere in hala

    card = DatasetCard.load(folder / "README.md")
    assert card.data.license == ["cc0-1.0"] and card.data.task_categories == ["text-generation"]
    assert card.data.configs[0]["data_files"][0]["split"] == "train"
    report = json.loads((stage_dir(tiny_run, "instructions_ar") / "report.json").read_text())
    assert f"| `instructions_ar` | translate | {report['records']} | {report['translated']} |" in card.text
    assert "| engine | echo |" in card.text  # the translator's settings, from the stage's report.json
    # the inline code and the URL of the third sample, found again byte-exact in its translation
    assert "| inline_code | 1 | 1 |" in card.text and "| url | 1 | 1 |" in card.text


def test_recipe_stage_wrote_the_same_folder(tiny_run, tmp_path):
    from huggingface_hub import ModelCard

    from hala.publish import PublishConfig, publish

    stage = stage_dir(tiny_run, "publish_model")
    record = json.loads((stage / "stage.json").read_text())
    assert record["outputs"]["folder"] == "repo" and record["metrics"]["uploaded"] == 0
    again = tmp_path / "again"
    publish(
        PublishConfig(run_dir=str(tiny_run[0]), stage="merged", repo="hala-test/tiny-merged", dry_run=True),
        again,
        log=lambda m: None,
    )
    # rebuilt from the same run, the card is byte-identical: a resumed upload skips it
    assert (again / "README.md").read_bytes() == (stage / "repo" / "README.md").read_bytes()
    assert ModelCard.load(stage / "repo" / "README.md").data.eval_results


def test_unknown_licence_refuses_unless_overridden(tiny_run, tmp_path):
    from hala.errors import HalaError
    from hala.publish import PublishConfig, publish

    run_dir, manifest = tiny_run
    model_dir = stage_dir(tiny_run, "sft")
    base = json.loads((model_dir / "stage.json").read_text())["config"]["model"]
    readme = __import__("pathlib").Path(base) / "README.md"
    saved = readme.read_text()
    readme.unlink()  # the base model's licence is now unknown
    try:
        with pytest.raises(HalaError, match=r"refusing to publish 'sft'.*licence unknown"):
            publish(
                PublishConfig(run_dir=str(run_dir), stage="sft", repo="me/t", dry_run=True),
                tmp_path / "refused",
                log=lambda m: None,
            )
        assert not (tmp_path / "refused").exists()  # nothing written
        publish(
            PublishConfig(run_dir=str(run_dir), stage="sft", repo="me/t", dry_run=True, allow_licence=True),
            tmp_path / "forced",
            log=lambda m: None,
        )
        text = (tmp_path / "forced" / "README.md").read_text()
        assert "Licence check overridden" in text and "licence unknown" in text
    finally:
        readme.write_text(saved)


def test_cli_dry_run_lists_files(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["publish", str(tiny_run[0]), "merged", "--repo", "me/tiny-merged", "--dry-run", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "nothing uploaded" in result.output and "README.md" in result.output
    meta = yaml.safe_load((out / "README.md").read_text().split("---")[1])  # plain YAML, as the Hub reads it
    mcq = json.loads((stage_dir(tiny_run, "mcq_merged") / "eval_mcq.json").read_text())
    acc = next(m for r in meta["model-index"][0]["results"] for m in r["metrics"] if m["name"] == "acc_norm")
    assert acc["value"] == mcq["tasks"]["mcq-ar"]["acc_norm"] and acc["type"] == "accuracy"
