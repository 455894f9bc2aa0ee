"""Licence derivation and the refusal to publish (fast: a small run directory written by hand in the layout the
recipe runner writes — manifest.json, stage dirs with stage.json and their record files)."""

from __future__ import annotations

import json

import pytest

from hala.errors import HalaError
from hala.publish import PublishConfig, build
from hala.publish.licences import parse


@pytest.mark.parametrize(
    "text, policy, hub",
    [
        ("Apache-2.0", "permissive", "apache-2.0"),
        ("BSD-3-Clause", "permissive", "bsd-3-clause"),
        ("LGPL-2.1-or-later", "share-alike", "lgpl-2.1"),
        ("Unicode-3.0", "permissive", "other"),
        ("CC BY 2.0 FR", "permissive", "cc-by-2.0"),
        ("cc-by-sa-4.0", "share-alike", "cc-by-sa-4.0"),
        ("CC-BY-NC-4.0", "non-commercial", "cc-by-nc-4.0"),
        ("cc-by-nd-4.0", "no-derivatives", "cc-by-nd-4.0"),
        ("CC-BY-NC-ND-4.0", "no-derivatives", "cc-by-nc-nd-4.0"),
        ("gemma", "custom-terms", "gemma"),
        ("proprietary", "forbidden", "other"),
        ("", "unknown", "unknown"),
        ("my-own-terms", "unknown", "other"),
    ],
)
def test_licence_policies(text, policy, hub):
    lic = parse(text)
    assert (lic.policy, lic.hub_id) == (policy, hub)
    assert lic.allows_publishing == (policy not in ("no-derivatives", "forbidden", "unknown"))


