"""Multiple-choice loaders: every benchmark layout becomes `MCQItem(question, choices, answer, ...)`.

A loader is a *container* (CSV file, directory of per-subject CSVs, JSONL/Parquet, a `save_to_disk` dataset or
`hf:NAME[:CONFIG][@SPLIT]`) read row by row, and a *format* that turns one row into an item:

* `mcq`: `{"question", "choices": [...], "answer": index, letter or choice text}` — hala's `mcq_ar.jsonl`,
  MBZUAI/human_translated_arabic_mmlu;
* `mmlu`: CSV `question, A, B, C, D, answer` (letter A-D or index 0-3; a header row is skipped) or
  `{"question", "A".."D", "answer"}` — Hendrycks MMLU, ../shared/data/mmlu-ar-mt, OALL/Arabic_MMLU;
* `arabic_mmlu`: `{"Question", "Option 1".."Option 5", "Answer Key": A-E, "Subject"}` (CSV with a header, or
  hub rows) — MBZUAI/ArabicMMLU, MBZUAI/MadinahQA;
* `exams`: `{"question": {"stem", "choices": [{"text", "label"}]}, "answerKey", "info": {"subject"}}` (the
  EXAMS release) or flat `{"question", "A".."D", "answer", "subject"}` — OALL/Arabic_EXAMS;
* `alghafa`: `{"query", "sol1".."solN", "label"}` — OALL/AlGhafa-Arabic-LLM-Benchmark-Native;
* `aratrust`: `{"Question", "A", "B", "C", "Answer": Arabic letter}` — asas-ai/AraTrust-categorized;
* `yes_no`: `{"question", "answer": "نعم"/"لا"}` (also صح/خطأ, yes/no, true/false) — ACVA
  (../shared/data/acva-ar, OALL/ACVA).

`auto` recognises the format from the first row. Yes/no items get the choices `["صح", "خطأ"]` (true / false), the
labels lighteval's OALL ACVA task scores.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from hala.errors import ConfigError, InputError
from hala.normalize import normalize_text
from hala.records import iter_hf_dataset, iter_rows

LATIN = "ABCDEFGHIJ"
ARABIC_LETTERS = ["أ", "ب", "ج", "د", "هـ", "و", "ز", "ح", "ط", "ي"]
YES_NO_CHOICES = ["صح", "خطأ"]
_YES = {"نعم", "صح", "صحيح", "yes", "true", "1"}
_NO = {"لا", "خطأ", "خاطئ", "no", "false", "0"}
_LETTER_KEYS = [normalize_text(a) for a in ARABIC_LETTERS]  # ا ب ج د ه ...: what a variant key is compared to


@dataclass
class MCQItem:
    question: str
    choices: list[str]
    answer: int
    id: str = ""
    subset: str = ""  # subject / category: few-shot examples come from the same subset, scores are kept per subset
    answer_note: str = ""  # set when the answer key matched only after Arabic normalisation (counted, reported)

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"needs at least 2 choices, got {len(self.choices)}")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"answer index {self.answer} is out of range for {len(self.choices)} choices")


def answer_index(answer: Any, choices: list[str]) -> int:
    """An answer given as an index, a Latin or Arabic letter, or the text of the correct choice."""
    return match_answer(answer, choices)[0]


def match_answer(answer: Any, choices: list[str]) -> tuple[int, str]:
    """`answer_index` and a note: "" for an exact key, else how a key written with a variant spelling was read.

    Real exports write Arabic letter keys with a bare alif (ا for أ) or without the tatweel (ه for هـ), and
    choice texts with other diacritics; those keys match after hala.normalize and are counted (`answer_note`).
    """
    if isinstance(answer, bool):
        raise ValueError(f"answer {answer!r} is not an index, letter or choice")
    if isinstance(answer, int):
        return answer, ""
    a = str(answer).strip()
    if a.isdigit():
        return int(a), ""
    if len(a) == 1 and a.upper() in LATIN:
        return LATIN.index(a.upper()), ""
    if a in ARABIC_LETTERS:
        return ARABIC_LETTERS.index(a), ""
    if a in choices:
        return choices.index(a), ""
    key = normalize_text(a)
    if key in _LETTER_KEYS:
        i = _LETTER_KEYS.index(key)
        return i, f"answer key {a!r} read as {ARABIC_LETTERS[i]!r} (Arabic letter variant)"
    same = [i for i, c in enumerate(choices) if normalize_text(c) == key]
    if len(same) == 1:
        return same[0], f"answer {a!r} matched choice {same[0]} after Arabic normalisation"
    raise ValueError(f"answer {answer!r} is not an index, a letter (A-J, أ-ي) or one of the choices")


def _subject(obj: dict) -> str:
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    return str(obj.get("subject") or obj.get("Subject") or obj.get("category") or meta.get("subject") or "")


def from_mcq(obj: dict) -> MCQItem:
    choices = [str(c) for c in obj["choices"]]
    index, note = match_answer(obj["answer"], choices)
    return MCQItem(str(obj["question"]), choices, index, str(obj.get("id", "")), _subject(obj), note)


def _lettered(obj: dict, question: str = "question", answer: str = "answer") -> MCQItem:
    choices = [str(obj[k]) for k in LATIN if obj.get(k) not in (None, "")]
    index, note = match_answer(obj[answer], choices)
    return MCQItem(str(obj[question]), choices, index, str(obj.get("id", "")), _subject(obj), note)


def from_mmlu(row: list | dict) -> MCQItem:
    if isinstance(row, dict):
        return _lettered(row)
    if len(row) < 4:
        raise ValueError(f"expected question, 2+ choices and an answer, got {len(row)} columns")
    choices = [str(c) for c in row[1:-1]]
    index, note = match_answer(row[-1], choices)
    return MCQItem(str(row[0]), choices, index, answer_note=note)


def from_arabic_mmlu(obj: dict) -> MCQItem:
    keys = [(LATIN[i], obj.get(f"Option {i + 1}")) for i in range(5)]
    present = [(k, str(v)) for k, v in keys if v not in (None, "")]
    latin = [k for k, _ in present]
    key = str(obj["Answer Key"]).strip()
    if key not in latin:
        raise ValueError(f"Answer Key {key!r} names no non-empty option ({', '.join(latin)})")
    return MCQItem(
        str(obj["Question"]), [v for _, v in present], latin.index(key), str(obj.get("ID", "")), _subject(obj)
    )


def from_exams(obj: dict) -> MCQItem:
    if isinstance(obj.get("question"), dict):  # the original EXAMS release
        q = obj["question"]
        labels = [c["label"] for c in q["choices"]]
        if obj["answerKey"] not in labels:
            raise ValueError(f"answerKey {obj['answerKey']!r} is not a choice label ({', '.join(labels)})")
        return MCQItem(
            str(q["stem"]),
            [str(c["text"]) for c in q["choices"]],
            labels.index(obj["answerKey"]),
            str(obj.get("id", "")),
            str((obj.get("info") or {}).get("subject", "")),
        )
    return _lettered(obj)


def from_alghafa(obj: dict) -> MCQItem:
    choices = [str(obj[f"sol{i}"]) for i in range(1, 11) if obj.get(f"sol{i}") not in (None, "")]
    return MCQItem(str(obj["query"]), choices, int(obj["label"]), str(obj.get("id", "")), _subject(obj))


def from_aratrust(obj: dict) -> MCQItem:
    return _lettered(obj, question="Question", answer="Answer")


def from_yes_no(obj: dict) -> MCQItem:
    a = str(obj["answer"]).strip().lower()
    if a not in _YES | _NO:
        raise ValueError(f"answer {obj['answer']!r} is neither yes (نعم/صح) nor no (لا/خطأ)")
    return MCQItem(
        str(obj["question"]),
        list(YES_NO_CHOICES),
        0 if a in _YES else 1,
        str(obj.get("id", "")),
        _subject(obj) or str(obj.get("id", "")).rsplit("-", 1)[0],
    )


FORMATS: dict[str, Callable[[Any], MCQItem]] = {
    "mcq": from_mcq,
    "mmlu": from_mmlu,
    "arabic_mmlu": from_arabic_mmlu,
    "exams": from_exams,
    "alghafa": from_alghafa,
    "aratrust": from_aratrust,
    "yes_no": from_yes_no,
}


def detect_format(row: Any) -> str:
    if isinstance(row, list):
        return "mmlu"
    keys = set(row)
    if "choices" in keys:
        return "mcq"
    if {"query", "sol1"} <= keys:
        return "alghafa"
    if {"Question", "Option 1"} <= keys:
        return "arabic_mmlu"
    if {"Question", "A", "Answer"} <= keys:
        return "aratrust"
    if isinstance(row.get("question"), dict):
        return "exams"
    if {"question", "A", "answer"} <= keys:
        return "mmlu"
    if {"question", "answer"} <= keys and str(row["answer"]).strip().lower() in _YES | _NO:
        return "yes_no"
    raise InputError(
        f"cannot tell the multiple-choice format from the keys {sorted(keys)}; name it (one of: {', '.join(FORMATS)})"
    )


# ------------------------------------------------------------------------------------------------ containers
def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as e:  # bad bytes or a broken quote: name the file and line
            raise InputError(f"{path}:{reader.line_num + 1}: unreadable CSV ({type(e).__name__}: {e})") from None
    if not rows:
        return
    header = [h.strip() for h in rows[0]]
    if "Question" in header or ("question" in header and "A" in header):  # a named-column file: dict rows
        for n, r in enumerate(rows[1:], start=2):
            yield n, dict(zip(header, r))
        return
    start = 2 if header and header[-1].lower() == "answer" else 1  # MMLU's optional header row
    yield from enumerate(rows[start - 1 :], start=start)


def _subset_of(path: Path) -> str:
    stem = path.stem
    for suffix in ("_test", "_dev", "_val", "_validation"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _rows(source: str | Path, split: str | None = None) -> Iterator[tuple[str, int, str, Any]]:
    """(location, line, subset, row) for every row of a file, a directory of CSVs, or a dataset (its `split`)."""
    s = str(source)
    path = Path(s)
    if path.is_dir() and sorted(path.glob("*.csv")):
        for f in sorted(path.glob("*.csv")):
            for n, row in _csv_rows(f):
                yield str(f), n, _subset_of(f), row
    elif path.suffix == ".csv":
        for n, row in _csv_rows(path):
            yield s, n, "", row
    elif path.is_dir() or s.startswith("hf:"):
        for n, row in iter_hf_dataset(s, split):
            yield s, n, "", row
    else:
        for n, row in iter_rows(s, unique_ids=False):  # JSONL(.gz) / Parquet (raises file:line on bad JSON)
            yield s, n, "", row


def sniff_format(source: str | Path, split: str | None = None) -> str:
    """The format of the first row of `source`."""
    for where, n, _, row in _rows(source, split):
        try:
            return detect_format(row)
        except ValueError as e:
            raise InputError(f"{where}:{n}: {e}") from None
    raise InputError(f"{source}: no multiple-choice items found")


def read_items(source: str | Path, fmt: str = "auto", split: str | None = None) -> list[MCQItem]:
    """Load every item of `source`; a malformed row is an error naming its file and line."""
    if fmt == "auto":
        fmt = sniff_format(source, split)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown multiple-choice format '{fmt}' (known: auto, {', '.join(FORMATS)})")
    items: list[MCQItem] = []
    for where, n, subset, row in _rows(source, split):
        try:
            item = FORMATS[fmt](row)
        except (KeyError, ValueError, TypeError) as e:
            detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            raise InputError(f"{where}:{n}: invalid {fmt} row: {detail}") from None
        item.subset = item.subset or subset
        item.id = item.id or f"{Path(where).stem}:{n}"
        items.append(item)
    if not items:
        raise InputError(f"{source}: no multiple-choice items found")
    return items


def items_from_dicts(rows: list[dict], fmt: str = "auto") -> list[MCQItem]:
    convert = None if fmt == "auto" else FORMATS[fmt]
    out = []
    for i, row in enumerate(rows):
        try:
            item = (convert or FORMATS[detect_format(row)])(row)
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(f"items[{i}]: invalid multiple-choice item: {e}") from None
        item.id = item.id or f"item-{i}"
        out.append(item)
    return out
