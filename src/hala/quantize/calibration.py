"""Calibration text for static FP8: the activations the model sees on real inputs set the fixed scales."""

from __future__ import annotations

from pathlib import Path

from hala.errors import HalaError
from hala.records import ChatSample, Pair, RejectLog, read_records


def record_texts(record: ChatSample | Pair, tokenizer) -> list[str]:
    """The text a model would read for this record: both sides of a pair (a teacher sees source and target
    language), or the chat rendered with the model's own template so special tokens are calibrated too."""
    if isinstance(record, Pair):
        return [t for t in (record.src, record.tgt) if t.strip()]
    messages = [m.model_dump() for m in record.messages]
    if getattr(tokenizer, "chat_template", None):
        return [tokenizer.apply_chat_template(messages, tokenize=False)]
    return ["\n".join(m["content"] for m in messages)]


def calibration_texts(path: str, tokenizer, n: int, rejects_path: Path) -> list[str]:
    """The first `n` texts of a records file; unreadable records go to `rejects_path` with their reason."""
    texts: list[str] = []
    with RejectLog(rejects_path) as rejects:
        for record in read_records(path, None, rejects):
            texts.extend(record_texts(record, tokenizer))
            if len(texts) >= n:
                break
    if not texts:
        raise HalaError(f"{path}: no usable calibration text ({rejects.total} records rejected, see {rejects_path})")
    return texts[:n]


def calibration_dataset(texts: list[str], tokenizer, max_length: int):
    """Pre-tokenised `datasets.Dataset`, so llm-compressor uses exactly these tokens (no hidden preprocessing)."""
    from datasets import Dataset

    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
