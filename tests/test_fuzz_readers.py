"""Bad input cannot crash a reader (issue 16): property-based fuzzing of every reader hala has — JSONL(.gz),
Parquet, TSV, line-aligned text, CSV multiple-choice files, recipes. Every generated input is either accepted, or
rejected with `file:line: reason` (a reject, or one user error naming the file); nothing else may escape.

Examples per test are kept small (the whole module runs in well under a minute on a shared 2-core machine);
hypothesis' example database is off, so a run leaves no files behind and CI is reproducible per seed.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hala.errors import HalaError
from hala.records import RejectLog, read_records
from hala.sources.pairs import iter_pairs

FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# JSON values hala's records might meet: strings in several scripts, numbers, nesting, nulls.
TEXT = st.text(
    alphabet=st.sampled_from(list(string.printable) + list("أإآابتثةىيـًٌٍَُِّْ٠١٢ﻻﷲ\u200f\u0000\ufeff")), max_size=12
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
ROLES = st.sampled_from(["system", "user", "assistant", "tool", "bot", ""])
MESSAGE = st.fixed_dictionaries({"role": ROLES, "content": TEXT | JSON})
CHAT = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "", "c1"]) | JSON, "messages": st.lists(MESSAGE, max_size=3) | JSON},
    optional={"meta": JSON, "extra": JSON},
)
PAIR = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["p1", "p2", ""]) | JSON,
        "src": TEXT | JSON,
        "tgt": TEXT | JSON,
        "src_lang": st.sampled_from(["en", "EN", "e", "ar"]) | JSON,
        "tgt_lang": st.sampled_from(["ar", "a"]) | JSON,
    },
    optional={"meta": JSON},
)
RECORD_LINE = (CHAT | PAIR | JSON).map(lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8"))
RAW_LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
DEEP = st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)  # nesting beyond json's recursion limit
HUGE_INT = st.just(b'{"id": "n", "src": ' + b"9" * 5000 + b"}")
LINES = st.lists(RECORD_LINE | RAW_LINE | DEEP | HUGE_INT, max_size=8)


def _check_rejects(log: RejectLog, path: Path, n_lines: int) -> None:
    for r in log.examples:
        assert r.source == str(path) and r.reason
        assert r.line is None or 1 <= r.line <= max(n_lines, 1)
        assert str(r).startswith(f"{path}:")


@FUZZ
@given(lines=LINES, kind=st.sampled_from([None, "chat", "pair"]), gz=st.booleans())
def test_jsonl_records_are_read_or_rejected_with_file_and_line(lines, kind, gz):
    import gzip

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("x.jsonl.gz" if gz else "x.jsonl")
        data = b"\n".join(lines) + b"\n"
        path.write_bytes(gzip.compress(data) if gz else data)
        log = RejectLog(max_examples=100)
        good = list(read_records(path, kind, log))
        non_blank = sum(1 for line in data.split(b"\n") if line.strip())
        assert len(good) + log.total == non_blank  # nothing silently dropped
        _check_rejects(log, path, len(lines))
        ids = [r.id for r in good]
        assert len(ids) == len(set(ids))  # a repeated id never reaches a stage


@FUZZ
@given(blob=st.binary(max_size=200), suffix=st.sampled_from([".jsonl.gz", ".parquet"]))
def test_corrupt_gzip_and_parquet_are_one_error_naming_the_file(blob, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x{suffix}"
        path.write_bytes(blob)
        log = RejectLog()
        try:
            list(read_records(path, None, log))
        except ValueError as e:
            assert str(e).startswith(f"{path}:"), e
        _check_rejects(log, path, 10**6)


@settings(FUZZ, max_examples=25)
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["id", "src", "tgt", "src_lang", "tgt_lang", "meta", "x"]),
            st.none() | TEXT | st.integers(),
            max_size=7,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_parquet_records_are_read_or_rejected(rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.parquet"
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowException, TypeError, OverflowError):  # mixed types, ints over 64 bits: cannot be written
            return
        if not table.num_columns:  # rows without columns do not survive a Parquet round trip
            return
        pq.write_table(table, path)
        log = RejectLog()
        good = list(read_records(path, None, log))
        assert len(good) + log.total == len(rows)
        _check_rejects(log, path, len(rows))


@FUZZ
@given(lines=st.lists(RAW_LINE | st.lists(TEXT, max_size=4).map(lambda c: "\t".join(c).encode()), max_size=10))
def test_tsv_pairs_are_read_or_rejected(lines):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.tsv"
        path.write_bytes(b"\n".join(lines))
        log = RejectLog(max_examples=100)
        pairs = list(iter_pairs(str(path), rejects=log))
        assert all(isinstance(p["src"], str) and isinstance(p["tgt"], str) for p, _, _ in pairs)
        _check_rejects(log, path, path.read_bytes().count(b"\n") + 1)


@FUZZ
@given(
    src=st.lists(RAW_LINE, max_size=6), tgt=st.lists(RAW_LINE, max_size=6), labels=st.none() | st.binary(max_size=30)
)
def test_line_aligned_text_is_read_rejected_or_one_alignment_error(src, tgt, labels):
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "t.en").write_bytes(b"\n".join(src) + (b"\n" if src else b""))
        (Path(d) / "t.ar").write_bytes(b"\n".join(tgt) + (b"\n" if tgt else b""))
        if labels is not None:
            (Path(d) / "t.ar.labels").write_bytes(labels)
        log = RejectLog(max_examples=100)
        try:
            pairs = list(iter_pairs(str(Path(d) / "t"), rejects=log))
        except HalaError as e:
            assert len(src) != len(tgt) and "line-aligned files must have the same number of lines" in str(e)
            return
        assert len(src) == len(tgt) and len(pairs) + len({r.line for r in log.examples}) == len(src)
        for r in log.examples:
            assert r.source in {str(Path(d) / "t.en"), str(Path(d) / "t.ar")} and r.line >= 1


CELL = st.sampled_from(["أ", "ا", "ب", "A", "b", "0", "3", "٢", "هـ", "", "answer", "Question", "question"]) | TEXT
CSV_ROW = st.lists(CELL, max_size=7)


@FUZZ
@given(
    header=st.sampled_from(
        [
            [],
            ["question", "A", "B", "C", "D", "answer"],
            ["Question", "A", "B", "C", "Answer"],
            ["Question", "Option 1", "Option 2", "Answer Key"],
        ]
    ),
    rows=st.lists(CSV_ROW, max_size=6),
    raw=st.none() | st.binary(max_size=60),
)
def test_csv_mcq_files_load_or_fail_naming_file_and_line(header, rows, raw):
    import csv
    import io

    from hala.evaluate.loaders import read_items

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "task_test.csv"
        if raw is not None:
            path.write_bytes(raw)
        else:
            buf = io.StringIO()
            csv.writer(buf).writerows(([header] if header else []) + rows)
            path.write_text(buf.getvalue(), encoding="utf-8")
        try:
            items = read_items(path)
        except ValueError as e:
            assert str(e).startswith(f"{path}"), e  # `file:line: reason`, or `file: no items found`
            return
        assert items and all(0 <= i.answer < len(i.choices) for i in items)


STAGE_TYPES = [
    "data.packages",
    "data.chat",
    "data.mix",
    "translate",
    "filter",
    "corpus",
    "train",
    "merge",
    "quantize",
    "eval.translation",
    "eval.mcq",
    "report",
    "nope",
]
FIELDS = [
    "input",
    "inputs",
    "model",
    "rules",
    "sources",
    "tasks",
    "t",
    "sweep",
    "select_on",
    "limit",
    "kind",
    "engine",
    "templates",
    "directions",
    "max_tokens",
    "tokenizer",
    "run_dir",
    "base",
    "tuned",
    "train",
]
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-3, 10**6)
    | st.floats(allow_nan=True)
    | TEXT
    | st.sampled_from(
        [
            "@a/x",
            "@run/",
            "@zz/q",
            "${models.m}",
            "${vars.v}",
            "${hala.data}",
            "${nope.x}",
            "embedded:gemma-3-270m",
            "hala",
            "few-shot",
            "ct2",
            "2021-13-45",
        ]
    )
)
STAGE = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "run", "bad name", ""]) | TEXT, "type": st.sampled_from(STAGE_TYPES)},
    optional={
        "with": st.dictionaries(st.sampled_from(FIELDS), SCALAR | st.lists(SCALAR, max_size=3) | JSON, max_size=4),
        "estimate": JSON,
        "junk": JSON,
    },
)
RECIPE = st.fixed_dictionaries(
    {"name": st.sampled_from(["r", "bad name"]), "stages": st.lists(STAGE, max_size=3)},
    optional={"models": st.dictionaries(st.just("m"), TEXT | JSON, max_size=1), "vars": JSON, "run_dir": TEXT | JSON},
)


@FUZZ
@given(recipe=RECIPE | JSON)
def test_recipe_structures_validate_or_fail_with_one_user_error(recipe):
    import yaml

    from hala.recipe import load_recipe

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.yaml"
        path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
        try:
            load_recipe(path)
        except HalaError as e:
            assert str(e).startswith(str(path)), e


@FUZZ
@given(
    text=st.lists(
        st.sampled_from(
            list(":-[]{}&*!|>'\"%@`#,? \n\tabc0123.")
            + ["name: r", "stages:", "- ", "  ", "2021-13-45", "!!python/object:os.system", "type: filter", "with:"]
        ),
        max_size=40,
    ).map("".join)
)
def test_recipe_yaml_text_validates_or_fails_with_one_user_error(text):
    from hala.recipe import load_recipe

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_recipe(path)
        except HalaError as e:
            assert str(e).startswith(str(path)), e


def test_recipe_value_yaml_cannot_build_names_the_file(tmp_path):
    from hala.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("name: r\nstages: [{name: a, type: filter, with: {inputs: [x], when: 2021-13-45}}]\n")
    with pytest.raises(HalaError, match=f"^{path}: invalid YAML value: month must be in 1..12"):
        load_recipe(path)


def test_empty_turn_and_duplicate_id_are_rejected_with_reasons(tmp_path):
    path = tmp_path / "chat.jsonl"
    rows = [
        {"id": "a", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"id": "a", "messages": [{"role": "user", "content": "Again"}, {"role": "assistant", "content": "Yes"}]},
        {"id": "b", "messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "x"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    log = RejectLog()
    assert [r.id for r in read_records(path, "chat", log)] == ["a"]
    assert [str(r) for r in log.examples] == [
        f"{path}:2: duplicate id: 'a' (first on line 1)",
        f"{path}:3: invalid record: messages[0] (user) is an empty turn",
    ]


@pytest.mark.parametrize(
    "content, code", [("", 1), ('{"id": "x", "src": "a", "tgt": "b", "src_lang": "en", "tgt_lang": "ar"}\n', 0)]
)
def test_data_check_warns_on_an_empty_file_and_prints_json(tmp_path, content, code):
    from typer.testing import CliRunner

    from hala.cli import app

    path = tmp_path / "x.jsonl"
    path.write_text(content, encoding="utf-8")
    plain = CliRunner().invoke(app, ["data", "check", str(path)])
    assert plain.exit_code == code
    assert ("warning:" in plain.output and "no records" in plain.output) == (code == 1)
    js = CliRunner().invoke(app, ["data", "check", str(path), "--json"])
    summary = json.loads(js.stdout)
    assert js.exit_code == code and summary["good"] == 1 - code and bool(summary["warnings"]) == (code == 1)
