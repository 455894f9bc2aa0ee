"""t sweep, scorers and the `hala merge` command, on tiny random models with injected cheap scorers."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from hala.errors import HalaError
from hala.merge import SCORERS, MergeConfig, Score, register_scorer, run
from hala.merge.scorers import parse_select_on
from hala.testing import build_tiny_model

SWEEP = [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tiny_model) -> tuple[Path, Path]:
    return tiny_model, build_tiny_model(tmp_path_factory.mktemp("tiny-b"), seed=1)


@pytest.fixture
def scorer(monkeypatch):
    """A registered scorer that reads the candidate's t and peaks at t = 0.25; records every call."""
    calls: list[float] = []
    fail_at: list[float] = []

    def peak(model: Path, arg: str, limit):
        t = json.loads((model / "hala_merge.json").read_text())["t"]
        if t in fail_at:
            raise RuntimeError(f"scorer crashed at t={t}")
        calls.append(t)
        return Score(-((t - 0.25) ** 2), "peak", {"arg": arg, "limit": limit})

    monkeypatch.setitem(SCORERS, "peak", None)  # restored (removed) after the test
    register_scorer("peak", arg="task")(peak)
    return types.SimpleNamespace(calls=calls, fail_at=fail_at)


def sweep_config(pair, **kw) -> MergeConfig:
    return MergeConfig(base=str(pair[0]), tuned=str(pair[1]), sweep=SWEEP, select_on="peak:dev", **kw)


def test_sweep_keeps_the_best_and_writes_table_and_plot(pair, tmp_path, scorer):
    summary = run(sweep_config(pair, select_limit=7), tmp_path)
    assert summary["t"] == 0.25 and summary["metric"] == "peak"
    assert scorer.calls == SWEEP
    table = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["t"] for r in table["rows"]] == SWEEP
    assert table["best_t"] == 0.25 and table["rows"][1]["details"] == {"arg": "dev", "limit": 7}
    assert all(r["metric"] == "peak" for r in table["rows"])
    assert json.loads((tmp_path / "model" / "hala_merge.json").read_text())["t"] == 0.25
    png = (tmp_path / "sweep.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not (tmp_path / "candidates").exists()
    assert json.loads((tmp_path / "merge.json").read_text())["sweep"][1] == {"t": 0.25, "score": 0.0, "metric": "peak"}


def test_sweep_keeps_candidates_when_asked(pair, tmp_path, scorer):
    run(sweep_config(pair, keep_candidates=True), tmp_path)
    assert sorted(p.name for p in (tmp_path / "candidates").iterdir()) == ["t0", "t0.25", "t0.5", "t0.75", "t1"]
    assert (tmp_path / "model" / "model.safetensors").read_bytes() == (
        tmp_path / "candidates" / "t0.25" / "model.safetensors"
    ).read_bytes()


def test_interrupted_sweep_resumes_with_the_next_candidate(pair, tmp_path, scorer):
    scorer.fail_at.append(0.75)
    with pytest.raises(RuntimeError, match="crashed"):
        run(sweep_config(pair), tmp_path)
    assert scorer.calls == [0.0, 0.25, 0.5]
    # Only the best so far (and the merged but unscored candidate) is left on disk.
    assert sorted(p.name for p in (tmp_path / "candidates").iterdir()) == ["t0.25", "t0.75"]
    scorer.fail_at.clear()
    summary = run(sweep_config(pair), tmp_path)
    assert scorer.calls == [0.0, 0.25, 0.5, 0.75, 1.0] and summary["t"] == 0.25
    assert run(sweep_config(pair), tmp_path)["resumed"] is True
    assert len(scorer.calls) == 5


def test_bad_select_on_fails_before_any_merge(pair, tmp_path):
    with pytest.raises(ValueError, match="unknown scorer 'bleu'"):
        run(MergeConfig(base=str(pair[0]), tuned=str(pair[1]), sweep=[0.5], select_on="bleu:x"), tmp_path)
    with pytest.raises(HalaError, match="missing.jsonl: no such file"):
        run(MergeConfig(base=str(pair[0]), tuned=str(pair[1]), sweep=[0.5], select_on="ppl:missing.jsonl"), tmp_path)
    with pytest.raises(ValueError, match="expected NAME:ARG"):
        parse_select_on("mcq")
    assert list(tmp_path.iterdir()) == []


def _fake_module(monkeypatch, name: str, function: str, result: dict) -> list:
    calls = []

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        return result

    module = types.ModuleType(f"hala.evaluate.{name}")
    setattr(module, function, fake)
    monkeypatch.setitem(sys.modules, f"hala.evaluate.{name}", module)
    return calls


def test_builtin_scorers_call_the_evaluation_stage(monkeypatch, tmp_path):
    calls = _fake_module(monkeypatch, "mcq", "evaluate_mcq", {"acc": 0.5, "acc_norm": 0.625, "n": 8})
    score = SCORERS["mcq"].fn(tmp_path / "cand", "arabic-mcq", 8)
    assert (score.value, score.metric, score.details["n"]) == (0.625, "acc_norm", 8)
    assert calls == [((str(tmp_path / "cand"), "arabic-mcq"), {"limit": 8})]

    pairs = tmp_path / "dev.jsonl"
    pairs.write_text(
        json.dumps({"id": "1", "src": "Bonjour", "tgt": "Hello", "src_lang": "fr", "tgt_lang": "en"}) + "\n"
    )
    calls = _fake_module(
        monkeypatch, "translation", "evaluate_translation", {"bleu": 12.0, "chrf": 41.5, "n": 1, "signature": "chrF2++"}
    )
    scorer, arg = parse_select_on(f"chrf:{pairs}")
    score = scorer.fn(tmp_path / "cand", arg, None)
    assert (score.value, score.metric) == (41.5, "chrf")
    assert calls[0][1] == {"limit": None, "src_lang": "fr", "tgt_lang": "en"}


def test_missing_evaluation_stage_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "hala.evaluate.mcq", None)  # makes the import fail
    with pytest.raises(HalaError, match="needs hala.evaluate.mcq.evaluate_mcq"):
        SCORERS["mcq"].fn(tmp_path, "task", None)


