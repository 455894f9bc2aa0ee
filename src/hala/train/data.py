"""Chat-sample records -> the dataset SFTTrainer consumes, with unusable records rejected (`file:line: reason`).

A record is usable when it has an assistant turn and the chat template renders it (Gemma's template, for
instance, refuses roles that do not alternate). Rendering every record up front costs milliseconds and turns
what would be a crash deep inside dataset preparation into a reject naming the line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from hala.records import Reject, RejectLog, describe_validation_error, iter_rows, validate
from hala.train.masks import Strategy, tokenize_with_prefix_mask


def _usable(obj: dict, tokenizer) -> tuple[list[dict] | None, str | None]:
    try:
        sample = validate(obj, "chat")
    except ValidationError as e:
        return None, f"invalid record: {describe_validation_error(e)}"
    except ValueError as e:
        return None, f"invalid record: {e}"
    messages = [m.model_dump() for m in sample.messages]
    if not any(m["role"] == "assistant" for m in messages):
        return None, "no assistant turn: nothing to train on"
    try:
        tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception as e:  # jinja raise_exception() and template errors have no common base class
        return None, f"chat template cannot render it: {e}"
    return messages, None


def load_conversations(path: str | Path, tokenizer, rejects: RejectLog) -> list[list[dict]]:
    conversations = []
    for lineno, obj in iter_rows(path, rejects):
        messages, reason = _usable(obj, tokenizer)
        if reason:
            rejects.add(Reject(str(path), lineno, reason, obj))
        else:
            conversations.append(messages)
    if not conversations:
        raise ValueError(f"{path}: no usable chat samples ({rejects.total} rejected: "
                         f"{', '.join(f'{k} x{v}' for k, v in rejects.counts.items()) or 'file is empty'})")
    return conversations


def to_dataset(conversations: list[list[dict]], tokenizer, strategy: Strategy):
    """`messages` rows for TRL's own assistant masking, or pre-tokenised rows (`input_ids`, `assistant_masks`)
    when the mask is computed here (`prefix`); TRL turns either into labels and truncates to max_length."""
    from datasets import Dataset

    if strategy == "prefix":
        return Dataset.from_list([tokenize_with_prefix_mask(tokenizer, m) for m in conversations])
    return Dataset.from_list([{"messages": m} for m in conversations])
