"""Split a text into translatable segments, hiding every span that must not be translated.

A text becomes a `Document`: a list of pieces that are either kept verbatim (layout, markdown structure, and
protected spans that stand alone) or the index of a `Segment` to translate. A segment is one sentence (or line)
in which each protected span was replaced by a short numbered placeholder `[1]`, `[2]`, ...; the original bytes
of those spans never reach the model. After translation `restore` puts the spans back and refuses (raises
`SpanMismatch`) unless every placeholder came back exactly once, so a reassembled text carries every protected
span byte-exact. Reassembling the untranslated segments gives back the input byte-for-byte.

Protected, in priority order (an earlier kind wins where two overlap): fenced code blocks, display math
(`$$..$$`, `\\[..\\]`, `\\begin{..}..\\end{..}`), inline code, inline math (`$..$`, `\\(..\\)`), calculator
annotations with their expression and result (`48/2 = <<48/2=24>>24`), numeric answer lines (`#### 42`), URLs,
e-mail addresses, HTML/XML tags and comments, template placeholders (`{{x}}`, `{% x %}`, `{name}`, `%s`,
`%(x)d`), plain-text equations (`3 + 4 = 7`, `x^2 - 1 = 0`, `12 * 5`), and any text that already looks like our
own placeholder (`[3]`), so placeholders are never ambiguous.
Markdown structure (heading marks, list markers, block quotes, table pipes and separator rows, rules) stays
outside the segments.

`split_segment` cuts one model-facing segment into smaller ones for the retry ladder (translator.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hala.errors import ConfigError

# ------------------------------------------------------------------------------------------ protected spans
# Why regexes and not a markdown parser: we need byte offsets of a few span kinds inside otherwise free text,
# and must keep every byte we do not translate; markdown libraries normalise the text they render.

# Plain-text arithmetic (no library finds it in prose). A term is a number (`12`, `3.5`, `1,000`, `$20`, `30%`,
# `2x`) or a lone letter (`x`, not part of a word), with an optional power and parentheses around it.
_NUM = r"\$?(?:\d+(?:[.,]\d+)*|\.\d+)%?"
_TERM = (
    r"\(*-?(?:" + _NUM + r"(?:[A-Za-z](?![A-Za-z\d]))?|(?<![A-Za-z\d'’])[A-Za-z](?![A-Za-z\d'’]))"
    r"(?:\^\(?-?\w+(?:\.\d+)?\)?|[²³])?\)*"
)
# An operator, `x` between numbers (`3 x 4`), or nothing before a parenthesis (`2(x + 1)`, `(a)(b)`).
_OP = r"(?:[ \t]*(?:==|!=|<=|>=|[-+*/×÷^=<>≤≥≠])[ \t]*|[ \t]+x[ \t]+(?=\$?\d)|(?=\())"
_EXPR = _TERM + "(?:" + _OP + _TERM + ")+"
_RELATION = re.compile(r"==|!=|<=|>=|[=<>≤≥≠]")
_ARITH = re.compile(r"(?<=[\w.%)²³ ])[ \t]*(?:[+*/×÷^]|(?<=\d )x(?= [$\d]))[ \t]*(?=[\w$.(])")


def _is_equation(s: str) -> bool:
    """An equation or inequality (`3 + 4 = 7`, `x^2 - 1 = 0`, `x = 5`), or arithmetic on numbers only (`12 * 5`,
    `48/2`): not a range like `10-20` or a lone `and/or`-style slash between letters."""
    if _RELATION.search(s):
        return True
    return bool(_ARITH.search(s)) and not re.search(r"(?<![\d.])[A-Za-z]", s) and len(re.findall(r"\d+", s)) >= 2


_SPAN_PATTERNS: list[tuple[str, re.Pattern]] = [
    # A fence runs to its closing fence, or (unclosed) to the end of the text.
    ("code_block", re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*(?:\n.*?^[ \t]{0,3}\1[ \t]*\r?$|.*\Z)", re.M | re.S)),
    ("math_block", re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\begin\{([A-Za-z*]+)\}.*?\\end\{\1\}", re.S)),
    ("inline_code", re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)),
    # Pandoc's rule tells math from prices: no space after the opening `$`, none before the closing one,
    # and no digit right after it ("$5 and $10" is not math).
    ("math", re.compile(r"(?<![\\$])\$(?=[^\s$])(?:\\.|[^$\\\n])+?(?<=[^\s\\])\$(?!\d)|\\\(.+?\\\)", re.S)),
    # A GSM8K-style calculator annotation with the expression before it and the result after it, as one span:
    # `48/2 = <<48/2=24>>24`. Translators rewrite these (`<<125+$50=175`), and the answer checker reads them.
    (
        "calc",
        re.compile(r"(?:" + _TERM + "(?:" + _OP + _TERM + r")*[ \t]*=[ \t]*)?<<[^<>\n]{1,300}?>>(?:" + _NUM + ")?"),
    ),
    # A final-answer line (`#### 72`), the grader's anchor: the whole line, when what follows is a number.
    ("answer", re.compile(r"^[ \t]*####[ \t]*[-+]?" + _NUM + r"(?:[ \t]*/[ \t]*\d+)?[ \t]*$", re.M)),
    ("url", re.compile(r"\b(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)[^\s<>\"'`]+")),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.[A-Za-z]{2,}\b")),
    ("html", re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9:-]*(?:\s+[^<>]*?)?/?>", re.S)),
    (
        "placeholder",
        re.compile(
            r"\{\{.*?\}\}|\{%.*?%\}|\{[A-Za-z0-9_.\[\]:!-]*\}"
            r"|%(?:\([A-Za-z0-9_]+\))?[-#0+]*\d*(?:\.\d+)?[sdifeEgGxXocr%]"
        ),
    ),
    ("equation", re.compile(_EXPR)),
    ("marker", re.compile(r"\[\s*\d+\s*\]")),
]
_URL_TRAILING = ".,;:!?'\")]}"
# Substrings without which a kind's pattern cannot match (each names a literal every match contains): most texts
# lack most of them, and a few `in` tests are far cheaper than a regex search through the whole text.
# tests/test_translate_protect.py checks each against its pattern.
_NEEDS: dict[str, tuple[str, ...]] = {
    "code_block": ("```", "~~~"),
    "math_block": ("$$", "\\[", "\\begin{"),
    "inline_code": ("`",),
    "math": ("$", "\\("),
    "calc": ("<<",),
    "answer": ("####",),
    "url": ("://", "www."),
    "email": ("@",),
    "html": ("<",),
    "placeholder": ("{", "%"),
    # an equation has an operator of _OP: a sign, `x` between blanks, or a parenthesis
    "equation": tuple("=<>-+*/×÷^≤≥≠(") + (" x", "\tx"),
    "marker": ("[",),
}

# The model-facing placeholder, and the lenient form we accept back (models sometimes add spaces).
PLACEHOLDER = "[{}]"
_PLACEHOLDER_BACK = re.compile(r"\[\s*(\d+)\s*\]")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    text: str


def _trim_url(text: str) -> str:
    """Sentence punctuation after a URL is not part of it; a closing bracket is, when it has an opener."""
    while text and text[-1] in _URL_TRAILING:
        if text[-1] == ")" and text.count("(") >= text.count(")"):
            break
        text = text[:-1]
    return text


def _trim_equation(text: str) -> tuple[int, str]:
    """(characters cut at the start, the equation) without the unbalanced parentheses at its ends: they belong to
    the prose around it, `(so x = 2)`."""
    cut = 0
    while text.startswith("(") and text.count("(") > text.count(")"):
        text, cut = text[1:], cut + 1
    while text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1]
    return cut, text


def protected_spans(text: str) -> list[Span]:
    """All protected spans of `text`, non-overlapping, in text order.

    Kinds are matched in priority order. A later match that overlaps taken spans is dropped, unless it strictly
    contains them all: then it absorbs them (inline math around `\\begin{pmatrix}..`, an HTML tag around a URL).
    """
    taken: list[Span] = []
    for kind, pattern in _SPAN_PATTERNS:
        if not any(needed in text for needed in _NEEDS[kind]):
            continue
        for start, end in _lines_needing(text, _NEEDS[kind]) if kind == "equation" else [(0, len(text))]:
            taken = _match_kind(kind, pattern, text, start, end, taken)
    return sorted(taken, key=lambda sp: sp.start)


def _lines_needing(text: str, needed: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of each line of `text` holding one of `needed`. An equation never spans a line (its pattern
    matches no newline), so it is searched for only in the lines that can hold one: most prose lines have no
    operator, and the equation pattern was the costliest one to run through a whole text."""
    out, pos = [], 0
    for line in text.split("\n"):
        if any(n in line for n in needed):
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _match_kind(kind: str, pattern: re.Pattern, text: str, pos: int, end: int, taken: list[Span]) -> list[Span]:
    """`taken` with the matches of one kind in text[pos:end] added (see protected_spans)."""
    while m := pattern.search(text, pos, end):
        start, s = _trim_equation(m.group(0)) if kind == "equation" else (0, m.group(0))
        s = _trim_url(s) if kind == "url" else s
        if kind == "equation" and not _is_equation(s):
            pos = m.start() + 1
            continue
        span = Span(m.start() + start, m.start() + start + len(s), kind, s)
        hit = [t for t in taken if span.start < t.end and t.start < span.end]
        if s and all(span.start <= t.start and t.end <= span.end and len(t.text) < len(s) for t in hit):
            taken = [t for t in taken if t not in hit] + [span]
            pos = span.end
        else:
            # A match straddling a taken span (a `$$` inside a code block paired with one outside) must not
            # hide a real match that starts inside it: search again one character further.
            pos = m.start() + 1
    return taken


