"""Quality guards: cheap checks that catch the ways a translator fails silently.

Each check looks at one segment (source, translation, whether generation hit its token limit) and returns a
reason code or None. A failing segment is retried once with adjusted settings (see translator.py); if it
fails again its record is rejected with the reason, and the run report counts rejects per reason.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

# Unicode script (first word of a letter's character name) expected for each target language.
_SCRIPTS = {
    "ar": {"ARABIC"}, "fa": {"ARABIC"}, "ur": {"ARABIC"}, "ps": {"ARABIC"}, "ug": {"ARABIC"},
    "he": {"HEBREW"}, "yi": {"HEBREW"}, "ru": {"CYRILLIC"}, "uk": {"CYRILLIC"}, "bg": {"CYRILLIC"},
    "sr": {"CYRILLIC", "LATIN"}, "el": {"GREEK"}, "hi": {"DEVANAGARI"}, "mr": {"DEVANAGARI"}, "ne": {"DEVANAGARI"},
    "bn": {"BENGALI"}, "ta": {"TAMIL"}, "te": {"TELUGU"}, "th": {"THAI"}, "ka": {"GEORGIAN"}, "hy": {"ARMENIAN"},
    "am": {"ETHIOPIC"}, "zh": {"CJK"}, "ja": {"CJK", "HIRAGANA", "KATAKANA"}, "ko": {"HANGUL", "CJK"},
}
_LATIN_LANGS = {"en", "fr", "de", "es", "it", "pt", "nl", "pl", "tr", "id", "ms", "sw", "vi", "cs", "sv", "da",
                "no", "fi", "ro", "hu", "ca", "hr", "sk", "sl", "et", "lv", "lt", "tl"}
_PLACEHOLDER = re.compile(r"\[\s*\d+\s*\]")
_WORD = re.compile(r"\w+")
# A unit of 1-40 characters repeated 4+ more times in a row, or a word 3-gram seen 4+ times.
_LOOP = re.compile(r"(.{1,40}?)\1{4,}", re.S)


class GuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_script_share: float = 0.5     # share of target-script letters among the output's letters
    # Names copied from the source (Python, JavaScript, HTTP, utf8: a word with a capital or a digit) are left
    # out of that share, since translations keep them in their own script; an output with no target-script
    # letter at all still fails.
    exempt_copied_names: bool = True
    min_letters: int = 6              # script check only when the output has at least this many letters
    min_length_ratio: float = 0.3     # output/source characters, checked when the source is long enough
    max_length_ratio: float = 3.0
    min_ratio_chars: int = 20
    retry_repetition_penalty: float = 1.2
    # Guards to switch off, e.g. ["length_ratio"] for texts whose translations are legitimately much longer.
    # Protected spans are always verified.
    skip: list[Literal["empty", "max_tokens", "repetition", "length_ratio", "wrong_script"]] = Field(
        default_factory=list)


def target_scripts(lang: str) -> set[str] | None:
    lang = lang.lower().split("-")[0]
    if lang in _SCRIPTS:
        return _SCRIPTS[lang]
    return {"LATIN"} if lang in _LATIN_LANGS else None


def script_share(text: str, scripts: set[str]) -> tuple[float, int]:
    """(share of letters whose Unicode name starts with one of `scripts`, number of letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0, 0
    hits = sum(1 for ch in letters if unicodedata.name(ch, "").split(" ", 1)[0] in scripts)
    return hits / len(letters), len(letters)


def without_copied_names(source: str, output: str) -> str:
    """`output` minus the words it copied from `source` that look like names (a capital letter or a digit)."""
    names = {w for w in _WORD.findall(source) if any(ch.isupper() or ch.isdigit() for ch in w)}
    return _WORD.sub(lambda m: "" if m.group(0) in names else m.group(0), output)


def is_loop(text: str) -> bool:
    if _LOOP.search(text):
        return True
    words = text.split()
    grams = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
    return any(grams.count(g) >= 4 for g in set(grams))


@dataclass(frozen=True)
class Guards:
    tgt_lang: str
    config: GuardConfig

    def check(self, source: str, output: str, hit_max_tokens: bool) -> str | None:
        """The first failing guard's reason code (guards in `skip` ignored), or None when the output looks sane."""
        return next((r for r in self.failures(source, output, hit_max_tokens) if r not in self.config.skip), None)

    def failures(self, source: str, output: str, hit_max_tokens: bool) -> Iterator[str]:
        bare_src, bare_out = _PLACEHOLDER.sub("", source).strip(), _PLACEHOLDER.sub("", output).strip()
        if not output.strip():
            yield "empty"
        if hit_max_tokens:
            yield "max_tokens"
        if is_loop(output) and not is_loop(source):
            yield "repetition"
        c = self.config
        if len(bare_src) >= c.min_ratio_chars:
            ratio = len(bare_out) / len(bare_src)
            if not c.min_length_ratio <= ratio <= c.max_length_ratio:
                yield "length_ratio"
        scripts = target_scripts(self.tgt_lang)
        if scripts:
            any_share, all_letters = script_share(bare_out, scripts)
            share, n = (script_share(without_copied_names(bare_src, bare_out), scripts) if c.exempt_copied_names
                        else (any_share, all_letters))
            if (n >= c.min_letters and share < c.min_script_share) or (all_letters >= c.min_letters and
                                                                         any_share == 0):
                yield "wrong_script"
