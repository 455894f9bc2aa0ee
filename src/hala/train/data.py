"""Chat-sample records -> the tokenised, labelled dataset SFTTrainer trains on, built once into an on-disk cache.

Why hala builds the dataset instead of letting TRL tokenise `messages` rows: at paper scale (4.5M samples) TRL's
preparation runs in every rank after rank 0 (`main_process_first`, under the 30-minute collective timeout), from
rows every rank first rendered and held in memory. Here:

* records are streamed into Arrow, then validated, rendered, tokenised and labelled by `datasets.map` (batched,
  `num_proc` workers), with vectorised assistant masks (numpy over token offsets);
* the result is saved under a cache key of data (file content) + tokenizer + settings, built by whichever process
  takes a file lock first (no collective, so no barrier timeout) and memory-mapped by every rank and every rerun;
* the rows already carry truncated `labels` (and `length` for length-grouped batches), so TRL's own preparation is
  skipped (`skip_prepare_dataset`), and with `packing` they are packed by TRL's `pack_dataset` (BFD) in the cache.

A record is unusable when it fails validation, has no assistant turn, or the chat template cannot render it (Gemma's
template, for instance, refuses roles that do not alternate): it becomes a reject naming its `file:line`. System
turns a template has no role for are folded into the next user turn first (hala.train.system_turns), and counted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from hala.atomic import read_json, replace_dir, write_json
from hala.errors import InputError
from hala.records import Reject, RejectLog, describe_validation_error, validate
from hala.train import system_turns
from hala.train.masks import (
    Strategy,
    assistant_char_spans,
    encode_with_masks,
    generation_spans,
    token_byte_lengths,
    training_template,
)

DATA_VERSION = 2  # bump when the cached rows change for the same inputs
META = "meta.json"
REJECTS = "rejects.jsonl"
# The reason of a record the chat template refuses to render (the rehearsal's data check looks for it).
TEMPLATE_REFUSED = "chat template cannot render it"
DATASET_DIR = "dataset"

# Tokenizers lent to forked `datasets.map` workers by key (see `_lent_to_workers`).
_LENT_TOKENIZERS: dict[str, object] = {}


class LentTokenizer:
    """Stands for a tokenizer in `datasets.map`'s fn_kwargs when its workers are forked from this process: it
    pickles as a short key, where the tokenizer itself pickles to 28 MB (Gemma-3's 262k vocabulary: 4.1 s to dill
    per worker, serially in the parent, and 1.4 s to load in each worker, measured). A forked worker already holds
    the parent's memory, so it finds the tokenizer by the key."""

    def __init__(self, key: str):
        self.key = key

    def resolve(self):
        return _LENT_TOKENIZERS[self.key]


def _lent_to_workers(tokenizer, workers: int | None):
    """What `encode_batch` gets as its tokenizer: a key where the workers are forked, else the tokenizer itself
    (one process needs no pickling; spawned or forkserver workers start empty and must receive the object)."""
    import multiprocess  # the Pool library datasets runs its map workers with

    if not workers or workers < 2 or multiprocess.get_start_method() != "fork":
        return tokenizer
    key = uuid.uuid4().hex  # one per build: two builds in one process never release each other's tokenizer
    _LENT_TOKENIZERS[key] = tokenizer
    return LentTokenizer(key)


