"""Quality guards: cheap checks that catch the ways a translator fails silently.

Each check looks at one segment (source, translation, whether generation hit its token limit) and returns a
reason code or None. A failing segment climbs the retry ladder (other decoding, smaller parts, the fallback
model: see translator.py); if every rung fails its record is rejected with the reason, and the run report
counts rejects per reason.

`verify_text` is the post-check of a whole reassembled text against its source, by rules independent of the
segmenter (segment.py): fenced code blocks, URLs, $-math, calculator annotations `<<..>>`, answer lines `#### 42`
and every number must be in the output as often as in the source. bench/check_protection.py uses the same rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Collection, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

# Unicode script (first word of a letter's character name) expected for each target language.
_SCRIPTS = {
    "ar": {"ARABIC"},
    "fa": {"ARABIC"},
    "ur": {"ARABIC"},
    "ps": {"ARABIC"},
    "ug": {"ARABIC"},
    "he": {"HEBREW"},
    "yi": {"HEBREW"},
    "ru": {"CYRILLIC"},
    "uk": {"CYRILLIC"},
    "bg": {"CYRILLIC"},
    "sr": {"CYRILLIC", "LATIN"},
    "el": {"GREEK"},
    "hi": {"DEVANAGARI"},
    "mr": {"DEVANAGARI"},
    "ne": {"DEVANAGARI"},
    "bn": {"BENGALI"},
    "ta": {"TAMIL"},
    "te": {"TELUGU"},
    "th": {"THAI"},
    "ka": {"GEORGIAN"},
    "hy": {"ARMENIAN"},
    "am": {"ETHIOPIC"},
    "zh": {"CJK"},
    "ja": {"CJK", "HIRAGANA", "KATAKANA"},
    "ko": {"HANGUL", "CJK"},
}
_LATIN_LANGS = {
    "en",
    "fr",
    "de",
    "es",
    "it",
    "pt",
    "nl",
    "pl",
    "tr",
    "id",
    "ms",
    "sw",
    "vi",
    "cs",
    "sv",
    "da",
    "no",
    "fi",
    "ro",
    "hu",
    "ca",
    "hr",
    "sk",
    "sl",
    "et",
    "lv",
    "lt",
    "tl",
}
_PLACEHOLDER = re.compile(r"\[\s*\d+\s*\]")
_WORD = re.compile(r"\w+")
# A unit of 1-40 characters repeated 4+ more times in a row, or a word 3-gram seen 4+ times.
_LOOP = re.compile(r"(.{1,40}?)\1{4,}", re.S)


class GuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_script_share: float = 0.5  # share of target-script letters among the output's letters
    # Names copied from the source (Python, JavaScript, HTTP, utf8: a word with a capital or a digit) are left
    # out of that share, since translations keep them in their own script; an output with no target-script
    # letter at all still fails.
    exempt_copied_names: bool = True
    min_letters: int = 6  # script check only when the output has at least this many letters
    min_length_ratio: float = 0.3  # output/source characters, checked when the source is long enough
    max_length_ratio: float = 3.0
    min_ratio_chars: int = 20
    retry_repetition_penalty: float = 1.2
    # How many times the retry ladder may cut a failing segment into smaller parts (0: never split).
    max_split_depth: int = Field(2, ge=0, le=4)
    # Guards to switch off, e.g. ["length_ratio"] for texts whose translations are legitimately much longer.
    # Protected spans are always verified, and so is the post-check of the reassembled text.
    skip: list[Literal["empty", "max_tokens", "repetition", "length_ratio", "wrong_script", "numbers"]] = Field(
        default_factory=list
    )


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


# Numbers: digits not glued to a Latin letter (`utf8`, `1st`, `2x` are names or words, not quantities). Eastern
# Arabic digits and separators count as the same number: `٤٢` is a correct Arabic rendering of `42`.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬", "01234567890123456789.,")
_NUMBER = re.compile(r"(?<![A-Za-z\d.,])\d+(?:[.,]\d+)*(?![A-Za-z\d])")
_ANY_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*(?!\d)")  # in an output: `5 km` may come back as `5km`
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


# A translation may write a small number as a word, and Arabic often should ("Day 3" -> "اليوم الثالث", "1 clove"
# -> "فص واحد"): cardinal and ordinal words for 1-10, with the article or a one-letter conjunction/preposition.
_AR_NUMBER_WORDS = {
    w: str(n)
    for n, ws in enumerate(
        [
            "واحد واحدة أول أولى",
            "اثنان اثنين اثنتان اثنتين ثاني ثانية",
            "ثلاثة ثلاث ثالث ثالثة",
            "أربعة أربع رابع رابعة",
            "خمسة خمس خامس خامسة",
            "ستة ست سادس سادسة",
            "سبعة سبع سابع سابعة",
            "ثمانية ثماني ثمان ثامن ثامنة",
            "تسعة تسع تاسع تاسعة",
            "عشرة عشر عاشر عاشرة",
        ],
        start=1,
    )
    for w in ws.split()
}
_AR_WORD = re.compile(r"[\u0621-\u064A]+")


def numbers(text: str, glued: bool = False) -> Counter:
    """The numbers in `text` as a multiset: `1,000` and `1000` are one number, `1,2,3` three. `glued`: count
    digits glued to a Latin letter too."""
    out: Counter = Counter()
    for m in (_ANY_NUMBER if glued else _NUMBER).finditer(text.translate(_DIGITS)):
        n = m.group(0)
        out.update([n.replace(",", "")] if _THOUSANDS.fullmatch(n) else n.split(","))
    return out


def _number_words(text: str) -> Counter:
    out: Counter = Counter()
    for w in _AR_WORD.findall(re.sub("[\u064b-\u0652\u0670]", "", text)):  # without the vowel marks
        bare = w[1:] if w[:1] in "وفبل" else w  # "وخمسة": and five; the whole word is tried first ("واحد")
        forms = [w, w[2:] if w.startswith("ال") else w, bare, bare[2:] if bare.startswith("ال") else bare]
        for word in forms + [f[:-1] for f in forms if f.endswith("ا")]:  # accusative "واحدًا"
            if word in _AR_NUMBER_WORDS:
                out[_AR_NUMBER_WORDS[word]] += 1
                break
    return out


def missing_numbers(source: str, output: str) -> list[str]:
    """Numbers of `source` that `output` lacks (or has fewer times); extra numbers in `output` are allowed, and
    so is an Arabic number word for 1-10 in place of the digits."""
    missing = numbers(source) - numbers(output, glued=True)
    if missing:
        missing -= _number_words(output)
    return sorted(missing.elements())


# The post-check's own rules, deliberately simpler than segment.py's extractor so that a bug there cannot hide a
# broken span: each match in the source must occur in the output at least as often.
INDEPENDENT = {
    "fence": re.compile(r"^[ \t]*```.*?^[ \t]*```", re.M | re.S),
    "url": re.compile(r"https?://[^\s`)\"'<>]+[^\s`)\"'<>.,;:!?]"),
    # $-math as pandoc reads it (no space inside the dollars, no digit after the closing one: "$5 and $10" is
    # money, which the number check covers).
    "dollar_math": re.compile(r"\$\$.+?\$\$|(?<![\\$])\$[^$\s][^$\n]*?(?<![\s\\])\$(?![\d$])", re.S),
    "calc": re.compile(r"<<[^<>\n]*>>"),
    # Only a numeric answer: `#### Notes` is a markdown heading, translated like any other.
    "answer": re.compile(r"^[ \t]*####[ \t]*[-+]?\$?\d[\d.,/ %]*$", re.M),
}


def verify_text(source: str, output: str, skip: Collection[str] = ()) -> str | None:
    """None when `output` keeps every independently found span and every number of `source`; else what broke.
    The spans are always checked (a translator must never touch them); the numbers only when `"numbers"` is not
    in `skip` — the guard a user switched off is off after reassembly too, not only per segment."""
    for kind, rx in INDEPENDENT.items():
        for span in dict.fromkeys(rx.findall(source)):
            if output.count(span) < source.count(span):
                return f"{kind} {span[:80]!r} changed or lost"
    if "numbers" not in skip and (missing := missing_numbers(source, output)):
        return f"numbers {', '.join(missing[:5])} missing"
    return None


def is_loop(text: str) -> bool:
    if _LOOP.search(text):
        return True
    words = text.split()
    grams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
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
            share, n = (
                script_share(without_copied_names(bare_src, bare_out), scripts)
                if c.exempt_copied_names
                else (any_share, all_letters)
            )
            if (n >= c.min_letters and share < c.min_script_share) or (all_letters >= c.min_letters and any_share == 0):
                yield "wrong_script"
        if missing_numbers(bare_src, bare_out):
            yield "numbers"
