"""`data.chat`: instruction datasets in messages / sharegpt / columns layouts become chat samples."""

from __future__ import annotations

import json

from hala.records import read_records
from hala.sources.chat import ChatDataConfig, run


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_sharegpt_layout_maps_roles_and_rejects_unknown(tmp_path):
    src = _jsonl(
        tmp_path / "h.jsonl",
        [
            {
                "conversations": [
                    {"from": "system", "value": "Be kind."},
                    {"from": "human", "value": "Hi"},
                    {"from": "gpt", "value": "Hello!"},
                ]
            },
            {"conversations": [{"from": "alien", "value": "?"}]},
            {"conversations": [{"from": "human", "value": "no answer"}]},
        ],
    )
    out = run(
        ChatDataConfig(input=src, layout="sharegpt", messages_field="conversations", name="hermes"), tmp_path / "o"
    )
    samples = list(read_records(tmp_path / "o" / "samples.jsonl", "chat"))
    assert [m.role for m in samples[0].messages] == ["system", "user", "assistant"]
    assert samples[0].meta["source"] == "hermes" and samples[0].id.startswith("hermes-")
    assert out["metrics"]["samples"] == 1 and out["metrics"]["rejected"] == 2
    reasons = [json.loads(x)["reason"] for x in (tmp_path / "o" / "rejects.jsonl").read_text().splitlines()]
    assert "unknown role 'alien'" in reasons[0] and "no assistant turn" in reasons[1]


def test_columns_layout_with_joined_columns_and_limit(tmp_path):
    src = _jsonl(
        tmp_path / "a.jsonl",
        [
            {"instruction": "Add", "input": "2 and 3", "output": "5", "id": 7},
            {"instruction": "Say hi", "input": "", "output": "hi", "id": 8},
            {"instruction": "extra", "input": "", "output": "x", "id": 9},
        ],
    )
    cfg = ChatDataConfig(
        input=src,
        layout="columns",
        join_columns={"user": ["instruction", "input"]},
        columns={"assistant": "output"},
        id_field="id",
        limit=2,
    )
    run(cfg, tmp_path / "o")
    samples = list(read_records(tmp_path / "o" / "samples.jsonl", "chat"))
    assert [s.id for s in samples] == ["7", "8"]
    assert samples[0].messages[0].content == "Add\n\n2 and 3"
    assert samples[1].messages[0].content == "Say hi"


def test_missing_column_is_a_named_reject(tmp_path):
    src = _jsonl(tmp_path / "o.jsonl", [{"question": "q"}])
    out = run(
        ChatDataConfig(input=src, layout="columns", columns={"user": "question", "assistant": "response"}),
        tmp_path / "o",
    )
    assert out["metrics"]["rejected_by_reason"] == {"invalid record": 1}
    assert "missing field 'response'" in (tmp_path / "o" / "rejects.jsonl").read_text()


def test_mix_concatenates_caps_and_dedups(tmp_path):
    from hala.sources.mix import ChatMixConfig
    from hala.sources.mix import run as run_mix

    def sample(i):
        return {
            "id": f"s{i}",
            "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
            "meta": {},
        }

    a = _jsonl(tmp_path / "a.jsonl", [sample(1), sample(2), sample(3)])
    b = _jsonl(tmp_path / "b.jsonl", [sample(2), sample(4)])
    out = run_mix(ChatMixConfig(inputs=[a, b], cap_per_input=2), tmp_path / "o")
    ids = [s.id for s in read_records(tmp_path / "o" / "samples.jsonl", "chat")]
    assert ids == ["s1", "s2", "s4"]
    assert [(x["input"], x["kept"]) for x in out["metrics"]["per_input"]] == [(a, 2), (b, 1)]
    assert out["metrics"]["rejected"] == 1


def _sample(i, q=None):
    return {
        "id": f"s{i}",
        "messages": [{"role": "user", "content": q or f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
        "meta": {},
    }


def test_mix_counts_each_input_by_position_and_totals_what_it_wrote(tmp_path):
    """Per-input counts: one entry per input in order (an input listed twice is two entries, not one key
    overwritten), each with what it kept and what it lost and why; `samples` is what samples.jsonl holds."""
    from hala.sources.mix import ChatMixConfig
    from hala.sources.mix import run as run_mix

    a = _jsonl(tmp_path / "a.jsonl", [_sample(1), _sample(2), _sample(3)])
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps(_sample(2)) + "\nnot json\n" + json.dumps(_sample(4)) + "\n", encoding="utf-8")
    out = run_mix(ChatMixConfig(inputs=[a, str(bad), a], cap_per_input=3), tmp_path / "o")
    written = [s.id for s in read_records(tmp_path / "o" / "samples.jsonl", "chat")]
    assert written == ["s1", "s2", "s3", "s4"]
    m = out["metrics"]
    assert m["samples"] == len(written) == m["records_out"]
    assert m["per_input"] == [
        {"input": a, "kept": 3, "duplicates": 0, "rejected": 0},
        {"input": str(bad), "kept": 1, "duplicates": 1, "rejected": 1},
        {"input": a, "kept": 0, "duplicates": 3, "rejected": 0},
    ]
    assert m["rejected"] == 5 and m["records_in"] == 4 + 5
    assert m["rejected_by_reason"] == {"duplicate id": 4, "invalid JSON": 1}
