"""Segmentation and span protection: every protected kind round-trips byte-exact and never reaches the model."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hala.translate.segment import SpanMismatch, protected_spans, split

# One example generator per protected kind; each returns text that must come back byte-exact.
_ident = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
_math_body = st.from_regex(r"[a-z0-9^+=\\{}]{1,10}", fullmatch=True).filter(
    lambda s: not s.endswith("\\") and not s[0].isspace()
)
KINDS = {
    "code_block": st.builds(
        lambda lang, body: f"```{lang}\n{body}\n```\n",
        _ident,
        st.from_regex(r"[a-z =()\[\]{}$%<>:\n]{0,40}", fullmatch=True).filter(
            lambda b: "```" not in b and "\n\n" not in b
        ),
    ),
    "inline_code": st.builds(lambda b: f"`{b}`", st.from_regex(r"[a-z(). =\[\]]{1,12}", fullmatch=True)),
    "math": st.builds(lambda b: f"${b}$", _math_body.filter(lambda s: not s[-1].isspace())),
    "math_display": st.builds(lambda b: f"$${b}$$", _math_body),
    "math_paren": st.builds(lambda b: f"\\({b}\\)", _math_body),
    "math_bracket": st.builds(lambda b: f"\\[{b}\\]", _math_body),
    "url": st.builds(lambda host, path: f"https://{host}.org/{path}", _ident, _ident),
    "email": st.builds(lambda u, h: f"{u}@{h}.com", _ident, _ident),
    "html": st.sampled_from(["<br>", "<br/>", "<b>", "</b>", '<a href="x.html">', "</a>", "<!-- note -->"]),
    "placeholder": st.one_of(
        st.builds(lambda n: f"{{{n}}}", _ident),
        st.builds(lambda n: f"{{{{{n}}}}}", _ident),
        st.sampled_from(["%s", "%d", "%.2f"]),
        st.builds(lambda n: f"%({n})s", _ident),
    ),
}
WORDS = st.sampled_from(["the", "cat", "runs", "quickly", "Python", "list", "value", "and", "is", "for"])


@st.composite
def documents(draw):
    """Markdown-ish text: lines of words mixed with protected spans, headings, list items and table rows."""
    lines, spans, words = [], [], []
    for _ in range(draw(st.integers(1, 5))):
        parts = []
        for _ in range(draw(st.integers(1, 6))):
            if draw(st.booleans()):
                kind = draw(st.sampled_from(sorted(KINDS)))
                span = draw(KINDS[kind])
                if kind == "code_block":  # a fence starts a line and ends one
                    lines.append(" ".join(parts))
                    lines.append(span.rstrip("\n"))
                    parts = []
                else:
                    parts.append(span)
                spans.append(span.rstrip("\n"))
            else:
                ws = draw(st.lists(WORDS, min_size=1, max_size=5))
                words.extend(ws)
                parts.append(" ".join(ws) + draw(st.sampled_from(["", ".", "?", "!"])))
        prefix = draw(st.sampled_from(["", "# ", "## ", "- ", "* ", "1. ", "> ", "  - "]))
        line = prefix + " ".join(parts)
        if draw(st.integers(0, 5)) == 0:
            line = f"| {' '.join(parts)} | cell |"
            words.append("cell")
        lines.append(line)
    sep = draw(st.sampled_from(["\n", "\n\n", "\r\n"]))
    return sep.join(lines), spans, words


def _fake_translate(text: str) -> str:
    """A 'translation' that changes every word and reverses the placeholder order, as a real one may."""
    marks = re.findall(r"\[\d+\]", text)
    words = re.sub(r"\[\d+\]", "", text).split()
    return " ".join([w.upper() + "X" for w in words] + marks[::-1])


@settings(max_examples=80, deadline=None)
@given(documents())
def test_untranslated_segments_reassemble_byte_exact(doc_spans):
    text, _, _ = doc_spans
    doc = split(text)
    assert doc.assemble([s.restore(s.text) for s in doc.segments]) == text


@settings(max_examples=80, deadline=None)
@given(documents())
def test_protected_spans_never_reach_the_model_and_survive_translation(doc_spans):
    text, spans, _ = doc_spans
    doc = split(text)
    seen = [sp.text for sp in doc.spans]
    for span in spans:
        # Each inserted span is protected whole (or inside a bigger protected span).
        assert any(span in s for s in seen), (span, seen)
        for seg in doc.segments:
            assert span not in seg.text
    out = doc.assemble([s.restore(_fake_translate(s.text)) for s in doc.segments])
    for span in set(spans):
        assert out.count(span) >= text.count(span) > 0


@settings(max_examples=80, deadline=None)
@given(documents())
def test_every_plain_word_is_sent_for_translation(doc_spans):
    text, _, words = doc_spans
    doc = split(text)
    assert sorted(w for seg in doc.segments for w in re.findall(r"[A-Za-z]+", seg.text)) == sorted(words)


def test_text_after_a_closed_code_block_is_translated():
    doc = split("Use it:\n\n```bash\nwc -l x\n```\n\nIt prints lines.\n~~~\nunclosed\nfence")
    assert [s.text for s in doc.segments] == ["Use it:", "It prints lines."]
    assert [s.kind for s in doc.spans] == ["code_block", "code_block"]


@pytest.mark.parametrize(
    "text,kind",
    [
        ("Run:\n\n```python\nprint('hi')  # say hi\n```\n\nDone.", "code_block"),
        ("Open ~~~\nnot a fence", None),
        ("Call `len(x)` here.", "inline_code"),
        ("The derivative of $x^2$ is $2x$.", "math"),
        ("Euler: $$e^{i\\pi} + 1 = 0.$$ Nice.", "math_block"),
        ("Mean \\(\\bar{x}\\) and \\[\\int_0^1 x\\,dx\\] here.", "math"),
        ("See https://docs.python.org/3/tutorial/.", "url"),
        ("Mail support@example.com today.", "email"),
        ("Line one<br>line two <b>bold</b>.", "html"),
        ("Hi {name}, you have {{count}} items.", "placeholder"),
        ("%(user)s has %d points and 50%% more.", "placeholder"),
    ],
)
def test_each_kind_is_protected(text, kind):
    doc = split(text)
    if kind:
        assert kind in {s.kind for s in doc.spans}
    assert doc.assemble([s.restore(s.text) for s in doc.segments]) == text
    for sp in doc.spans:
        assert all(sp.text not in seg.text for seg in doc.segments)


def test_url_keeps_balanced_parenthesis_and_drops_sentence_punctuation():
    spans = protected_spans("Read https://en.wikipedia.org/wiki/Tea_(drink). Or (see http://x.org/a).")
    assert [s.text for s in spans] == ["https://en.wikipedia.org/wiki/Tea_(drink)", "http://x.org/a"]


def test_prices_are_not_math():
    assert protected_spans("It costs $5 and $10 today.") == []


def test_markdown_structure_stays_outside_segments():
    text = (
        "## Setup steps\n\n1. Install it.\n- Run it.\n> Quote here.\n\n| Name | Age |\n|---|:--:|\n| Omar | 41 |\n---"
    )
    doc = split(text)
    assert [s.text for s in doc.segments] == [
        "Setup steps",
        "Install it.",
        "Run it.",
        "Quote here.",
        "Name",
        "Age",
        "Omar",
    ]
    assert doc.assemble(["T"] * len(doc.segments)) == (
        "## T\n\n1. T\n- T\n> T\n\n| T | T |\n|---|:--:|\n| T | 41 |\n---"
    )


def test_sentences_split_but_not_after_abbreviations():
    doc = split("Use tools, e.g. a hammer. Then rest! Is it done? Yes.")
    assert [s.text for s in doc.segments] == ["Use tools, e.g. a hammer.", "Then rest!", "Is it done?", "Yes."]
    assert [s.text for s in split("One. Two.", mode="line").segments] == ["One. Two."]


def test_long_sentences_are_cut_to_fit():
    sentence = ", ".join(["a fairly long clause about things"] * 20) + "."
    doc = split(sentence, max_chars=100)
    assert len(doc.segments) > 1 and all(len(s.text) <= 100 for s in doc.segments)
    assert doc.assemble([s.text for s in doc.segments]) == sentence


def test_literal_bracket_numbers_are_protected_so_placeholders_stay_unambiguous():
    doc = split("As shown in [1], use `x`.")
    (seg,) = doc.segments
    assert seg.text == "As shown in [1], use [2]." and seg.spans == ["[1]", "`x`"]


@pytest.mark.parametrize("bad", ["no placeholders at all", "[1] [1] [2]", "[1] [2] [3]", "[2] only"])
def test_restore_refuses_lost_duplicated_or_invented_placeholders(bad):
    (seg,) = split("Use `a` and `b` together.").segments
    assert seg.text == "Use [1] and [2] together."
    with pytest.raises(SpanMismatch):
        seg.restore(bad)
    assert seg.restore("X [ 2 ] Y [1]") == "X `b` Y `a`"


def test_wordless_lines_are_kept_not_translated():
    doc = split("```\ncode\n```\n$x$ = 3.\n--\n")
    assert doc.segments == []
    assert doc.assemble([]) == "```\ncode\n```\n$x$ = 3.\n--\n"


def test_dollars_inside_a_code_block_do_not_hide_later_math():
    text = "```a\n$$\n```\nThen $$0$$ holds."
    assert [s.text for s in protected_spans(text)] == ["```a\n$$\n```", "$$0$$"]
