"""System turns under a chat template without a system role (Gemma-2, Fanar-1-9B in recipes/hala-9b.yaml): folded
into the next user turn and trained on, not rejected (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hala.records import RejectLog
from hala.train import system_turns

SYSTEM = "You are a helpful assistant who answers in Arabic."
RECORDS = [
    [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "باريس"},
    ],
    [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "مرحبا"}],
]


@pytest.fixture(scope="module")
def gemma2_tokenizer():
    """The rehearsal's tiny tokenizer for Fanar-1-9B: a small BPE with Gemma's special tokens and TRL's copy of
    the real Gemma(-2) chat template, which raises on a system turn."""
    from hala.rehearse.models import build_tokenizer, model_specs
    from hala.testing import SEED_TEXT

    return build_tokenizer(model_specs()["QCRI/Fanar-1-9B-Instruct"], list(SEED_TEXT) + [SYSTEM], vocab_size=600)


def _write(path: Path) -> Path:
    rows = [json.dumps({"id": f"r{i}", "messages": m}, ensure_ascii=False) for i, m in enumerate(RECORDS)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_fold_joins_system_text_to_the_next_user_turn():
    folded, changed = system_turns.apply(RECORDS[0], "fold")
    assert changed and [m["role"] for m in folded] == ["user", "assistant"]
    assert folded[0]["content"] == f"{SYSTEM}\n\nWhat is the capital of France?"
    # no user turn after it: the system text becomes one, in front of the turn that follows
    alone, _ = system_turns.apply([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}], "fold")
    assert alone == [{"role": "user", "content": "s"}, {"role": "assistant", "content": "a"}]
    assert system_turns.apply(RECORDS[0], "drop")[0] == RECORDS[0][1:]
    assert system_turns.apply(RECORDS[0], "keep") == (RECORDS[0], False)
    assert system_turns.apply(RECORDS[1], "fold") == (RECORDS[1], False)


def test_auto_folds_only_where_the_template_has_no_system_role(gemma2_tokenizer, tiny_model):
    from transformers import AutoTokenizer

    assert system_turns.resolve("auto", gemma2_tokenizer) == "fold"
    assert system_turns.resolve("auto", AutoTokenizer.from_pretrained(tiny_model)) == "keep"  # ChatML renders it
    assert system_turns.resolve("keep", gemma2_tokenizer) == "keep"
    # the template records are rendered with decides, not the tokenizer's own (TRL's marked twins differ from it)
    chatml = AutoTokenizer.from_pretrained(tiny_model)
    assert system_turns.resolve("auto", chatml, gemma2_tokenizer.chat_template) == "fold"


def test_gemma2_sft_data_keeps_records_with_a_system_turn(gemma2_tokenizer, tmp_path):
    from hala.train.data import prepare_dataset
    from hala.train.masks import mask_strategy

    data = _write(tmp_path / "sft.jsonl")
    strategy = mask_strategy(gemma2_tokenizer)
    rejects = RejectLog()
    ds, meta = prepare_dataset(str(data), gemma2_tokenizer, strategy, 512, rejects, cache_root=tmp_path / "c")
    assert meta["examples"] == 2 and meta["rejected"] == 0 and rejects.total == 0
    assert meta["system_turns"] == "fold" and meta["system_turns_changed"] == 1
    row = ds[0]
    text = gemma2_tokenizer.decode(row["input_ids"])
    assert text.index(SYSTEM) < text.index("What is the capital") < text.index("باريس")
    assert text.count("<start_of_turn>user") == 1  # folded into the one user turn, not a turn of its own
    labelled = gemma2_tokenizer.decode([t for t, lab in zip(row["input_ids"], row["labels"]) if lab != -100])
    assert "باريس" in labelled and SYSTEM not in labelled and "capital" not in labelled  # labels: the answer only
    assert np.all(np.asarray(row["labels"])[: len(row["labels"]) // 2] == -100)


def test_keep_on_gemma2_rejects_the_record_and_says_why(gemma2_tokenizer, tmp_path):
    from hala.train.data import prepare_dataset
    from hala.train.masks import mask_strategy

    data = _write(tmp_path / "sft.jsonl")
    rejects = RejectLog()
    _, meta = prepare_dataset(
        str(data),
        gemma2_tokenizer,
        mask_strategy(gemma2_tokenizer),
        512,
        rejects,
        cache_root=tmp_path / "c",
        system_turns_mode="keep",
    )
    assert meta["examples"] == 1 and meta["rejected"] == 1
    assert meta["reject_counts"] == {"chat template cannot render it": 1}
    (reject,) = [json.loads(line) for line in (Path(meta["cache_dir"]) / "rejects.jsonl").read_text().splitlines()]
    assert reject["line"] == 1 and "System role not supported" in reject["reason"]