# ------------------------------------------------------------------------------------------ document model
class SpanMismatch(ValueError):
    """A translation lost, duplicated or invented a placeholder; the reason says which."""


@dataclass
class Segment:
    text: str  # what the model sees, placeholders numbered from 1
    spans: list[str] = field(default_factory=list)  # original text of placeholder i+1

    def restore(self, translation: str) -> str:
        """Put the protected spans back into `translation`; raise SpanMismatch unless each came back once."""
        check_placeholders(translation, len(self.spans))
        return _PLACEHOLDER_BACK.sub(lambda m: self.spans[int(m.group(1)) - 1], translation)


def count_placeholders(text: str) -> int:
    return len(_PLACEHOLDER_BACK.findall(text))


def check_placeholders(translation: str, n: int) -> None:
    """Raise SpanMismatch unless `translation` holds placeholders 1..n exactly once each."""
    found = [int(m.group(1)) for m in _PLACEHOLDER_BACK.finditer(translation)]
    expected = list(range(1, n + 1))
    if sorted(found) != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected)) + sorted({i for i in found if found.count(i) > 1})
        raise SpanMismatch(f"placeholders missing {missing}, extra or repeated {extra}")


@dataclass
class Document:
    pieces: list[str | int]  # verbatim text, or the index of a segment
    segments: list[Segment]
    spans: list[Span]
    source: str = ""  # the text this document was made from (for the post-check after reassembly)

    def assemble(self, restored: list[str]) -> str:
        """Join verbatim pieces and the restored segment translations (same order as `segments`)."""
        return "".join(p if isinstance(p, str) else restored[p] for p in self.pieces)


