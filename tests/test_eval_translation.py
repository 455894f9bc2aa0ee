"""Translation evaluation: known-answer BLEU / chrF++, every parallel-text loader, the translate-API plumbing
(chunks, resume, rejected translations), COMET skipping, the stage outputs and the CLI."""

from __future__ import annotations

import json
import math

import pytest

from hala.errors import HalaError
from hala.evaluate.metrics import corpus_scores, score_translations, sentence_scores
from hala.evaluate.pairs import read_direction
from hala.evaluate.stage import EvalTranslationConfig, run_translation
from hala.evaluate.translation import evaluate_translation
from hala.records import RejectLog, write_records


# ------------------------------------------------------------------------------------------ known answers
def test_bleu_known_answer():
    # 6 tokens, one wrong at the end: n-gram precisions 5/6, 4/5, 3/4, 2/3, brevity penalty 1,
    # BLEU = 100 * (5/6 * 4/5 * 3/4 * 2/3) ** (1/4) = 100 * (1/3) ** 0.25
    r = corpus_scores(["a b c d e f"], ["a b c d e g"])
    assert r["bleu"] == pytest.approx(100 * (1 / 3) ** 0.25, abs=1e-3)
    assert corpus_scores(["four words in here"], ["four words in here"])["bleu"] == pytest.approx(100)
    assert "tok:intl" in r["signature"]["bleu"]


def test_chrf_plus_plus_known_answer():
    # hyp "a b" vs ref "a c": orders with n-grams on both sides are char-1 (P=R=1/2), char-2 (0), word-1 (1/2)
    # and word-2 (0); averaged P = R = 0.25; F_beta=2 = 5 * P * R / (4P + R) = 0.25 -> 25.0
    r = corpus_scores(["a b"], ["a c"])
    assert r["chrf"] == pytest.approx(25.0, abs=1e-6)
    assert "nw:2" in r["signature"]["chrf"] and "nc:6" in r["signature"]["chrf"]
    assert corpus_scores(["نص عربي"], ["نص عربي"])["chrf"] == pytest.approx(100)


def test_intl_tokenizer_splits_arabic_punctuation():
    hyp, ref = ["مرحبا، كيف حالك؟"], ["مرحبا ، كيف حالك ؟"]
    assert corpus_scores(hyp, ref)["bleu"] == pytest.approx(100)  # intl separates ، and ؟
    from sacrebleu.metrics import BLEU

    assert BLEU(tokenize="13a").corpus_score(hyp, [ref]).score < 50  # 13a would leave them glued


def test_sentence_scores_and_worst():
    hyps, refs = ["the cat sat", "xyz", "a dog"], ["the cat sat", "completely different", "a dog runs"]
    per = sentence_scores(hyps, refs)
    assert per[0]["chrf"] == pytest.approx(100) and per[1]["chrf"] < per[2]["chrf"] < 100
    r = score_translations(hyps, refs, srcs=["s0", "s1", "s2"], worst_k=2)
    assert [w["i"] for w in r["worst"]] == [1, 2]
    assert r["sentences"][1] == {"i": 1, "src": "s1", "ref": "completely different", "hyp": "xyz", **per[1]}
    with pytest.raises(ValueError, match="line-aligned"):
        corpus_scores(["a"], ["a", "b"])


# ---------------------------------------------------------------------------------------------- loaders
EN, AR = ["Hello.", "Good morning", " spaced "], ["مرحبا.", "صباح الخير", " مسافة "]


def _text_pair(tmp_path, name="set"):
    (tmp_path / f"{name}.en").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (tmp_path / f"{name}.ar").write_text("\n".join(AR) + "\n", encoding="utf-8")
    return tmp_path / name


def test_line_aligned_prefix_and_directory(tmp_path):
    prefix = _text_pair(tmp_path)
    for source in (prefix, tmp_path):
        assert read_direction(source, "en", "ar") == (EN, AR)  # inner/trailing spaces kept, only newlines stripped
        assert read_direction(source, "ar", "en", ("en", "ar")) == (AR, EN)
    (tmp_path / "set.ar").write_text("one line\n", encoding="utf-8")
    with pytest.raises(HalaError, match="line-aligned"):
        read_direction(prefix, "en", "ar")


