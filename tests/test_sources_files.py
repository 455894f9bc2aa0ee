"""Pair readers: TSV, line-aligned text, record files, gettext catalogs, saved HF datasets, named inputs."""

from __future__ import annotations

from collections import Counter

import polib
import pytest

from hala.errors import HalaError
from hala.records import RejectLog, write_records
from hala.sources.hub import row_to_pair
from hala.sources.pairs import iter_pairs


def read(ref, **kw) -> tuple[list[dict], RejectLog]:
    log = RejectLog()
    pairs = [p for p, _, _ in iter_pairs(str(ref), rejects=log, **kw)]
    return pairs, log


def test_tsv_header_bad_columns_and_bad_utf8(tmp_path):
    f = tmp_path / "corpus.tsv"
    f.write_bytes(
        "src\ttgt\nSave\tحفظ\n\nOpen\tفتح\textra\nbad \xff\t\xd8\n Close \t إغلاق \n".encode("utf-8")
        .replace(b"\xc3\xbf", b"\xff")
        .replace(b"\xc3\x98", b"\xd8")
    )
    pairs, log = read(f)
    assert [(p["src"], p["tgt"]) for p in pairs] == [("Save", "حفظ"), (" Close ", " إغلاق ")]
    assert pairs[0]["id"] == "corpus:2" and pairs[0]["meta"] == {"source": "corpus", "file": "corpus.tsv", "line": 2}
    assert log.counts == {"invalid TSV line": 1, "not UTF-8": 1}
    assert {r.line for r in log.examples} == {4, 5}


def test_line_aligned_files_with_iso639_3_suffixes_and_labels(tmp_path):
    (tmp_path / "tat.eng").write_text("Hello.\n  Two  spaces \nBye.\n", encoding="utf-8")
    (tmp_path / "tat.ara").write_text("مرحبا.\nمسافتان\nمع السلامة.\n", encoding="utf-8")
    (tmp_path / "tat.ara.labels").write_text("arz\nara\nary\n", encoding="utf-8")
    for ref in (tmp_path / "tat", tmp_path / "tat.eng", tmp_path / "tat.ara", tmp_path):
        pairs, _ = read(ref)
        assert [p["src"] for p in pairs] == ["Hello.", "  Two  spaces ", "Bye."]  # inner whitespace kept
    assert pairs[0]["meta"]["labels"] == {"src": None, "tgt": "arz"}
    assert pairs[2]["id"] == f"{tmp_path.name}:3" and pairs[2]["src_lang"] == "en" and pairs[2]["tgt_lang"] == "ar"


def test_line_aligned_two_letter_codes_and_misalignment_is_an_error(tmp_path):
    (tmp_path / "t.en").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "t.ar").write_text("أ\nب\n", encoding="utf-8")
    with pytest.raises(HalaError, match=r"t.ar has 2 lines but .*t.en has more"):
        read(tmp_path / "t")
    (tmp_path / "u.fr").write_text("Bonjour\n", encoding="utf-8")
    (tmp_path / "u.de").write_text("Hallo\n", encoding="utf-8")
    pairs, _ = read(tmp_path / "u", src_lang="fr", tgt_lang="de")
    assert pairs[0]["src"] == "Bonjour" and pairs[0]["tgt_lang"] == "de"


def test_jsonl_pairs_fast_path_and_invalid_rows(tmp_path):
    f = tmp_path / "p.jsonl"
    write_records(
        f,
        [
            {"id": "a", "src": "Save", "tgt": "حفظ", "src_lang": "EN", "tgt_lang": "ar"},
            {"id": "b", "src": "Open", "tgt": "فتح", "src_lang": "en", "tgt_lang": "ar", "meta": {"source": "mine"}},
            {"id": "c", "src": "x", "src_lang": "en", "tgt_lang": "ar"},
            {"id": "d", "src": "x", "tgt": "y", "src_lang": "en", "tgt_lang": "ar", "extra": 1},
        ],
    )
    pairs, log = read(f"named={f}")
    assert [p["id"] for p in pairs] == ["a", "b"]
    assert pairs[0]["src_lang"] == "en" and pairs[0]["meta"] == {"source": "named"}
    assert pairs[1]["meta"]["source"] == "mine"  # a record's own source is kept
    reasons = sorted(r.reason for r in log.examples)
    assert reasons[0] == "invalid record: field 'extra': Extra inputs are not permitted"
    assert reasons[1] == "invalid record: missing field 'tgt'"


def _po(path, entries):
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    for msgid, msgstr, flags in entries:
        po.append(polib.POEntry(msgid=msgid, msgstr=msgstr, flags=flags))
    po.save(str(path))
    return po


def test_catalog_directory_po_and_mo_recursively(tmp_path):
    (tmp_path / "a").mkdir()
    po = _po(tmp_path / "a" / "app.po", [("Save", "حفظ", []), ("Open", "", []), ("Close", "إغلاق", ["fuzzy"])])
    po.save_as_mofile(str(tmp_path / "b.mo"))
    (tmp_path / "LICENSE").write_text("not data")
    (tmp_path / "broken.mo").write_bytes(b"\x00garbage")
    files: Counter = Counter()
    log = RejectLog()
    pairs = [p for p, _, _ in iter_pairs(f"l10n={tmp_path}", rejects=log, files=files)]
    assert [(p["src"], p["tgt"]) for p in pairs] == [("Save", "حفظ"), ("Save", "حفظ")]
    assert all(p["meta"]["source"] == "l10n" for p in pairs)
    assert files == {str(tmp_path / "a" / "app.po"): 1, str(tmp_path / "b.mo"): 1}
    assert log.counts == {"unreadable catalog": 1}


def test_saved_hf_dataset_with_translation_column(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(
        [
            {"translation": {"ar": "حفظ", "en": "Save"}},
            {"translation": {"ar": "فتح", "en": "Open"}},
            {"translation": {"fr": "Ouvrir", "en": "Open"}},
        ]
    )
    ds.save_to_disk(str(tmp_path / "opus"))
    pairs, log = read(tmp_path / "opus")
    assert [(p["src"], p["tgt"], p["id"]) for p in pairs] == [("Save", "حفظ", "opus:1"), ("Open", "فتح", "opus:2")]
    assert log.counts == {"invalid row": 1}


def test_row_layouts():
    meta = {"source": "x"}
    assert row_to_pair({"en": "Hi", "ar": "أهلا"}, "en", "ar", "i", meta)[0]["tgt"] == "أهلا"
    own = {"id": "z", "src": "Hi", "tgt": "أهلا", "src_lang": "en", "tgt_lang": "ar", "meta": {"k": 1}}
    assert row_to_pair(own, "en", "ar", "i", meta)[0]["meta"] == {"source": "x", "k": 1}
    assert row_to_pair({"text": "Hi"}, "en", "ar", "i", meta)[0] is None


def test_packages_input_and_errors(tmp_path):
    pairs, _ = read("packages:babel")
    assert len(pairs) > 200 and all(p["meta"]["source"] == "babel" for p in pairs)
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(HalaError, match="unsupported input"):
        read(tmp_path / "x.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HalaError, match="no parallel-data files"):
        read(tmp_path / "empty")


def test_hub_reference_offline_fails_clearly():
    with pytest.raises(
        HalaError,
        match=r"hf:Helsinki-NLP/opus-100:ar-en@train: cannot load the dataset from the "
        r"Hugging Face Hub \(this needs network",
    ):
        read("hf:Helsinki-NLP/opus-100:ar-en@train")