# ------------------------------------------------------------------------------------------ splitting
_STRUCTURE_PREFIX = re.compile(r"^(?:[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\d{1,9}[.)][ \t]+))*[ \t]*")
_TABLE_SEPARATOR = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*(?::?-{3,}:?[ \t]*)?\|?[ \t]*$")
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[^\sa-z])")
_ABBREVIATIONS = {
    "e.g.",
    "i.e.",
    "etc.",
    "vs.",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "prof.",
    "st.",
    "no.",
    "fig.",
    "approx.",
    "cf.",
    "al.",
    "inc.",
    "ltd.",
    "jr.",
    "sr.",
}
_CLAUSE_BREAK = re.compile(r"(?<=[;,:])\s+|\s+")


def _pua_sentinels(text: str, n: int) -> list[str]:
    """`n` private-use characters absent from `text`: one-character stand-ins for spans while splitting."""
    out, cp = [], 0xF0000
    while len(out) < n:
        if cp > 0x10FFFD:
            raise ValueError("text has too many protected spans to segment")
        ch = chr(cp)
        if ch not in text:
            out.append(ch)
        cp += 1
    return out


# Every sentinel (_pua_sentinels) is in this range; so may be a text's own private-use characters.
_SENTINEL = re.compile("[\U000f0000-\U0010fffd]")
_INITIALS = re.compile(r"(?:[a-z]\.)+")


