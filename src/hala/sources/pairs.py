"""One entry point from an input reference to a stream of pairs, whatever the format: the reader of `hala filter`,
`hala corpus` and `hala eval translation` (formats and the bad-input rule: docs/RECORDS.md).

    data/train.jsonl            pair records (.jsonl, .jsonl.gz, .parquet); also rows {"translation": {...}} or
                                one column per language
    data/corpus.tsv             src<TAB>tgt lines (a first line src<TAB>tgt, en<TAB>ar or ar<TAB>en is a header)
    data/tatoeba.eng            line-aligned text files: STEM.<src> + STEM.<tgt> (also STEM alone; the codes may
                                be ISO 639-1 `en`/`ar` or 639-3 `eng`/`ara`); `FILE.labels` beside them go to meta
    data/django.po, x.mo        gettext catalogs (msgid -> msgstr)
    data/l10n/                  a directory: every file above inside it, recursively, in sorted order
                                (a directory written by `datasets.save_to_disk` is read as a dataset)
    hf:Helsinki-NLP/opus-100:ar-en@train   a Hugging Face dataset (needs network)
    packages: / packages:django,babel      pairs from catalogs shipped in installed PyPI packages
    NAME=REF                    any of the above, with NAME as the pairs' `meta.source`

Formats that carry no language codes (TSV, text, catalogs, datasets) take `src_lang`/`tgt_lang` from the caller.
In Python, `object_pairs` reads a list of `Pair`s, dicts in those row layouts or `(src, tgt)` tuples the same way.
"""

from __future__ import annotations

import errno
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hala.errors import InputError
from hala.records import Pair, PairRow, Reject, RejectLog
from hala.sources.files import (
    CATALOG_SUFFIXES,
    RECORD_SUFFIXES,
    aligned_files,
    aligned_pairs,
    catalog_pairs,
    language_suffixes,
    make_pair,
    record_pairs,
    row_to_pair,
    tsv_pairs,
)
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
    return (
        (path / "dataset_info.json").is_file()
        or (path / "dataset_dict.json").is_file()
        or (path / "state.json").is_file()
    )


def _file_pairs(
    path: Path, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog, seen_aligned: set[Path]
) -> Iterator[PairRow] | None:
    """Pairs from one file, or None when the file is not a parallel-data file (licence, labels, ...)."""
    suffixes = path.suffixes
    if path.suffix in CATALOG_SUFFIXES:
        return catalog_pairs(path, src_lang, tgt_lang, name, rejects)
    if path.suffix == ".tsv" or suffixes[-2:] == [".tsv", ".gz"]:
        return tsv_pairs(path, src_lang, tgt_lang, name, rejects)
    if path.suffix in RECORD_SUFFIXES or (
        path.suffix == ".gz" and len(suffixes) > 1 and suffixes[-2] in RECORD_SUFFIXES
    ):
        return record_pairs(str(path), src_lang, tgt_lang, name, rejects)
    if path.suffix in language_suffixes(src_lang) + language_suffixes(tgt_lang):
        found = aligned_files(path, src_lang, tgt_lang)
        if found and found[0] not in seen_aligned:
            seen_aligned.add(found[0])
            return aligned_pairs(*found, src_lang, tgt_lang, name, rejects)
    return None


def iter_pairs(
    ref: str, src_lang: str = "en", tgt_lang: str = "ar", rejects: RejectLog | None = None, files: Counter | None = None
) -> Iterator[PairRow]:
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
            raise InputError(
                f"{path}: no parallel-data files found (.po/.mo, .tsv, .jsonl/.parquet, or line-aligned "
                f"STEM{language_suffixes(src_lang)[0]} + STEM{language_suffixes(tgt_lang)[0]})"
            )
        return
    if not path.exists():
        aligned = aligned_files(path, src_lang, tgt_lang)
        if aligned is None:
            # errno and file name: the CLI prints an OSError naming a file as one line (hala.errors)
            raise FileNotFoundError(
                errno.ENOENT,
                f"no such file or directory (nor line-aligned "
                f"{path}{language_suffixes(src_lang)[0]} + {path}{language_suffixes(tgt_lang)[0]})",
                str(path),
            )
        yield from _counted(aligned_pairs(*aligned, src_lang, tgt_lang, name, rejects), files)
        return
    stream = _file_pairs(path, src_lang, tgt_lang, name, rejects, set())
    if stream is None:
        raise InputError(
            f"{path}: unsupported input (expected .jsonl/.jsonl.gz/.parquet records, .tsv, .po/.mo, "
            f"line-aligned text files, a directory of those, hf:NAME[:CONFIG][@SPLIT] or packages:)"
        )
    yield from _counted(stream, files)


def object_pairs(
    items: Iterable[Any],
    src_lang: str = "en",
    tgt_lang: str = "ar",
    rejects: RejectLog | None = None,
    name: str = "pairs",
) -> Iterator[PairRow]:
    """`iter_pairs` for pairs given in Python: `Pair`s, dicts in any row layout, or `(src, tgt)` tuples (taken as
    `src_lang` -> `tgt_lang`); an item that is none of these is a reject `pairs:N: reason` (N counts from 1)."""
    rejects = rejects if rejects is not None else RejectLog()
    for n, item in enumerate(items, start=1):
        pid = f"{name}:{n}"
        if isinstance(item, Pair):
            yield item.model_dump(), name, n
            continue
        if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            yield make_pair(pid, item[0], item[1], src_lang, tgt_lang, {"source": name, "row": n}), name, n
            continue
        if isinstance(item, dict):
            pair, why = row_to_pair(item, src_lang, tgt_lang, pid, {"source": name, "row": n})
        else:
            pair, why = (
                None,
                (f"not a pair: {type(item).__name__} (expected a Pair, a dict in a pair layout or a (src, tgt) tuple)"),
            )
        if pair is None:
            rejects.add(Reject(name, n, why, item if isinstance(item, dict) else repr(item)[:200]))
            continue
        yield pair, name, n


def orient(pair: dict, src_lang: str, tgt_lang: str) -> tuple[str, str] | None:
    """The pair's (`src_lang` text, `tgt_lang` text), reading it backwards if need be; None for other languages.

    One file serves both directions: evaluation reads an en->ar file for ar->en, the corpus stage builds both."""
    langs = (pair["src_lang"], pair["tgt_lang"])
    if langs == (src_lang, tgt_lang):
        return pair["src"], pair["tgt"]
    if langs == (tgt_lang, src_lang):
        return pair["tgt"], pair["src"]
    return None


def wrong_languages(pair: dict, src_lang: str, tgt_lang: str) -> str:
    """The reject reason for a pair `orient` cannot turn into `src_lang` -> `tgt_lang`."""
    return f"language pair: {pair['src_lang']}-{pair['tgt_lang']} is not {src_lang}-{tgt_lang} in either direction"


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
