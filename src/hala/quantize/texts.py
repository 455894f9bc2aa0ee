"""Verification texts: a small bilingual set shipped with hala (works offline), or the user's own files.

Monolingual texts (`{"id", "lang", "text", "meta"}` per JSONL line) measure perplexity per language and the
next-token drift; parallel pairs (hala's Pair records) measure translation quality with chrF++.
The shipped sets (`hala/data/verify_text.jsonl`, `hala/data/verify_en_ar.jsonl`) were written for hala and are
disjoint from the few-shot examples in `hala.prompts`.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hala.errors import HalaError
from hala.records import Pair, describe_validation_error, iter_rows, read_records

SHIPPED_TEXTS = "verify_text.jsonl"
SHIPPED_PAIRS = "verify_en_ar.jsonl"


class TextSample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    lang: str = Field(min_length=2)
    text: str = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)


def shipped(name: str) -> str:
    return str(resources.files("hala").joinpath("data").joinpath(name))


def load_texts(path: str | None) -> dict[str, list[str]]:
    """Texts grouped by language, in file order. A bad line is an error: a silently smaller set would make
    the verification weaker without anyone noticing."""
    path = path or shipped(SHIPPED_TEXTS)
    by_lang: dict[str, list[str]] = {}
    for lineno, row in iter_rows(path):
        try:
            sample = TextSample.model_validate(row)
        except ValidationError as e:
            raise HalaError(f"{path}:{lineno}: invalid verification text: {describe_validation_error(e)}") from e
        by_lang.setdefault(sample.lang.lower(), []).append(sample.text)
    if not by_lang:
        raise HalaError(f"{path}: no verification texts")
    return by_lang


def load_pairs(path: str | None) -> list[Pair]:
    """Translation dev pairs; all must share one direction (that is the direction the teacher is checked in)."""
    path = path or shipped(SHIPPED_PAIRS)
    pairs = [p for p in read_records(path, "pair") if isinstance(p, Pair)]
    if not pairs:
        raise HalaError(f"{path}: no translation pairs")
    directions = {(p.src_lang, p.tgt_lang) for p in pairs}
    if len(directions) > 1:
        raise HalaError(f"{path}: pairs must share one direction, found {sorted(directions)}")
    return pairs
