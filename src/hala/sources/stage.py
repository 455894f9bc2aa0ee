"""The `data.packages` recipe stage: write the package-derived pairs to `pairs.jsonl`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hala.records import write_records
from hala.sources.packages import package_pairs


class PackagePairsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tgt_lang: str = "ar"
    sources: list[str] | None = None  # default: all package sources
    limit: int | None = None  # keep the first N pairs (deterministic order)


def run(config: PackagePairsConfig, out_dir: Path) -> dict:
    counts: dict[str, int] = {}
    pairs = package_pairs(config.tgt_lang, config.sources, counts)
    if config.limit is not None:
        pairs = (p for i, p in zip(range(config.limit), pairs))
    n = write_records(Path(out_dir) / "pairs.jsonl", pairs)
    return {"outputs": {"pairs": "pairs.jsonl"}, "metrics": {"pairs": n, "per_source": counts}}
