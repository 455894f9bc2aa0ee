"""Record schema round-trips, streaming readers/writers, and every bad-input case (file:line: reason)."""

from __future__ import annotations

import json

import pytest

from hala.records import ChatSample, Pair, RecordWriter, RejectLog, read_records, validate, write_records

PAIR = {"id": "p1", "src": "Save", "tgt": "حفظ", "src_lang": "en", "tgt_lang": "ar", "meta": {"source": "t"}}
CHAT = {
    "id": "c1",
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "مرحبا"}],
    "meta": {},
}


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_round_trip_every_format(tmp_path, suffix):
    pairs = [validate(PAIR, None), Pair(**{**PAIR, "id": "p2", "meta": {"n": [1, 2]}})]
    chats = [validate(CHAT, None), ChatSample(**{**CHAT, "id": "c2", "meta": {"k": "v"}})]
    for name, records in (("pairs", pairs), ("chats", chats)):
        path = tmp_path / f"{name}{suffix}"
        assert write_records(path, records) == 2
        back = list(read_records(path))
        assert [r.model_dump() for r in back] == [r.model_dump() for r in records]
        assert type(back[0]) is type(records[0])


def test_broken_line_missing_field_and_non_utf8_are_three_named_rejects(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(PAIR, ensure_ascii=False).encode(),
        b'{"id": "broken", "src": "x"',  # line 2: invalid JSON
        json.dumps({**{k: v for k, v in PAIR.items() if k != "tgt"}, "id": "p3"}).encode(),  # 3: no tgt
        b'{"id": "p9", "src": "caf\xff", "tgt": "x", "src_lang": "en", "tgt_lang": "ar"}',  # line 4: bad byte
        json.dumps(CHAT, ensure_ascii=False).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    rejects_path = tmp_path / "rejects.jsonl"
    with RejectLog(rejects_path) as log:
        good = list(read_records(path, rejects=log))
    assert [r.id for r in good] == ["p1", "c1"]
    assert log.total == 3
    saved = [json.loads(x) for x in rejects_path.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in saved] == [2, 3, 4]
    assert all(r["source"] == str(path) for r in saved)
    assert saved[0]["reason"].startswith("invalid JSON")
    assert saved[1]["reason"] == "invalid record: missing field 'tgt'"
    assert saved[2]["reason"].startswith("not UTF-8: byte 0xff")
    assert str(log.examples[1]) == f"{path}:3: invalid record: missing field 'tgt'"


def test_unknown_key_and_bad_role_are_rejected_with_field_name(tmp_path):
    path = tmp_path / "x.jsonl"
    bad_role = {**CHAT, "messages": [{"role": "robot", "content": "x"}]}
    path.write_text("\n".join(json.dumps(o) for o in [{**PAIR, "sorce": 1}, bad_role, [1, 2]]) + "\n")
    log = RejectLog()
    assert list(read_records(path, rejects=log)) == []
    reasons = [r.reason for r in log.examples]
    assert "sorce" in reasons[0]
    assert "messages.0.role" in reasons[1]
    assert "expected a JSON object" in reasons[2]


def test_without_reject_log_bad_input_raises_with_location(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{nope\n")
    with pytest.raises(ValueError, match=r"x.jsonl:1: invalid JSON"):
        list(read_records(path))


def test_writer_is_atomic_on_error(tmp_path):
    path = tmp_path / "out.jsonl"
    write_records(path, [PAIR])
    with pytest.raises(RuntimeError):
        with RecordWriter(path) as w:
            w.write({**PAIR, "id": "new"})
            raise RuntimeError("boom")
    assert [r.id for r in read_records(path)] == ["p1"]  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left


def test_saved_dataset_directory_is_an_input(tmp_path):
    import datasets

    datasets.Dataset.from_list([PAIR, {**PAIR, "id": "p2"}]).save_to_disk(str(tmp_path / "ds"))
    assert [r.id for r in read_records(tmp_path / "ds", "pair")] == ["p1", "p2"]


def test_unsupported_format_and_missing_file_are_clear(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    with pytest.raises(ValueError, match="unsupported input format"):
        list(read_records(tmp_path / "a.csv"))
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        list(read_records(tmp_path / "nope.jsonl"))


def test_cli_reports_an_invalid_option_value_in_one_line_naming_the_field(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "messages": [{"role": "user", "content": "Hi"}]}\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hala.cli",
            "translate",
            str(src),
            "-m",
            "x",
            "--engine",
            "ray",
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hala: error: TranslateConfig: field 'engine': Input should be 'ct2', 'hf', 'vllm', 'openai' or 'echo'"
    ]


def test_seen_ids_name_the_first_line_across_merges_like_a_dict():
    """The compact duplicate-id memory answers exactly as a dict of id -> first line, before and after its
    newest ids are merged into the sorted arrays (batch 7: many merges)."""
    import random

    from hala.records import SeenIds

    rng = random.Random(0)
    seen, oracle = SeenIds(batch=7), {}
    for line in range(1, 2_000):
        rid = f"id-{rng.randrange(600)}"
        assert seen.first_line(rid, line) == oracle.setdefault(rid, line)
    assert len(seen.hashes) + len(seen.recent) == len(oracle)


def test_seen_ids_hold_about_16_bytes_per_id():
    """~100 bytes per id in a dict (before); the sorted arrays hold 16 (24 while a merge makes the new one), plus
    one batch of recent ids in a dict (~100 bytes each: 8,192 here)."""
    import tracemalloc

    from hala.records import SeenIds

    n = 300_000
    tracemalloc.start()
    seen = SeenIds(batch=8_192)
    for line in range(n):
        seen.first_line(f"record-{line}", line)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40 * n, f"{peak / n:.0f} bytes per id"
