"""Shell-friendly output (issue 16): piped output is complete, listings and summaries have --json, progress goes
to stderr only."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hala.cli import app
from hala.records import write_records


def test_models_list_piped_shows_full_references_and_json():
    from hala.models import EMBEDDED, EMBEDDED_PREFIX

    plain = CliRunner().invoke(app, ["models", "list"])  # CliRunner's stdout is not a terminal, as with `| cat`
    assert plain.exit_code == 0
    lines = plain.stdout.splitlines()
    assert lines[0].split("\t") == ["ref", "prepared", "package", "description"]
    assert sorted(line.split("\t")[0] for line in lines[1:]) == sorted(EMBEDDED_PREFIX + n for n in EMBEDDED)
    assert "…" not in plain.stdout
    rows = json.loads(CliRunner().invoke(app, ["models", "list", "--json"]).stdout)
    assert {r["ref"] for r in rows} == {EMBEDDED_PREFIX + n for n in EMBEDDED}


def test_eval_mcq_json_summary_on_stdout_progress_on_stderr(tiny_model, tmp_path, one_thread):
    write_records(
        tmp_path / "t.jsonl",
        [
            {"id": f"q{i}", "question": f"سؤال {i}", "choices": ["أ", "ب"], "answer": "ا" if i == 0 else "ب"}
            for i in range(3)
        ],
    )
    result = CliRunner().invoke(
        app,
        ["eval", "mcq", "-m", str(tiny_model), "-t", str(tmp_path / "t.jsonl"), "-o", str(tmp_path / "out"), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stdout is exactly one JSON document: no table, no progress bar
    task = summary["tasks"]["t"]
    assert task["n"] == 3 and "details" not in task and task["answer_keys_normalised"] == 1
    assert "note: t: 1 answer key(s) matched after Arabic normalisation" in result.stderr


def test_eval_translation_json_summary(tmp_path):
    (tmp_path / "hyp.txt").write_text("مرحبا\nشكرا\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("مرحبا\nشكرا جزيلا\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "translation",
            "--hyp",
            str(tmp_path / "hyp.txt"),
            "--ref",
            str(tmp_path / "ref.txt"),
            "-o",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["directions"]["hyp"]["n"] == 2 and 0 < summary["directions"]["hyp"]["chrf"] < 100
