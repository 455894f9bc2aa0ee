"""Parallel pairs from gettext catalogs (`.po` / `.mo`), parsed with polib (no regexes).

A catalog maps an English `msgid` to a translated `msgstr`. Untranslated, fuzzy and obsolete entries are skipped.
Plural entries are skipped too: Arabic has six plural forms and the msgid's singular does not map to one
`msgstr[i]` in a way that is safe to assume across catalogs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import polib

from hala.records import Pair, stable_id


def read_catalog(path: str | Path):
    path = Path(path)
    if path.suffix == ".mo":
        return polib.mofile(str(path))
    if path.suffix == ".po":
        return polib.pofile(str(path))
    raise ValueError(f"{path}: not a gettext catalog (expected .po or .mo)")


def pairs_from_catalog(
    path: str | Path, src_lang: str = "en", tgt_lang: str = "ar", meta: dict | None = None
) -> Iterator[Pair]:
    path = Path(path)
    for entry in read_catalog(path):
        if entry.obsolete or "fuzzy" in entry.flags or entry.msgid_plural or not entry.msgid:
            continue
        src, tgt = entry.msgid.strip(), entry.msgstr.strip()
        if not src or not tgt:
            continue
        m = {"catalog": path.name, **(meta or {})}
        if entry.msgctxt:
            m["msgctxt"] = entry.msgctxt
        yield Pair(id=stable_id(src, tgt, prefix="po-"), src=src, tgt=tgt, src_lang=src_lang, tgt_lang=tgt_lang, meta=m)
