"""translate stage: guards, retries, dedup cache, the in-memory API and `run` on chat / pair / table inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hala.atomic import read_json
from hala.errors import HalaError
from hala.translate import TranslateConfig, run, translate_texts, translate_with_reasons
from hala.translate.cache import Cache
from hala.translate.engines import Generation, GenSettings, Prompt
from hala.translate.guards import GuardConfig, Guards, is_loop
from hala.translate.translator import Translator

NO_GUARDS = {"skip": ["empty", "max_tokens", "repetition", "length_ratio", "wrong_script"]}


pytestmark = pytest.mark.usefixtures("one_thread")


class DictEngine:
    """A deterministic stand-in translator for logic tests: looks sources up, records every call."""

    name = "dict"

    def __init__(self, table: dict[str, str], retry_table: dict[str, str] | None = None):
        self.table, self.retry_table, self.calls = table, retry_table or {}, []

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        self.calls.append(([p.messages[-1]["content"].split("\n", 1)[1] for p in prompts], settings))
        out = []
        for p in prompts:
            src = p.messages[-1]["content"].split("\n", 1)[1]
            table = self.retry_table if settings.repetition_penalty > 1 else self.table
            text = table.get(src, "")
            out.append(Generation(text, len(text.split()), text == "TRUNCATED"))
        return out


def _translator(engine, cache=None) -> Translator:
    return Translator(
        engine,
        "hala",
        "en",
        "ar",
        GenSettings(max_new_tokens=32),
        Guards("ar", GuardConfig()),
        Cache() if cache is None else cache,
    )


# ------------------------------------------------------------------------------------------ guards
@pytest.mark.parametrize(
    "src,out,hit,reason",
    [
        ("The cat sits on the mat.", "", False, "empty"),
        ("The cat sits on the mat.", "القط يجلس", True, "max_tokens"),
        ("The cat sits on the mat.", "القط القط القط القط القط القط القط", False, "repetition"),
        ("The cat sits on the mat and looks at the birds outside.", "قط", False, "length_ratio"),
        ("The cat sits on the mat.", "The cat sits on the mat.", False, "wrong_script"),
        ("The cat sits on the mat.", "القط يجلس على الحصيرة.", False, None),
        ("Use [1] to list files.", "استخدم [1] لعرض الملفات.", False, None),
        # Names copied from the source do not count against the script share ...
        ("Install PostgreSQL and JavaScript tools.", "ثبت PostgreSQL و JavaScript.", False, None),
        # ... but a copied sentence is still caught, and so is an output with no Arabic letter at all.
        ("Show me a hello world program in Rust.", "Show me a hello world program in Rust.", False, "wrong_script"),
        ("Python.", "Python.", False, "wrong_script"),
    ],
)
def test_guards(src, out, hit, reason):
    assert Guards("ar", GuardConfig()).check(src, out, hit) == reason


def test_copied_names_exemption_can_be_switched_off():
    strict = Guards("ar", GuardConfig(exempt_copied_names=False))
    assert (
        strict.check("Install PostgreSQL and JavaScript tools.", "ثبت PostgreSQL و JavaScript.", False)
        == "wrong_script"
    )


def test_guard_can_be_skipped_and_the_next_failure_still_counts():
    g = Guards("ar", GuardConfig(skip=["max_tokens"]))
    assert g.check("The cat sits on the mat.", "القط يجلس على الحصيرة.", True) is None
    assert g.check("The cat sits on the mat.", "The cat sits on the mat.", True) == "wrong_script"


def test_loop_detector():
    assert is_loop("ha" * 20) and is_loop("one two three " * 5)
    assert not is_loop("A perfectly normal sentence with some words.")


# ------------------------------------------------------------------------------------------ retries, cache
def test_retry_with_adjusted_settings_then_reject_with_reason():
    engine = DictEngine(
        {"Good one.": "جيد.", "Fixed on retry.": "", "Always bad.": "", "Long one.": "TRUNCATED"},
        retry_table={"Fixed on retry.": "تم الإصلاح.", "Long one.": "TRUNCATED"},
    )
    entries = _translator(engine).translate(["Good one.", "Fixed on retry.", "Always bad.", "Long one."])
    assert entries["Good one."].output == "جيد." and entries["Good one."].reason is None
    assert entries["Fixed on retry."].output == "تم الإصلاح."
    assert entries["Always bad."].reason == "empty"
    assert entries["Long one."].reason == "max_tokens"
    first, *retries = engine.calls
    assert first[1].repetition_penalty == 1.0
    # One retry per failing segment, with a repetition penalty, and twice the limit after a truncation.
    assert sorted(s for batch, _ in retries for s in batch) == ["Always bad.", "Fixed on retry.", "Long one."]
    assert {(s.repetition_penalty, s.max_new_tokens) for _, s in retries} == {(1.2, 32), (1.2, 64)}


def test_placeholder_loss_is_rejected_as_protected_span():
    engine = DictEngine({"Run [1] now.": "شغّل الآن."})
    entry = _translator(engine).translate(["Run [1] now."])["Run [1] now."]
    assert entry.reason.startswith("protected_span")


def test_dedup_cache_translates_each_segment_once_and_persists(tmp_path):
    engine = DictEngine({"Hello.": "مرحبا."})
    cache = Cache(tmp_path / "c.sqlite", "fp")
    _translator(engine, cache).translate(["Hello.", "Hello.", "Hello."])
    assert len(engine.calls) == 1 and engine.calls[0][0] == ["Hello."]
    cache.close()
    again = DictEngine({})
    entries = _translator(again, Cache(tmp_path / "c.sqlite", "fp")).translate(["Hello."])
    assert again.calls == [] and entries["Hello."].output == "مرحبا."
    # A different fingerprint (model, settings...) does not reuse the entry.
    other = DictEngine({"Hello.": "أهلا."})
    assert _translator(other, Cache(tmp_path / "c.sqlite", "other")).translate(["Hello."])["Hello."].output == "أهلا."


def test_cache_lookups_of_any_size_find_exactly_the_stored_rows_with_few_distinct_statements(tmp_path):
    # One prepared statement per distinct query text stays in the connection: lookups of every batch size must
    # reuse a handful of them (they grew the process by MBs), and padding must not change what is found.
    from hala.translate.cache import Entry

    cache = Cache(tmp_path / "c.sqlite", "fp")
    cache.put_many({f"s{i}": Entry(f"o{i}", None, 1, 0) for i in range(0, 1200, 2)})
    statements: set[int] = set()
    cache.db.set_trace_callback(lambda sql: statements.add(sql.count(",")) if sql.startswith("SELECT") else None)
    for n in [*range(1, 140), 511, 512, 513, 1200]:
        found = cache.get_many([f"s{i}" for i in range(n)])
        assert sorted(found) == sorted(f"s{i}" for i in range(0, n, 2))
        assert all(found[s].output == "o" + s[1:] for s in found)
    assert len(statements) <= 10


def test_translate_texts_with_an_engine_object_restores_spans_and_returns_empty_for_rejects():
    engine = DictEngine({"Use [1] here.": "استخدم [1] هنا.", "Second sentence!": "الجملة الثانية!"})
    out = translate_with_reasons(["Use `ls -l` here. Second sentence!", "Unknown text.", ""], "unused", engine=engine)
    assert out[0] == ("استخدم `ls -l` هنا. الجملة الثانية!", None)
    assert out[1][0] == "" and out[1][1].startswith("empty")
    assert out[2] == ("", None)


# ------------------------------------------------------------------------------------------ real tiny model
def test_translate_texts_hf_tiny_model(tiny_model):
    texts = ["Hello there.", "Use `x` now.", "Hello there."]
    out = translate_texts(
        texts, str(tiny_model), template="few-shot", max_new_tokens=4, dtype="float32", guards=GuardConfig(**NO_GUARDS)
    )
    assert len(out) == 3 and out[0] == out[2] and out[0] != ""
    # The random model cannot keep the placeholder: that text is rejected, never returned without its code.
    assert out[1] == "" or "`x`" in out[1]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


CHATS = [
    {
        "id": "c1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi there."},
            {"role": "assistant", "content": "Hello!\n\n```python\nprint(1)\n```"},
        ],
    },
    {"id": "c2", "messages": [{"role": "user", "content": "Hi there."}, {"role": "tool", "content": '{"result": 3}'}]},
]


def test_run_chat_keeps_roles_originals_provenance_and_code(tmp_path, tiny_model):
    src = _write_jsonl(tmp_path / "in.jsonl", CHATS + [{"id": "bad"}])
    (tmp_path / "in.jsonl").open("a").write("not json\n")
    cfg = TranslateConfig(
        input=str(src),
        model=str(tiny_model),
        engine="hf",
        engine_options={"dtype": "float32"},
        max_new_tokens=4,
        guards=NO_GUARDS,
        shard_size=1,
    )
    report = run(cfg, tmp_path / "out")
    rows = [json.loads(x) for x in (tmp_path / "out" / "translated.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["c1", "c2"]
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    assert rows[0]["messages"][2]["content"].endswith("\n\n```python\nprint(1)\n```")
    assert rows[0]["messages"][1]["content"] == rows[1]["messages"][0]["content"]  # deduplicated, same output
    assert rows[1]["messages"][1]["content"] == '{"result": 3}'  # tool output is not translated
    assert rows[0]["meta"]["original"]["messages"] == CHATS[0]["messages"]
    prov = rows[0]["meta"]["translation"]
    assert prov["engine"] == "hf" and prov["template"] == "hala" and prov["settings"]["max_new_tokens"] == 4
    assert report["records"] == 2 and report["translated"] == 2 and report["input_rejects"] == 2
    assert report["generated_segments"] == 3 < report["segments"] == 4  # "Hi there." once across shards
    rejects = (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 2 and "invalid" in json.loads(rejects[0])["reason"]
    assert read_json(tmp_path / "out" / "report.json")["translated"] == 2
    # A finished run reruns without loading the model and gives the same report.
    again = run(cfg, tmp_path / "out")
    assert again["translated"] == 2 and again["tokens"] == report["tokens"]


def test_run_pairs_and_table_fields(tmp_path, tiny_model):
    pairs = _write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "p1", "src": "Save the file.", "tgt": "احفظ الملف.", "src_lang": "en", "tgt_lang": "ar"},
            {"id": "p2", "src": "Bonjour.", "tgt": "", "src_lang": "fr", "tgt_lang": "en"},
        ],
    )
    common = dict(
        model=str(tiny_model), engine="hf", engine_options={"dtype": "float32"}, max_new_tokens=4, guards=NO_GUARDS
    )
    rep = run(TranslateConfig(input=str(pairs), **common), tmp_path / "po")
    (p1,) = [json.loads(x) for x in (tmp_path / "po" / "translated.jsonl").read_text().splitlines()]
    assert p1["src"] == "Save the file." and p1["tgt"] != "احفظ الملف." and p1["tgt_lang"] == "ar"
    assert p1["meta"]["original"]["tgt"] == "احفظ الملف."
    assert rep["input_rejects"] == 1  # the French pair does not match src_lang=en

    table = _write_jsonl(
        tmp_path / "t.jsonl",
        [
            {"question": "What is two plus two?", "choices": ["Four.", "Five."], "answer": 0},
            {"question": "Missing choices?"},
        ],
    )
    rep = run(TranslateConfig(input=str(table), fields=["question", "choices"], **common), tmp_path / "to")
    (row,) = [json.loads(x) for x in (tmp_path / "to" / "translated.jsonl").read_text().splitlines()]
    assert len(row["choices"]) == 2 and row["answer"] == 0
    assert row["meta"]["original"] == {"question": "What is two plus two?", "choices": ["Four.", "Five."]}
    assert rep["input_rejects"] == 1

    # The same table as Parquet in, Parquet out.
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"question": "What is two plus two?", "answer": 0}]), tmp_path / "t.parquet")
    run(
        TranslateConfig(input=str(tmp_path / "t.parquet"), fields=["question"], output="out.parquet", **common),
        tmp_path / "tp",
    )
    (prow,) = pq.read_table(tmp_path / "tp" / "out.parquet").to_pylist()
    assert prow["answer"] == 0 and json.loads(prow["meta"])["original"] == {"question": "What is two plus two?"}


def test_guard_rejects_are_counted_per_reason(tmp_path, tiny_model):
    src = _write_jsonl(tmp_path / "in.jsonl", CHATS)
    cfg = TranslateConfig(
        input=str(src), model=str(tiny_model), engine="hf", engine_options={"dtype": "float32"}, max_new_tokens=3
    )
    report = run(cfg, tmp_path / "out")
    # A random model never writes Arabic within 3 tokens: every record is rejected, with reasons counted.
    assert report["translated"] == 0 and report["rejected"] == 2
    assert sum(report["rejects_by_reason"].values()) == 2
    assert set(report["rejects_by_reason"]) <= {
        "empty",
        "max_tokens",
        "repetition",
        "length_ratio",
        "wrong_script",
        "protected_span",
    }
    lines = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert all(r["line"] in (1, 2) and "segment" in r["reason"] for r in lines)


def test_dry_run_limit_and_changed_config(tmp_path, tiny_model):
    src = _write_jsonl(tmp_path / "in.jsonl", CHATS)
    cfg = TranslateConfig(input=str(src), model="not-loaded/at-all", template="few-shot", dry_run=True, limit=1)
    rep = run(cfg, tmp_path / "dry")
    assert rep["records"] == 1 and not (tmp_path / "dry").exists()
    seg = rep["examples"][0]["segments"][0]
    assert seg["text"] == "Be brief." and seg["prompt"].endswith("English: Be brief.\nArabic:")
    real = TranslateConfig(
        input=str(src), model=str(tiny_model), engine="hf", max_new_tokens=2, guards=NO_GUARDS, limit=1
    )
    assert run(real, tmp_path / "o")["records"] == 1
    with pytest.raises(HalaError, match="max_new_tokens"):
        run(real.model_copy(update={"max_new_tokens": 3}), tmp_path / "o")


def test_config_rejects_unknown_keys_and_templates():
    with pytest.raises(ValueError):
        TranslateConfig(input="x", model="y", engin="hf")
    with pytest.raises(ValueError):
        TranslateConfig(input="x", model="y", template="nope")


# ------------------------------------------------------------------------------------------ protection retry
def test_few_shot_prompt_shows_a_placeholder_example_with_the_segments_count():
    from hala.translate.translator import build_prompt

    def last_shot(text: str) -> str:  # the source side of the last example
        return build_prompt("few-shot", text, "en", "ar").text.split("\nEnglish: ")[-2].split("\n")[0]

    assert "[1]" not in build_prompt("few-shot", "Plain words.", "en", "ar").text
    assert last_shot("Run [1] now.").count("[") == 1
    assert last_shot("Copy [1] to [2].").count("[") == 2
    assert last_shot("Use [1], [2], [3] and [4].").count("[") == 3  # the closest there is


def test_span_mismatch_in_a_run_is_retried_then_rejected_with_the_reason(tmp_path, tiny_model, monkeypatch):
    rows = [
        {"id": "fixed", "messages": [{"role": "user", "content": "Run `make` now."}]},
        {"id": "lost", "messages": [{"role": "user", "content": "Type `ls` here."}]},
    ]
    engine = DictEngine(
        {"Run [1] now.": "شغّل الآن.", "Type [1] here.": "اكتب هنا."},
        retry_table={"Run [1] now.": "شغّل [1] الآن.", "Type [1] here.": "اكتب [2] هنا."},
    )
    monkeypatch.setattr("hala.translate.calls.make_engine", lambda *a, **k: engine)
    src = _write_jsonl(tmp_path / "in.jsonl", rows)
    report = run(TranslateConfig(input=str(src), model=str(tiny_model), engine="hf"), tmp_path / "out")
    (row,) = [json.loads(x) for x in (tmp_path / "out" / "translated.jsonl").read_text().splitlines()]
    assert row["id"] == "fixed" and row["messages"][0]["content"] == "شغّل `make` الآن."
    (rej,) = [json.loads(x) for x in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert rej["raw"]["id"] == "lost" and rej["line"] == 2
    assert rej["reason"].startswith("protected_span: placeholders missing [1], extra or repeated [2]")
    assert "'Type [1] here.'" in rej["reason"]  # names the segment and the bad output
    assert report["retried_segments"] == 2 and report["fixed_by_retry"] == 1
    assert report["rejects_by_reason"] == {"protected_span": 1}


def test_changed_model_files_invalidate_the_cache_and_redo_finished_shards(tmp_path, tiny_model):
    import os
    import shutil
    import sqlite3

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    src = _write_jsonl(tmp_path / "in.jsonl", CHATS)
    cfg = TranslateConfig(
        input=str(src),
        model=str(model),
        engine="hf",
        engine_options={"dtype": "float32"},
        max_new_tokens=4,
        guards=NO_GUARDS,
    )
    out = tmp_path / "out"

    def cached() -> int:
        with sqlite3.connect(out / "cache.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]

    first = run(cfg, out)
    rows = cached()
    assert rows == first["generated_segments"] == 3
    shard = out / "shards" / "part-00000.json"
    stamp = read_json(shard)["fingerprint"]
    run(cfg, out)  # unchanged model: nothing regenerated
    assert cached() == rows and read_json(shard)["fingerprint"] == stamp
    # "Retrain" in place (new weights file time): the finished shard is redone under a new cache key.
    weights = next(model.glob("*.safetensors"))
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 10))
    again = run(cfg, out)
    assert cached() == 2 * rows and read_json(shard)["fingerprint"] != stamp
    assert again["translated"] == first["translated"] == 2
    ids = [json.loads(x)["id"] for x in (out / "translated.jsonl").read_text().splitlines()]
    assert ids == ["c1", "c2"]


def test_progress_moves_inside_a_shard(tmp_path, tiny_model, monkeypatch):
    from hala.records import RejectLog
    from hala.translate.runner import LocalExecutor, Run

    sentences = [f"Sentence number {w}." for w in ("one", "two", "three", "four", "five", "six")]
    engine = DictEngine({s: "جملة رقم." for s in sentences})
    monkeypatch.setattr("hala.translate.calls.make_engine", lambda *a, **k: engine)
    rows = [
        {"id": f"r{i}", "messages": [{"role": "user", "content": f"{a} {b}"}]}
        for i, (a, b) in enumerate(zip(sentences[::2], sentences[1::2]))
    ]
    cfg = TranslateConfig(input=str(_write_jsonl(tmp_path / "in.jsonl", rows)), model=str(tiny_model), batch_size=1)
    calls: list[tuple[int, float]] = []
    (tmp_path / "out").mkdir()
    r = Run(cfg, tmp_path / "out")
    (stats,) = r.execute(LocalExecutor(cfg), r.shards(RejectLog()), lambda t, n: calls.append((t, n)))
    assert stats["written"] == 3 and len(engine.calls) == 2  # 6 segments, 4 per engine call
    assert len(calls) == 3 and calls[0][1] == pytest.approx(2.0) and calls[0][0] > 0
    assert sum(n for _, n in calls) == pytest.approx(3.0)  # the shard's records, in fractions along the way