def _has_words(s: str) -> bool:
    # Sentinels are private-use characters, never letters (tests/test_translate_segment.py checks it).
    return any(map(str.isalpha, s))


def _sentences(text: str) -> list[str]:
    """Split at sentence ends, not after common abbreviations; pieces keep their trailing whitespace."""
    parts, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        words = text[start : m.start()].rsplit(None, 1)
        last_word = words[-1].lower() if words else ""
        if last_word in _ABBREVIATIONS or _INITIALS.fullmatch(last_word):
            continue
        parts.append(text[start : m.end()])
        start = m.end()
    parts.append(text[start:])
    return [p for p in parts if p]


def _fit(sentence: str, max_chars: int) -> list[str]:
    """Cut an over-long sentence at clause breaks (then spaces) into pieces of at most `max_chars`."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces, start, cut = [], 0, 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        if m.end() - start > max_chars and cut > start:
            pieces.append(sentence[start:cut])
            start = cut
        cut = m.end()
    if len(sentence) - start > max_chars and cut > start:
        pieces.append(sentence[start:cut])
        start = cut
    pieces.append(sentence[start:])
    return [p for p in pieces if p]


class _Builder:
    def __init__(self, spans: dict[str, Span]):
        self.pieces: list[str | int] = []
        self.segments: list[Segment] = []
        self.spans = spans  # sentinel character -> the span it stands for

    def _unmask(self, m: re.Match) -> str:
        sp = self.spans.get(m.group(0))
        return m.group(0) if sp is None else sp.text

    def keep(self, s: str) -> None:
        if s:
            # A regex finds the (rare) sentinels; a loop over every character was a large share of split().
            s = _SENTINEL.sub(self._unmask, s) if self.spans else s
            if self.pieces and isinstance(self.pieces[-1], str):
                self.pieces[-1] += s
            else:
                self.pieces.append(s)

    def translate(self, s: str) -> None:
        """Add `s` as a segment, keeping its surrounding whitespace verbatim (or keep it whole if wordless)."""
        core = s.strip()
        if not _has_words(core):
            self.keep(s)
            return
        lead = s[: len(s) - len(s.lstrip())]
        trail = s[len(s.rstrip()) :]
        self.keep(lead)
        originals: list[str] = []

        def placeholder(m: re.Match) -> str:
            sp = self.spans.get(m.group(0))
            if sp is None:  # the text's own private-use character
                return m.group(0)
            originals.append(sp.text)
            return PLACEHOLDER.format(len(originals))

        text = _SENTINEL.sub(placeholder, core) if self.spans else core
        self.pieces.append(len(self.segments))
        self.segments.append(Segment(text, originals))
        self.keep(trail)


def split(text: str, mode: str = "sentence", max_chars: int = 400) -> Document:
    """Segment `text` for translation. `mode`: 'sentence' (one segment per sentence) or 'line' (one per line,
    split into sentences only when longer than `max_chars`). Every segment is at most `max_chars` long where
    the text allows a cut."""
    if mode not in {"sentence", "line"}:
        raise ConfigError(f"unknown segmentation mode '{mode}' (sentence, line)")
    spans = protected_spans(text)
    sentinels = _pua_sentinels(text, len(spans))
    by_char = dict(zip(sentinels, spans))
    masked, pos = [], 0
    for ch, sp in by_char.items():
        masked.append(text[pos : sp.start] + ch)
        pos = sp.end
    masked.append(text[pos:])
    b = _Builder(by_char)
    for line in "".join(masked).splitlines(keepends=True):
        body = line.rstrip("\r\n")
        _split_line(b, body, mode, max_chars)
        b.keep(line[len(body) :])
    return Document(b.pieces, b.segments, spans, text)


def _split_line(b: _Builder, line: str, mode: str, max_chars: int) -> None:
    if _TABLE_SEPARATOR.match(line) or _RULE.match(line):
        b.keep(line)
        return
    if line.lstrip().startswith("|"):
        # Table row: pipes (not escaped ones) and the padding around cells stay; each cell is translated.
        for cell in re.split(r"(?<!\\)(\|)", line):
            if cell == "|":
                b.keep(cell)
            else:
                _split_text(b, cell, mode, max_chars)
        return
    prefix = _STRUCTURE_PREFIX.match(line).group(0)
    b.keep(prefix)
    _split_text(b, line[len(prefix) :], mode, max_chars)


def _split_text(b: _Builder, text: str, mode: str, max_chars: int) -> None:
    units = _sentences(text) if mode == "sentence" or len(text) > max_chars else [text]
    for unit in units:
        for piece in _fit(unit, max_chars):
            b.translate(piece)


# ------------------------------------------------------------------------------------------ smaller segments
@dataclass
class SubSplit:
    """A model-facing segment cut into parts for separate translation (the retry ladder's `split` rung).

    `pieces` are verbatim glue (whitespace, punctuation, placeholders in the segment's own numbering) or the index
    of a part; each part is a segment of its own, with placeholders renumbered from 1 (`numbers[i]` maps part i's
    placeholder j+1 back to the segment's number)."""

    pieces: list[str | int]
    parts: list[str]
    numbers: list[list[int]]

    def join(self, outputs: list[str]) -> str:
        """The segment's translation from its parts' translations (placeholders back in the segment's numbering)."""

        def back(i: int, text: str) -> str:
            return _PLACEHOLDER_BACK.sub(lambda m: _renumber(self.numbers[i], m), text)

        return "".join(p if isinstance(p, str) else back(p, outputs[p]) for p in self.pieces)


def _renumber(numbers: list[int], m: re.Match) -> str:
    k = int(m.group(1))
    # An invented placeholder stays out of range, so the joined text fails its placeholder check.
    return PLACEHOLDER.format(numbers[k - 1] if 1 <= k <= len(numbers) else 10**6 + k)


_CLAUSE_END = re.compile(r"(?<=[.!?…;:,])\s+")


def split_segment(text: str) -> SubSplit | None:
    """Cut a segment into smaller parts: at sentence and clause breaks (`.`, `;`, `:`, `,` before a space), or, if it
    has none, around its placeholders, which then stay verbatim between the parts (a model cannot lose a
    placeholder it is not shown). None when neither gives anything smaller than the segment itself."""
    for cut in (_cut_clauses, _cut_placeholders):
        sub = _sub_split(cut(text))
        if sub.parts and sub.parts != [text]:
            return sub
    return None


def _cut_clauses(text: str) -> list[tuple[str, bool]]:
    """(piece, translatable) pairs: the text between clause breaks, the breaks themselves verbatim."""
    out, pos = [], 0
    for m in _CLAUSE_END.finditer(text):
        out += [(text[pos : m.start()], True), (m.group(0), False)]
        pos = m.end()
    return out + [(text[pos:], True)]


def _cut_placeholders(text: str) -> list[tuple[str, bool]]:
    out, pos = [], 0
    for m in _PLACEHOLDER_BACK.finditer(text):
        out += [(text[pos : m.start()], True), (m.group(0), False)]
        pos = m.end()
    return out + [(text[pos:], True)]


def _sub_split(pieces: list[tuple[str, bool]]) -> SubSplit:
    sub = SubSplit([], [], [])

    def glue(s: str) -> None:
        if s:
            if sub.pieces and isinstance(sub.pieces[-1], str):
                sub.pieces[-1] += s
            else:
                sub.pieces.append(s)

    for piece, translatable in pieces:
        core = piece.strip()
        # A piece with no letters (punctuation, a lone placeholder, a number) is not worth a model call.
        if not translatable or not any(ch.isalpha() for ch in _PLACEHOLDER_BACK.sub("", core)):
            glue(piece)
            continue
        glue(piece[: len(piece) - len(piece.lstrip())])
        numbers = [int(m.group(1)) for m in _PLACEHOLDER_BACK.finditer(core)]
        local = iter(range(1, len(numbers) + 1))
        sub.pieces.append(len(sub.parts))
        sub.parts.append(_PLACEHOLDER_BACK.sub(lambda m: PLACEHOLDER.format(next(local)), core))  # noqa: B023 - used now
        sub.numbers.append(numbers)
        glue(piece[len(piece.rstrip()) :])
    return sub
