"""One reader layer (issue 15): `hala filter` and `hala eval translation` read parallel text through the same
readers (hala.sources.pairs), so they accept the same formats and treat a bad line the same way: a reject
`file:line: reason` in the stage's rejects file, and the stage goes on."""

from __future__ import annotations

import json

import pytest

from hala.errors import HalaError
from hala.evaluate.pairs import read_direction
from hala.evaluate.stage import EvalTranslationConfig, run_translation
from hala.evaluate.translation import evaluate_translation
from hala.filters import run as run_filter
from hala.filters.config import FilterConfig
from hala.records import RejectLog, write_records
from hala.sources.files import tsv_header

EN, AR = ["Hello.", "Good morning", " spaced  out "], ["مرحبا.", "صباح الخير", " مسافة "]


def _rejects(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _filtered(ref, out) -> list[tuple[str, str]]:
    """What `hala filter` reads from `ref` (no rules: every readable pair is kept), as (en, ar)."""
    run_filter(FilterConfig(inputs=[str(ref)], rules=[], progress=False), out)
    kept = [json.loads(line) for line in (out / "kept.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(p["src"], p["tgt"]) if p["src_lang"] == "en" else (p["tgt"], p["src"]) for p in kept]


# ----------------------------------------------------------------------------------- one bad-input rule
BAD_TSV = "en\tar\nHello.\tمرحبا.\nno tab on this line\nBye.\tوداعا.\n"


def test_bad_tsv_line_is_a_reject_in_filter_and_in_eval_translation(tmp_path):
    data = tmp_path / "bad.tsv"
    data.write_text(BAD_TSV, encoding="utf-8")
    expected = {"source": str(data), "line": 3, "reason": "invalid TSV line: expected 2 tab-separated columns, got 1"}

    assert _filtered(data, tmp_path / "filter") == [("Hello.", "مرحبا."), ("Bye.", "وداعا.")]
    [reject] = _rejects(tmp_path / "filter" / "rejects.jsonl")
    assert {k: reject[k] for k in expected} == expected

    # eval translation, Python API: counted in the result, written where asked, the good pairs scored
    r = evaluate_translation(None, data, hypotheses=["مرحبا.", "وداعا."], rejects=tmp_path / "eval-rejects.jsonl")
    assert r["input_rejects"] == 1 and r["n"] == 2 and r["chrf"] == pytest.approx(100)
    [reject] = _rejects(tmp_path / "eval-rejects.jsonl")
    assert {k: reject[k] for k in expected} == expected

    # the stage (both directions read the same data: one rejects file in the output directory)
    (tmp_path / "hyp.txt").write_text("مرحبا.\nوداعا.\n", encoding="utf-8")
    config = EvalTranslationConfig(
        data=str(data),
        directions=["en-ar", "ar-en"],
        hypotheses={"en-ar": str(tmp_path / "hyp.txt"), "ar-en": str(tmp_path / "hyp.txt")},
    )
    out = run_translation(config, tmp_path / "stage")
    assert out["outputs"]["rejects"] == "rejects.jsonl"
    assert [d["input_rejects"] for d in out["directions"].values()] == [1, 1]
    [reject] = _rejects(tmp_path / "stage" / "rejects.jsonl")
    assert {k: reject[k] for k in expected} == expected


def test_bad_tsv_line_is_a_reject_in_the_eval_translation_cli(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    data = tmp_path / "bad.tsv"
    data.write_text(BAD_TSV, encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("مرحبا.\nوداعا.\n", encoding="utf-8")
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "translation",
            "--data",
            str(data),
            "--hyp",
            str(tmp_path / "hyp.txt"),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    [reject] = _rejects(tmp_path / "o" / "rejects.jsonl")
    assert (reject["source"], reject["line"]) == (str(data), 3) and reject["reason"].startswith("invalid TSV line")
    summary = json.loads((tmp_path / "o" / "eval_translation.json").read_text(encoding="utf-8"))
    assert summary["directions"]["en-ar"]["input_rejects"] == 1 and summary["directions"]["en-ar"]["n"] == 2


def test_rerun_on_fixed_data_empties_the_rejects_file(tmp_path):
    data = tmp_path / "d.tsv"
    data.write_text(BAD_TSV, encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("مرحبا.\nوداعا.\n", encoding="utf-8")
    config = EvalTranslationConfig(data=str(data), hypotheses={"en-ar": str(tmp_path / "hyp.txt")})
    run_translation(config, tmp_path / "o")
    assert len(_rejects(tmp_path / "o" / "rejects.jsonl")) == 1
    data.write_text(BAD_TSV.replace("no tab on this line\n", ""), encoding="utf-8")
    run_translation(config, tmp_path / "o")
    assert (tmp_path / "o" / "rejects.jsonl").read_text(encoding="utf-8") == ""  # not the old run's reject


def test_eval_cannot_go_on_without_pairs_of_its_languages(tmp_path):
    data = tmp_path / "mixed.jsonl"
    write_records(
        data,
        [
            {"id": "a", "src": "Hello.", "tgt": "مرحبا.", "src_lang": "en", "tgt_lang": "ar"},
            {"id": "b", "src": "Bonjour", "tgt": "Hallo", "src_lang": "fr", "tgt_lang": "de"},
        ],
    )
    log = RejectLog()
    assert read_direction(data, "ar", "en", ("en", "ar"), log) == (["مرحبا."], ["Hello."])  # read backwards
    assert [str(r) for r in log.examples] == [f"{data}:2: language pair: fr-de is not ar-en in either direction"]
    with pytest.raises(HalaError, match=rf"{data}: no en-fr pairs to evaluate \(2 rejected; its pairs are en-ar"):
        read_direction(data, "en", "fr")


# ------------------------------------------------------------------------------------ one set of formats
def _inputs(tmp_path) -> dict[str, str]:
    """The same three pairs in every format both stages take."""
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "set.en").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (tmp_path / "txt" / "set.ar").write_text("\n".join(AR) + "\n", encoding="utf-8")
    (tmp_path / "iso3").mkdir()
    (tmp_path / "iso3" / "tat.eng").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (tmp_path / "iso3" / "tat.ara").write_text("\n".join(AR) + "\n", encoding="utf-8")
    (tmp_path / "head.tsv").write_text("ar\ten\n" + "".join(f"{a}\t{e}\n" for e, a in zip(EN, AR)), encoding="utf-8")
    write_records(
        tmp_path / "pairs.jsonl",
        [
            {"id": f"p{i}", "src": a, "tgt": e, "src_lang": "ar", "tgt_lang": "en"}
            for i, (e, a) in enumerate(zip(EN, AR))
        ],
    )
    write_records(tmp_path / "wmt.jsonl", [{"translation": {"en": e, "ar": a}} for e, a in zip(EN, AR)])
    return {
        "prefix": str(tmp_path / "txt" / "set"),
        "directory": str(tmp_path / "txt"),
        "iso639-3": str(tmp_path / "iso3" / "tat"),
        "tsv with header": str(tmp_path / "head.tsv"),
        "pair records": str(tmp_path / "pairs.jsonl"),
        "translation rows": str(tmp_path / "wmt.jsonl"),
    }


def test_the_same_inputs_load_identically_in_filter_and_eval(tmp_path):
    expected = list(zip(EN, AR))
    for i, (kind, ref) in enumerate(_inputs(tmp_path).items()):
        srcs, refs = read_direction(ref, "en", "ar")
        assert list(zip(srcs, refs)) == expected, kind
        assert _filtered(ref, tmp_path / f"filter{i}") == expected, kind
        r = evaluate_translation(None, ref, src_lang="ar", tgt_lang="en", columns=("en", "ar"), hypotheses=EN)
        assert [(s["ref"], s["src"]) for s in r["sentences"]] == expected and r["input_rejects"] == 0, kind


def test_tsv_header_is_the_callers_two_languages_in_either_order():
    assert tsv_header(["src", "tgt"], "en", "ar") is False
    assert tsv_header(["en", "ar"], "en", "ar") is False
    assert tsv_header(["ara ", "eng"], "en", "ar") is True  # ISO 639-3 codes, reversed: the columns are swapped
    assert tsv_header(["yes", "oui"], "en", "fr") is None  # short words are data, not language codes
    assert tsv_header(["fr", "de"], "en", "ar") is None
    assert tsv_header(["en", "ar", "x"], "en", "ar") is None


def test_pairs_given_in_python_are_read_like_files():
    from hala.records import Pair
    from hala.sources.pairs import object_pairs

    items = [
        Pair(id="a", src="مرحبا.", tgt="Hello.", src_lang="ar", tgt_lang="en"),
        ("Good morning", "صباح الخير"),
        {"translation": {"en": "Bye.", "ar": "وداعا."}},
        42,
        {"text": "no languages"},
    ]
    log = RejectLog()
    assert read_direction(items, "en", "ar", rejects=log) == (
        ["Hello.", "Good morning", "Bye."],
        ["مرحبا.", "صباح الخير", "وداعا."],
    )
    assert [r.location() for r in log.examples] == ["pairs:4", "pairs:5"]
    assert log.examples[0].reason.startswith("not a pair: int") and log.examples[1].reason.startswith("invalid row")
    assert [row[1:] for row in object_pairs(items[:2])] == [("pairs", 1), ("pairs", 2)]


@pytest.mark.parametrize("layout", ["translation", "columns", "pair"])
def test_record_file_layouts_are_read_or_rejected_with_file_and_line(tmp_path, layout):
    from hala.sources.pairs import iter_pairs

    good = {
        "translation": {"translation": {"EN": "Hi", "ar": "أهلا"}},
        "columns": {"en": "Hi", "ar": "أهلا"},
        "pair": {"id": "x", "src": "Hi", "tgt": "أهلا", "src_lang": "en", "tgt_lang": "ar"},
    }[layout]
    bad = {
        "translation": {"translation": {"en": "Hi"}},
        "columns": {"en": "Hi", "fr": "Salut"},
        "pair": {"id": "y", "src": "Hi", "src_lang": "en", "tgt_lang": "ar"},
    }[layout]
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\nnot json\n" + json.dumps(bad) + "\n", encoding="utf-8")
    log = RejectLog()
    pairs = list(iter_pairs(str(path), "en", "ar", log))
    assert [(p["src"], p["tgt"], where, line) for p, where, line in pairs] == [("Hi", "أهلا", str(path), 1)]
    assert [r.location() for r in log.examples] == [f"{path}:2", f"{path}:3"]
    assert log.examples[1].reason.startswith(
        "invalid record: missing field 'tgt'" if layout == "pair" else "invalid row: no 'en'/'ar' text"
    )


def test_fuzzed_rows_in_any_layout_are_read_or_rejected_with_file_and_line():
    import tempfile
    from pathlib import Path

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from hala.sources.pairs import iter_pairs

    text = st.text(alphabet=st.sampled_from(list("aZ 09\t") + list("أبة\u200f\u0000")), max_size=6)
    value = st.none() | st.integers() | text | st.lists(text, max_size=2) | st.dictionaries(text, text, max_size=2)
    langs = st.dictionaries(st.sampled_from(["en", "EN", "ar", "Ar", "fr", "x"]), value, max_size=3)
    row = (
        st.builds(lambda t: {"translation": t}, langs | value)
        | langs
        | st.fixed_dictionaries(
            {"id": text | value, "src": value, "tgt": value},
            optional={"src_lang": value, "tgt_lang": value, "meta": value},
        )
    )

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=st.lists(row, max_size=6))
    def check(rows):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "rows.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            log = RejectLog(max_examples=100)
            pairs = list(iter_pairs(str(path), "en", "ar", log))
            assert len(pairs) + log.total == len(rows)  # nothing silently dropped
            assert all(isinstance(p["src"], str) and isinstance(p["tgt"], str) for p, _, _ in pairs)
            assert all(str(r).startswith(f"{path}:") and 1 <= r.line <= len(rows) for r in log.examples)

    check()
