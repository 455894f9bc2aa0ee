"""Human-translated English→X pairs from data that installed PyPI packages ship — an offline bootstrap corpus.

Three sources, each with its licence in `meta`:

* `django`    — Django's gettext catalogs (`django/**/locale/<lang>/LC_MESSAGES/*.po`), BSD-3-Clause.
* `pycountry` — ISO country/language/currency/script names from Debian's iso-codes (`.mo`), LGPL-2.1.
* `babel`     — Unicode CLDR display names (territories, languages, scripts, currencies) via Babel, Unicode-3.0.

These are short segments (UI strings and names), not sentences: good for teaching a model the target script and
the translation format, not a substitute for sentence-level data. Pairs are deduplicated on (src, tgt).

The `data.packages` recipe stage (`hala data packages`) writes them to `pairs.jsonl`: both call `write_pairs`.
"""

from __future__ import annotations

import glob
import itertools
import os
from pathlib import Path
from typing import Callable, Iterator

from pydantic import BaseModel, ConfigDict, Field

from hala.errors import ConfigError
from hala.records import Pair, stable_id, write_records
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

    `counts` (if given) holds the number of unique pairs each source has yielded so far: counted as they are
    yielded, so a consumer that stops early (`limit`) still sees the counts of what it took.
    """
    chosen = sources or list(PACKAGE_SOURCES)
    unknown = [name for name in chosen if name not in PACKAGE_SOURCES]
    if unknown:
        raise ConfigError(f"sources: unknown package source '{unknown[0]}'; known: {', '.join(PACKAGE_SOURCES)}")
    counts = {} if counts is None else counts
    seen: set[tuple[str, str]] = set()
    for name in chosen:
        counts[name] = 0
        for pair in PACKAGE_SOURCES[name](tgt_lang):
            key = (pair.src, pair.tgt)
            if key in seen:
                continue
            seen.add(key)
            counts[name] += 1
            yield pair


class PackagePairsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tgt_lang: str = Field("ar", description="target language code (the catalogs' locale, e.g. ar, fr, de)")
    sources: list[str] | None = Field(
        None, description=f"package sources to use, of {', '.join(PACKAGE_SOURCES)} (default: all)"
    )
    limit: int | None = Field(None, description="keep the first N pairs (deterministic order)")


def write_pairs(config: PackagePairsConfig, path: str | os.PathLike) -> tuple[int, dict[str, int]]:
    """The stage's one path: the first `limit` package pairs written to `path` (.jsonl, .jsonl.gz, .parquet).
    Returns (pairs written, unique pairs per source among them)."""
    counts: dict[str, int] = {}
    pairs = itertools.islice(package_pairs(config.tgt_lang, config.sources, counts), config.limit)
    return write_records(path, pairs), counts


def run(config: PackagePairsConfig, out_dir: Path) -> dict:
    n, counts = write_pairs(config, Path(out_dir) / "pairs.jsonl")
    return {"outputs": {"pairs": "pairs.jsonl"}, "metrics": {"pairs": n, "per_source": counts}}