def test_perplexity_scorer(pair, tmp_path):
    text = tmp_path / "dev.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n\nمرحبا، كيف حالك اليوم؟\n", encoding="utf-8")
    score = SCORERS["ppl"].fn(pair[0], str(text), None)
    assert score.metric == "neg_perplexity" and score.details["texts"] == 2
    # A random 539-token model is close to uniform: perplexity near the vocabulary size.
    assert 100 < -score.value < 5000

    records = tmp_path / "dev.jsonl"
    records.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"id": "1", "src": "Hello", "tgt": "مرحبا بكم", "src_lang": "en", "tgt_lang": "ar"},
                {
                    "id": "2",
                    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
                },
                "not a record",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    score = SCORERS["ppl"].fn(pair[0], str(records), 5)
    assert score.details["texts"] == 2 and score.details["rejected"] == 1


def test_cli_merge_and_sweep(pair, tmp_path, scorer):
    from typer.testing import CliRunner

    from hala.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "merge",
            "--base",
            str(pair[0]),
            "--tuned",
            str(pair[1]),
            "--t",
            "0,1",
            "--t-filter",
            "mlp=0.2",
            "--method",
            "linear",
            "--out",
            str(tmp_path / "one"),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "one" / "model" / "hala_merge.json").read_text())
    assert record["t"] == [{"filter": "mlp", "value": 0.2}, {"value": [0.0, 1.0]}]
    assert record["tensors"]["model.layers.1.mlp.up_proj.weight"]["t"] == 0.2
    assert record["tensors"]["model.layers.1.self_attn.q_proj.weight"]["t"] == 1.0

    result = runner.invoke(
        app,
        [
            "merge",
            "--base",
            str(pair[0]),
            "--tuned",
            str(pair[1]),
            "--sweep",
            "0,0.5",
            "--select-on",
            "peak:dev",
            "--out",
            str(tmp_path / "sweep"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["best_t"] == 0.5
    assert (tmp_path / "sweep" / "sweep.png").exists()


def test_cli_errors_are_one_line(pair, tmp_path, monkeypatch, capsys):
    from hala.cli import main

    monkeypatch.setattr(
        sys,
        "argv",
        ["hala", "merge", "--base", str(pair[0]), "--tuned", str(pair[1]), "--sweep", "0,1", "--out", str(tmp_path)],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sweep needs select_on" in err
