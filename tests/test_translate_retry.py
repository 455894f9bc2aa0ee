"""The retry ladder: a segment that fails is retried with other decoding, then cut into smaller parts, then given
to the fallback model, before its record is rejected; every rung is counted in the shard stats and report.json."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hala.atomic import read_json
from hala.translate import TranslateConfig, run
from hala.translate.cache import Cache
from hala.translate.engines import Generation, GenSettings
from hala.translate.guards import GuardConfig, Guards
from hala.translate.segment import split_segment
from hala.translate.translator import Translator


class ScriptedEngine:
    """Answers from a table keyed by the segment (`Prompt.source`); a list answers attempt 1, 2, ... (its last
    item from then on). Unknown segments get "" (an `empty` failure). Records every segment it was asked."""

    def __init__(self, name: str, table: dict[str, str | list[str]]):
        self.name, self.table = name, table
        self.asked: Counter = Counter()
        self.settings: list[GenSettings] = []

    def generate(self, prompts, settings):
        out = []
        self.settings.append(settings)
        for p in prompts:
            self.asked[p.source] += 1
            answers = self.table.get(p.source, "")
            answers = answers if isinstance(answers, list) else [answers]
            text = answers[min(self.asked[p.source], len(answers)) - 1]
            out.append(Generation(text, max(1, len(text.split())), text == "TRUNCATED"))
        return out


def _run(
    tmp_path: Path, monkeypatch, rows: list[dict], main: ScriptedEngine, teacher: ScriptedEngine | None = None
) -> dict:
    engines = {"main": main, "teacher": teacher}
    monkeypatch.setattr("hala.translate.calls.make_engine", lambda name, model, **kw: engines[model])
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    fallback = {"model": "teacher", "engine": "echo", "template": "few-shot"} if teacher else None
    cfg = TranslateConfig(input=str(src), model="main", engine="echo", fallback=fallback)
    return run(cfg, tmp_path / "out")


def _rows(out: Path, name: str) -> list[dict]:
    return [json.loads(x) for x in (out / name).read_text(encoding="utf-8").splitlines()]


def _chat(rid: str, text: str) -> dict:
    return {"id": rid, "messages": [{"role": "user", "content": text}]}


# ------------------------------------------------------------------------------------------ through the stage
def test_a_segment_that_fails_once_is_retried_and_its_record_kept(tmp_path, monkeypatch):
    main = ScriptedEngine("main", {"The cat sleeps.": ["", "القط نائم."], "It is late.": "الوقت متأخر."})
    report = _run(tmp_path, monkeypatch, [_chat("r1", "The cat sleeps. It is late.")], main)
    (row,) = _rows(tmp_path / "out", "translated.jsonl")
    assert row["messages"][0]["content"] == "القط نائم. الوقت متأخر."
    assert report["translated"] == 1 and report["rejected"] == 0
    assert report["retried_segments"] == 1 and report["fixed_by_retry"] == 1
    assert report["retries_by_reason"] == {"empty": 1} and report["splits_by_reason"] == {}
    shard = read_json(tmp_path / "out" / "shards" / "part-00000.json")
    assert shard["retries_by_reason"] == {"empty": 1} and shard["fixed_by_split"] == 0
    assert main.asked == {"The cat sleeps.": 2, "It is late.": 1}


def test_a_segment_that_always_fails_is_split_then_given_to_the_fallback_then_rejected(tmp_path, monkeypatch):
    main = ScriptedEngine("main", {})
    teacher = ScriptedEngine("teacher", {})
    report = _run(
        tmp_path, monkeypatch, [_chat("bad", "Type `ls` here, then wait."), _chat("ok", "Hello there.")], main, teacher
    )
    # An empty output lacks the placeholder: the check of protected spans comes first.
    assert report["translated"] == 0 and report["rejects_by_reason"] == {"protected_span": 1, "empty": 1}
    (rej, _) = _rows(tmp_path / "out", "rejects.jsonl")
    assert rej["raw"]["id"] == "bad"
    # The reason keeps its code first, names the rungs tried, the segment and its last output.
    assert rej["reason"].startswith(
        "protected_span: placeholders missing [1], extra or repeated []; tried split "
        "into 2: part 'Type [1] here,' protected_span, fallback: protected_span;"
    )
    assert "segment 'Type [1] here, then wait.'" in rej["reason"]
    # Whole segment twice (first try, retry); each clause twice; the first clause cut around its placeholder.
    assert main.asked["Type [1] here, then wait."] == 2
    assert main.asked["Type [1] here,"] == 2 and main.asked["then wait."] == 2 and main.asked["Type"] == 2
    assert teacher.asked["Type [1] here, then wait."] == 2  # the teacher's own first try and retry
    assert report["retries_by_reason"] == {"empty": 1, "protected_span": 1}
    assert report["splits_by_reason"] == {"protected_span": 1}  # "Hello there." has nothing smaller to try
    assert report["fallbacks_by_reason"] == {"empty": 1, "protected_span": 1}
    assert report["fixed_by_retry"] == report["fixed_by_split"] == report["fixed_by_fallback"] == 0


def test_a_split_fixes_what_the_whole_segment_could_not(tmp_path, monkeypatch):
    main = ScriptedEngine(
        "main",
        {
            "Open [1] first, then run [2].": "افتح أولاً، ثم شغّل.",  # drops both placeholders, every time
            "Open [1] first,": "افتح [1] أولاً،",
            "then run [1].": "ثم شغّل [1].",
        },
    )
    report = _run(tmp_path, monkeypatch, [_chat("r", "Open `app.py` first, then run `make test`.")], main)
    (row,) = _rows(tmp_path / "out", "translated.jsonl")
    assert row["messages"][0]["content"] == "افتح `app.py` أولاً، ثم شغّل `make test`."
    assert report["splits_by_reason"] == {"protected_span": 1} and report["fixed_by_split"] == 1
    assert report["split_parts"] == 2 and report["fixed_by_retry"] == 0


def test_a_segment_without_clause_breaks_is_cut_around_its_placeholders(tmp_path, monkeypatch):
    main = ScriptedEngine("main", {"Type [1] here.": "اكتب هنا.", "Type": "اكتب", "here.": "هنا."})
    report = _run(tmp_path, monkeypatch, [_chat("r", "Type `ls -l` here.")], main)
    (row,) = _rows(tmp_path / "out", "translated.jsonl")
    assert row["messages"][0]["content"] == "اكتب `ls -l` هنا."
    assert report["fixed_by_split"] == 1


def test_the_fallback_model_fixes_what_the_main_one_cannot(tmp_path, monkeypatch):
    main = ScriptedEngine("main", {"Good morning.": "Good morning."})  # copies the English: wrong_script
    teacher = ScriptedEngine("teacher", {"Good morning.": "صباح الخير."})
    report = _run(tmp_path, monkeypatch, [_chat("r", "Good morning.")], main, teacher)
    (row,) = _rows(tmp_path / "out", "translated.jsonl")
    assert row["messages"][0]["content"] == "صباح الخير."
    assert row["meta"]["translation"]["fallback"]["model"] == "teacher"
    assert report["fallbacks_by_reason"] == {"wrong_script": 1} and report["fixed_by_fallback"] == 1
    assert teacher.asked == {"Good morning.": 1}


# ------------------------------------------------------------------------------------------ units
def _translator(engine) -> Translator:
    return Translator(
        engine, "few-shot", "en", "ar", GenSettings(max_new_tokens=32, stop=()), Guards("ar", GuardConfig()), Cache()
    )


@pytest.mark.parametrize(
    "first,penalty,limit,stops_at_newline",
    [
        ("", 1.2, 32, False),  # empty: a repetition penalty
        ("TRUNCATED", 1.2, 64, True),  # runaway: twice the limit, and stop at the end of the line
        ("القط القط القط القط القط القط القط", 1.2, 32, True),  # a loop: stop at the end of the line
    ],
)
def test_the_retry_decodes_differently_for_each_failure(first, penalty, limit, stops_at_newline):
    engine = ScriptedEngine("main", {"The cat sits on the mat.": [first, "القط يجلس على الحصيرة."]})
    tr = _translator(engine)
    entry = tr.run(["The cat sits on the mat."])["The cat sits on the mat."]
    assert entry.reason is None and tr.retried == tr.fixed == 1
    retry = engine.settings[1]
    assert (retry.repetition_penalty, retry.max_new_tokens, "\n" in retry.stop) == (penalty, limit, stops_at_newline)


def test_split_depth_zero_switches_the_split_off():
    engine = ScriptedEngine("main", {"One part, other part.": "", "One part,": "جزء،", "other part.": "جزء آخر."})
    tr = Translator(
        engine,
        "few-shot",
        "en",
        "ar",
        GenSettings(max_new_tokens=32),
        Guards("ar", GuardConfig(max_split_depth=0)),
        Cache(),
    )
    assert tr.run(["One part, other part."])["One part, other part."].reason == "empty"
    assert set(engine.asked) == {"One part, other part."}
    assert tr.ladder_stats()["splits_by_reason"] == {}


def test_split_segment_renumbers_placeholders_and_joins_them_back():
    sub = split_segment("Copy [1] to [2], then run [3].")
    assert sub.parts == ["Copy [1] to [2],", "then run [1]."] and sub.numbers == [[1, 2], [3]]
    assert sub.join(["انسخ [1] إلى [2]،", "ثم شغّل [1]."]) == "انسخ [1] إلى [2]، ثم شغّل [3]."
    around = split_segment("Run [1] now")
    assert around.parts == ["Run", "now"] and around.join(["شغّل", "الآن"]) == "شغّل [1] الآن"
    assert split_segment("Hello there") is None  # nothing smaller to try
    assert split_segment("[1] and").parts == ["and"]


def test_an_echoed_prompt_example_is_not_a_translation():
    engine = ScriptedEngine(
        "main", {"North America": "أين أقرب مستشفى؟", "Where is the nearest hospital?": "أين أقرب مستشفى؟"}
    )
    entries = _translator(engine).run(["North America", "Where is the nearest hospital?"])
    assert entries["North America"].reason == "prompt_echo"
    assert entries["Where is the nearest hospital?"].reason is None  # the example's own source may say it
