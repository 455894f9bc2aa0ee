"""OALL-v2 scoring as the leaderboard computes it (issue 14, defects 4 and 9) and the scorer on LFM2's hybrid cache."""

from __future__ import annotations

import json

import pytest

from hala.devices import resolve_device
from hala.evaluate.mcq import macro_over_subsets
from hala.evaluate.stage import EvalMCQConfig, run_mcq


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_task_headline_is_the_mean_over_subsets_and_micro_is_labelled():
    # subset a: 1 of 1 right; subset b: 1 of 3 right. lighteval `_average`: (1 + 1/3) / 2 = 0.6667; pooled: 2/4.
    details = [{"subset": "a", "acc": 1, "acc_norm": 1}] + [
        {"subset": "b", "acc": int(i == 0), "acc_norm": int(i == 0)} for i in range(3)
    ]
    r = macro_over_subsets(details)
    assert r["acc_norm"] == pytest.approx(2 / 3, abs=1e-6) and r["acc_norm_micro"] == 0.5
    assert r["average"] == "macro over subsets" and r["n_subsets"] == 2 and r["subsets"]["b"]["n"] == 3


def _mirror(root, subsets_rows):
    """A local mirror of a per-subset task (PATH/<subset>/test.jsonl), as `hala.evaluate.tasks` reads it."""
    for subset, rows in subsets_rows.items():
        (root / subset).mkdir(parents=True)
        (root / subset / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return root


def test_stage_headline_is_lighteval_macro_and_keeps_micro(tiny_model, tmp_path):
    q = lambda i: {"question": f"سؤال رقم {i}؟", "choices": ["نعم", "لا", "ربما"], "answer": i % 3}  # noqa: E731
    # arabic_mmlu_ht is declared with 57 hub subsets: mirror two of them in a task file of our own
    task_file = tmp_path / "tasks.yaml"
    task_file.write_text(
        "tasks:\n  two:\n    format: mcq\n    prompt: arabic_mmlu_ht\n"
        "    hub: {repo: x/y, subsets: [s1, s2], split: test}\n"
    )
    mirror = _mirror(tmp_path / "mirror", {"s1": [q(0)], "s2": [q(1), q(2), q(3), q(4), q(5)]})
    out = tmp_path / "out"
    out.mkdir()
    summary = run_mcq(EvalMCQConfig(model=str(tiny_model), tasks=[f"two={mirror}"], task_files=[str(task_file)]), out)
    task = summary["tasks"]["two"]
    assert set(task["subsets"]) == {"s1", "s2"} and task["n"] == 6
    s1, s2 = task["subsets"]["s1"]["acc_norm"], task["subsets"]["s2"]["acc_norm"]
    assert task["acc_norm"] == pytest.approx((s1 + s2) / 2, abs=1e-6)
    assert task["acc_norm_micro"] == pytest.approx((s1 * 1 + s2 * 5) / 6, abs=1e-6)
    assert summary["metrics"]["acc_norm_avg"] == task["acc_norm"]
    assert summary["metrics"]["acc_norm_avg_micro"] == task["acc_norm_micro"]
    assert "macro" in summary["average"]["method"]


def test_mcq_device_option(monkeypatch):
    import torch

    assert EvalMCQConfig(model="m").device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"


def test_stage_passes_the_device_to_the_scorer(tiny_model, tmp_path, monkeypatch):
    from hala.evaluate import loglik

    seen = {}
    real = loglik.LoglikScorer.load.__func__

    def load(cls, ref, **kw):
        seen.update(kw)
        return real(cls, ref, **kw)

    monkeypatch.setattr(loglik.LoglikScorer, "load", classmethod(load))
    out = tmp_path / "out"
    out.mkdir()
    items = tmp_path / "q.jsonl"
    items.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": 0}) + "\n")
    run_mcq(EvalMCQConfig(model=str(tiny_model), tasks=[str(items)], device="cpu", dtype="bfloat16"), out)
    assert seen["device"] == "cpu" and seen["dtype"] == "bfloat16"


def test_multi_token_choices_on_lfm2_hybrid_cache_equal_plain_forward(tmp_path, monkeypatch):
    """LFM2's conv-state cache layers cannot be repeated per choice: the scorer falls back to full passes, with the
    same scores as an independent forward pass (found by rehearsing the paper recipes)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.evaluate.loglik import LoglikScorer
    from hala.rehearse.models import tiny_model_dir

    monkeypatch.setenv("HALA_HOME", str(tmp_path))
    path = tiny_model_dir("LiquidAI/LFM2-350M")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    scorer = LoglikScorer(model, tok)
    requests = [("ما عاصمة مصر؟ الجواب:", " القاهرة الكبرى"), ("ما عاصمة مصر؟ الجواب:", " الإسكندرية")]
    got = scorer.loglikelihoods(requests)
    for (ctx, cont), score in zip(requests, got):
        c, x = scorer.encode(ctx, cont)
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([list(c) + list(x)])).logits[0].float(), -1)
        assert score == pytest.approx(sum(lp[len(c) - 1 + k, t].item() for k, t in enumerate(x)), abs=1e-4)
