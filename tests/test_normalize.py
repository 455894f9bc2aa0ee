"""hala.normalize: the one Arabic-aware normaliser, on real spellings seen in Arabic text in the wild."""

from __future__ import annotations

import json

import pytest

from hala.evaluate.loaders import answer_index, match_answer, read_items
from hala.normalize import digest, normalize_text, same_text


@pytest.mark.parametrize(
    "a, b",
    [
        # alef variants: hamza above / below, madda, wasla
        ("أحمد", "احمد"),
        ("إسلام", "اسلام"),
        ("آمن", "امن"),
        ("ٱلرَّحْمَٰن", "الرحمن"),
        # alef maqsura vs ya (Egyptian spelling writes final ي as ى), Persian yeh and keheh in Arabic text
        ("على", "علي"),
        ("مستشفى", "مستشفي"),
        ("کتاب", "كتاب"),
        ("فی", "في"),
        # diacritics: harakat, shadda, tanwin, sukun, superscript alef
        ("مُحَمَّدٌ", "محمد"),
        ("كِتَابًا", "كتابا"),
        ("هٰذا", "هذا"),
        # tatweel (kashida) used for justification and emphasis
        ("العـــربية", "العربية"),
        ("جميـــل", "جميل"),
        # Arabic-Indic and Eastern (Persian/Urdu) digits
        ("عام ٢٠٢٤", "عام 2024"),
        ("۱۲۳", "123"),
        ("٠٫٥", "0٫5"),
        # presentation forms: contextual glyph codes from PDF exports (word, lam-alef ligature, Allah ligature)
        ("ﺍﻟﻌﺮﺑﻴﺔ", "العربية"),
        ("ﻻ", "لا"),
        ("ﷲ", "الله"),
        ("ﺑﺴﻢ ﷲ", "بسم الله"),
        # a byte-order mark left inside a line (a concatenated UTF-8-sig file)
        ("\ufeffمرحبا", "مرحبا"),
        # any script: case and whitespace
        ("Hello   World", "hello world"),
        ("  مرحبا\tبكم \n", "مرحبا بكم"),
    ],
)
def test_same_after_normalisation(a, b):
    assert normalize_text(a) == normalize_text(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("مدرسة", "مدرسه"),  # ta marbuta vs ha: different words unless asked
        ("قرأ", "قرا"),  # hamza on alef is an alef variant ...
    ],
)
def test_taa_marbuta_only_when_asked(a, b):
    if "ة" in a:
        assert normalize_text(a) != normalize_text(b)
        assert normalize_text(a, taa_marbuta=True) == normalize_text(b, taa_marbuta=True)
    else:
        assert normalize_text(a) == normalize_text(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("كتب", "كتاب"),
        ("سلام", "سلم"),  # letters that change the word stay
        ("مؤمن", "مومن"),
        ("سئل", "سيل"),  # hamza on waw / ya are not alef variants: kept
        ("12", "١٣"),
    ],
)
def test_different_words_stay_different(a, b):
    assert normalize_text(a) != normalize_text(b)


def test_options_switch_steps_off():
    text = "أَحْمَد ٢ Ab"
    assert normalize_text(text, diacritics=False) == "أَحْمَد 2 ab".replace("أ", "ا")
    assert normalize_text(text, letters=False) == "أحمد 2 ab"
    assert normalize_text(text, digits=False) == "احمد ٢ ab"
    assert normalize_text(text, casefold=False) == "احمد 2 Ab"
    assert normalize_text("ﻻ", presentation=False) == "ﻻ"
    assert same_text("مدرسة", "مدرسه", taa_marbuta=True)


def test_nfkc_only_inside_arabic_presentation_blocks():
    # NFKC would fold these; the normaliser must not (they are distinct in English sides and numbers).
    assert normalize_text("x² ﬁle ﬃ", casefold=False) == "x² ﬁle ﬃ"


def test_ascii_text_fast_path_and_digest_stable():
    assert normalize_text("Already Plain") == "already plain"
    assert digest("a", "b") == digest("a", "b") != digest("ab")
    assert digest("pivot", normalize_text("أحمد")) == digest("pivot", normalize_text("احمد"))


# ------------------------------------------------------------------------------------ MCQ answer keys
@pytest.mark.parametrize(
    "key, index", [("أ", 0), ("ا", 0), ("إ", 0), ("آ", 0), ("ب", 1), ("هـ", 4), ("ه", 4), ("ى", 9), ("ﺏ", 1)]
)
def test_answer_keys_accept_arabic_letter_variants(key, index):
    assert answer_index(key, ["x"] * 10) == index
    _, note = match_answer(key, ["x"] * 10)
    assert (note == "") == (key in {"أ", "ب", "هـ"})


def test_answer_text_matches_choice_after_normalisation():
    index, note = match_answer("القاهرة", ["الرياض", "القَاهِرَة", "دمشق"])
    assert index == 1 and "matched choice 1" in note
    with pytest.raises(ValueError, match="is not an index"):
        match_answer("بيروت", ["الرياض", "القاهرة"])


def test_aratrust_export_with_bare_alif_keys_loads_and_counts(tmp_path):
    """The issue's case: an AraTrust export with answer keys written ا (bare alif) must not abort the task."""
    rows = [
        {"Question": f"س{i}", "A": "نعم", "B": "لا", "C": "ربما", "Answer": key}
        for i, key in enumerate(["أ", "ب", "ا", "ج", "ا"])
    ]
    path = tmp_path / "aratrust.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    items = read_items(path)
    assert [i.answer for i in items] == [0, 1, 0, 2, 0]
    assert [bool(i.answer_note) for i in items] == [False, False, True, False, True]
    assert "'ا' read as 'أ'" in items[2].answer_note


def test_mcq_result_reports_normalised_answer_keys(tiny_model, tmp_path, one_thread):
    from hala.evaluate.mcq import evaluate_mcq

    rows = [
        {"Question": "سؤال", "A": "نعم", "B": "لا", "C": "ربما", "Answer": "ا"},
        {"Question": "سؤال آخر", "A": "نعم", "B": "لا", "C": "ربما", "Answer": "ب"},
    ]
    path = tmp_path / "aratrust.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    r = evaluate_mcq(str(tiny_model), str(path))
    assert r["n"] == 2 and r["answer_keys_normalised"] == 1
    assert r["answer_key_notes"] == ["aratrust:1: answer key 'ا' read as 'أ' (Arabic letter variant)"]
