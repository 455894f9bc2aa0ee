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

import functools
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
    hits, letters = script_counts(text, scripts)
    return (hits / letters if letters else 0.0), letters


class _ScriptTable(dict):
    """A `str.translate` table for one set of scripts, filled per code point on first sight: a letter of the
    scripts becomes "h", any other letter "l", a non-letter is deleted. Why: `text.translate(table)` then
    classifies a whole text in C, where a Python loop calling `unicodedata.name` per letter was the single
    largest cost of the translate machinery (docs/BENCHMARKS.md). Filled from the same definition as before
    (`str.isalpha`, first word of the character's name), so it cannot disagree with it."""

    def __init__(self, scripts: frozenset[str]):
        super().__init__()
        self.scripts = scripts

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        if not ch.isalpha():
            value = None
        else:
            value = "h" if unicodedata.name(ch, "").split(" ", 1)[0] in self.scripts else "l"
        self[cp] = value
        return value


_TABLES: dict[frozenset[str], _ScriptTable] = {}


def script_counts(text: str, scripts: Collection[str]) -> tuple[int, int]:
    """(letters of `text` in one of `scripts`, all letters of `text`)."""
    key = frozenset(scripts)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = _ScriptTable(key)
    marks = text.translate(table)
    return marks.count("h"), len(marks)


@functools.lru_cache(maxsize=1 << 16)  # words recur across segments; the check loops over characters in Python
def _is_name(word: str) -> bool:
    return any(ch.isupper() or ch.isdigit() for ch in word)


def copied_names(source: str) -> set[str]:
    """The words of `source` that look like names (a capital letter or a digit)."""
    return {w for w in set(_WORD.findall(source)) if _is_name(w)}


def without_copied_names(source: str, output: str) -> str:
    """`output` minus the words it copied from `source` that look like names (a capital letter or a digit)."""
    names = copied_names(source)
    return _WORD.sub(lambda m: "" if m.group(0) in names else m.group(0), output)


def _counts_without_names(source: str, output: str, counts: tuple[int, int], scripts: Collection[str]):
    """`script_counts(without_copied_names(source, output), scripts)`, from the counts of the whole output:
    minus the letters of each copied name times its occurrences as a whole word of `output` (what
    `without_copied_names` deletes). Counting words once is cheaper than rebuilding the text word by word."""
    hits, letters = counts
    names = copied_names(source)
    if not names:
        return counts
    words = _WORD.findall(output)
    for word in names.intersection(words):
        word_hits, word_letters = script_counts(word, scripts)
        if word_letters:  # (a number copied as is has no letters)
            n = words.count(word)
            hits, letters = hits - n * word_hits, letters - n * word_letters
    return hits, letters


# Numbers: digits not glued to a Latin letter (`utf8`, `1st`, `2x` are names or words, not quantities). Eastern
# Arabic digits and separators count as the same number: `٤٢` is a correct Arabic rendering of `42`.
_EASTERN = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬"
_DIGITS = str.maketrans(_EASTERN, "01234567890123456789.,")
_HAS_EASTERN = re.compile(f"[{_EASTERN}]")  # translating only texts that have one is far cheaper (Arabic text)
# The lookbehind comes after the first digit (`\d(?<!X\d)` is `(?<!X)\d`): a pattern that starts with `\d` lets
# the regex engine skip to the next digit instead of trying every position (2x faster, same matches).
_NUMBER = re.compile(r"\d(?<![A-Za-z\d.,]\d)\d*(?:[.,]\d+)*(?![A-Za-z\d])")
_ANY_NUMBER = re.compile(r"\d(?<![\d.,]\d)\d*(?:[.,]\d+)*(?!\d)")  # in an output: `5 km` may come back as `5km`
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DIGIT = re.compile(r"\d")  # matches a text iff it matches after _DIGITS (which maps digits to digits)


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
    return Counter(_number_list(text, glued))


def _number_list(text: str, glued: bool = False) -> list[str]:
    """The numbers of `text` in order (`numbers` counts them)."""
    found: list[str] = []  # counted once at the end: Counter.update per number was most of `numbers`' time
    if _HAS_EASTERN.search(text):
        text = text.translate(_DIGITS)
    for n in (_ANY_NUMBER if glued else _NUMBER).findall(text):
        if "," not in n:  # (_THOUSANDS needs a comma)
            found.append(n)
        elif _THOUSANDS.fullmatch(n):
            found.append(n.replace(",", ""))
        else:
            found.extend(n.split(","))
    return found


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
    if not _DIGIT.search(source):  # no number to lose (the common case for prose): skip the counting
        return []
    src, out = _number_list(source), _number_list(output, glued=True)
    if src == out:  # the same numbers in the same order (most outputs): nothing missing, no counting needed
        return []
    missing = Counter(src) - Counter(out)
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
    """A unit of 1-40 characters repeated 5+ times in a row (`_LOOP`), or a word 3-gram seen 4+ times.

    `_LOOP` tries 40 unit lengths at every position (~2 us per character: it was the costliest guard), so it runs
    only where it can match. A repeated unit either mixes blanks and other characters (then one word occurs 4+
    times), or is all blanks (then there is a run of 5+ blanks), or has no blank (then it lies inside one word:
    a single character 5 times, or 10+ characters of one word). tests/test_guards_fast.py checks this against
    `_LOOP` itself."""
    words = text.split()
    if _most_common_count(words) >= 4:  # the general case (a 3-gram seen 4 times needs a word seen 4 times)
        if _LOOP.search(text):
            return True
        return len(words) >= 6 and max(Counter(zip(words, words[1:], words[2:])).values()) >= 4
    if _BLANKS.search(text):
        return _LOOP.search(text) is not None
    if _SAME_CHAR.search(text):
        return True
    long_words = [w for w in words if len(w) >= 10]
    return bool(long_words) and _LOOP.search("\n".join(long_words)) is not None and _LOOP.search(text) is not None


_BLANKS = re.compile(r"\s{5}")
_SAME_CHAR = re.compile(r"(.)\1{4}", re.S)  # a unit of one character (not a blank: see _BLANKS)


def _most_common_count(words: list[str]) -> int:
    if len(words) <= 32:  # counting with list.count is cheaper than building a Counter for a short list
        return max(map(words.count, set(words)), default=0)
    return max(Counter(words).values())


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
            counts = script_counts(bare_out, scripts)
            any_hits, all_letters = counts
            hits, n = _counts_without_names(bare_src, bare_out, counts, scripts) if c.exempt_copied_names else counts
            share = hits / n if n else 0.0
            if (n >= c.min_letters and share < c.min_script_share) or (all_letters >= c.min_letters and any_hits == 0):
                yield "wrong_script"
        if missing_numbers(bare_src, bare_out):
            yield "numbers"
