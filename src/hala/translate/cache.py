"""Dedup cache: each distinct source segment is translated once per model and settings, persisted in SQLite.

The key is a hash of the run's fingerprint (engine, model, template, languages, decoding settings) and the
model-facing segment text (protected spans already replaced by placeholders, so "Run [1]." is shared by every
record whose command differs). Rejected segments are cached with their reason too, so a resume never pays for
them twice. Rows are written one transaction per batch: after a `kill -9` a batch is either all there or absent.
`shard` records which output shard first produced a row (the runner uses it to rebuild identical batches).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    output: str  # model output with placeholders (the rejected output when `reason` is set)
    reason: str | None  # None when accepted
    tokens: int
    shard: int


def fingerprint(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Bound parameters per query: SQLite before 3.32 allows 999.
_MAX_PARAMS = 512


def _padded(keys: list[str]) -> list[str]:
    """`keys` padded to a power of two by repeating the first (IN ignores repeats). The connection keeps one
    prepared statement per distinct SQL text (128 by default, tens of KB each with hundreds of parameters): one
    text per batch size seen grew the process by ~7 MB over the first 20k records; padded, there are at most 10."""
    size = 1 << (len(keys) - 1).bit_length()
    return keys + keys[:1] * (size - len(keys))


class Cache:
    def __init__(self, path: str | Path = ":memory:", fingerprint: str = ""):
        self.fingerprint = fingerprint
        self.db = sqlite3.connect(str(path))
        if str(path) != ":memory:":
            # WAL survives a killed process (not a power cut) without an fsync per commit.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS segments (key TEXT PRIMARY KEY, source TEXT, output TEXT, "
            "reason TEXT, tokens INTEGER, shard INTEGER)"
        )

    def key(self, source: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}\x1f{source}".encode()).hexdigest()

    def get_many(self, sources: list[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        keys = {self.key(s): s for s in sources}
        items = list(keys)
        for i in range(0, len(items), _MAX_PARAMS):
            chunk = _padded(items[i : i + _MAX_PARAMS])
            rows = self.db.execute(
                f"SELECT key, output, reason, tokens, shard FROM segments WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for key, output, reason, tokens, shard in rows:
                found[keys[key]] = Entry(output, reason, tokens, shard)
        return found

    def put_many(self, entries: dict[str, Entry]) -> None:
        with self.db:  # one transaction
            self.db.executemany(
                "INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?, ?, ?)",
                [(self.key(s), s, e.output, e.reason, e.tokens, e.shard) for s, e in entries.items()],
            )

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]

    def close(self) -> None:
        self.db.close()