# ---------------------------------------------------------------- cache key
def file_digest(path: str | Path, chunk: int = 1 << 22) -> str:
    """sha256 of the file's bytes (a directory: of every file in it, by relative name); `hf:` refs hash the name."""
    p = Path(str(path))
    h = hashlib.sha256()
    if str(path).startswith("hf:") or not p.exists():
        h.update(str(path).encode())
        return h.hexdigest()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def tokenizer_digest(tokenizer) -> str:
    """What changes token ids or the rendered text: the vocabulary/normaliser (the fast tokenizer's JSON), the chat
    template and the special tokens."""
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    h.update((backend.to_str() if backend is not None else type(tokenizer).__name__).encode())
    h.update(str(tokenizer.chat_template).encode())
    h.update(json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_key(path: str, tokenizer, settings: dict) -> str:
    payload = {
        "version": DATA_VERSION,
        "data": file_digest(path),
        "tokenizer": tokenizer_digest(tokenizer),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def default_cache_root() -> Path:
    from hala.models import hala_home

    return hala_home() / "train-data"


# ---------------------------------------------------------------- per-record work
def parse_record(raw: str) -> tuple[list[dict] | None, str | None, object]:
    """(messages, None, obj) for a usable record, else (None, reason, obj)."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} at column {e.colno}", raw
    if not isinstance(obj, dict):
        return None, f"invalid record: expected a JSON object, got {type(obj).__name__}", obj
    try:
        sample = validate(obj, "chat")
    except ValidationError as e:
        return None, f"invalid record: {describe_validation_error(e)}", obj
    except ValueError as e:
        return None, f"invalid record: {e}", obj
    messages = [m.model_dump() for m in sample.messages]
    if not any(m["role"] == "assistant" for m in messages):
        return None, "no assistant turn: nothing to train on", obj
    return messages, None, obj


def render_with_spans(
    tokenizer, conversations: list[list[dict]], strategy: Strategy, template: str | None
) -> list[tuple[str | None, list, str | None]]:
    """(text, assistant char spans, error) per conversation."""
    out = []
    for messages in conversations:
        try:
            if strategy == "prefix":
                text, spans = assistant_char_spans(tokenizer, messages)
            else:
                text, spans = generation_spans(tokenizer, messages, template)
            out.append((text, spans, None))
        except Exception as e:  # noqa: BLE001 - jinja raise_exception() and template errors have no common base class
            out.append((None, [], f"{TEMPLATE_REFUSED}: {e}"))
    return out


def encode_batch(
    batch: dict, tokenizer, strategy: Strategy, template: str | None, max_length: int, system: str = "keep"
) -> dict:
    """`datasets.map` function (batched): raw JSON lines -> input_ids, labels, length; a reject row keeps its
    reason (and the raw record) and empty token lists, and is dropped when the cache is finalised. `system`: the
    resolved system_turns mode (keep, fold, drop); `system_changed` marks a record whose system turns it changed."""
    if isinstance(tokenizer, LentTokenizer):
        tokenizer = tokenizer.resolve()
    parsed = [parse_record(raw) for raw in batch["raw"]]
    good = [i for i, (m, _, _) in enumerate(parsed) if m is not None]
    changed = [False] * len(parsed)
    conversations = []
    for i in good:
        messages, changed[i] = system_turns.apply(parsed[i][0], system)
        conversations.append(messages)
    rendered = render_with_spans(tokenizer, conversations, strategy, template)
    reasons = [r for _, r, _ in parsed]
    texts, spans_of = {}, {}
    for i, (text, spans, error) in zip(good, rendered):
        if error:
            reasons[i] = error
        else:
            texts[i], spans_of[i] = text, spans
    order = list(texts)
    empty = np.zeros(0, dtype=np.int32)
    ids_out: list = [empty for _ in parsed]
    labels_out: list = [empty for _ in parsed]
    # The Rust tokenizer's own batch call: transformers' wrapper would convert every encoding to Python lists.
    encoded = encode_with_masks(tokenizer.backend_tokenizer, [texts[i] for i in order], [spans_of[i] for i in order])
    for (ids, mask), i in zip(encoded, order):
        ids, mask = ids[:max_length], mask[:max_length]  # TRL's truncation_mode keep_start
        if not mask.any():
            reasons[i] = (
                "no assistant token within max_length" if spans_of[i] else "no assistant token: the template marks none"
            )
            continue
        ids_out[i] = ids
        labels_out[i] = np.where(mask == 1, ids, np.int32(-100))
    return {
        "input_ids": ids_out,
        "labels": labels_out,
        "length": [len(x) for x in ids_out],
        "system_changed": [c and not reasons[i] for i, c in enumerate(changed)],
        "reject": [r or "" for r in reasons],
        "raw_reject": [
            json.dumps(parsed[i][2], ensure_ascii=False, default=str) if reasons[i] else "" for i in range(len(parsed))
        ],
    }


# ---------------------------------------------------------------- reading records into Arrow
def _raw_lines(path: str):
    """{"line", "raw"} for every non-blank line/row: JSONL (.gz) lines as they are, other inputs re-serialised."""
    from hala.records import iter_rows, open_text_lines

    p = Path(path)
    if not path.startswith("hf:") and p.is_file() and p.suffix != ".parquet":
        for lineno, raw in open_text_lines(p):
            if raw.strip():
                yield {"line": lineno, "raw": raw.decode("utf-8", errors="replace")}
        return
    for lineno, obj in iter_rows(path):
        yield {"line": lineno, "raw": json.dumps(obj, ensure_ascii=False, default=str)}


def _features():
    from datasets import Features, Sequence, Value

    return Features(
        {
            "input_ids": Sequence(Value("int32")),
            "labels": Sequence(Value("int32")),
            "length": Value("int32"),
            "system_changed": Value("bool"),
            "reject": Value("string"),
            "raw_reject": Value("string"),
            "line": Value("int64"),
        }
    )


def build(
    path: str,
    tokenizer,
    strategy: Strategy,
    max_length: int,
    packing: bool,
    num_proc: int,
    target: Path,
    template: str | None,
    system: str = "keep",
) -> dict:
    """Build the cache directory `target` (atomically: a temporary sibling renamed into place). `template`: the
    one records are rendered with (`training_template`); `system`: the resolved system_turns mode."""
    import pyarrow.compute as pc
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the map workers are the parallelism
    t0 = time.time()
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        phases: dict[str, float] = {}  # seconds per phase, in the meta: where a slow build spends its time

        def lap(name: str) -> None:
            phases[name] = time.time() - t0 - sum(phases.values())

        raw = Dataset.from_generator(_raw_lines, gen_kwargs={"path": path}, cache_dir=str(tmp / "work"))
        lap("read")
        n_raw = len(raw)
        workers = min(num_proc, max(1, n_raw // 500)) if n_raw else None
        lent = _lent_to_workers(tokenizer, workers)
        token_byte_lengths(tokenizer.backend_tokenizer)  # built once here: forked workers inherit it
        try:
            encoded = raw.map(
                encode_batch,
                batched=True,
                batch_size=500,
                writer_batch_size=500,
                num_proc=workers,
                remove_columns=["raw"],
                features=_features(),
                # The build is keyed by hala's own cache key (`target`), in a fresh directory: without a fingerprint,
                # datasets dill-hashes fn_kwargs to name its cache files, and pickling the tokenizer (262k vocabulary:
                # ~15 s, measured) cost more than tokenising 20,000 records.
                new_fingerprint=f"hala-encode-{target.name}",
                fn_kwargs={
                    "tokenizer": lent,
                    "strategy": strategy,
                    "template": template,
                    "max_length": max_length,
                    "system": system,
                },
            )
        finally:  # the workers have ended: nothing holds the key any more
            _LENT_TOKENIZERS.pop(getattr(lent, "key", None), None)
        lap("encode")
        rejected = encoded.filter(
            lambda r: [bool(x) for x in r], input_columns=["reject"], batched=True, batch_size=10_000
        )
        with RejectLog(tmp / REJECTS) as log:
            for row in rejected.select_columns(["line", "reject", "raw_reject"]):
                log.add(
                    Reject(
                        str(path),
                        row["line"],
                        row["reject"],
                        json.loads(row["raw_reject"])
                        if row["raw_reject"].startswith(("{", "[", '"'))
                        else row["raw_reject"],
                    )
                )
            counts = dict(log.counts)
        kept = encoded.filter(
            lambda r: [not x for x in r], input_columns=["reject"], batched=True, batch_size=10_000
        ).select_columns(["input_ids", "labels", "length"])
        used = len(kept)
        system_changed = pc.sum(encoded.data.column("system_changed")).as_py() or 0  # a column sum, not a row loop
        if packing and used:
            from trl.data_utils import pack_dataset

            # BFD packing keeps whole examples together (no sequence split across rows) and records their
            # boundaries in `seq_lengths`, which TRL's padding-free collator turns into position_ids.
            kept = pack_dataset(kept.select_columns(["input_ids", "labels"]), max_length, "bfd")
            kept = kept.map(lambda b: {"length": [len(x) for x in b]}, input_columns=["input_ids"], batched=True)
        lap("select")  # rejects out (and packing)
        kept.save_to_disk(str(tmp / DATASET_DIR))
        lap("save")
        meta = {
            "source": str(path),
            "records": n_raw,
            "examples": used,
            "rows": len(kept),
            "rejected": sum(counts.values()),
            "reject_counts": counts,
            "strategy": strategy,
            "max_length": max_length,
            "packing": packing,
            "system_turns": system,
            "system_turns_changed": system_changed,
            "num_proc": num_proc,
            "build_seconds": round(time.time() - t0, 2),
            "phase_seconds": {k: round(v, 2) for k, v in phases.items()},
        }
        shutil.rmtree(tmp / "work", ignore_errors=True)
        write_json(tmp / META, meta)
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def prepare_dataset(
    path: str,
    tokenizer,
    strategy: Strategy,
    max_length: int,
    rejects: RejectLog,
    cache_root: Path | None = None,
    packing: bool = False,
    num_proc: int | None = None,
    system_turns_mode: system_turns.SystemTurns = "auto",
):
    """The cached dataset for `path` (built here when absent), its rejects replayed into `rejects`.

    Returns (dataset, meta). Several processes (ranks, or two runs) may call this at once: the first to take the
    lock builds, the others wait for the lock and then memory-map the same files."""
    from datasets import load_from_disk
    from filelock import FileLock

    cache_root = Path(cache_root) if cache_root else default_cache_root()
    cache_root.mkdir(parents=True, exist_ok=True)
    template = training_template(tokenizer, strategy)
    system = system_turns.resolve(system_turns_mode, tokenizer, template)
    settings = {"strategy": strategy, "max_length": max_length, "packing": packing, "system_turns": system}
    key = cache_key(str(path), tokenizer, settings)
    target = cache_root / key[:24]
    if not (target / META).exists():
        with FileLock(str(target) + ".lock"):
            if not (target / META).exists():
                build(
                    str(path),
                    tokenizer,
                    strategy,
                    max_length,
                    packing,
                    num_proc or os.cpu_count() or 1,
                    target,
                    template,
                    system,
                )
    meta = read_json(target / META)
    meta["cache_dir"] = str(target)
    if (target / REJECTS).exists():
        with open(target / REJECTS, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                rejects.add(Reject(r.get("source", str(path)), r.get("line"), r["reason"], r.get("raw")))
    if meta["examples"] == 0:
        raise InputError(
            f"{path}: no usable chat samples ({meta['rejected']} rejected: "
            f"{', '.join(f'{k} x{v}' for k, v in meta['reject_counts'].items()) or 'file is empty'})"
        )
    return load_from_disk(str(target / DATASET_DIR)), meta
