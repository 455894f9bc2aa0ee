"""One entry point from an input reference to a stream of pairs, whatever the format.

    data/train.jsonl            pair records (.jsonl, .jsonl.gz, .parquet)
    data/corpus.tsv             src<TAB>tgt lines
    data/tatoeba.eng            line-aligned text files: STEM.<src> + STEM.<tgt> (also STEM alone; the codes may
                                be ISO 639-1 `en`/`ar` or 639-3 `eng`/`ara`); `FILE.labels` beside them go to meta
    data/django.po, x.mo        gettext catalogs (msgid -> msgstr)
    data/l10n/                  a directory: every file above inside it, recursively, in sorted order
                                (a directory written by `datasets.save_to_disk` is read as a dataset)
    hf:Helsinki-NLP/opus-100:ar-en@train   a Hugging Face dataset (needs network)
    packages: / packages:django,babel      pairs from catalogs shipped in installed PyPI packages
    NAME=REF                    any of the above, with NAME as the pairs' `meta.source`

Formats that carry no language codes (TSV, text, catalogs, datasets) take `src_lang`/`tgt_lang` from the caller.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterator

from hala.errors import HalaError
from hala.records import RejectLog
from hala.sources.files import (CATALOG_SUFFIXES, RECORD_SUFFIXES, PairRow, aligned_files, aligned_pairs,
                                catalog_pairs, language_suffixes, record_pairs, tsv_pairs)
from hala.sources.hub import hub_pairs

NAMED = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


def split_name(ref: str) -> tuple[str | None, str]:
    m = NAMED.match(ref)
    return (m.group(1), m.group(2)) if m else (None, ref)


def default_name(ref: str) -> str:
    if ref.startswith("hf:"):
        return ref[3:].split("@")[0].replace("/", "_").replace(":", "_")
    if ref.startswith("packages:"):
        return "packages"
    path = Path(ref)
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json", ".parquet", ".tsv"):
        name = name.removesuffix(suffix)
    return name or "input"


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file() \
        or (path / "state.json").is_file()


def _file_pairs(path: Path, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog,
                seen_aligned: set[Path]) -> Iterator[PairRow] | None:
    """Pairs from one file, or None when the file is not a parallel-data file (licence, labels, ...)."""
    suffixes = path.suffixes
    if path.suffix in CATALOG_SUFFIXES:
        return catalog_pairs(path, src_lang, tgt_lang, name, rejects)
    if path.suffix == ".tsv" or suffixes[-2:] == [".tsv", ".gz"]:
        return tsv_pairs(path, src_lang, tgt_lang, name, rejects)
    if path.suffix in RECORD_SUFFIXES or (path.suffix == ".gz" and len(suffixes) > 1
                                          and suffixes[-2] in RECORD_SUFFIXES):
        return record_pairs(str(path), name, rejects)
    if path.suffix in language_suffixes(src_lang) + language_suffixes(tgt_lang):
        found = aligned_files(path, src_lang, tgt_lang)
        if found and found[0] not in seen_aligned:
            seen_aligned.add(found[0])
            return aligned_pairs(*found, src_lang, tgt_lang, name, rejects)
    return None


def iter_pairs(ref: str, src_lang: str = "en", tgt_lang: str = "ar", rejects: RejectLog | None = None,
               files: Counter | None = None) -> Iterator[PairRow]:
    """Stream `(pair, where, line)` from any input reference (see the module docstring).

    `files`, if given, counts the pairs read from each file (for reports).
    """
    rejects = rejects if rejects is not None else RejectLog()
    name, ref = split_name(ref)
    name = name or default_name(ref)
    if ref.startswith("hf:"):
        yield from _counted(hub_pairs(ref, src_lang, tgt_lang, name, rejects), files)
        return
    if ref.startswith("packages:"):
        yield from _counted(_package_pairs(ref, tgt_lang), files)
        return
    path = Path(ref)
    if path.is_dir():
        if _is_saved_dataset(path):
            yield from _counted(hub_pairs(ref, src_lang, tgt_lang, name, rejects), files)
            return
        seen: set[Path] = set()
        found = False
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            stream = _file_pairs(child, src_lang, tgt_lang, name, rejects, seen)
            if stream is not None:
                found = True
                yield from _counted(stream, files)
        if not found:
            raise HalaError(f"{path}: no parallel-data files found (.po/.mo, .tsv, .jsonl/.parquet, or line-aligned "
                            f"STEM{language_suffixes(src_lang)[0]} + STEM{language_suffixes(tgt_lang)[0]})")
        return
    if not path.exists():
        aligned = aligned_files(path, src_lang, tgt_lang)
        if aligned is None:
            raise FileNotFoundError(f"{path}: no such file or directory (nor line-aligned "
                                    f"{path}{language_suffixes(src_lang)[0]} + {path}{language_suffixes(tgt_lang)[0]})")
        yield from _counted(aligned_pairs(*aligned, src_lang, tgt_lang, name, rejects), files)
        return
    stream = _file_pairs(path, src_lang, tgt_lang, name, rejects, set())
    if stream is None:
        raise HalaError(f"{path}: unsupported input (expected .jsonl/.jsonl.gz/.parquet records, .tsv, .po/.mo, "
                        f"line-aligned text files, a directory of those, hf:NAME[:CONFIG][@SPLIT] or packages:)")
    yield from _counted(stream, files)


def _package_pairs(ref: str, tgt_lang: str) -> Iterator[PairRow]:
    from hala.sources.packages import package_pairs

    chosen = [s for s in ref.removeprefix("packages:").split(",") if s] or None
    for pair in package_pairs(tgt_lang, chosen):
        yield pair.model_dump(), ref, None


def _counted(rows: Iterator[PairRow], files: Counter | None) -> Iterator[PairRow]:
    if files is None:
        yield from rows
        return
    for row in rows:
        files[row[1]] += 1
        yield row
