"""The fast paths of the guards and the segmenter (issue 14, scale) give exactly what the plain definitions give.

Each fast function is compared with the straightforward implementation it replaced (written out here as the
reference): the script table on every code point, the loop check, the number extraction and the copied-names
exemption on crafted and random texts, and the segmenter's pattern pre-checks on texts that exercise each kind.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter

import pytest

from hala.translate import guards, segment
from hala.translate.guards import _SCRIPTS, script_counts, script_share

# ------------------------------------------------------------------------------------------ references (the old code)


def ref_script_share(text: str, scripts: set[str]) -> tuple[float, int]:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0, 0
    hits = sum(1 for ch in letters if unicodedata.name(ch, "").split(" ", 1)[0] in scripts)
    return hits / len(letters), len(letters)


def ref_is_loop(text: str) -> bool:
    if re.search(r"(.{1,40}?)\1{4,}", text, re.S):
        return True
    words = text.split()
    grams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    return any(grams.count(g) >= 4 for g in set(grams))


_REF_NUMBER = re.compile(r"(?<![A-Za-z\d.,])\d+(?:[.,]\d+)*(?![A-Za-z\d])")
_REF_ANY_NUMBER = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)*(?!\d)")


def ref_numbers(text: str, glued: bool = False) -> Counter:
    out: Counter = Counter()
    for m in (_REF_ANY_NUMBER if glued else _REF_NUMBER).finditer(text.translate(guards._DIGITS)):
        n = m.group(0)
        out.update([n.replace(",", "")] if guards._THOUSANDS.fullmatch(n) else n.split(","))
    return out


def random_texts(seed: int, n: int) -> list[str]:
    """Short texts over small alphabets (so repeats, loops, numbers and names happen often), blanks included."""
    rng = random.Random(seed)
    alphabets = ["ab ", "abc \t", "ab\n", "aB1 ", "xy z.", "12,. a", "٣٤٫ 5a", "Ab cd ", " \t\n\r", "الب م", "x"]
    alphabets += ["1 +=\n(x-", "2*3=x\t)", "`$a <>b\n"]  # operators, code and math across lines
    out = []
    for _ in range(n):
        alpha = rng.choice(alphabets)
        out.append("".join(rng.choice(alpha) for _ in range(rng.randint(0, 90))))
    return out


def loop_texts() -> list[str]:
    """A unit of every length 1-40 repeated 4 times (no loop) and 5 times (a loop), with and without blanks, in
    prose and inside one long word."""
    rng = random.Random(3)
    out = []
    for length in range(1, 41):
        for kind in ("word", "blanks", "mixed"):
            if kind == "word":
                unit = "".join(rng.choice("abcdefghij") for _ in range(length))
            elif kind == "blanks":
                unit = "".join(rng.choice(" \t\n") for _ in range(length))
            else:
                unit = "".join(rng.choice("ab c") for _ in range(length))
            for times in (4, 5):
                out += [f"Some prose {unit * times} and more.", f"x{unit * times}y", unit * times]
    return out


# ------------------------------------------------------------------------------------------ script table


def test_script_table_equals_the_unicode_names_on_every_code_point():
    # Every code point (surrogates included: they are not letters), classified for the union of the scripts the
    # guards know and for Arabic alone. A wrong table entry for any character fails here.
    every = "".join(map(chr, range(0x110000)))
    union = set().union(*_SCRIPTS.values(), {"LATIN"})
    letters = [ch for ch in every if ch.isalpha()]
    first_word = [unicodedata.name(ch, "").split(" ", 1)[0] for ch in letters]
    for scripts in (union, {"ARABIC"}):
        marks = every.translate(guards._TABLES.get(frozenset(scripts)) or guards._ScriptTable(frozenset(scripts)))
        assert len(marks) == len(letters)  # exactly the letters are kept
        expected = "".join("h" if w in scripts else "l" for w in first_word)
        assert marks == expected
    assert script_counts(every, {"ARABIC"}) == (first_word.count("ARABIC"), len(letters))


@pytest.mark.parametrize("lang", sorted(_SCRIPTS) + ["en"])
def test_script_share_equals_the_reference_for_every_language(lang):
    scripts = guards.target_scripts(lang)
    texts = random_texts(1, 50) + [
        "مرحبا بالعالم Hello",
        "Привет мир",
        "こんにちは世界 漢字",
        "안녕하세요 世界",
        "ሰላም",
        "नमस्ते",
    ]
    for t in texts:
        assert script_share(t, scripts) == ref_script_share(t, scripts)


def test_copied_names_are_left_out_the_same_way():
    rng = random.Random(5)
    words = ["Python", "utf8", "HTTP", "the", "data", "x2", "Ärger", "ملف", "بايثون", "DNA", "ok"]
    for _ in range(400):
        src = " ".join(rng.choices(words, k=rng.randint(0, 8)))
        out = " ".join(rng.choices(words, k=rng.randint(0, 8))) + rng.choice(["", ".", " 3", "-DNA-"])
        counts = script_counts(out, {"ARABIC"})
        fast = guards._counts_without_names(src, out, counts, {"ARABIC"})
        assert fast == script_counts(guards.without_copied_names(src, out), {"ARABIC"}), (src, out)


# ------------------------------------------------------------------------------------------ loops and numbers


def test_is_loop_equals_the_regex_definition():
    texts = loop_texts() + random_texts(2, 3000) + ["the cat sat " * 4, "a " * 5, "word " * 3, "", "     ", "\t \n \r"]
    assert sum(map(ref_is_loop, texts)) > 300  # the texts do exercise loops
    for t in texts:
        assert guards.is_loop(t) == ref_is_loop(t), repr(t)


def test_numbers_equal_the_reference_extraction():
    texts = random_texts(4, 3000) + ["1,000 and 1,2,3; 3.5km, utf8 2x 1st", "٤٢ و٣٫٥ و١٬٠٠٠", "v1.2.3 at 10:30, 5km"]
    for t in texts:
        for glued in (False, True):
            assert guards.numbers(t, glued) == ref_numbers(t, glued), repr(t)


# ------------------------------------------------------------------------------------------ segmenter pre-checks

SPAN_TEXTS = [
    "Run `pip install x` then see https://example.org/a_(b) or www.example.com, mail me@example.org.",
    "```python\nprint(1)\n```\n~~~\nraw\n~~~\n$$x^2$$ and \\[y\\] and \\begin{align}a\\end{align} and \\(z\\)",
    "Price $5 and $x + 1$ math; 48/2 = <<48/2=24>>24 apples.\n#### 24\n<b>bold</b> <!-- note -->",
    "Fill {{name}} {% if %} {user} %s %(n)d; solve 2x + 3 = 11, 3 x 4 = 12, (a)(b), 12 * 5; see [3] and [ 4 ].",
    "x^2 - 1 = 0 factors as (x + 1)(x - 1) = 0; 10-20 items; and/or; 3 ≤ 4 ≠ 5; 6 ÷ 2 × 3 = 9",
]


def test_each_pattern_needs_what_its_pre_check_names():
    texts = SPAN_TEXTS + random_texts(6, 500)
    for kind, pattern in segment._SPAN_PATTERNS:
        found = 0
        for t in texts:
            for m in pattern.finditer(t):
                found += 1
                assert any(needed in m.group(0) for needed in segment._NEEDS[kind]), (kind, m.group(0))
        assert found or kind == "marker", f"no text exercises {kind}"


def test_protected_spans_are_the_same_without_the_pre_checks(monkeypatch):
    texts = SPAN_TEXTS + ["\n".join(SPAN_TEXTS)] + random_texts(7, 600)
    fast = [segment.protected_spans(t) for t in texts]
    monkeypatch.setattr(segment, "_NEEDS", {kind: ("",) for kind in segment._NEEDS})  # "" is in every text
    monkeypatch.setattr(segment, "_lines_needing", lambda text, needed: [(0, len(text))])  # equations: whole text
    assert [segment.protected_spans(t) for t in texts] == fast


def test_sentinels_are_never_letters_and_a_texts_own_private_use_characters_survive():
    assert not any(chr(cp).isalpha() for cp in range(0xF0000, 0x110000))
    text = "Keep \U000f0000 and \U000f0001 here: run `ls` now. Then \U000f0002 `pwd`."
    doc = segment.split(text)
    assert doc.assemble([s.restore(s.text) for s in doc.segments]) == text
    assert all("\U000f0000" not in sp for s in doc.segments for sp in s.spans)
    assert "\U000f0000" in doc.segments[0].text and "[1]" in doc.segments[0].text