def _records(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def make_run(tmp_path, external_meta: dict):
    """A finished two-stage run: data.chat reads an external file, translate (embedded Gemma) translates it."""
    ext = tmp_path / "ext" / "chat.jsonl"
    ext.parent.mkdir()
    sample = {"id": "a", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    _records(ext, [{**sample, "meta": external_meta}])
    run = tmp_path / "run"
    stages = {
        "src": ("data.chat", {"input": str(ext)}, [], "samples.jsonl"),
        "tr": (
            "translate",
            {"input": "@src/samples.jsonl", "model": "embedded:gemma-3-270m", "engine": "echo"},
            ["src"],
            "translated.jsonl",
        ),
    }
    manifest = {"recipe": "hand", "versions": {"hala": "0.1.0"}, "stages": {}}
    for name, (kind, config, deps, out) in stages.items():
        d = run / f"{name}-k"
        d.mkdir(parents=True)
        (d / "stage.json").write_text(
            json.dumps(
                {
                    "name": name,
                    "type": kind,
                    "status": "done",
                    "config": config,
                    "deps": deps,
                    "metrics": {},
                    "outputs": {},
                }
            )
        )
        meta = {"source": "dataset", **external_meta}
        if name == "tr":
            meta = {**meta, "original": {"messages": sample["messages"]}, "translation": {"engine": "echo"}}
            (d / "report.json").write_text(
                json.dumps(
                    {
                        "records": 1,
                        "translated": 1,
                        "rejected": 0,
                        "rejects_by_reason": {},
                        "provenance": {"engine": "echo"},
                    }
                )
            )
        _records(d / out, [{**sample, "meta": meta}])
        manifest["stages"][name] = {"type": kind, "key": f"{name}key", "dir": d.name, "deps": deps, "status": "done"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run, ext


def config(run, **kw):
    return PublishConfig(run_dir=str(run), stage="tr", repo="me/data", dry_run=True, **kw)


def test_unknown_licence_refuses_and_names_the_input(tmp_path):
    run, ext = make_run(tmp_path, {})
    with pytest.raises(HalaError) as e:
        build(config(run), tmp_path / "out")
    msg = str(e.value)
    assert "refusing to publish 'tr'" in msg and "chat.jsonl" in msg and "licence unknown" in msg
    assert "stage 'src'" in msg and "--allow-licence" in msg
    assert not (tmp_path / "out").exists()


def test_dataset_card_beside_the_file_gives_the_licence(tmp_path):
    from huggingface_hub import DatasetCard

    run, ext = make_run(tmp_path, {})
    (ext.parent / "README.md").write_text("---\nlicense: mit\n---\n# data\n")
    built = build(config(run), tmp_path / "out")
    assert built["repo_type"] == "dataset" and built["splits"] == {"train": 1}
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.license == ["mit"]  # the records carry none: they take the licence of the file they came from
    prov = json.loads((tmp_path / "out" / "hala_provenance.json").read_text())
    gemma = next(i for i in prov["inputs"] if i["kind"] == "model")
    assert gemma["licences"] == {"gemma": 1} and gemma["hub_id"] == "google/gemma-3-270m"
    assert "Gemma Terms of Use" in card.text  # the notice Gemma's terms ask derivatives to carry


def test_no_derivatives_licence_refuses_unless_overridden(tmp_path):
    from huggingface_hub import DatasetCard

    run, _ = make_run(tmp_path, {"license": "CC-BY-ND-4.0"})
    with pytest.raises(HalaError, match="forbids derivatives"):
        build(config(run), tmp_path / "out")
    built = build(config(run, allow_licence=True), tmp_path / "out")
    assert built["licence_overridden"] and all("forbids derivatives" in p for p in built["licence_overridden"])
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.license == ["cc-by-nd-4.0"] and "Licence check overridden by the publisher" in card.text


def test_shipped_data_is_apache(tmp_path):
    from hala.publish.licences import data_finding
    from hala.publish.rundir import Reference, read_run, shipped_data_dir

    run, _ = make_run(tmp_path, {"license": "MIT"})
    path = shipped_data_dir() / "instructions_en.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    f = data_finding(read_run(run), Reference("tr", "input", str(path), "data", False, path), {})
    assert f.records == len(rows) and set(f.licences) <= {"Apache-2.0", "apache-2.0"}
    assert sum(f.licences.values()) == len(rows)


def test_not_a_finished_stage_or_not_publishable(tmp_path):
    run, _ = make_run(tmp_path, {"license": "MIT"})
    with pytest.raises(HalaError, match="no stage named 'nope'"):
        build(PublishConfig(run_dir=str(run), stage="nope", repo="me/x", dry_run=True), tmp_path / "o")
    with pytest.raises(HalaError, match="manifest.json: not found"):
        build(PublishConfig(run_dir=str(tmp_path), stage="tr", repo="me/x", dry_run=True), tmp_path / "o")


def test_model_from_embedded_gemma_carries_its_licence_and_base_model(tmp_path, tiny_model):
    import shutil

    from huggingface_hub import ModelCard

    run = tmp_path / "run"
    d = run / "sft-k"
    shutil.copytree(tiny_model, d / "model")  # stands in for what training wrote
    config = {"model": "embedded:gemma-3-270m", "train": str(tmp_path / "gone.jsonl"), "mode": "lora"}
    (d / "stage.json").write_text(
        json.dumps(
            {"name": "sft", "type": "train", "status": "done", "config": config, "deps": [], "metrics": {"steps": 2}}
        )
    )
    (d / "train_summary.json").write_text(json.dumps({"mode": "lora", "steps": 2, "epochs": 1.0}))
    (run / "manifest.json").write_text(
        json.dumps(
            {
                "recipe": "hand",
                "stages": {"sft": {"type": "train", "key": "k" * 64, "dir": d.name, "deps": [], "status": "done"}},
            }
        )
    )
    cfg = PublishConfig(run_dir=str(run), stage="sft", repo="me/m", dry_run=True)
    # the training file is gone: its licence cannot be checked, so the publish is refused, naming it
    with pytest.raises(HalaError, match=r"gone\.jsonl \(data read by stage 'sft'\): licence unknown"):
        build(cfg, tmp_path / "out")
    (tmp_path / "gone.jsonl").write_text(
        json.dumps(
            {
                "id": "a",
                "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
                "meta": {"license": "Apache-2.0"},
            }
        )
        + "\n"
    )
    build(cfg, tmp_path / "out")
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.license == "gemma" and card.data.license_link == "https://ai.google.dev/gemma/terms"
    assert card.data.base_model == ["google/gemma-3-270m"] and card.data.base_model_relation == "finetune"
    assert "Gemma is provided under and subject to the Gemma Terms of Use" in card.text
    assert card.data.eval_results is None and "No evaluation stage of the run evaluated this model" in card.text


def test_shipped_mmlu_pairs_list_and_check_both_sides(tmp_path):
    """The shipped MMLU pairs carry two licences: meta.license (Apache-2.0, AceGPT's Arabic machine translation)
    and meta.license_src (MIT, Hendrycks et al.'s English side). Both are listed, each where it was read."""
    from hala.publish.licences import data_finding, problems
    from hala.publish.rundir import Reference, read_run, shipped_data_dir

    run, _ = make_run(tmp_path, {"license": "MIT"})
    path = shipped_data_dir() / "mmlu_en_ar_mt.jsonl"
    n = len(path.read_text(encoding="utf-8").splitlines())
    f = data_finding(read_run(run), Reference("tr", "input", str(path), "data", False, path), {})
    assert dict(f.licences) == {"Apache-2.0": n, "MIT": n}
    assert f.where("MIT") == "records' meta.license_src" and f.where("Apache-2.0") == "records' meta.license"
    assert problems([f]) == []


@pytest.mark.parametrize(
    "license_src, refused",
    [("CC-BY-ND-4.0", "forbids derivatives"), ("my-own-terms", "'my-own-terms' not recognised"), ("MIT", None)],
)
def test_source_side_licence_is_checked_too(tmp_path, license_src, refused):
    from huggingface_hub import DatasetCard

    run, _ = make_run(tmp_path, {"license": "Apache-2.0", "license_src": license_src})
    if refused:
        with pytest.raises(HalaError, match=refused):
            build(config(run), tmp_path / "out")
        return
    build(config(run), tmp_path / "out")
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.license == ["apache-2.0", "mit"]  # both sides' licences in the metadata
    assert "| MIT | 1 | permissive | records' meta.license_src |" in card.text
