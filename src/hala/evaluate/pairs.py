"""Parallel text for translation evaluation: the pair readers of every stage (hala.sources.pairs), one direction.

`read_direction(source, src_lang, tgt_lang)` reads any input `hala filter` and `hala corpus` read (formats and the
bad-input rule: docs/RECORDS.md), or pairs given in Python, and returns the source sentences and references of
`src_lang` -> `tgt_lang` in input order; a pair of the opposite direction is read backwards, so one file serves
both directions. A line that cannot be read, or a pair of other languages, is a reject `file:line: reason` in
`rejects`; when no pair is left the evaluation cannot go on, which is one `InputError` naming the input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from hala.errors import InputError
from hala.records import Reject, RejectLog
from hala.sources.pairs import iter_pairs, object_pairs, orient, wrong_languages


def read_direction(
    source: str | Path | list,
    src_lang: str,
    tgt_lang: str,
    columns: tuple[str, str] | None = None,
    rejects: RejectLog | None = None,
) -> tuple[list[str], list[str]]:
    """(sources, references) of `src_lang` -> `tgt_lang` from `source`.

    `columns`: the languages of inputs that name none (TSV, line-aligned text, datasets with one column per
    language, `(src, tgt)` tuples), as (source side, target side); default `(src_lang, tgt_lang)`."""
    data_src, data_tgt = columns or (src_lang, tgt_lang)
    rejects = rejects if rejects is not None else RejectLog()
    before, shown = rejects.total, len(rejects.examples)
    if isinstance(source, (list, tuple)):
        where, rows = "pairs", object_pairs(source, data_src, data_tgt, rejects)
    else:
        where, rows = str(source), iter_pairs(str(source), data_src, data_tgt, rejects)
    srcs, refs, other = [], [], Counter()
    for pair, at, line in rows:
        texts = orient(pair, src_lang, tgt_lang)
        if texts is None:
            other[f"{pair['src_lang']}-{pair['tgt_lang']}"] += 1
            rejects.add(Reject(at, line, wrong_languages(pair, src_lang, tgt_lang), pair))
            continue
        srcs.append(texts[0])
        refs.append(texts[1])
    if not srcs:
        bad = rejects.total - before
        found = f"; its pairs are {', '.join(f'{k} ({n})' for k, n in other.most_common(3))}" if other else ""
        first = f"; first: {rejects.examples[shown]}" if len(rejects.examples) > shown else ""
        raise InputError(f"{where}: no {src_lang}-{tgt_lang} pairs to evaluate ({bad} rejected{found}{first})")
    return srcs, refs


def texts(lines: Iterable[str] | str | Path) -> list[str]:
    """Hypotheses or references given as a list, or as a file with one sentence per line."""
    if isinstance(lines, (str, Path)):
        # Strip only the line break: inner and trailing spaces belong to the sentence.
        with open(lines, encoding="utf-8", newline="") as fh:
            return [line.rstrip("\r\n") for line in fh]
    return list(lines)
