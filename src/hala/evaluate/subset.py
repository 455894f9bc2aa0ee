"""`limit`: evaluate on N items spread evenly over a set, not its first N.

Benchmark files are usually sorted (MMLU by subject, ACVA by country, TICO-19 by source document), so the first N
items measure one topic. Evenly spaced indices are deterministic, include item 0, and cover the whole set.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

from hala.errors import ConfigError

T = TypeVar("T")


def spread_indices(total: int, limit: int | None) -> list[int]:
    if limit is None or limit >= total:
        return list(range(total))
    if limit <= 0:
        raise ConfigError(f"limit must be positive, got {limit}")
    return [i * total // limit for i in range(limit)]


def spread(items: Sequence[T], limit: int | None) -> list[T]:
    return [items[i] for i in spread_indices(len(items), limit)]
