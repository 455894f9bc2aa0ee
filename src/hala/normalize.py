"""Arabic-aware text normalisation, in one place: loaders, filters, dedup, split keys, decontamination and scoring
all call `normalize_text` with the options each needs, and `digest` for stable 8-byte keys of normalised text.

Two texts that differ only in things a reader would not notice count as the same text. Each step is an option
(all on by default except `taa_marbuta`):

* `presentation`: Arabic presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFF: contextual glyph codes from old PDFs
  and legacy encodings, e.g. ﻻ ﺍﻟﻌﺮﺑﻴﺔ ﷲ) become the letters they draw (their NFKC form); U+FEFF (a byte-order mark
  left inside the text) is dropped. Only these two blocks are NFKC'd: NFKC elsewhere would also fold e.g. ² and ﬁ.
* `diacritics`: harakat, shadda, sukun, superscript alef, Quranic marks and tatweel (ـ) are removed.
* `letters`: the alef variants أ إ آ ٱ become ا; alef maqsura ى and Persian yeh ی become ي; Persian keheh ک
  becomes ك.
* `taa_marbuta` (off by default: it changes words, e.g. مدرسة/مدرسه are the same word only in informal
  spelling): ة becomes ه.
* `digits`: Arabic-Indic ٠-٩ and Extended Arabic-Indic (Eastern, Persian/Urdu) ۰-۹ become ASCII 0-9.
* `casefold` / whitespace: case is folded and runs of whitespace become one space (any script).

Written out here rather than taken from camel-tools (whose `normalize_*_ar`/`dediac_ar` do the letter steps):
these are a dozen table entries, camel-tools pulls in a large dependency tree, and this runs on every pair of a
multi-million-pair corpus, so every step is a C-level string method or regex.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
EXTENDED_ARABIC_INDIC_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
# U+064B..U+065F harakat and other combining marks, U+0670 superscript alef, U+06D6..U+06ED Quranic marks.
ARABIC_DIACRITICS = (
    "".join(chr(c) for c in range(0x064B, 0x0660)) + "\u0670" + "".join(chr(c) for c in range(0x06D6, 0x06EE))
)
TATWEEL = "\u0640"
ALEF_VARIANTS = "أإآٱ"
TAA_MARBUTA = "ة"


def digit_table() -> dict[int, str]:
    table = {ord(d): str(i) for i, d in enumerate(ARABIC_INDIC_DIGITS)}
    table.update({ord(d): str(i) for i, d in enumerate(EXTENDED_ARABIC_INDIC_DIGITS)})
    return table


DIGITS = digit_table()
_ARABIC_MARKS = re.compile(f"[{ARABIC_DIACRITICS}{TATWEEL}]+")
_ARABIC_DIGIT = re.compile(f"[{ARABIC_INDIC_DIGITS}{EXTENDED_ARABIC_INDIC_DIGITS}]")
_PRESENTATION = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]+")
_LETTER_VARIANTS = (("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ٱ", "ا"), ("ى", "ي"), ("ی", "ي"), ("ک", "ك"))


def _nfkc(match: re.Match) -> str:
    return unicodedata.normalize("NFKC", match.group()).replace("\ufeff", "")


def normalize_text(
    text: str,
    taa_marbuta: bool = False,
    *,
    presentation: bool = True,
    diacritics: bool = True,
    letters: bool = True,
    digits: bool = True,
    casefold: bool = True,
) -> str:
    """The comparison form of `text` (see the module docstring for each option)."""
    # ASCII text (most English sides) skips the Arabic steps: isascii() is O(1) in CPython. The Arabic steps are
    # a regex delete plus a few str.replace calls: measured 2-3x faster than one str.translate with a dict table.
    if not text.isascii():
        # Presentation forms first: a ligature such as ﷲ decomposes into letters and marks the later steps remove.
        if presentation and _PRESENTATION.search(text):
            text = _PRESENTATION.sub(_nfkc, text)
        if diacritics:
            text = _ARABIC_MARKS.sub("", text)
        if letters:
            for variant, base in _LETTER_VARIANTS:
                text = text.replace(variant, base)
        if taa_marbuta:
            text = text.replace(TAA_MARBUTA, "ه")
        if digits and _ARABIC_DIGIT.search(text):
            text = text.translate(DIGITS)
    if casefold:
        text = text.casefold()
    return " ".join(text.split())


def same_text(a: str, b: str, **options) -> bool:
    """Whether `a` and `b` are equal after `normalize_text(..., **options)`."""
    return normalize_text(a, **options) == normalize_text(b, **options)


def digest(*parts: str) -> int:
    """A stable 8-byte digest of `parts` as an int (same value in every process: used for split assignment).

    Collisions: with 64 bits, the chance of any collision among 10M texts is about 3e-6.
    """
    h = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "little")
