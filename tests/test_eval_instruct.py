"""eval.instruct: the held-out Arabic prompts, the Arabic-answer share, reference perplexity, the stage, the sweep
scorer, and the multiple-choice finding (one answer position for every question) it was written beside."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

import pytest

from hala.evaluate.instruct import (
    EvalInstructConfig,
    assistant_split,
    evaluate_instruct,
    fit_system_turns,
    load_prompts,
    script_share,
)
from hala.testing import build_tiny_model

DATA = Path(str(resources.files("hala").joinpath("data")))
HELDOUT = DATA / "instruct_heldout_ar.jsonl"


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------- the shipped set
def test_heldout_set_schema_language_and_licence():
    from hala.records import RejectLog, read_records

    rejects = RejectLog()
    samples = list(read_records(HELDOUT, "chat", rejects))
    assert rejects.total == 0 and 30 <= len(samples) <= 40
    assert len({s.id for s in samples}) == len(samples)
    for s in samples:
        assert [m.role for m in s.messages] == ["user", "assistant"], s.id
        assert s.meta["license"] == "Apache-2.0" and s.meta["source"] == "hala-handwritten"
        for m in s.messages:
            letters, share = script_share(m.content, "ar")
            assert letters >= 8 and share >= 0.95, (s.id, m.content)
        answer = s.messages[1].content
        sentences = sum(answer.count(p) for p in ".؟!")
        assert 2 <= sentences <= 4, (s.id, sentences)
    assert {s.meta["kind"] for s in samples} == {"general", "howto", "reasoning", "writing"}


def _norm(text: str) -> str:
    from hala.normalize import normalize_text

    return " ".join(normalize_text(text).split())


def _ngrams(text: str, n: int = 6) -> set[tuple[str, ...]]:
    from hala.decontam import words

    w = words(_norm(text))
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def test_heldout_set_is_disjoint_from_every_shipped_training_file():
    """Ids, normalised texts and 6-word n-grams: none shared with the instruction set that gets translated and
    trained on, nor with any other data file hala ships (translation sets, MCQ). Topics were chosen by hand to
    differ from instructions_en.jsonl (an Arabic prompt cannot be matched to an English one by text)."""
    held = _records(HELDOUT)
    held_ids = {r["id"] for r in held}
    held_texts = {_norm(m["content"]) for r in held for m in r["messages"]}
    held_grams = set().union(*(_ngrams(m["content"]) for r in held for m in r["messages"]))
    others = [p for p in DATA.glob("*.jsonl") if p.name != HELDOUT.name]
    assert any(p.name == "instructions_en.jsonl" for p in others)
    for path in others:
        for r in _records(path):
            assert r.get("id") not in held_ids, (path.name, r.get("id"))
            texts = [m["content"] for m in r.get("messages", [])] + [
                r[k] for k in ("src", "tgt", "question") if isinstance(r.get(k), str)
            ]
            texts += [c for c in r.get("choices", []) if isinstance(c, str)]
            for text in texts:
                assert _norm(text) not in held_texts, (path.name, r.get("id"), text)
                assert not (_ngrams(text) & held_grams), (path.name, r.get("id"), text)


def test_script_share_counts_letters_only():
    assert script_share("مرحبا بك", "ar") == (7, 1.0)
    letters, share = script_share("الحمض النووي DNA", "ar")
    assert letters == 14 and share == pytest.approx(11 / 14)
    assert script_share("Hello, world! 123", "ar") == (10, 0.0)
    assert script_share("123 ... !!", "ar") == (0, 0.0)


# ------------------------------------------------------------------------------------------- tiny models
def _forced(src: Path, out: Path, script: str) -> Path:
    """A copy of `src` whose generation config suppresses every token without a letter of `script`'s (EOS and
    all specials included): greedy answers are then made of that script's letters only, to the token limit."""
    import shutil

    from transformers import AutoTokenizer, GenerationConfig

    shutil.copytree(src, out)
    tok = AutoTokenizer.from_pretrained(out)
    allowed = set()
    for i in range(len(tok)):
        piece = tok.decode([i])
        if i not in tok.all_special_ids and piece.strip():
            letters, share = script_share(piece, "ar")
            if letters and (share == 1.0 if script == "ar" else share == 0.0):
                allowed.add(i)
    config = GenerationConfig.from_pretrained(out)
    config.suppress_tokens = [i for i in range(len(tok)) if i not in allowed]
    config.save_pretrained(out)
    return out


