"""The `decontam` stage: drop training records that overlap the evaluation sets a recipe scores on.

A training record is contaminated when one of its texts shares a word n-gram (default 8 words) with an evaluation
text, both compared in the one Arabic-aware comparison form `hala.normalize.normalize_text` (diacritics, tatweel,
alef/yeh variants, presentation forms, digits, case and whitespace folded), words being `\\w+` runs so punctuation
never hides a match. An evaluation text shorter than n words but at least `min_words` long counts as one n-gram of
its own length (short MCQ questions are exactly the ones copied whole into instruction sets). N-grams never span
two messages of a conversation.

Evaluation texts: the questions of multiple-choice tasks (declared tasks, suites such as `oall-v2`, or `NAME=PATH`
bindings, read as `eval.mcq` reads them) and the texts of record files (chat samples' messages, pairs' two sides).

Written by hand: the n-gram overlap test of the GPT-3 / Llama-2 contamination studies is a set lookup per
n-gram; no library does it on hala's record schema with Arabic normalisation.

Outputs: `samples.jsonl` (kept records, unchanged), `rejects.jsonl` (each dropped record with its reason: the eval
set, the item and the shared n-gram), `decontam_report.json` (counts in, kept, dropped per evaluation set).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field

from hala.atomic import write_json
from hala.normalize import digest, normalize_text
from hala.records import RecordWriter, Reject, RejectLog, read_records

_WORD = re.compile(r"\w+")


class DecontamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str = Field(description="training records (chat samples or pairs): JSONL/.gz/Parquet")
    tasks: list[str] = Field(
        default_factory=list,
        description="multiple-choice tasks or suites whose questions count as evaluation text (as in eval.mcq)",
    )
    task_files: list[str] = Field(default_factory=list, description="extra YAML files declaring tasks/suites")
    files: list[str] = Field(
        default_factory=list, description="record files (pairs / chat) of evaluation text, e.g. a translation test set"
    )
    ngram: int = Field(8, ge=2, description="words per n-gram")
    min_words: int = Field(4, ge=1, description="shorter evaluation texts are not matched (too common)")
    output: str = "samples.jsonl"


def words(text: str) -> list[str]:
    return _WORD.findall(normalize_text(text))


def _record_texts(record) -> list[str]:
    if hasattr(record, "messages"):
        return [m.content or "" for m in record.messages]
    return [record.src, record.tgt]


class Index:
    """Hashes of the evaluation n-grams (and of whole short texts), each with where it came from."""

    def __init__(self, n: int, min_words: int):
        self.n, self.min_words = n, min_words
        self.grams: dict[int, dict[int, tuple[str, str]]] = {}  # length -> digest -> (eval set, item id)
        self.texts: dict[str, int] = {}

    def add(self, text: str, source: str, item: str) -> None:
        w = words(text)
        if len(w) < self.min_words:
            return
        self.texts[source] = self.texts.get(source, 0) + 1
        k = min(self.n, len(w))
        table = self.grams.setdefault(k, {})
        for i in range(len(w) - k + 1):
            table.setdefault(digest(*w[i : i + k]), (source, item))

    def hit(self, text: str) -> tuple[str, str, str] | None:
        """(eval set, item id, the shared n-gram) of the first overlap, or None."""
        w = words(text)
        for k, table in self.grams.items():
            for i in range(len(w) - k + 1):
                found = table.get(digest(*w[i : i + k]))
                if found:
                    return found[0], found[1], " ".join(w[i : i + k])
        return None


def _eval_texts(config: DecontamConfig) -> Iterator[tuple[str, str, str]]:
    """(eval set, item id, text) for every evaluation text."""
    if config.tasks:
        from hala.evaluate.tasks import Registry, resolve_task

        registry = Registry(config.task_files)
        for task in registry.expand(config.tasks):
            data = resolve_task(task, registry)
            for item in data.items + (data.fewshot or []):
                yield data.name, item.id, item.question
    for ref in config.files:
        for record in read_records(ref, None, RejectLog()):
            for text in _record_texts(record):
                yield Path(ref).name, record.id, text


def build_index(config: DecontamConfig) -> Index:
    index = Index(config.ngram, config.min_words)
    for source, item, text in _eval_texts(config):
        index.add(text, source, item)
    return index


def run(config: DecontamConfig, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    t0 = time.time()
    index = build_index(config)
    dropped: dict[str, int] = {}
    n_in = 0
    with (
        RejectLog(out_dir / "rejects.jsonl", keep_empty=True) as rejects,
        RecordWriter(out_dir / config.output) as writer,
    ):
        for record in read_records(config.input, None, rejects):
            n_in += 1
            hit = next((h for h in map(index.hit, _record_texts(record)) if h), None)
            if hit is None:
                writer.write(record)
                continue
            source, item, gram = hit
            dropped[source] = dropped.get(source, 0) + 1
            rejects.add(
                Reject(
                    config.input,
                    None,
                    f"overlaps evaluation set {source}: item {item} shares '{gram}'",
                    record.model_dump(mode="json"),
                )
            )
        read_errors = rejects.total - sum(dropped.values())
    kept = n_in - sum(dropped.values())
    report = {
        "records_in": n_in,
        "records_out": kept,
        "dropped": sum(dropped.values()),
        "dropped_by_eval_set": dropped,
        "read_errors": read_errors,
        "ngram": config.ngram,
        "min_words": config.min_words,
        "eval_texts": index.texts,
        "seconds": round(time.time() - t0, 2),
    }
    write_json(out_dir / "decontam_report.json", report)
    return {
        **report,
        "outputs": {"samples": config.output, "rejects": "rejects.jsonl", "report": "decontam_report.json"},
    }
