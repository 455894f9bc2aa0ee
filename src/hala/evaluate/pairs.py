"""Parallel text for translation evaluation, from any of the formats people keep it in.

`load_bitext(source, columns)` returns rows `{lang: text}`; `orient(rows, src, tgt)` turns them into the source
sentences and references of one direction, so one file serves both directions. Accepted sources:

* line-aligned text files: a prefix `PATH/name` with `PATH/name.en` and `PATH/name.ar` beside it (Moses /
  sacrebleu style), or a directory holding exactly one such pair;
* `.tsv`: two columns; their languages come from a header line like `en<TAB>ar`, else from `columns`;
* `.jsonl` / `.jsonl.gz` / `.parquet`: hala `Pair` records (docs/RECORDS.md), or rows `{"translation": {"en":
  ..., "ar": ...}}` (the WMT layout on the Hugging Face hub), or rows with one column per language code;
* `hf:NAME[:CONFIG][@SPLIT]` (online) or a directory written by `datasets.save_to_disk`, with the same row layouts;
* in Python, a list of `Pair`s, dicts of those layouts, or `(src, tgt)` tuples (taken as `columns`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from hala.records import Pair, iter_rows

Bitext = list[dict[str, str]]
_LANG = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]+)?$")


def load_bitext(source: str | Path | list, columns: tuple[str, str]) -> Bitext:
    if isinstance(source, list):
        return [_row(x, columns, f"pairs[{i}]") for i, x in enumerate(source)]
    s = str(source)
    if s.startswith("hf:") or _is_saved_dataset(Path(s)):
        return [_row(obj, columns, f"{s} row {n}") for n, obj in iter_rows(s)]
    path = Path(s)
    if path.is_dir():
        return _text_files(_find_prefix(path, columns), columns)
    if path.suffix == ".tsv":
        return _tsv(path, columns)
    if path.exists():
        return [_row(obj, columns, f"{path}:{n}") for n, obj in iter_rows(path)]
    if all(path.with_name(f"{path.name}.{lang}").exists() for lang in columns):
        return _text_files(path, columns)
    raise FileNotFoundError(f"{s}: not a file, dataset, or prefix of line-aligned files "
                            f"{s}.{columns[0]} / {s}.{columns[1]}")


def orient(rows: Bitext, src_lang: str, tgt_lang: str, where: str = "") -> tuple[list[str], list[str]]:
    """Source sentences and references for `src_lang` → `tgt_lang`; rows lacking either language are an error."""
    missing = [i for i, r in enumerate(rows) if src_lang not in r or tgt_lang not in r]
    if missing:
        have = sorted({k for r in rows[:50] for k in r})
        raise ValueError(f"{where or 'pairs'}: {len(missing)} of {len(rows)} rows have no {src_lang}/{tgt_lang} "
                         f"text (first: row {missing[0] + 1}; languages present: {', '.join(have)})")
    return [r[src_lang] for r in rows], [r[tgt_lang] for r in rows]


def _is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json", "state.json"))


def _row(obj: Any, columns: tuple[str, str], where: str) -> dict[str, str]:
    if isinstance(obj, Pair):
        return {obj.src_lang: obj.src, obj.tgt_lang: obj.tgt}
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return {columns[0]: str(obj[0]), columns[1]: str(obj[1])}
    if isinstance(obj, dict):
        if isinstance(obj.get("translation"), dict):
            return {k.lower(): v for k, v in obj["translation"].items()}
        if "src" in obj and "tgt" in obj:
            return {str(obj.get("src_lang", columns[0])).lower(): obj["src"],
                    str(obj.get("tgt_lang", columns[1])).lower(): obj["tgt"]}
        by_lang = {k.lower(): v for k, v in obj.items() if isinstance(v, str) and _LANG.match(k.lower())}
        if len(by_lang) >= 2:
            return by_lang
    raise ValueError(f"{where}: not a translation pair (expected a Pair record, {{'translation': {{lang: text}}}}, "
                     f"columns named by language code, or a (src, tgt) tuple)")


def _find_prefix(directory: Path, columns: tuple[str, str]) -> Path:
    stems = [f.with_suffix("") for f in sorted(directory.glob(f"*.{columns[0]}"))
             if f.with_suffix(f".{columns[1]}").exists()]
    if len(stems) != 1:
        found = ", ".join(s.name for s in stems) or "none"
        raise ValueError(f"{directory}: expected exactly one pair of line-aligned files NAME.{columns[0]} / "
                         f"NAME.{columns[1]}, found {found}; pass the prefix PATH/NAME instead")
    return stems[0]


def _lines(path: Path) -> list[str]:
    # Strip only the line break: inner and trailing spaces belong to the sentence.
    with open(path, encoding="utf-8", newline="") as fh:
        return [line.rstrip("\r\n") for line in fh]


def _text_files(prefix: Path, columns: tuple[str, str]) -> Bitext:
    files = [prefix.with_name(f"{prefix.name}.{lang}") for lang in columns]
    a, b = (_lines(f) for f in files)
    if len(a) != len(b):
        raise ValueError(f"{files[0]} has {len(a)} lines but {files[1]} has {len(b)}: they must be line-aligned")
    return [{columns[0]: x, columns[1]: y} for x, y in zip(a, b)]


def _tsv(path: Path, columns: tuple[str, str]) -> Bitext:
    lines = _lines(path)
    head = lines[0].split("\t") if lines else []
    first = 1
    if len(head) == 2 and all(_LANG.match(h.strip()) for h in head):
        columns, first = (head[0].strip(), head[1].strip()), 2
    rows = []
    for n, line in enumerate(lines[first - 1:], start=first):
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(f"{path}:{n}: expected 2 tab-separated columns, found {len(fields)}")
        rows.append({columns[0]: fields[0], columns[1]: fields[1]})
    return rows


def texts(lines: Iterable[str] | str | Path) -> list[str]:
    """Hypotheses or references given as a list, or as a file with one sentence per line."""
    if isinstance(lines, (str, Path)):
        return _lines(Path(lines))
    return list(lines)
