"""Parallel pairs from local files: TSV, line-aligned text files, record files (JSONL/Parquet), gettext catalogs.

Every reader yields a `PairRow` `(pair, where, line)`: `pair` a plain dict in the `Pair` schema of hala.records
(no pydantic object per pair: the filter stage streams millions of them), `where`/`line` the location used in
reject messages. Lines that cannot be read (bad UTF-8, wrong column count, invalid record) become rejects
`file:line: reason`; a broken alignment between two text files is an error, because every later pair would be
wrong. The accepted formats are documented once, in docs/RECORDS.md.
"""

from __future__ import annotations

import functools
import gzip
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from hala.errors import InputError
from hala.records import (
    PairRow,
    Reject,
    RejectLog,
    describe_validation_error,
    iter_rows,
    validate,
)
from hala.sources.catalogs import pairs_from_catalog

PAIR_KEYS = {"id", "src", "tgt", "src_lang", "tgt_lang", "meta"}
CATALOG_SUFFIXES = {".po", ".mo"}
RECORD_SUFFIXES = {".jsonl", ".ndjson", ".json", ".parquet"}


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _decode(raw: bytes, where: str, lineno: int, rejects: RejectLog) -> str | None:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        rejects.add(
            Reject(
                where,
                lineno,
                f"not UTF-8: byte {raw[e.start]:#04x} at column {e.start + 1}",
                raw.decode("utf-8", errors="replace").rstrip("\r\n"),
            )
        )
        return None


def make_pair(pid: str, src: str, tgt: str, src_lang: str, tgt_lang: str, meta: dict) -> dict:
    return {"id": pid, "src": src, "tgt": tgt, "src_lang": src_lang, "tgt_lang": tgt_lang, "meta": meta}


# ------------------------------------------------------------------------------------------------------- TSV
def tsv_header(cols: list[str], src_lang: str, tgt_lang: str) -> bool | None:
    """Whether a first TSV line is a header: `src<TAB>tgt` or the two languages' codes (`en`/`eng`), in either
    order. False: a header in source-target order; True: it names the target first (swap the columns); None: data.

    Only the caller's two languages count: any pair of short words (`yes<TAB>oui`) would look like language codes."""
    names = [c.strip().lower() for c in cols]
    if names == ["src", "tgt"]:
        return False
    if len(names) != 2:
        return None
    src_codes, tgt_codes = ({s[1:] for s in language_suffixes(lang)} for lang in (src_lang, tgt_lang))
    if names[0] in src_codes and names[1] in tgt_codes:
        return False
    if names[0] in tgt_codes and names[1] in src_codes:
        return True
    return None


def tsv_pairs(path: Path, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog) -> Iterator[PairRow]:
    """`src<TAB>tgt` per line; a first line `src<TAB>tgt` or `en<TAB>ar` / `ar<TAB>en` is a header (see
    `tsv_header`); blank lines are skipped; a line with another number of columns is a reject."""
    where = str(path)
    swap = False
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = _decode(raw, where, lineno, rejects)
            if line is None or not line.strip():
                continue
            cols = line.split("\t")
            if lineno == 1 and (header := tsv_header(cols, src_lang, tgt_lang)) is not None:
                swap = header
                continue
            if len(cols) != 2:
                rejects.add(
                    Reject(where, lineno, f"invalid TSV line: expected 2 tab-separated columns, got {len(cols)}", line)
                )
                continue
            src, tgt = (cols[1], cols[0]) if swap else (cols[0], cols[1])
            yield (
                make_pair(
                    f"{name}:{lineno}",
                    src,
                    tgt,
                    src_lang,
                    tgt_lang,
                    {"source": name, "file": path.name, "line": lineno},
                ),
                where,
                lineno,
            )


# ------------------------------------------------------------------------------------------- aligned text
@functools.cache
def language_suffixes(lang: str) -> tuple[str, ...]:
    """File suffixes a language's side may use: `ar` and its ISO 639-3 code `ara` (via pycountry)."""
    import pycountry

    found = pycountry.languages.get(alpha_2=lang) if len(lang) == 2 else None
    codes = [lang] + ([found.alpha_3] if found is not None and found.alpha_3 != lang else [])
    return tuple(f".{c}" for c in codes)


def aligned_files(path: Path, src_lang: str, tgt_lang: str) -> tuple[Path, Path] | None:
    """For `STEM`, `STEM.<src>` or `STEM.<tgt>`: the two line-aligned files, if both exist."""
    src_sfx, tgt_sfx = language_suffixes(src_lang), language_suffixes(tgt_lang)
    stem = path.with_suffix("") if path.suffix in src_sfx + tgt_sfx else path
    for a, b in itertools.product(src_sfx, tgt_sfx):
        src, tgt = stem.with_name(stem.name + a), stem.with_name(stem.name + b)
        if src.is_file() and tgt.is_file():
            return src, tgt
    return None


def _labels(path: Path) -> Iterator[str | None]:
    """Tatoeba-style `FILE.labels` beside a text file: one language/dialect code per line (else None forever)."""
    labels = path.with_name(path.name + ".labels")
    if not labels.is_file():
        return itertools.repeat(None)
    # errors="replace": a label line that is not UTF-8 must not abort reading the text files it annotates.
    return (line.strip() for line in labels.open(encoding="utf-8", errors="replace"))


