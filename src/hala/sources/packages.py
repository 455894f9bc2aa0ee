"""Human-translated English→X pairs from data that installed PyPI packages ship — an offline bootstrap corpus.

Three sources, each with its licence in `meta`:

* `django`    — Django's gettext catalogs (`django/**/locale/<lang>/LC_MESSAGES/*.po`), BSD-3-Clause.
* `pycountry` — ISO country/language/currency/script names from Debian's iso-codes (`.mo`), LGPL-2.1.
* `babel`     — Unicode CLDR display names (territories, languages, scripts, currencies) via Babel, Unicode-3.0.

These are short segments (UI strings and names), not sentences: good for teaching a model the target script and
the translation format, not a substitute for sentence-level data. Pairs are deduplicated on (src, tgt).
"""

from __future__ import annotations

import glob
import os
from typing import Callable, Iterator

from hala.records import Pair, stable_id
from hala.sources.catalogs import pairs_from_catalog


def _package_dir(module: str) -> str:
    mod = __import__(module)
    return os.path.dirname(mod.__file__)


def django_pairs(tgt_lang: str = "ar") -> Iterator[Pair]:
    root = _package_dir("django")
    for path in sorted(glob.glob(f"{root}/**/locale/{tgt_lang}/LC_MESSAGES/*.po", recursive=True)):
        app = os.path.relpath(path, root).split("/locale/")[0]
        yield from pairs_from_catalog(path, "en", tgt_lang, {"source": "django", "license": "BSD-3-Clause", "app": app})


def pycountry_pairs(tgt_lang: str = "ar") -> Iterator[Pair]:
    root = _package_dir("pycountry")
    for path in sorted(glob.glob(f"{root}/locales/{tgt_lang}/LC_MESSAGES/*.mo")):
        yield from pairs_from_catalog(path, "en", tgt_lang, {"source": "pycountry", "license": "LGPL-2.1-or-later"})


def babel_pairs(tgt_lang: str = "ar") -> Iterator[Pair]:
    from babel import Locale

    en, tgt = Locale("en"), Locale.parse(tgt_lang)
    for table in ("territories", "languages", "scripts", "currencies"):
        en_names, tgt_names = getattr(en, table), getattr(tgt, table)
        for code, name in sorted(en_names.items()):
            other = tgt_names.get(code)
            if other and other != name:
                yield Pair(
                    id=stable_id(name, other, prefix="cldr-"),
                    src=name,
                    tgt=other,
                    src_lang="en",
                    tgt_lang=tgt_lang,
                    meta={"source": "babel", "license": "Unicode-3.0", "table": table, "code": code},
                )


PACKAGE_SOURCES: dict[str, Callable[[str], Iterator[Pair]]] = {
    "django": django_pairs,
    "pycountry": pycountry_pairs,
    "babel": babel_pairs,
}


def package_pairs(
    tgt_lang: str = "ar", sources: list[str] | None = None, counts: dict[str, int] | None = None
) -> Iterator[Pair]:
    """All unique (src, tgt) pairs from the selected package sources, in a deterministic order.

    `counts` (if given) is filled with the number of unique pairs each source contributed.
    """
    seen: set[tuple[str, str]] = set()
    for name in sources or list(PACKAGE_SOURCES):
        if name not in PACKAGE_SOURCES:
            raise ValueError(f"unknown package source '{name}'; known: {', '.join(PACKAGE_SOURCES)}")
        n = 0
        for pair in PACKAGE_SOURCES[name](tgt_lang):
            key = (pair.src, pair.tgt)
            if key in seen:
                continue
            seen.add(key)
            n += 1
            yield pair
        if counts is not None:
            counts[name] = n