def test_tsv_with_and_without_header(tmp_path):
    body = "".join(f"{e}\t{a}\n" for e, a in zip(EN, AR))
    (tmp_path / "plain.tsv").write_text(body, encoding="utf-8")
    (tmp_path / "head.tsv").write_text("ar\ten\n" + "".join(f"{a}\t{e}\n" for e, a in zip(EN, AR)), encoding="utf-8")
    assert read_direction(tmp_path / "plain.tsv", "en", "ar") == (EN, AR)
    assert read_direction(tmp_path / "head.tsv", "en", "ar") == (EN, AR)  # the header names the columns
    (tmp_path / "bad.tsv").write_text("a\tb\nonly one column\n", encoding="utf-8")
    log = RejectLog()
    assert read_direction(tmp_path / "bad.tsv", "en", "ar", rejects=log) == (["a"], ["b"])  # a bad line: a reject
    reason = "invalid TSV line: expected 2 tab-separated columns, got 1"
    assert [str(r) for r in log.examples] == [f"{tmp_path / 'bad.tsv'}:2: {reason}"]
    (tmp_path / "worse.tsv").write_text("only one column\n", encoding="utf-8")
    with pytest.raises(HalaError, match=r"worse.tsv: no en-ar pairs to evaluate \(1 rejected; first: .*worse.tsv:1"):
        read_direction(tmp_path / "worse.tsv", "en", "ar")


def test_jsonl_pairs_wmt_rows_datasets_and_lists(tmp_path):
    pairs = [
        {"id": f"p{i}", "src": e, "tgt": a, "src_lang": "en", "tgt_lang": "ar"} for i, (e, a) in enumerate(zip(EN, AR))
    ]
    write_records(tmp_path / "pairs.jsonl", pairs)
    assert read_direction(tmp_path / "pairs.jsonl", "ar", "en", ("xx", "yy")) == (AR, EN)  # records name theirs
    write_records(tmp_path / "wmt.jsonl", [{"translation": {"en": e, "ar": a}} for e, a in zip(EN, AR)])
    assert read_direction(tmp_path / "wmt.jsonl", "en", "ar") == (EN, AR)
    import datasets

    datasets.Dataset.from_list([{"en": e, "ar": a} for e, a in zip(EN, AR)]).save_to_disk(str(tmp_path / "ds"))
    assert read_direction(tmp_path / "ds", "en", "ar") == (EN, AR)
    assert read_direction(list(zip(EN, AR)), "en", "ar") == (EN, AR)
    with pytest.raises(HalaError, match=r"pairs: no fr-en pairs to evaluate \(3 rejected; its pairs are en-ar \(3\)"):
        read_direction(list(zip(EN, AR)), "fr", "en", ("en", "ar"))
    with pytest.raises(FileNotFoundError):
        read_direction(tmp_path / "nothing", "en", "ar")


def test_tico19_loads_both_directions(shared_data):
    src, ref = read_direction(shared_data / "tico19-en-ar" / "tico19-test", "ar", "en", ("en", "ar"))
    assert len(src) == 2100 and src[0].startswith("منذ متى") and ref[0].startswith("about how long")


# ------------------------------------------------------------------------------------------- evaluation
def test_hypotheses_file_and_limit_take_the_same_slice(tmp_path):
    prefix = _text_pair(tmp_path)
    (tmp_path / "hyp.txt").write_text("\n".join(AR) + "\n", encoding="utf-8")
    r = evaluate_translation(None, prefix, hypotheses=tmp_path / "hyp.txt", limit=2)
    assert r["n"] == 2 and r["chrf"] == pytest.approx(100) and r["rejected"] == 0
    assert [s["src"] for s in r["sentences"]] == [EN[0], EN[1]]  # indices 0 and 1 of 3, spread evenly
    assert r["comet"] == {"skipped": "no COMET model configured (set comet_model to a local checkpoint to enable it)"}


class FakeTranslate:
    """Stands in for hala.translate: records calls; 'reject' in a source makes the guards reject it."""

    def __init__(self):
        self.engines, self.calls = [], []

    def api(self):
        def load_engine(engine, model, batch_size=8, **options):
            self.engines.append((engine, model, options))
            return "ENGINE"

        def translate_with_reasons(texts, model, **kw):
            assert kw["engine"] == "ENGINE" and "temperature" not in kw  # engine options went to load_engine
            self.calls.append((list(texts), kw))
            return [("", "guard: wrong script") if "reject" in t else (t.upper(), None) for t in texts]

        return load_engine, translate_with_reasons