def test_arabic_share_separates_a_model_forced_to_arabic_from_one_forced_to_english(tiny_model, tmp_path, one_thread):
    arabic = evaluate_instruct(str(_forced(tiny_model, tmp_path / "ar", "ar")), limit=4, max_new_tokens=6, batch_size=4)
    english = evaluate_instruct(
        str(_forced(tiny_model, tmp_path / "en", "en")), limit=4, max_new_tokens=6, batch_size=4
    )
    assert arabic["lang_share"] == 1.0 and arabic["mean_script_share"] == 1.0
    assert english["lang_share"] == 0.0 and english["mean_script_share"] == 0.0
    assert all(d["answer"] and d["hit_max_tokens"] for d in arabic["details"] + english["details"])
    # Same data, settings and template: only the model differs, and the signature says so.
    assert arabic["signature_text"] == english["signature_text"]
    assert arabic["signature"]["prompts"] == 4 and arabic["signature"]["threshold"] == 0.5


def test_reference_tokens_are_the_assistant_turn_and_score_as_a_plain_forward(tiny_model, one_thread):
    """The continuation is exactly the answer and its end-of-turn token; its log-likelihood from the shared
    loglik scorer equals a plain forward pass over the whole conversation."""
    import torch

    from hala.evaluate.loglik import LoglikScorer
    from hala.models import load_model, load_tokenizer

    tok, model = load_tokenizer(tiny_model), load_model(tiny_model)
    samples, _, _ = load_prompts("package:instruct_heldout_ar.jsonl", limit=2)
    for s in samples:
        ctx, cont = assistant_split(tok, s["messages"])
        assert tok.decode(cont) == s["messages"][-1]["content"] + "<|im_end|>"
        assert tok.decode(ctx).endswith("<|im_start|>assistant\n")
        ll = LoglikScorer(model, tok).token_loglikelihoods([(ctx, cont)])[0]
        ids = torch.tensor([ctx + cont])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(ids).logits[0].float(), -1)
        plain = sum(logprobs[len(ctx) + k - 1, t].item() for k, t in enumerate(cont))
        assert ll == pytest.approx(plain, abs=1e-3)


