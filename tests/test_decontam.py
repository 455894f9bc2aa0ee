"""The decontam stage: training records sharing a word n-gram with an evaluation text are dropped, with reasons."""

from __future__ import annotations

import json

from hala.decontam import DecontamConfig, run


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _chat(i, user, assistant="حسنا."):
    return {"id": f"s{i}", "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


QUESTION = "ما هي عاصمة المملكة العربية السعودية التي تقع في وسط شبه الجزيرة؟"


def test_overlapping_records_are_dropped_arabic_aware(tmp_path):
    eval_file = _write(
        tmp_path / "mcq.jsonl", [{"id": "q1", "question": QUESTION, "choices": ["الرياض", "جدة"], "answer": 0}]
    )
    # the same question with diacritics, a tatweel, alef variants folded differently and other punctuation
    variant = "سؤال: مَا هِيَ عاصمـة المملكة العربيّة السعودية التي تقع في وسط شبه الجزيرة ؟ أجب."
    train = _write(
        tmp_path / "train.jsonl",
        [
            _chat(0, "Translate: hello"),
            _chat(1, variant),
            _chat(2, "اكتب قصيدة عن البحر والسماء والنجوم والقمر"),
            _chat(3, "ok", QUESTION),
        ],
    )
    out = tmp_path / "out"
    out.mkdir()
    summary = run(DecontamConfig(input=str(train), tasks=[str(eval_file)], ngram=8), out)
    kept = [json.loads(x)["id"] for x in (out / "samples.jsonl").read_text().splitlines()]
    assert kept == ["s0", "s2"]
    assert summary["records_in"] == 4 and summary["records_out"] == 2 and summary["dropped_by_eval_set"] == {"mcq": 2}
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert {r["raw"]["id"] for r in rejects} == {"s1", "s3"}
    assert all("overlaps evaluation set mcq: item q1" in r["reason"] for r in rejects)
    assert json.loads((out / "decontam_report.json").read_text())["eval_texts"] == {"mcq": 1}


def test_short_eval_texts_match_whole_and_pairs_files_count(tmp_path):
    pairs = _write(
        tmp_path / "test_pairs.jsonl",
        [
            {
                "id": "p1",
                "src": "The cat sleeps on the warm mat.",
                "tgt": "القطة تنام على الحصيرة الدافئة.",
                "src_lang": "en",
                "tgt_lang": "ar",
            }
        ],
    )
    train = _write(
        tmp_path / "train.jsonl",
        [_chat(0, "Please translate: القطة تنام على الحصيرة الدافئة"), _chat(1, "The cat sleeps elsewhere today.")],
    )
    out = tmp_path / "out"
    out.mkdir()
    summary = run(DecontamConfig(input=str(train), files=[str(pairs)], ngram=8, min_words=4), out)
    assert summary["records_out"] == 1 and summary["dropped_by_eval_set"] == {"test_pairs.jsonl": 1}
    assert json.loads((out / "samples.jsonl").read_text())["id"] == "s1"


def test_nothing_to_drop_leaves_an_empty_rejects_file(tmp_path):
    train = _write(tmp_path / "train.jsonl", [_chat(0, "hello there my friend")])
    out = tmp_path / "out"
    out.mkdir()
    summary = run(DecontamConfig(input=str(train)), out)
    assert summary["records_out"] == 1 and (out / "rejects.jsonl").read_text() == ""