def test_translations_come_from_the_translate_api_in_resumable_chunks(tmp_path, monkeypatch):
    import hala.evaluate.translation as tr

    fake = FakeTranslate()
    monkeypatch.setattr(tr, "_translate_api", fake.api)
    pairs = [(f"s{i}", f"S{i}") for i in range(5)] + [("please reject me", "X")]
    cache = tmp_path / "cache.jsonl"
    kw = dict(
        src_lang="en",
        tgt_lang="xx",
        template="few-shot",
        cache=cache,
        engine_options={"temperature": 0.0, "segment": "line", "length_cap": {"ratio": 2.0, "extra": 8}},
    )
    monkeypatch.setattr(tr, "translate_sources", _with_chunk(tr.translate_sources, 4))
    r = evaluate_translation("my-model", pairs, **kw)
    assert len(fake.engines) == 1 and fake.engines[0] == ("hf", "my-model", {"temperature": 0.0})
    assert [len(c[0]) for c in fake.calls] == [4, 2] and fake.calls[0][1]["segment"] == "line"
    assert fake.calls[0][1]["length_cap"] == (2.0, 8)  # {ratio, extra} or [ratio, extra]: the call takes a pair
    assert fake.calls[0][1]["template"] == "few-shot" and fake.calls[0][1]["tgt_lang"] == "xx"
    assert r["rejected"] == 1 and r["sentences"][5]["rejected"] == "guard: wrong script"
    assert r["chrf"] < 100 and r["sentences"][0]["chrf"] == pytest.approx(100)
    # rerun on the same cache: nothing is translated again
    again = evaluate_translation("my-model", pairs, **kw)
    assert len(fake.calls) == 2 and again["chrf"] == r["chrf"]
    # a crash mid-way: one chunk cached -> only the rest is translated
    lines = cache.read_text(encoding="utf-8").splitlines()
    cache.write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    evaluate_translation("my-model", pairs, **kw)
    assert [len(c[0]) for c in fake.calls[2:]] == [2]


def _with_chunk(fn, chunk):
    return lambda *a, **k: fn(*a, **{**k, "chunk": chunk})


def test_comet_is_skipped_with_a_reason_when_unavailable(tmp_path):
    from hala.evaluate.comet import comet_score

    r = comet_score(["a"], ["b"], ["c"], str(tmp_path / "no-such-checkpoint"))
    assert "skipped" in r and ("not installed" in r["skipped"] or "not available locally" in r["skipped"])


def test_stage_both_directions_writes_summary_and_sentences(tmp_path):
    prefix = _text_pair(tmp_path)
    (tmp_path / "en-ar.txt").write_text("\n".join(AR), encoding="utf-8")
    (tmp_path / "ar-en.txt").write_text("Hello.\nGood evening\n spaced ", encoding="utf-8")
    config = EvalTranslationConfig(
        data=str(prefix),
        directions=["en-ar", "ar-en"],
        label="base",
        hypotheses={"en-ar": str(tmp_path / "en-ar.txt"), "ar-en": str(tmp_path / "ar-en.txt")},
    )
    out = run_translation(config, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "eval_translation.json").read_text(encoding="utf-8"))
    assert summary["label"] == "base" and set(summary["directions"]) == {"en-ar", "ar-en"}
    assert summary["metrics"]["chrf_en-ar"] == pytest.approx(100) and summary["metrics"]["chrf_ar-en"] < 100
    assert "sentences" not in summary["directions"]["ar-en"]
    lines = (tmp_path / "out" / "sentences_ar-en.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[1])["hyp"] == "Good evening" and out["outputs"]["summary"] == "eval_translation.json"
    with pytest.raises(ValueError, match="does not match"):
        EvalTranslationConfig(data="x", directions=["en-fr"]).direction_list()
    with pytest.raises(ValueError):
        EvalTranslationConfig(data="x", directions=["english-arabic"])


def test_cli_scores_hypotheses_against_references(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    (tmp_path / "hyp.txt").write_text("a b c d e f\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("a b c d e g\n", encoding="utf-8")
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "translation",
            "--hyp",
            str(tmp_path / "hyp.txt"),
            "--ref",
            str(tmp_path / "ref.txt"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "o" / "eval_translation.json").read_text(encoding="utf-8"))
    assert math.isclose(saved["directions"]["hyp"]["bleu"], 100 * (1 / 3) ** 0.25, abs_tol=1e-3)
    assert "75.98" in res.output
