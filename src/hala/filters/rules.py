"""The cheap filter rules: each looks at one pair's strings and returns why it fails, or None.

Order in a chain matters for speed only (a pair is counted under the FIRST rule it fails), so the default chain
runs these before language ID and embeddings. Defaults are documented (with the reasoning) in docs/FILTER.md.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import Field

from hala.filters import scripts
from hala.filters.base import Rule, RuleParams, register
from hala.filters.digests import DigestSet
from hala.normalize import DIGITS, normalize_text


@register
class Empty(Rule):
    name = "empty"
    summary = "a side is empty or only whitespace"

    def check(self, pair: dict) -> str | None:
        src, tgt = pair["src"].strip(), pair["tgt"].strip()
        if src and tgt:
            return None
        return "both sides empty" if not (src or tgt) else ("src empty" if not src else "tgt empty")


class IdenticalParams(RuleParams):
    normalize: bool = Field(True, description="compare after case folding and whitespace normalisation")


@register
class Identical(Rule):
    name = "identical"
    summary = "target equals source (untranslated)"
    Params = IdenticalParams

    def check(self, pair: dict) -> str | None:
        src, tgt = pair["src"].strip(), pair["tgt"].strip()
        if not self.params.normalize:
            return "target equals source" if src == tgt else None
        # Cheap exit for almost every pair: different first characters cannot be equal after normalisation.
        if src[:1].casefold()[:1] != tgt[:1].casefold()[:1]:
            return None
        return "target equals source" if src.casefold().split() == tgt.casefold().split() else None


class LengthParams(RuleParams):
    min_chars: int = Field(1, ge=0, description="minimum characters per side (after stripping)")
    max_chars: int = Field(1000, ge=1, description="maximum characters per side")
    max_words: int = Field(250, ge=1, description="maximum whitespace-separated words per side")


@register
class Length(Rule):
    name = "length"
    summary = "a side is shorter or longer than the bounds (characters, words)"
    Params = LengthParams

    def check(self, pair: dict) -> str | None:
        p = self.params
        for side in ("src", "tgt"):
            text = pair[side].strip()
            n = len(text)
            if n < p.min_chars:
                return f"{side} has {n} chars < {p.min_chars}"
            if n > p.max_chars:
                return f"{side} has {n} chars > {p.max_chars}"
            # Counting words needs a split; only texts long enough to possibly exceed the bound pay for it.
            if n > p.max_words and len(text.split()) > p.max_words:
                return f"{side} has {len(text.split())} words > {p.max_words}"
        return None


class RatioParams(RuleParams):
    max_ratio: float = Field(3.0, gt=1, description="longest/shortest side length in characters")
    min_chars: int = Field(
        15,
        ge=1,
        description="only judge pairs whose longer side has at least this many "
        "characters (short UI strings vary too much)",
    )


@register
class Ratio(Rule):
    name = "ratio"
    summary = "the sides' lengths are too different"
    Params = RatioParams

    def check(self, pair: dict) -> str | None:
        a, b = len(pair["src"].strip()), len(pair["tgt"].strip())
        longer, shorter = (a, b) if a >= b else (b, a)
        if longer < self.params.min_chars:
            return None
        ratio = longer / max(shorter, 1)
        return (
            f"length ratio {ratio:.1f} > {self.params.max_ratio:g} ({a} vs {b} chars)"
            if ratio > self.params.max_ratio
            else None
        )


class ScriptParams(RuleParams):
    min_share: float = Field(0.5, ge=0, le=1, description="minimum share of a side's letters in its script")
    min_letters: int = Field(1, ge=1, description="sides with fewer letters are not judged")
    ignore_shared_words: bool = Field(
        True,
        description="a side that passes once words appearing verbatim on "
        "both sides (product names, code) are left out is kept",
    )
    scripts: dict[str, list[str]] = Field(
        default_factory=dict, description="extra language -> Unicode-name script prefixes"
    )


@register
class Script(Rule):
    name = "script"
    summary = "too few of a side's letters are in its language's script"
    Params = ScriptParams

    def __init__(self, params: ScriptParams):
        super().__init__(params)
        self.table = {**scripts.LANGUAGE_SCRIPTS, **{k: tuple(v) for k, v in params.scripts.items()}}
        self._prefixes: dict[str, tuple[str, ...] | None] = {}

    def prefixes(self, lang: str) -> tuple[str, ...] | None:
        if lang not in self._prefixes:
            found = self.table.get(lang) or self.table.get(lang.split("-")[0].split("_")[0])
            if found is None:
                self.note(
                    f"no script known for language '{lang}': that side is not checked "
                    f"(add it with the rule's `scripts` option)"
                )
            self._prefixes[lang] = found
        return self._prefixes[lang]

    def check_batch(self, pairs: list[dict]) -> list[str | None]:
        """Shares for the whole batch with numpy; pairs below the bound are re-checked exactly (shared words)."""
        results: list[str | None] = [None] * len(pairs)
        for side, lang_key in (("src", "src_lang"), ("tgt", "tgt_lang")):
            langs = [p[lang_key] for p in pairs]
            for lang in set(langs):
                if self.prefixes(lang) is None:
                    continue
                rows = [i for i, x in enumerate(langs) if x == lang and results[i] is None]
                texts = [pairs[i][side] for i in rows]
                letters, ours = scripts.letter_counts(texts, scripts.script_table(self.prefixes(lang)))
                low = (letters >= self.params.min_letters) & (ours < self.params.min_share * letters)
                for i in np.asarray(rows)[low]:
                    results[i] = self.exact(pairs[i])
        return results

    def check(self, pair: dict) -> str | None:
        return self.check_batch([pair])[0]

    def exact(self, pair: dict) -> str | None:
        """The verdict for one pair whose share is low: words copied verbatim from the other side (product
        names, placeholders) may excuse a side, never condemn it."""
        words = {side: scripts.WORDS.findall(pair[side]) for side in ("src", "tgt")}
        shared = set(words["src"]).intersection(words["tgt"]) if self.params.ignore_shared_words else set()
        for side in ("src", "tgt"):
            lang = pair[f"{side}_lang"]
            prefixes = self.prefixes(lang)
            if prefixes is None:
                continue
            share = self.share(words[side], prefixes)
            if share is None or share >= self.params.min_share:
                continue
            if shared:
                rest = self.share([w for w in words[side] if w not in shared], prefixes)
                if rest is None or rest >= self.params.min_share:
                    continue
            return f"{side} has {share:.0%} {lang} script letters < {self.params.min_share:.0%}"
        return None

    def share(self, words: list[str], prefixes: tuple[str, ...]) -> float | None:
        letters, ours = scripts.letter_count("".join(words), prefixes)
        return None if letters < self.params.min_letters else ours / letters


# A number: digits with inner separators (1,000.5 / 1.000,5 / Arabic ٫ ٬); compared with separators removed.
NUMBER = re.compile(r"\d+(?:[.,\u066B\u066C]\d+)*")
ANY_DIGIT = re.compile(r"\d")
# `\d` already matches Arabic-Indic digits, so only the (rare) matches are translated, never the whole text.
NUMBER_FORM = {**DIGITS, **{ord(c): None for c in ".,\u066b\u066c"}}


def numbers(text: str) -> set[str]:
    return {m.translate(NUMBER_FORM).lstrip("0") or "0" for m in NUMBER.findall(text)}


class NumbersParams(RuleParams):
    ignore_below: int = Field(
        0,
        ge=0,
        description="numbers below this value may be spelled out on one side "
        "(e.g. 10 allows 'two' vs '2'); 0 compares every number",
    )


@register
class Numbers(Rule):
    name = "numbers"
    summary = "the sides contain different numbers (Arabic-Indic digits normalised)"
    Params = NumbersParams

    def check(self, pair: dict) -> str | None:
        src, tgt = pair["src"], pair["tgt"]
        if not (ANY_DIGIT.search(src) or ANY_DIGIT.search(tgt)):  # most segments have no digit at all
            return None
        a, b = numbers(src), numbers(tgt)
        if a == b:
            return None
        limit = self.params.ignore_below
        if limit:
            a = {n for n in a if len(n) > 9 or int(n) >= limit}
            b = {n for n in b if len(n) > 9 or int(n) >= limit}
            if a == b:
                return None
        return f"numbers differ: src {sorted(a - b)} tgt {sorted(b - a)}"


# A URL ends at whitespace, quotes, brackets, or an invisible bidi mark (Arabic UI strings put LRM after URLs).
_URL_CHARS = "[^\\s<>\"'()\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
URL = re.compile(f"(?:https?|ftp)://{_URL_CHARS}|www\\.{_URL_CHARS}", re.IGNORECASE)


def urls(text: str) -> set[str]:
    return {u.rstrip(".,;:!?،؛").lower() for u in URL.findall(text)}


@register
class Urls(Rule):
    name = "urls"
    summary = "the sides contain different URLs"

    def check(self, pair: dict) -> str | None:
        src, tgt = pair["src"], pair["tgt"]
        # Fast path: both findall calls are skipped for the vast majority of segments without a URL marker.
        if "://" not in src and "://" not in tgt and "www." not in src and "www." not in tgt:
            return None
        a, b = urls(src), urls(tgt)
        return None if a == b else f"URLs differ: src {sorted(a - b)} tgt {sorted(b - a)}"


class DuplicateParams(RuleParams):
    key: Literal["pair", "src", "tgt"] = Field("pair", description="what must repeat: both sides, or one side")
    normalize: bool = Field(
        True,
        description="also catch duplicates after normalisation (case, spaces, "
        "Arabic diacritics/tatweel/alef/yaa variants, digits)",
    )
    taa_marbuta: bool = Field(False, description="normalisation also maps ة to ه")


@register
class Duplicate(Rule):
    name = "duplicate"
    summary = "an earlier pair had the same text (exact, or after normalisation)"
    Params = DuplicateParams

    def __init__(self, params: DuplicateParams):
        super().__init__(params)
        # Digest of the normalised text -> digest of the exact text of its first pair, in a compact table (32 bytes
        # per distinct pair at most, see digests.py). Digests are Python's 64-bit string hash (SipHash, computed in
        # C and cached on the string): they differ between processes, which does not matter inside one run.
        self.seen = DigestSet()

    def _parts(self, pair: dict) -> tuple[str, ...]:
        key = self.params.key
        return (pair["src"], pair["tgt"]) if key == "pair" else (pair[key],)

    def check_batch(self, pairs: list[dict]) -> list[str | None]:
        taa = self.params.taa_marbuta
        parts = [self._parts(p) for p in pairs]
        exact = [hash(p) for p in parts]
        if not self.params.normalize:
            norm = exact
        elif self.params.key == "pair":
            norm = [hash((normalize_text(a, taa), normalize_text(b, taa))) for a, b in parts]
        else:
            norm = [hash(normalize_text(a, taa)) for (a,) in parts]
        kinds = self.seen.add(np.array(norm, dtype=np.int64), np.array(exact, dtype=np.int64))
        what = self.params.key
        labels = {0: None, 1: f"exact duplicate {what}", 2: f"normalised duplicate {what}"}
        return [labels[k] for k in kinds.tolist()]

    def check(self, pair: dict) -> str | None:
        return self.check_batch([pair])[0]
