"""One record schema for every stage, and streaming readers/writers for it.

Two record kinds flow through hala (documented in docs/RECORDS.md):

* `ChatSample` — `{"id", "messages": [{"role", "content"}], "meta": {...}}`: instruction data, translated
  instruction data, and the translation-instruction examples the corpus stage builds for training.
* `Pair` — `{"id", "src", "tgt", "src_lang", "tgt_lang", "meta": {...}}`: parallel text for filtering,
  corpus building and translation evaluation.

Readers stream (constant memory) from JSONL (optionally .gz), Parquet, or a Hugging Face `datasets` reference.
A record that cannot be read or does not fit the schema is never a stack trace and never silently dropped:
it becomes a `Reject` (`file:line: reason`), is written to a rejects file and counted, and reading goes on.
Writers write to a temporary file and rename on close (see `hala.atomic`).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hala.atomic import AtomicFile, atomic_path, remove_stale, write_error
from hala.errors import InputError, describe_validation_error  # noqa: F401 - re-exported: the record readers' one formatter


def _named(e: OSError, path: Path) -> Exception:
    named = write_error(e, path)
    return named if named is not e else OSError(e.errno, f"{e.strerror or e} while writing {path}", str(path))


Role = Literal["system", "user", "assistant", "tool"]


# `meta` fields that name a licence. `license` is the record's own (for a translated pair: the target side, e.g.
# the Arabic machine translation of the shipped MMLU pairs, Apache-2.0); `license_src` / `license_tgt` name the
# licence of one side when the sides differ (the MMLU pairs' English side is MIT). Stages that derive records
# carry all of them; a publish lists and checks every one (a pair may only be published when both sides may).
LICENCE_FIELDS = ("license", "license_src", "license_tgt")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str


class ChatSample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_empty_turns(self) -> ChatSample:
        # An empty user or assistant turn trains the model to answer nothing (or to nothing) and translates to
        # nothing: reject the record with the turn named. A tool result may legitimately be empty.
        for i, m in enumerate(self.messages):
            if m.role != "tool" and not m.content.strip():
                raise ValueError(f"messages[{i}] ({m.role}) is an empty turn")
        return self


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    src: str
    tgt: str
    src_lang: str = Field(min_length=2)
    tgt_lang: str = Field(min_length=2)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("src_lang", "tgt_lang")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


# A pair as the readers of hala.sources stream it, to every stage that reads parallel text (filter, corpus, eval
# translation): the record as a plain dict in the `Pair` schema, not a `Pair` object (the filter stage streams
# millions of pairs; the readers validate each row against `Pair` once), and where it was read (file or reference,
# line/row or None). The location is what a Pair cannot carry: its `meta` belongs to the record (filter writes kept
# pairs unchanged), but rejects must still say `file:line`. There is no other pair shape: `Pair` is the schema,
# `PairRow` the streamed view of it.
PairRow = tuple[dict, str, "int | None"]

Record = Union[ChatSample, Pair]
SCHEMAS: dict[str, type[BaseModel]] = {"chat": ChatSample, "pair": Pair}


def stable_id(*parts: str, prefix: str = "") -> str:
    """A short deterministic id from content (so reruns produce the same ids)."""
    h = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}{h}"


def detect_kind(obj: dict) -> str | None:
    if "messages" in obj:
        return "chat"
    if "src" in obj or "tgt" in obj:
        return "pair"
    return None


# --------------------------------------------------------------------------------------------------- rejects
@dataclass
class Reject:
    source: str
    line: int | None
    reason: str
    raw: Any = None

    def location(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        return f"{self.location()}: {self.reason}"

    def to_json(self) -> dict:
        return {"source": self.source, "line": self.line, "reason": self.reason, "raw": self.raw}


@dataclass
class RejectLog:
    """Collects rejects: counts them, and (when given a path) streams them to a JSONL file.

    The file is written to a temporary sibling (`hala.atomic.AtomicFile`) and published on `close()`, so it is
    atomic like every artifact.
    `keep_empty`: with no reject, `close()` still writes an empty file, replacing one from an earlier run (a stage
    that lists its rejects file as an output must not leave an old run's rejects behind).
    """

    path: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[Reject] = field(default_factory=list)
    max_examples: int = 20
    keep_empty: bool = False
    _fh: Any = None
    _file: AtomicFile | None = None

    def add(self, reject: Reject) -> None:
        key = reject.reason.split(":", 1)[0]
        self.counts[key] = self.counts.get(key, 0) + 1
        if len(self.examples) < self.max_examples:
            self.examples.append(reject)
        if self.path is not None:
            if self._fh is None:
                self._file = AtomicFile(self.path)  # also removes a killed run's partial rejects file
                self._fh = open(self._file.tmp, "w", encoding="utf-8")
            try:
                self._fh.write(json.dumps(reject.to_json(), ensure_ascii=False, default=str) + "\n")
            except OSError as e:
                self._discard()
                raise _named(e, self.path) from e

    def _discard(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
        self._fh = None
        if self._file is not None:
            self._file.discard()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        if self._fh is None and self.path is not None:
            remove_stale(self.path)  # no reject this time: still clear a killed run's partial file
            if self.keep_empty:
                with atomic_path(self.path) as tmp:
                    tmp.write_bytes(b"")
        if self._fh is not None:
            try:
                self._fh.close()
                self._file.commit()
            except OSError as e:
                self._discard()
                raise _named(e, self.path) from e
            self._fh = None

    def __enter__(self) -> RejectLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------- reading
def open_text_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            yield lineno, raw


def _lines_or_error(path: Path) -> Iterator[tuple[int, bytes]]:
    """Lines of a (gzipped) file; a corrupt or truncated gzip stream is an error naming the file and line."""
    lineno = 0
    try:
        for lineno, raw in open_text_lines(path):
            yield lineno, raw
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise InputError(
            f"{path}:{lineno + 1}: unreadable gzip data ({type(e).__name__}: {e}); the file is corrupt or truncated"
        ) from None


def iter_jsonl(path: str | os.PathLike, rejects: RejectLog | None = None) -> Iterator[tuple[int, dict]]:
    """Yield `(line_number, object)` for every valid JSON object line; rejects undecodable/unparsable lines."""
    path = Path(path)
    for lineno, raw in _lines_or_error(path):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            _reject(
                rejects,
                Reject(
                    str(path),
                    lineno,
                    f"not UTF-8: byte {raw[e.start]:#04x} at column {e.start + 1}",
                    raw.decode("utf-8", errors="replace").rstrip("\n"),
                ),
            )
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            _reject(rejects, Reject(str(path), lineno, f"invalid JSON: {e.msg} at column {e.colno}", text.rstrip("\n")))
            continue
        except (ValueError, RecursionError) as e:  # an integer over 4300 digits, nesting deeper than the stack
            _reject(
                rejects,
                Reject(
                    str(path), lineno, f"invalid JSON: {type(e).__name__}: {str(e)[:200]}", text[:1000].rstrip("\n")
                ),
            )
            continue
        if not isinstance(obj, dict):
            _reject(
                rejects,
                Reject(str(path), lineno, f"invalid record: expected a JSON object, got {type(obj).__name__}", obj),
            )
            continue
        yield lineno, obj


def iter_parquet(
    path: str | os.PathLike, batch_size: int = 1024, rejects: RejectLog | None = None
) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = 0
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=batch_size)
        for batch in batches:
            for obj in batch.to_pylist():
                row += 1
                try:
                    yield row, meta_from_parquet(obj)
                except (ValueError, RecursionError) as e:  # a `meta` column that is not a JSON object
                    _reject(rejects, Reject(str(path), row, f"invalid record: meta: {e}", None))
    except (pa.ArrowException, OSError) as e:
        raise InputError(
            f"{path}:{row + 1}: not a readable Parquet file ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from None


def iter_hf_dataset(ref: str, split: str | None = None) -> Iterator[tuple[int, dict]]:
    """`hf:NAME[:CONFIG][@SPLIT]` (hub, needs network) or a directory written by `Dataset.save_to_disk`."""
    import datasets

    if ref.startswith("hf:"):
        spec = ref[3:]
        spec, _, at_split = spec.partition("@")
        name, _, config = spec.partition(":")
        ds = datasets.load_dataset(name, config or None, split=at_split or split or "train", streaming=True)
    else:
        ds = datasets.load_from_disk(ref)
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split or "train"]
    for i, obj in enumerate(ds, start=1):
        yield i, dict(obj)


def iter_rows(
    ref: str | os.PathLike, rejects: RejectLog | None = None, unique_ids: bool = True
) -> Iterator[tuple[int, dict]]:
    """Raw rows (dicts) from any supported input, with their 1-based line/row number.

    `unique_ids`: a row whose string `id` repeats an earlier row's is rejected ("duplicate id", naming the first
    line): ids key translation caches, resumes and merges, so a repeat would silently overwrite or drop a record.
    """
    s = str(ref)
    if s.startswith("hf:"):
        rows = iter_hf_dataset(s)
    else:
        path = Path(s)
        if not path.exists():
            # errno and file name: an OSError naming the user's file is one line in the CLI (hala.errors)
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", str(path))
        if path.is_dir():
            rows = iter_hf_dataset(s)
        elif path.suffix == ".parquet":
            rows = iter_parquet(path, rejects=rejects)
        elif path.suffix in {".jsonl", ".json", ".gz", ".ndjson"}:
            rows = iter_jsonl(path, rejects)
        else:
            raise InputError(
                f"{path}: unsupported input format (expected .jsonl, .jsonl.gz, .parquet, a saved "
                f"dataset directory, or hf:NAME[:CONFIG][@SPLIT])"
            )
    return _unique(rows, s, rejects) if unique_ids else rows


class SeenIds:
    """First line of each id seen, in ~16 bytes per id (~24 at the peak of a merge): 64-bit id hashes and their
    lines in sorted numpy arrays, the newest ids in a small dict merged into them every `batch` ids. A dict of all
    ids cost ~100 bytes per row (~0.45 GB at 4.5M rows; docs/BENCHMARKS.md); an exact duplicate check over a
    stream has to remember every id, so it stays linear, only smaller. Two different ids share a hash with
    probability ~n²/2^65 (3e-6 for 10M rows)."""

    def __init__(self, batch: int = 65_536):
        import numpy as np  # here, not at module level: `hala --help` imports this module and stays light

        self.np, self.batch = np, batch
        self.hashes = np.zeros(0, dtype=np.int64)
        self.lines = np.zeros(0, dtype=np.int64)
        self.recent: dict[int, int] = {}

    def first_line(self, rid: str, lineno: int) -> int:
        """The line `rid` was first seen on; `lineno` (now remembered) when it is new."""
        h = hash(rid)
        seen = self.recent.get(h)
        if seen is not None:
            return seen
        i = int(self.hashes.searchsorted(h))
        if i < len(self.hashes) and self.hashes[i] == h:
            return int(self.lines[i])
        self.recent[h] = lineno
        if len(self.recent) >= self.batch:
            self._merge()
        return lineno

    def _merge(self) -> None:
        # The new ids sorted alone, then inserted at their places: one new array at a time, so the peak stays
        # ~24 bytes per id (concatenating and re-sorting everything would briefly hold ~5 copies).
        np = self.np
        hashes = np.fromiter(self.recent.keys(), np.int64, len(self.recent))
        lines = np.fromiter(self.recent.values(), np.int64, len(self.recent))
        order = hashes.argsort()
        hashes, lines = hashes[order], lines[order]
        at = self.hashes.searchsorted(hashes)
        self.recent = {}
        self.hashes = np.insert(self.hashes, at, hashes)
        self.lines = np.insert(self.lines, at, lines)


def _unique(rows: Iterator[tuple[int, dict]], source: str, rejects: RejectLog | None) -> Iterator[tuple[int, dict]]:
    seen_ids = SeenIds()
    for lineno, obj in rows:
        rid = obj.get("id")
        if isinstance(rid, str) and rid:
            seen = seen_ids.first_line(rid, lineno)
            if seen != lineno:
                _reject(rejects, Reject(source, lineno, f"duplicate id: '{rid[:80]}' (first on line {seen})", obj))
                continue
        yield lineno, obj


def validate(obj: dict, kind: str | None) -> Record:
    """Validate a raw dict as a record of `kind` ('chat' or 'pair'); `kind=None` infers it from the keys."""
    kind = kind or detect_kind(obj)
    if kind is None:
        raise ValueError("missing field: expected 'messages' (chat sample) or 'src'/'tgt' (pair)")
    return SCHEMAS[kind].model_validate(obj)


def read_records(
    ref: str | os.PathLike,
    kind: str | None = None,
    rejects: RejectLog | None = None,
) -> Iterator[Record]:
    """Stream validated records of `kind` ('chat', 'pair' or None to infer) from `ref`.

    Bad rows are turned into rejects (`file:line: reason`) and skipped; good rows keep flowing.
    """
    source = str(ref)
    for lineno, obj in iter_rows(ref, rejects):
        try:
            yield validate(obj, kind)
        except ValidationError as e:
            _reject(rejects, Reject(source, lineno, f"invalid record: {describe_validation_error(e)}", obj))
        except ValueError as e:
            _reject(rejects, Reject(source, lineno, f"invalid record: {e}", obj))


def _reject(rejects: RejectLog | None, reject: Reject) -> None:
    if rejects is None:
        raise InputError(str(reject))
    rejects.add(reject)


# --------------------------------------------------------------------------------------------------- writing
def to_dict(record: Record | dict) -> dict:
    return record if isinstance(record, dict) else record.model_dump(mode="json")


class RecordWriter:
    """Write records to JSONL (.jsonl / .jsonl.gz) or Parquet atomically: visible only after `close()`.

    If the block inside `with` raises, the temporary file is deleted and the target is left untouched.
    """

    def __init__(self, path: str | os.PathLike, parquet_batch: int = 2048):
        self.path = Path(path)
        self.count = 0
        self._file: AtomicFile | None = AtomicFile(self.path)
        self._tmp = self._file.tmp
        self._parquet = self.path.suffix == ".parquet"
        self._batch: list[dict] = []
        self._parquet_batch = parquet_batch
        self._pq_writer = None
        if self._parquet:
            self._fh = None
        elif self.path.suffix == ".gz":
            self._fh = io.TextIOWrapper(gzip.open(self._tmp, "wb"), encoding="utf-8")
        else:
            self._fh = open(self._tmp, "w", encoding="utf-8")

    def write(self, record: Record | dict) -> None:
        d = to_dict(record)
        self.count += 1
        try:
            if self._parquet:
                self._batch.append({k: (json.dumps(v, ensure_ascii=False) if k == "meta" else v) for k, v in d.items()})
                if len(self._batch) >= self._parquet_batch:
                    self._flush_parquet()
            else:
                self._fh.write(json.dumps(d, ensure_ascii=False) + "\n")
        except OSError as e:  # disk full / read-only: name the artifact (the temp file is removed on exit)
            raise _named(e, self.path) from e

    def write_all(self, records: Iterable[Record | dict]) -> int:
        for r in records:
            self.write(r)
        return self.count

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._batch:
            return
        table = pa.Table.from_pylist(self._batch)
        if self._pq_writer is None:
            self._pq_writer = pq.ParquetWriter(self._tmp, table.schema)
        self._pq_writer.write_table(table.cast(self._pq_writer.schema))
        self._batch = []

    def close(self, ok: bool = True) -> None:
        if self._file is None:  # closed already
            return
        try:
            self._close_files(ok)
        except OSError as e:  # the last buffered bytes did not fit: publish nothing, name the artifact
            self._abort()
            raise _named(e, self.path) from e
        if ok:
            file, self._file = self._file, None
            file.commit()
        else:
            self._abort()

    def _close_files(self, ok: bool) -> None:
        if self._parquet:
            if ok:
                self._flush_parquet()
            if self._pq_writer is not None:
                self._pq_writer.close()
            elif ok:  # an empty parquet file still needs a schema
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({}), self._tmp)
        else:
            self._fh.close()

    def _abort(self) -> None:
        """Remove the temporary file; the target stays as it was."""
        for handle in (self._fh, self._pq_writer):
            try:
                if handle is not None:
                    handle.close()
            except Exception:  # already failing: the handle's own error is secondary
                pass
        file, self._file = self._file, None
        if file is not None:
            file.discard()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def write_records(path: str | os.PathLike, records: Iterable[Record | dict]) -> int:
    with RecordWriter(path) as w:
        return w.write_all(records)


def meta_from_parquet(obj: dict) -> dict:
    """Parquet stores `meta` as a JSON string (its keys vary per record) and fills absent columns with nulls
    (a file may mix kinds); undo both."""
    obj = {k: v for k, v in obj.items() if v is not None}
    if isinstance(obj.get("meta"), str):
        obj["meta"] = json.loads(obj["meta"])
    return obj
