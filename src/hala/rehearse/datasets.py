"""Fixtures for the hub datasets the paper recipes read: a few rows each, in the dataset's real schema.

Each `fixtures/<org>__<name>.json` holds `hub_id`, `schema_source` (where the columns and nesting were read) and
`configs: {CONFIG: {SPLIT: [rows]}}`. They are written to disk once (cached under HALA_HOME, keyed by content):

* `hf:NAME[:CONFIG][@SPLIT]` (data.chat, filter, translate inputs) -> `HALA_HOME/rehearse/datasets/hub/...`, one
  `datasets` `save_to_disk` Dataset per config and split, so a stage reads the rows through the same `datasets`
  loader code as hub rows (same objects, same column types);
* a benchmark read per subset (the OALL-v2 tasks) -> a local mirror `.../mcq/<org>__<name>/<SUBSET>/`, one
  directory of `<split>.jsonl` files per subset, which `hala.evaluate.tasks` reads when the task is bound to the
  mirror directory (`NAME=DIR`).
  Config `*` gives the rows of every subset; subset number i keeps the first 1 + (i mod n) rows of each split, so
  subsets differ in size and a pooled (micro) average differs from the per-subset (macro) one, as on the real sets.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from filelock import FileLock

from hala.atomic import atomic_dir
from hala.errors import HalaError
from hala.models import hala_home
from hala.rehearse.specs import shipped_specs


@lru_cache(maxsize=1)
def fixtures() -> dict[str, dict]:
    """hub id -> shipped dataset fixture (with its file name under `file`)."""
    return shipped_specs("fixtures")


def fixture_strings() -> list[str]:
    """Every string in the fixtures (the tiny tokenizer is trained on them)."""
    found: list[str] = []

    def walk(v) -> None:
        if isinstance(v, str):
            found.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for spec in fixtures().values():
        walk(spec["configs"])
    return found


def parse_hf_ref(ref: str) -> tuple[str, str | None, str]:
    spec, _, split = ref[3:].partition("@")
    name, _, config = spec.partition(":")
    return name, config or None, split or "train"


def _root() -> Path:
    return hala_home() / "rehearse" / "datasets"


def _digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:10]


def _spec(name: str, ref: str) -> dict:
    if name not in fixtures():
        raise HalaError(
            f"no rehearsal fixture for dataset '{ref}': add src/hala/rehearse/fixtures/"
            f"{name.replace('/', '__')}.json with a few rows in its real schema "
            f"(fixtures: {', '.join(sorted(fixtures()))})"
        )
    return fixtures()[name]


def _saved(target: Path, build) -> Path:
    if (target / ".done").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / ".done").exists():
            with atomic_dir(target) as tmp:
                build(tmp)
                (tmp / ".done").write_text("")
    return target


def hub_fixture(ref: str) -> Path:
    """The saved-dataset directory standing in for `hf:NAME[:CONFIG][@SPLIT]`."""
    import datasets

    name, config, split = parse_hf_ref(ref)
    spec = _spec(name, ref)
    configs = spec["configs"]
    key = config or ("default" if "default" in configs else next(iter(configs)))
    if key not in configs and "*" not in configs:
        raise HalaError(f"rehearsal fixture {spec['file']} has no config '{key}' (has: {', '.join(configs)})")
    rows = configs.get(key, configs.get("*", {})).get(split)
    if rows is None:
        raise HalaError(f"rehearsal fixture {spec['file']} has no split '{split}' in config '{key}'")
    target = _root() / "hub" / f"{spec['file'][:-5]}-{_digest(spec)}" / key / split
    datasets.disable_progress_bars()
    return _saved(target, lambda tmp: datasets.Dataset.from_list(rows).save_to_disk(str(tmp)))


def subset_mirror(repo: str, subsets: list[str]) -> Path:
    """A local mirror of a per-subset benchmark: `DIR/<SUBSET>/` is a saved DatasetDict of that subset's splits."""
    spec = _spec(repo, f"hf:{repo}")
    configs = spec["configs"]

    def build(tmp: Path) -> None:
        # JSONL per split rather than save_to_disk: the OALL-v2 suite has 117 subsets, and the rows reach the
        # loaders as the same dicts either way (hala.evaluate.loaders reads one row at a time).
        for i, subset in enumerate(subsets or ["default"]):
            splits = configs.get(subset) or configs.get("*")
            if splits is None:
                raise HalaError(f"rehearsal fixture {spec['file']} has no rows for subset '{subset}'")
            (tmp / subset).mkdir(parents=True)
            for split, rows in splits.items():
                keep = rows if subset in configs else rows[: 1 + i % len(rows)]
                (tmp / subset / f"{split}.jsonl").write_text(
                    "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep), encoding="utf-8"
                )

    digest = _digest({"spec": spec, "subsets": subsets})
    return _saved(_root() / "mcq" / f"{spec['file'][:-5]}-{digest}", build)
