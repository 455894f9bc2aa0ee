"""Vocabulary trimming: same tokens for the kept texts, same logits on the kept rows, anything still encodes."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from hala.records import write_records

TEXTS = [
    "The weather is nice today.",
    "Where is the nearest hospital?",
    "الطقس جميل اليوم.",
    "أين أقرب مستشفى؟",
    "Please save your work before closing the program.",
    "يرجى حفظ عملك.",
]


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def trimmed(request, tmp_path_factory):
    from hala.testing import build_tiny_model
    from hala.vocab.stage import TrimConfig, run

    root = tmp_path_factory.mktemp(f"trim-{request.param}")
    model = build_tiny_model(root / "base", arch=request.param, extra_text=TEXTS * 5)
    data = root / "pairs.jsonl"
    write_records(
        data,
        [{"id": f"p{i}", "src": TEXTS[i], "tgt": TEXTS[i + 2], "src_lang": "en", "tgt_lang": "ar"} for i in range(2)],
    )
    result = run(TrimConfig(model=str(model), texts=[str(data)], scripts=["latin"]), root / "out")
    return model, root / "out" / "model", result, root / "out"


def test_trim_shrinks_vocab_and_keeps_tokenization(trimmed):
    from transformers import AutoTokenizer

    base, out, result, out_dir = trimmed
    m = result["metrics"]
    assert m["vocab_after"] < m["vocab_before"] and m["params_after"] < m["params_before"]
    report = json.loads((out_dir / "trim_report.json").read_text())
    assert report["tokenization_check"]["identical"] == report["tokenization_check"]["texts"] == 4
    old, new = AutoTokenizer.from_pretrained(base), AutoTokenizer.from_pretrained(out)
    # an unseen text (other words, another script) still encodes and decodes back unchanged
    unseen = "Zebras quietly juggle 42 mangoes — 你好"
    assert new.decode(new(unseen, add_special_tokens=False)["input_ids"]) == unseen
    # special tokens and the chat template survive
    assert new.eos_token == old.eos_token and new.chat_template == old.chat_template
    assert new.convert_ids_to_tokens(new.eos_token_id) == old.eos_token


def test_trimmed_logits_equal_original_on_kept_rows(trimmed):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base, out, _, _ = trimmed
    old_tok, new_tok = AutoTokenizer.from_pretrained(base), AutoTokenizer.from_pretrained(out)
    old_model = AutoModelForCausalLM.from_pretrained(base).eval()
    new_model = AutoModelForCausalLM.from_pretrained(out).eval()
    new_to_old = [old_tok.convert_tokens_to_ids(t) for t in new_tok.convert_ids_to_tokens(list(range(len(new_tok))))]
    text = TEXTS[0]
    with torch.no_grad():
        old_logits = old_model(**old_tok(text, return_tensors="pt")).logits
        new_logits = new_model(**new_tok(text, return_tensors="pt")).logits
    assert new_model.config.vocab_size == len(new_tok)
    torch.testing.assert_close(new_logits[0], old_logits[0][:, new_to_old], rtol=1e-5, atol=1e-5)


def test_verify_fails_when_a_merge_path_is_broken(tmp_path):
    """The tokenization check can fail: drop an intermediate token of a kept word and the word encodes
    differently, which `verify` must report."""
    from transformers import AutoTokenizer

    from hala.testing import build_tiny_model
    from hala.vocab.trim import bpe_path, kept_token_ids, trimmed_tokenizer_json, verify

    base = build_tiny_model(tmp_path / "base", extra_text=TEXTS * 5)
    tok = AutoTokenizer.from_pretrained(base)
    tj = json.loads((base / "tokenizer.json").read_text())
    ids = tok(TEXTS[0], add_special_tokens=False)["input_ids"]
    kept = kept_token_ids(tj, Counter(ids), scripts=["latin"])
    ranks = {tuple(m) if isinstance(m, list) else tuple(m.split(" ")): r for r, m in enumerate(tj["model"]["merges"])}
    longest = max(ids, key=lambda i: len(bpe_path(tok.convert_ids_to_tokens(i), ranks)))
    path = bpe_path(tok.convert_ids_to_tokens(longest), ranks)
    assert len(path) >= 2, "need a token built by at least two merges"
    broken = [i for i in kept if i != tj["model"]["vocab"][path[0]]]
    new_json, old_to_new = trimmed_tokenizer_json(tj, broken)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "tokenizer.json").write_text(json.dumps(new_json))
    from transformers import PreTrainedTokenizerFast

    new_tok = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "new" / "tokenizer.json"))
    check = verify(tok, new_tok, old_to_new, [TEXTS[0]])
    assert check["identical"] == 0 and check["examples_different"] == [TEXTS[0]]


def test_characters_of_kept_tokens_are_kept_even_outside_the_scripts():
    """Regression: "▁Θ" was kept but "Θ" (Greek, not a kept script) was not, so the trimmed tokenizer spelled Θ
    with byte-fallback tokens and "Θ(n log n)" tokenized differently (found on MMLU text)."""
    from tokenizers import Tokenizer

    from hala.vocab.trim import kept_token_ids, trimmed_tokenizer_json

    vocab = {f"<0x{b:02X}>": b for b in range(256)}
    for token in ("▁", "Θ", "▁Θ", "n", "(", ")", "▁n", "a", "b", "ab"):
        vocab[token] = len(vocab)
    tokenizer_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [["▁", "Θ"], ["▁", "n"], ["a", "b"]],
        },
    }
    text = " Θ(n) ab"
    original = Tokenizer.from_str(json.dumps(tokenizer_json))
    counts = Counter(original.encode(text).ids)
    kept = kept_token_ids(tokenizer_json, counts, scripts=[])
    assert vocab["Θ"] in kept and vocab["a"] in kept and vocab["b"] in kept
    trimmed = Tokenizer.from_str(json.dumps(trimmed_tokenizer_json(tokenizer_json, kept)[0]))
    assert trimmed.encode(text).tokens == original.encode(text).tokens == ["▁Θ", "(", "n", ")", "▁", "ab"]
