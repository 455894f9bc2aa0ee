"""The corpus stage: both directions, split disjointness in both directions, mix, dedup, chat sources, tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hala.corpus import CorpusConfig, run
from hala.normalize import normalize_text
from hala.prompts import translation_messages
from hala.records import read_records, write_records


def pair(pid: str, src: str, tgt: str, src_lang: str = "en", tgt_lang: str = "ar", **meta) -> dict:
    return {"id": pid, "src": src, "tgt": tgt, "src_lang": src_lang, "tgt_lang": tgt_lang, "meta": meta}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def build(tmp_path: Path, sources: dict[str, list[dict]], **config) -> tuple[dict, Path]:
    refs = []
    for name, records in sources.items():
        write_records(tmp_path / f"{name}.jsonl", records)
        refs.append({"ref": str(tmp_path / f"{name}.jsonl"), "name": name, **config.pop(name, {})})
    out = tmp_path / "out"
    return run(CorpusConfig(sources=refs, **config), out), out


def source_texts_by_split(out: Path) -> dict[str, dict[str, set[str]]]:
    """split -> direction -> normalised source texts (the text after the instruction line of the user turn)."""
    found: dict[str, dict[str, set[str]]] = {}
    for split in ("train", "dev", "test"):
        for e in lines(out / f"{split}.jsonl"):
            text = e["messages"][0]["content"].split("\n", 1)[1]
            found.setdefault(split, {}).setdefault(e["meta"]["direction"], set()).add(normalize_text(text))
    return found


def assert_disjoint(out: Path) -> None:
    found = source_texts_by_split(out)
    for direction in ("en-ar", "ar-en"):
        splits = [found.get(s, {}).get(direction, set()) for s in ("train", "dev", "test")]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not splits[i] & splits[j], (direction, splits[i] & splits[j])


def test_both_directions_use_the_shared_prompt_and_pairs_files_keep_the_given_direction(tmp_path):
    report, out = build(
        tmp_path,
        {
            "a": [
                pair("p1", "Save", "حفظ", license="MIT", license_src="CC0-1.0"),
                pair("p2", "فتح", "Open", src_lang="ar", tgt_lang="en"),
            ]
        },
        dev_fraction=0,
        test_fraction=0,
    )
    examples = {e["id"]: e for e in lines(out / "train.jsonl")}
    assert set(examples) == {"p1:en-ar", "p1:ar-en", "p2:en-ar", "p2:ar-en"}
    fwd, rev = examples["p1:en-ar"], examples["p1:ar-en"]
    assert fwd["messages"] == translation_messages("Save", "en", "ar", "hala") + [
        {"role": "assistant", "content": "حفظ"}
    ]
    assert rev["messages"] == translation_messages("حفظ", "ar", "en", "hala") + [
        {"role": "assistant", "content": "Save"}
    ]
    assert fwd["meta"] == {
        "source": "a",
        "split": "train",
        "license": "MIT",
        "license_src": "CC0-1.0",  # a side's own licence travels too (the publish check reads it)
        "direction": "en-ar",
        "src_lang": "en",
        "tgt_lang": "ar",
        "pair_id": "p1",
        "template": "hala",
    }
    assert examples["p2:en-ar"]["messages"][1]["content"] == "فتح"  # an AR->EN pair is oriented for en-ar
    given = lines(out / "pairs_train.jsonl")
    assert [(p["src"], p["src_lang"]) for p in given] == [("Save", "en"), ("فتح", "ar")]
    assert report["splits"]["train"] == {"en-ar": 2, "ar-en": 2, "pairs": 2}
    assert lines(out / "pairs_dev.jsonl") == [] and lines(out / "test.jsonl") == []


def test_splits_are_disjoint_by_source_text_in_both_directions(tmp_path):
    # Shared Arabic translations ("حفظ" for Save/Keep), the same English with two translations, a reversed pair,
    # and many unrelated pairs so that all three splits are used.
    linked = [
        pair("s1", "Save", "حفظ"),
        pair("s2", "Keep", "حفظ"),
        pair("s3", "Keep", "أبقِ"),
        pair("s4", "أَبْقِ", "Retain", src_lang="ar", tgt_lang="en"),
        pair("s5", "save", "احفظ"),
    ]
    many = [pair(f"m{i}", f"Sentence number {i} is here.", f"الجملة رقم {i} هنا.") for i in range(400)]
    report, out = build(tmp_path, {"a": linked + many}, dev_fraction=0.2, test_fraction=0.2)
    assert all(report["splits"][s]["pairs"] > 40 for s in ("train", "dev", "test"))
    assert_disjoint(out)
    split_of = {p["id"]: p["meta"]["split"] for s in ("train", "dev", "test") for p in lines(out / f"pairs_{s}.jsonl")}
    assert len({split_of[k] for k in ("s1", "s2", "s3", "s4", "s5")}) == 1  # one connected component
    assert report["largest_component_pairs"] == 5


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12), st.booleans()), min_size=1, max_size=40))
def test_split_disjointness_property(tmp_path_factory, edges):
    # Few distinct texts, so random pairs collide often on either side (and sometimes come reversed).
    tmp = tmp_path_factory.mktemp("prop")
    records = [
        pair(f"e{i}", f"text {a}", f"نص {b}")
        if not rev
        else pair(f"e{i}", f"نص {b}", f"text {a}", src_lang="ar", tgt_lang="en")
        for i, (a, b, rev) in enumerate(edges)
    ]
    _, out = build(tmp, {"a": records}, dev_fraction=0.3, test_fraction=0.3, dedup=False)
    assert_disjoint(out)


def test_mix_ratio_cap_and_dedup_across_sources(tmp_path):
    first = [pair(f"a{i}", f"Alpha {i}", f"ألفا {i}") for i in range(200)]
    second = [pair("b-dup", "ALPHA  1", "ألفا 1")] + [pair(f"b{i}", f"Beta {i}", f"بيتا {i}") for i in range(50)]
    report, out = build(tmp_path, {"first": first, "second": second}, first={"ratio": 0.5}, second={"cap": 20})
    a, b = report["sources"]["first"], report["sources"]["second"]
    assert a["read"] == 200 and 70 < a["kept"] < 130 and a["kept"] + a["sampled_out"] == 200
    assert b["kept"] == 20 and b["cap_reached"] == 1
    dup_kept = "Alpha 1" in {p["src"] for s in ("train", "dev", "test") for p in lines(out / f"pairs_{s}.jsonl")}
    assert b.get("duplicates", 0) == (1 if dup_kept else 0)
    again, _ = build(tmp_path / "again", {"first": first, "second": second}, first={"ratio": 0.5}, second={"cap": 20})
    assert again["sources"] == report["sources"] and again["splits"] == report["splits"]  # deterministic


def test_translated_chat_samples_become_pairs(tmp_path):
    chat = {
        "id": "c1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "ما هي عاصمة فرنسا؟"},
            {"role": "assistant", "content": "باريس."},
        ],
        "meta": {
            "original": {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "What is the capital of France?"},
                    {"role": "assistant", "content": "Paris."},
                ]
            },
            "translation": {"src_lang": "en", "tgt_lang": "ar", "engine": "hf"},
        },
    }
    untranslated = {"id": "c2", "messages": [{"role": "user", "content": "hi"}]}
    report, out = build(tmp_path, {"orca": [chat, untranslated]}, dev_fraction=0, test_fraction=0)
    given = lines(out / "pairs_train.jsonl")
    assert [(p["src"], p["tgt"]) for p in given] == [
        ("What is the capital of France?", "ما هي عاصمة فرنسا؟"),
        ("Paris.", "باريس."),
    ]  # unchanged system turn skipped
    assert given[0]["meta"]["chat_id"] == "c1" and given[0]["meta"]["role"] == "user"
    assert report["splits"]["train"]["ar-en"] == 2
    rejects = lines(out / "rejects.jsonl")
    assert len(rejects) == 1 and "meta.original.messages missing" in rejects[0]["reason"]


def test_max_tokens_with_a_tokenizer_and_other_language_pairs(tmp_path, tiny_model):
    records = [
        pair("short", "Save", "حفظ"),
        pair("long", "word " * 200, "كلمة " * 200),
        pair("fr", "Bonjour", "Hallo", src_lang="fr", tgt_lang="de"),
    ]
    report, out = build(
        tmp_path, {"a": records}, dev_fraction=0, test_fraction=0, tokenizer=str(tiny_model), max_tokens=64
    )
    assert [p.id for p in read_records(out / "pairs_train.jsonl", "pair")] == ["short"]
    assert report["sources"]["a"]["too_long"] == 1 and report["longest_example_tokens"] > 64
    reasons = sorted(r["reason"].split(":")[0] for r in lines(out / "rejects.jsonl"))
    assert reasons == ["language pair", "too long"]


def test_config_validation():
    with pytest.raises(ValueError, match="needs a tokenizer"):
        CorpusConfig(sources=["x.jsonl"], max_tokens=100)
    with pytest.raises(ValueError, match="completion template"):
        CorpusConfig(sources=["x.jsonl"], templates=["few-shot"])
    with pytest.raises(ValueError, match="ratio"):
        CorpusConfig(sources=[{"ref": "x.jsonl", "ratio": 0}])
    assert CorpusConfig(sources="x.jsonl").sources[0].ref == "x.jsonl"


def test_cli_corpus(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    write_records(tmp_path / "p.jsonl", [pair(f"p{i}", f"Line {i}", f"سطر {i}") for i in range(30)])
    result = CliRunner().invoke(
        app,
        [
            "corpus",
            f"mine={tmp_path / 'p.jsonl'}",
            "--out",
            str(tmp_path / "o"),
            "--cap",
            "mine=10",
            "--dev",
            "0.1",
            "--test",
            "0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mine: read 10, kept 10" in result.output and "cap reached" in result.output
    report = json.loads((tmp_path / "o" / "corpus_report.json").read_text())
    assert report["pairs"] == 10 and report["examples"] == 20
    bad = CliRunner().invoke(
        app, ["corpus", str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "o2"), "--cap", "nosuch=3"]
    )
    assert bad.exit_code != 0


def test_concatenated_examples_join_train_pairs_only(tmp_path):
    many = [pair(f"m{i}", f"Sentence number {i} is here.", f"الجملة رقم {i} هنا.") for i in range(300)]
    report, out = build(tmp_path, {"a": many}, dev_fraction=0.2, test_fraction=0.2, concat_every=2, concat_max=3)
    train_pairs = {p["src"] for p in lines(out / "pairs_train.jsonl")}
    joined = [e for e in lines(out / "train.jsonl") if "concat" in e["meta"]]
    assert len(joined) == 2 * report["sources"]["a"]["concatenated_examples"] > 0  # both directions
    for e in joined:
        if e["meta"]["direction"] != "en-ar":
            continue
        parts = [s + "." for s in e["messages"][0]["content"].split("\n", 1)[1].split(". ") if s]
        parts[-1] = parts[-1][:-1]
        assert len(parts) == e["meta"]["concat"] and set(parts) <= train_pairs  # no dev/test sentence
    for split in ("dev", "test"):
        assert not any("concat" in e["meta"] for e in lines(out / f"{split}.jsonl"))
    assert report["splits"]["train"]["pairs"] == len(train_pairs)  # joined examples are not pairs