def _write(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A tiny model fitted for a few dozen steps on four held-out conversations (a model that has learnt them)."""
    import torch

    from hala.models import load_model, load_tokenizer

    records = _records(HELDOUT)[:4]
    path = build_tiny_model(
        tmp_path_factory.mktemp("fitted"), extra_text=[m["content"] for r in records for m in r["messages"]]
    )
    torch.set_num_threads(1)
    tok, model = load_tokenizer(path), load_model(path)
    texts = [tok.apply_chat_template(r["messages"], tokenize=False) for r in records]
    batches = [torch.tensor([tok(t, add_special_tokens=False)["input_ids"]]) for t in texts]
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for step in range(40):
        ids = batches[step % len(batches)]
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
    model.save_pretrained(path, safe_serialization=True)
    return path, records


def test_a_prompt_with_a_system_turn_is_scored_on_a_template_without_a_system_role(tiny_model):
    """Gemma-2's template (Fanar-1-9B) raises on a system turn: the eval folds it into the user turn, as training
    does, instead of failing on the first such prompt; ChatML keeps it."""
    from transformers import AutoTokenizer

    from hala.errors import HalaError
    from hala.rehearse.models import build_tokenizer, model_specs
    from hala.testing import SEED_TEXT

    system = "Answer in Arabic."
    sample = {
        "id": "s",
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": "مرحبا"},
        ],
    }
    gemma2 = build_tokenizer(model_specs()["QCRI/Fanar-1-9B-Instruct"], list(SEED_TEXT) + [system], vocab_size=600)
    with pytest.raises(HalaError, match="System role not supported"):
        assistant_split(gemma2, sample["messages"])
    (fitted,), mode, changed = fit_system_turns(gemma2, [sample])
    assert (mode, changed) == ("fold", 1)
    ctx, cont = assistant_split(gemma2, fitted["messages"])
    assert system in gemma2.decode(ctx) and gemma2.decode(cont).startswith("مرحبا")

    chatml = AutoTokenizer.from_pretrained(tiny_model)
    assert fit_system_turns(chatml, [sample]) == ([sample], "keep", 0)


def test_reference_perplexity_is_lower_than_for_a_shuffled_answer(fitted, tmp_path, one_thread):
    path, records = fitted
    rng = random.Random(0)
    shuffled = []
    for r in records:
        words = r["messages"][1]["content"].split()
        rng.shuffle(words)
        shuffled.append({**r, "messages": [r["messages"][0], {"role": "assistant", "content": " ".join(words)}]})
    ref = evaluate_instruct(str(path), _write(tmp_path / "ref.jsonl", records), generate=False)
    bad = evaluate_instruct(str(path), _write(tmp_path / "bad.jsonl", shuffled), generate=False)
    assert ref["ref_ppl"] * 2 < bad["ref_ppl"]
    assert all(a["ref_ppl"] < b["ref_ppl"] for a, b in zip(ref["details"], bad["details"]))
    assert "lang_share" not in ref and ref["signature"]["max_new_tokens"] is None


def test_stage_writes_summary_and_answers_and_is_registered(tiny_model, tmp_path, one_thread):
    from hala.recipe.registry import get_stage_type

    stage = get_stage_type("eval.instruct")
    config = stage.config_class()(model=str(tiny_model), limit=3, max_new_tokens=4, label="base")
    assert isinstance(config, EvalInstructConfig)
    out = stage.run_function()(config, tmp_path)
    summary = json.loads((tmp_path / "eval_instruct.json").read_text(encoding="utf-8"))
    assert (
        summary["label"] == "base"
        and summary["n"] == 3
        and set(out["metrics"]) == {"ref_ppl", "lang_share", "mean_script_share"}
    )
    assert summary["metrics"] == out["metrics"] and summary["signature"]["data"] == "instruct_heldout_ar.jsonl"
    rows = _records(tmp_path / "instruct_answers.jsonl")
    assert [r["id"] for r in rows] == [s["id"] for s in load_prompts("package:instruct_heldout_ar.jsonl", 3)[0]]
    assert {"answer", "script_share", "in_lang", "ref_ppl", "ref_tokens"} <= set(rows[0])
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary file behind
    with pytest.raises(ValueError):
        EvalInstructConfig(model="m", thershold=0.5)


def test_bad_records_are_counted_and_a_set_without_answers_is_an_error(tmp_path):
    from hala.errors import HalaError

    good = _records(HELDOUT)[0]
    path = _write(
        tmp_path / "mixed.jsonl", [good, {"id": "q", "messages": [{"role": "user", "content": "سؤال"}], "meta": {}}]
    )
    samples, rejected, _ = load_prompts(path)
    assert [s["id"] for s in samples] == [good["id"]] and rejected == 1
    with pytest.raises(HalaError, match="no chat sample ends with"):
        load_prompts(_write(tmp_path / "none.jsonl", [{"id": "q", "messages": [{"role": "user", "content": "x"}]}]))


@pytest.mark.slow
def test_sweep_reports_instruct_metrics_per_t_and_selects_on_select_on(
    tiny_model, tmp_path_factory, tmp_path, one_thread
):
    from hala.merge import MergeConfig, run
    from hala.merge.scorers import parse_select_on

    data = _write(tmp_path / "held.jsonl", _records(HELDOUT)[:2])
    scorer, arg = parse_select_on(f"instruct:{data}")
    assert scorer.name == "instruct" and arg == data
    tuned = build_tiny_model(tmp_path_factory.mktemp("tuned"), seed=1)
    config = MergeConfig(
        base=str(tiny_model),
        tuned=str(tuned),
        sweep=[0.0, 1.0],
        select_on=f"ppl:{data}",
        report_on=[f"instruct:{data}"],
    )
    summary = run(config, tmp_path / "merge")
    table = json.loads((tmp_path / "merge" / "sweep.json").read_text())
    assert table["metric"] == "neg_perplexity" and table["report_on"] == [f"instruct:{data}"]
    for row in table["rows"]:
        reported = row["reported"][f"instruct:{data}"]
        assert reported["metric"] == "neg_ref_ppl" and reported["details"]["n"] == 2
        assert reported["value"] == -reported["details"]["ref_ppl"] and 0 <= reported["details"]["lang_share"] <= 1
    assert summary["t"] == max(table["rows"], key=lambda r: r["score"])["t"]
    with pytest.raises(ValueError, match="only used with sweep"):
        MergeConfig(base="a", tuned="b", report_on=[f"instruct:{data}"])


# ------------------------------------------------------------------------------------------- the MCQ finding
def test_mcq_flags_a_model_that_answers_one_position_and_pairs_models():
    """What made base, tuned and merged score 0.2867 alike on the shipped 150 questions: the 270M model answers
    أ on every question, so every copy of it scores the share of أ answers (43/150). The result now says so
    (`one_position`, the positions predicted), and `paired_test` says whether two models can be told apart."""
    from hala.evaluate.mcq import paired_test, prediction_spread

    gold = [0] * 43 + [1] * 43 + [2] * 32 + [3] * 32
    always_a = [
        {"id": i, "gold": g, "pred": 0, "pred_norm": 0, "acc": int(g == 0), "acc_norm": int(g == 0)}
        for i, g in enumerate(gold)
    ]
    spread = prediction_spread(always_a)
    assert spread["one_position"] and spread["top_position"] == 0 and spread["pred_positions"] == {"0": 150}
    assert spread["top_position_gold_share"] == round(43 / 150, 4)
    same = paired_test(always_a, [dict(d) for d in always_a])
    assert same == {
        "n": 150,
        "metric": "acc_norm",
        "a_only": 0,
        "b_only": 0,
        "p_value": 1.0,
        "separable": False,
        "same_predictions": 150,
    }
    knows = [{**d, "pred_norm": d["gold"], "acc_norm": 1} if i % 2 else d for i, d in enumerate(always_a)]
    assert not prediction_spread(knows)["one_position"]
    better = paired_test(always_a, knows)
    assert better["b_only"] == sum(1 for i, g in enumerate(gold) if i % 2 and g != 0) and better["a_only"] == 0
    assert better["separable"] and better["p_value"] < 1e-6


def test_mcq_result_carries_the_prediction_spread(tiny_model, one_thread):
    from hala.evaluate.mcq import evaluate_mcq

    result = evaluate_mcq(str(tiny_model), "mcq-ar", limit=8)
    assert sum(result["pred_positions"].values()) == 8 and sum(result["gold_positions"].values()) == 8
    assert isinstance(result["one_position"], bool)


# ------------------------------------------------------------------------------------------- report sections
def test_report_sections_show_instruct_metrics_and_mcq_separability(tmp_path):
    from hala.atomic import write_json
    from hala.report.rundir import read_run
    from hala.report.sections import build, instruct_eval, mcq_separability

    gold = [0] * 10 + [1] * 10
    for i, (label, preds) in enumerate([("base", [0] * 20), ("tuned", [0] * 20), ("merged", gold)]):
        d = tmp_path / f"{i}-mcq-{label}"
        d.mkdir()
        details = [
            {"id": f"q{j}", "gold": g, "pred": p, "pred_norm": p, "acc": int(p == g), "acc_norm": int(p == g)}
            for j, (g, p) in enumerate(zip(gold, preds))
        ]
        _write(d / "mcq_mcq-ar.jsonl", details)
        from hala.evaluate.mcq import prediction_spread

        acc = sum(x["acc_norm"] for x in details) / 20
        write_json(
            d / "eval_mcq.json",
            {
                "kind": "mcq",
                "label": label,
                "tasks": {"mcq-ar": {"n": 20, "acc": acc, "acc_norm": acc, **prediction_spread(details)}},
                "average": {},
            },
        )
        e = tmp_path / f"{i}-instruct-{label}"
        e.mkdir()
        write_json(
            e / "eval_instruct.json",
            {
                "kind": "instruct",
                "label": label,
                "model": f"m-{label}",
                "n": 36,
                "lang_share": [0.1, 0.2, 0.9][i],
                "mean_script_share": 0.5,
                "ref_ppl": [40.0, 30.0, 20.0][i],
                "ref_tokens": 900,
                "signature": {"prompts": 36, "threshold": 0.5},
                "signature_text": "prompts:36|threshold:0.5",
            },
        )
    run = read_run(tmp_path)
    section = instruct_eval(run)
    table = next(b for b in section.blocks if hasattr(b, "rows"))
    assert [r[0] for r in table.rows] == ["base", "tuned", "merged"] and [r[7] for r in table.rows] == [40, 30, 20]
    assert any(getattr(b, "name", "") == "instruct_lang_share" for b in section.blocks)
    sep = mcq_separability(run)
    tables = [b for b in sep.blocks if hasattr(b, "rows")]
    assert [r[-1] for r in tables[0].rows] == [True, True, False]  # base and tuned answer one position
    pairs = {r[1]: r for r in tables[1].rows}
    assert pairs["base vs tuned"][3] == 20 and pairs["base vs tuned"][-1] is False
    assert pairs["base vs merged"][5] == 10 and pairs["base vs merged"][-1] is True
    titles = [s.title for s in build(run)]
    assert section.title in titles and sep.title in titles
