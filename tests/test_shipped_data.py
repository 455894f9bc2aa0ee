"""Checks for the small handwritten datasets shipped in ``hala/data``.

* ``instructions_en.jsonl``: English chat samples used to exercise the
  translator (code fences, LaTeX, markdown, URLs, placeholders, HTML).
* ``mcq_ar.jsonl``: Arabic multiple-choice questions.
* ``mmlu_en_ar_mt.jsonl``: machine-translated training pairs (licences, no overlap with the held-out set).

Standard library + pytest only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

INSTRUCTIONS = "instructions_en.jsonl"
MCQ = "mcq_ar.jsonl"

SOURCE = "hala-handwritten"
LICENSE = "Apache-2.0"
ROLES = {"system", "user", "assistant"}
YES_NO = (["نعم", "لا"], ["صح", "خطأ"])


def _read_text(name: str) -> str:
    """Read a shipped data file, preferring the installed package resource."""
    try:
        from importlib.resources import files

        resource = files("hala") / "data" / name
        if resource.is_file():
            return resource.read_text(encoding="utf-8")
    except Exception:  # package not importable (yet): fall back to the source tree
        pass
    path = Path(__file__).resolve().parents[1] / "src" / "hala" / "data" / name
    return path.read_text(encoding="utf-8")


def _load(name: str) -> list[dict]:
    text = _read_text(name)
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        assert line.strip(), f"{name}:{lineno}: blank line"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - failure path
            pytest.fail(f"{name}:{lineno}: invalid JSON: {exc}")
        assert isinstance(obj, dict), f"{name}:{lineno}: not an object"
        records.append(obj)
    return records


@pytest.fixture(scope="module")
def instructions() -> list[dict]:
    return _load(INSTRUCTIONS)


@pytest.fixture(scope="module")
def mcqs() -> list[dict]:
    return _load(MCQ)


# --------------------------------------------------------------------------
# instructions_en.jsonl
# --------------------------------------------------------------------------


def test_instructions_schema(instructions):
    assert len(instructions) >= 100
    for rec in instructions:
        rid = rec.get("id")
        assert set(rec) == {"id", "messages", "meta"}, rid
        assert isinstance(rid, str) and re.fullmatch(r"inst-\d{4}", rid), rid
        meta = rec["meta"]
        assert isinstance(meta, dict) and set(meta) == {"source", "license", "topic"}, rid
        assert meta["source"] == SOURCE and meta["license"] == LICENSE, rid
        assert isinstance(meta["topic"], str) and meta["topic"].strip(), rid

        msgs = rec["messages"]
        assert isinstance(msgs, list) and len(msgs) >= 2, rid
        for m in msgs:
            assert isinstance(m, dict) and set(m) == {"role", "content"}, rid
            assert m["role"] in ROLES, rid
            assert isinstance(m["content"], str) and m["content"].strip(), rid
        roles = [m["role"] for m in msgs]
        assert "system" not in roles[1:], f"{rid}: system message must come first"
        turns = roles[1:] if roles[0] == "system" else roles
        expected = ["user" if i % 2 == 0 else "assistant" for i in range(len(turns))]
        assert turns == expected, f"{rid}: roles must alternate user/assistant: {roles}"
        assert turns[-1] == "assistant", rid


def test_instructions_ids_unique(instructions):
    ids = [r["id"] for r in instructions]
    assert len(ids) == len(set(ids))


def test_instructions_code_fences_balanced(instructions):
    for rec in instructions:
        for m in rec["messages"]:
            assert m["content"].count("```") % 2 == 0, f"{rec['id']}: unbalanced ``` fence"


def _count(instructions, predicate) -> int:
    return sum(1 for r in instructions if any(predicate(m["content"]) for m in r["messages"]))


LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+]|\d+\.)[ \t]+\S", re.MULTILINE)
PLACEHOLDER = re.compile(r"\{\{?\s*\w+\s*\}?\}|%\(\w+\)[sdifr]|%[sdifr]\b")


def test_instructions_structure_coverage(instructions):
    assert _count(instructions, lambda t: "```" in t) >= 15
    assert _count(instructions, lambda t: "$" in t) >= 15
    assert _count(instructions, lambda t: LIST_MARKER.search(t) is not None) >= 15
    assert _count(instructions, lambda t: "http" in t) >= 8
    assert _count(instructions, lambda t: PLACEHOLDER.search(t) is not None) >= 5
    assert _count(instructions, lambda t: re.search(r"</?[a-zA-Z][^>]*>", t) is not None) >= 5


def test_instructions_has_system_and_multi_turn(instructions):
    with_system = sum(1 for r in instructions if r["messages"][0]["role"] == "system")
    multi_turn = sum(1 for r in instructions if sum(m["role"] == "user" for m in r["messages"]) >= 2)
    assert with_system >= 5
    assert multi_turn >= 10


# --------------------------------------------------------------------------
# mcq_ar.jsonl
# --------------------------------------------------------------------------


def _arabic_share(text: str) -> float | None:
    """Share of Arabic-block letters among Arabic + Latin letters (None if neither)."""
    arabic = latin = 0
    for ch in text:
        if not ch.isalpha():  # skips digits, punctuation, diacritics
            continue
        if "\u0600" <= ch <= "\u06ff":
            arabic += 1
        elif ch.isascii() or "\u00c0" <= ch <= "\u024f":
            latin += 1
    total = arabic + latin
    return None if total == 0 else arabic / total


def test_mcq_schema(mcqs):
    assert len(mcqs) >= 100
    for rec in mcqs:
        rid = rec.get("id")
        assert set(rec) == {"id", "question", "choices", "answer", "meta"}, rid
        assert isinstance(rid, str) and re.fullmatch(r"mcq-ar-\d{4}", rid), rid
        assert isinstance(rec["question"], str) and rec["question"].strip(), rid
        meta = rec["meta"]
        assert isinstance(meta, dict) and set(meta) == {"subject", "source", "license"}, rid
        assert meta["source"] == SOURCE and meta["license"] == LICENSE, rid
        assert isinstance(meta["subject"], str) and meta["subject"].strip(), rid
        assert meta["subject"].isascii(), f"{rid}: subject should be in English"

        choices = rec["choices"]
        assert isinstance(choices, list) and len(choices) >= 2, rid
        assert all(isinstance(c, str) and c.strip() for c in choices), rid
        assert len(set(choices)) == len(choices), f"{rid}: duplicate choices"
        if len(choices) == 2:
            assert choices in YES_NO, f"{rid}: two-choice questions must be yes/no or true/false"

        answer = rec["answer"]
        assert isinstance(answer, int) and not isinstance(answer, bool), rid
        assert 0 <= answer < len(choices), rid


def test_mcq_ids_unique(mcqs):
    ids = [r["id"] for r in mcqs]
    assert len(ids) == len(set(ids))


def test_mcq_mostly_four_choices(mcqs):
    four = sum(1 for r in mcqs if len(r["choices"]) == 4)
    assert four >= 0.6 * len(mcqs)


def test_mcq_is_arabic(mcqs):
    for rec in mcqs:
        share = _arabic_share(rec["question"])
        assert share is not None and share >= 0.8, f"{rec['id']}: question not mostly Arabic ({share})"
        share = _arabic_share(" ".join(rec["choices"]))
        assert share is None or share >= 0.8, f"{rec['id']}: choices not mostly Arabic ({share})"


def test_mcq_answer_positions_balanced(mcqs):
    four = [r["answer"] for r in mcqs if len(r["choices"]) == 4]
    for pos in range(4):
        assert four.count(pos) >= 0.15 * len(four), f"answer index {pos} under-represented"


# ---------------------------------------------------------------------------
# mmlu_en_ar_mt.jsonl: machine-translated training pairs (scripts/build_shipped_data.py)
# ---------------------------------------------------------------------------
def test_mmlu_pairs_carry_their_licences_and_share_nothing_with_the_held_out_set():
    rows = [json.loads(line) for line in _read_text("mmlu_en_ar_mt.jsonl").splitlines()]
    heldout = [json.loads(line) for line in _read_text("tico19_heldout_en_ar.jsonl").splitlines()]
    assert len(rows) == 6000 and len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["src_lang"] == "en" and r["tgt_lang"] == "ar" and 25 <= len(r["src"]) <= 300, r["id"]
        meta = r["meta"]
        assert meta["license"] == "Apache-2.0" and meta["license_src"] == "MIT", r["id"]
        assert "Hendrycks" in meta["attribution"] and "machine translation" in meta["attribution"], r["id"]
    held = {h["src"].lower() for h in heldout} | {h["tgt"] for h in heldout}
    assert not [r["id"] for r in rows if r["src"].lower() in held or r["tgt"] in held]
