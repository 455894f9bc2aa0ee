"""Assistant-only labels on the real embedded models' chat templates (Gemma-3: hala's marked template, through
the stage's SFTTrainer; SmolLM2: ChatML without markers, through the prefix-rendering fallback)."""

from __future__ import annotations

import pytest
from test_train import MULTI_TURN, PAIRS, chat_sample, expected_labels, prepared_labels, write_jsonl

pytestmark = pytest.mark.embedded

GEMMA_MULTI_TURN = {
    "id": "g",
    "messages": [
        {"role": "system", "content": "You are a translator."},
        {"role": "user", "content": "Translate into Arabic: the house"},
        {"role": "assistant", "content": "البيت"},
        {"role": "user", "content": "And: the garden"},
        {"role": "assistant", "content": "الحديقة"},
    ],
}


@pytest.mark.slow
def test_gemma3_labels_token_by_token(embedded_gemma, tmp_path):
    rows = [chat_sample(0, *PAIRS[2]), GEMMA_MULTI_TURN]
    session, labels = prepared_labels(
        str(embedded_gemma), write_jsonl(tmp_path / "t.jsonl", rows), tmp_path, bf16=False
    )
    assert session.strategy == "markers"
    tok = session.tokenizer
    for row, got in zip(rows, labels):
        want = expected_labels(tok, row["messages"], "<start_of_turn>model\n", "<end_of_turn>")
        assert got == want
        trained = [t for t in got if t != -100]
        assert tok.decode(trained) == "".join(
            m["content"] + "<end_of_turn>" for m in row["messages"] if m["role"] == "assistant"
        )
        assert tok.convert_ids_to_tokens(trained[-1]) == "<end_of_turn>"
        # system, user and header tokens are all masked
        assert sum(t != -100 for t in got) < len(got) / 2


def test_smollm2_chatml_without_markers_uses_prefix_masks(embedded_smollm):
    from transformers import AutoTokenizer

    from hala.train.export import end_of_turn_token
    from hala.train.masks import mask_strategy, tokenize_with_prefix_mask

    tok = AutoTokenizer.from_pretrained(embedded_smollm)
    assert mask_strategy(tok) == "prefix"
    for messages in (chat_sample(0, *PAIRS[1])["messages"], MULTI_TURN["messages"]):
        enc = tokenize_with_prefix_mask(tok, messages)
        assert enc["input_ids"] == tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        labels = [t if m else -100 for t, m in zip(enc["input_ids"], enc["assistant_masks"])]
        assert labels == expected_labels(tok, messages, "<|im_start|>assistant\n", "<|im_end|>")
    assert end_of_turn_token(tok) == "<|im_end|>"
