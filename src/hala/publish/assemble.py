"""Assemble the folder a repository gets: a model (safetensors weights, config, tokenizer, chat template) or a
dataset (Parquet shards under data/ that `datasets.load_dataset(folder)` loads), plus the card, the recipe and
`hala_provenance.json`."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

from hala.errors import HalaError
from hala.publish.rundir import Run, StageInfo, short, shorten

# What a model repository gets from a model directory: weights as safetensors only, configs, tokenizer files and
# the chat template. Pickled weights and code are never published (safetensors only, no remote code).
MODEL_SUFFIXES = {".safetensors", ".json", ".jinja", ".model", ".txt", ".tiktoken", ".yml", ".yaml"}
UNSAFE_WEIGHTS = {".bin", ".pt", ".pth", ".pkl", ".ckpt", ".pickle"}
LOCAL_ONLY = {"hala_model.json", "hala_merge.json", "training_args.json"}  # machine paths, per-tensor detail
SHARD_RECORDS = 100_000


def _place(src: Path, dst: Path) -> None:
    # A hard link costs no disk for a 9B model's weights, and is safe: stages replace files by rename, never
    # rewrite them in place. Another file system (or no link support) falls back to a copy.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def add_model(run: Run, model_dir: Path, out: Path) -> list[str]:
    names = sorted(p.name for p in model_dir.iterdir() if p.is_file())
    if not any(n.endswith(".safetensors") for n in names):
        unsafe = [n for n in names if Path(n).suffix in UNSAFE_WEIGHTS]
        raise HalaError(
            f"{model_dir}: no .safetensors weights"
            + (f" (only {', '.join(unsafe)}: pickled weights are never published)" if unsafe else "")
        )
    placed = []
    for name in names:
        if Path(name).suffix not in MODEL_SUFFIXES or name in LOCAL_ONLY:
            continue
        if name == "mergekit_config.yml":  # the same merge, with this machine's paths shortened
            (out / name).write_text(short(run, (model_dir / name).read_text(encoding="utf-8")), encoding="utf-8")
        else:
            _place(model_dir / name, out / name)
        placed.append(name)
    return placed


def has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))


def count_rows(path: Path) -> int:
    from hala.records import iter_rows

    return sum(1 for _ in iter_rows(path))


def add_dataset(splits: dict[str, Path], out: Path, shard_records: int = SHARD_RECORDS) -> tuple[dict, dict, str]:
    """Write each split as Parquet shards `data/<split>-NNNNN-of-NNNNN.parquet` (hala's record schema, `meta` as
    a JSON string as everywhere in hala); returns (records per split, column -> type, record kind)."""
    import pyarrow.parquet as pq

    from hala.records import RecordWriter, detect_kind, iter_rows

    (out / "data").mkdir(parents=True, exist_ok=True)
    counts, kinds = {}, Counter()
    for split, path in splits.items():
        n = count_rows(path)
        shards = max(1, -(-n // shard_records))
        rows = iter_rows(path)
        for k in range(shards):
            with RecordWriter(out / "data" / f"{split}-{k:05d}-of-{shards:05d}.parquet") as w:
                for _, row in rows:
                    kinds[detect_kind(row) or "table"] += 1
                    w.write(row)
                    if w.count >= shard_records:
                        break
        counts[split] = n
    first = sorted((out / "data").glob("*.parquet"))[0]
    schema = pq.read_schema(first)
    columns = {name: str(schema.field(name).type) for name in schema.names}
    if len(kinds) > 1:
        raise HalaError(f"the dataset mixes record kinds ({dict(kinds)}); publish one kind per repository")
    return counts, columns, next(iter(kinds), "table")


def span_stats(splits: dict[str, Path]) -> dict:
    """Protected spans (code, math, URLs, placeholders, markup) in the originals of translated records, and how
    many of them the published translation holds byte-exact."""
    import json as _json

    from hala.records import iter_rows
    from hala.translate.segment import protected_spans

    found, kept, records = Counter(), Counter(), 0
    for path in splits.values():
        for _, row in iter_rows(path):
            meta = row.get("meta")
            meta = _json.loads(meta) if isinstance(meta, str) else meta or {}
            original = meta.get("original") if isinstance(meta, dict) else None
            if not isinstance(original, dict) or "translation" not in meta:
                continue
            records += 1
            for before, after in _text_pairs(row, original):
                for span in protected_spans(before):
                    found[span.kind] += 1
                    kept[span.kind] += span.text in after
    return {"records": records, "found": dict(found), "kept": dict(kept)}


def _text_pairs(row: dict, original: dict) -> list[tuple[str, str]]:
    if "messages" in original and isinstance(row.get("messages"), list):
        return [
            (a.get("content") or "", b.get("content") or "")
            for a, b in zip(original["messages"], row["messages"])
            if a.get("content") != b.get("content")
        ]
    if "tgt" in original:  # a translated pair: the source side is what was translated
        return [(str(row.get("src") or ""), str(row.get("tgt") or ""))]
    return [(str(v), str(row.get(k) or "")) for k, v in original.items() if isinstance(v, str)]


def provenance(run: Run, stage: StageInfo, lineage, findings, rows, overridden: list[str]) -> dict:
    m = run.manifest
    return shorten(
        run,
        {
            "recipe": run.recipe,
            "recipe_sha256": m.get("recipe_sha256"),
            "versions": m.get("versions"),
            "stage": {"name": stage.name, "type": stage.type, "key": stage.key},
            "lineage": [
                {
                    "name": s.name,
                    "type": s.type,
                    "key": s.key,
                    "deps": s.deps,
                    "config": s.config,
                    "metrics": s.metrics,
                    "seconds": s.seconds,
                }
                for s in lineage.stages
            ],
            "inputs": [
                {
                    "what": f.what,
                    "kind": f.kind,
                    "role": f.role,
                    "stage": f.stage,
                    "licences": dict(f.licences),
                    "licence_source": f.source,
                    "records": f.records,
                    "sources": dict(f.sources),
                    "hub_id": f.hub_id,
                }
                for f in findings
            ],
            "evaluations": [vars(r) for r in rows],
            "licence_check_overridden": overridden,
        },
    )


def add_recipe(run: Run, out: Path) -> bool:
    """Copy the run's recipe file, when it is still the one the run was made with (same sha256)."""
    import hashlib

    recipe = run.manifest.get("recipe_file")
    if not recipe or not Path(recipe).is_file():
        return False
    data = Path(recipe).read_bytes()
    if hashlib.sha256(data).hexdigest() != run.manifest.get("recipe_sha256"):
        return False  # edited since the run: it would describe another run
    (out / "hala_recipe.yaml").write_bytes(data)
    return True