def aligned_pairs(
    src_path: Path, tgt_path: Path, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog
) -> Iterator[PairRow]:
    """Line i of `src_path` translates line i of `tgt_path`; only the newline is stripped."""
    where = str(src_path)
    with _open_binary(src_path) as fs, _open_binary(tgt_path) as ft:
        src_labels, tgt_labels = _labels(src_path), _labels(tgt_path)
        for lineno, (a, b) in enumerate(itertools.zip_longest(fs, ft), start=1):
            if a is None or b is None:
                short, long_ = (src_path, tgt_path) if a is None else (tgt_path, src_path)
                raise InputError(
                    f"{short} has {lineno - 1} lines but {long_} has more: line-aligned files must "
                    f"have the same number of lines"
                )
            src, tgt = _decode(a, where, lineno, rejects), _decode(b, str(tgt_path), lineno, rejects)
            la, lb = next(src_labels, None), next(tgt_labels, None)
            if src is None or tgt is None:
                continue
            meta = {"source": name, "file": src_path.name, "line": lineno}
            if la is not None or lb is not None:
                meta["labels"] = {"src": la, "tgt": lb}
            yield make_pair(f"{name}:{lineno}", src, tgt, src_lang, tgt_lang, meta), where, lineno


# ----------------------------------------------------------------------------------------- record files
def fast_pair(obj: dict) -> dict | None:
    """`obj` if it is a valid pair record (checked by hand: pydantic per row costs more than the filters)."""
    src_lang, tgt_lang, meta = obj.get("src_lang"), obj.get("tgt_lang"), obj.get("meta", {})
    if (
        obj.keys() <= PAIR_KEYS
        and type(obj.get("id")) is str
        and obj["id"]
        and type(obj.get("src")) is str
        and type(obj.get("tgt")) is str
        and type(src_lang) is str
        and len(src_lang) >= 2
        and type(tgt_lang) is str
        and len(tgt_lang) >= 2
        and type(meta) is dict
    ):
        obj["src_lang"], obj["tgt_lang"], obj["meta"] = src_lang.lower(), tgt_lang.lower(), meta
        return obj
    return None


def row_to_pair(
    row: dict, src_lang: str, tgt_lang: str, pid: str, meta: dict, record_meta: dict | None = None
) -> tuple[dict | None, str]:
    """(pair, "") or (None, why): one row of a record file or dataset, in any of the three layouts
    (docs/RECORDS.md): the `Pair` schema; `{"translation": {lang: text}}` (OPUS-100, WMT); one column per language.

    A layout without ids or languages becomes a pair `pid` of `src_lang` -> `tgt_lang` with `meta`; a Pair record
    keeps its own fields, `record_meta` (default `meta`) only filling keys its `meta` lacks."""
    if "src" in row or "tgt" in row:  # meant as a Pair record: say which field is wrong
        pair = fast_pair(dict(row))
        if pair is None:
            try:
                pair = validate(row, "pair").model_dump()
            except ValidationError as e:
                return None, f"invalid record: {describe_validation_error(e)}"
        pair["meta"] = {**(meta if record_meta is None else record_meta), **pair["meta"]}
        return pair, ""
    table = row.get("translation") if isinstance(row.get("translation"), dict) else row
    src, tgt = table.get(src_lang), table.get(tgt_lang)
    if src is None or tgt is None:  # `EN`/`AR` columns: language codes are case-insensitive
        lower = {str(k).lower(): v for k, v in table.items()}
        src, tgt = lower.get(src_lang, src), lower.get(tgt_lang, tgt)
    if isinstance(src, str) and isinstance(tgt, str):
        return make_pair(pid, src, tgt, src_lang, tgt_lang, meta), ""
    return None, (
        f"invalid row: no '{src_lang}'/'{tgt_lang}' text (expected a Pair record, a 'translation' "
        f"mapping or one column per language; columns: {', '.join(sorted(map(str, row)))})"
    )


def record_pairs(ref: str, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog) -> Iterator[PairRow]:
    """Rows of JSONL(.gz)/Parquet in any layout `row_to_pair` reads; an invalid row becomes a reject naming the
    field. `src_lang`/`tgt_lang` are the languages of rows that carry none (one column per language)."""
    # iter_rows rejects a repeated id (the corpus stage derives example ids from pair ids, so a repeat would
    # become two training examples with one id).
    file = Path(ref).name
    for lineno, obj in iter_rows(ref, rejects):
        pair = fast_pair(obj)  # the common case first: a valid Pair record costs no pydantic call
        if pair is None:
            pair, why = row_to_pair(
                obj,
                src_lang,
                tgt_lang,
                f"{name}:{lineno}",
                {"source": name, "file": file, "line": lineno},
                record_meta={},
            )
            if pair is None:
                rejects.add(Reject(ref, lineno, why, obj))
                continue
        pair["meta"].setdefault("source", name)
        yield pair, ref, lineno


# ------------------------------------------------------------------------------------------------ gettext
def catalog_pairs(path: Path, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog) -> Iterator[PairRow]:
    """msgid -> msgstr of a `.po`/`.mo` catalog (see hala.sources.catalogs for what is skipped and why)."""
    try:
        pairs = list(pairs_from_catalog(path, src_lang, tgt_lang, {"source": name}))
    except (OSError, ValueError, UnicodeDecodeError) as e:  # polib raises these for corrupt catalogs
        rejects.add(Reject(str(path), None, f"unreadable catalog: {e}"))
        return
    for pair in pairs:
        yield pair.model_dump(), str(path), None
