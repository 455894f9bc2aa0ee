"""`hala translate --distributed ray` on a local Ray cluster (2 CPUs, 2 engine actors, tiny model): output equal
to the single-process run, a worker SIGKILLed mid-job loses no record, and a restart skips finished shards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import warnings
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from hala.records import RejectLog  # noqa: E402
from hala.translate import (  # noqa: E402
    TranslateConfig,
    run,
    runner,  # noqa: E402
)
from hala.translate.distributed import plan_resources  # noqa: E402


def run_ray(config: TranslateConfig, out: Path) -> dict:
    return run(config.model_copy(update={"distributed": "ray"}), out)


# Each run with work starts 2 engine actors (torch + transformers import, model load): the slow part here.
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
WORDS = ["apple", "river", "green", "house", "stone", "light", "quick", "table", "cloud", "music"]
OUTPUTS = ("translated.jsonl", "rejects.jsonl")


@pytest.fixture(scope="module")
def cluster():
    # One local cluster for the module: starting Ray takes ~15 s on this 2-core machine.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_model) -> TranslateConfig:
    rows = []
    for i in range(30):
        w = WORDS[i % 10], WORDS[(i * 3) % 10]
        # Repeated sentences across shards exercise the dedup cache; `ls` a protected span; line 7 is invalid.
        rows.append(
            {
                "id": f"r{i}",
                "messages": [
                    {"role": "user", "content": f"The {w[0]} is {w[1]}. Why {w[1]}?"},
                    # a word, not a digit: the post-check rejects an output that loses a number (a random model
                    # always does)
                    {
                        "role": "assistant",
                        "content": f"Because {w[0]} {WORDS[i // 10]}{WORDS[i % 10]}."
                        + (" Run `ls`." if i % 4 == 0 else ""),
                    },
                ],
            }
        )
    src = tmp_path_factory.mktemp("ray-in") / "in.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines[7] = '{"id": "broken", "messages": [{"role": "user"}]}'
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return TranslateConfig(
        input=str(src),
        model=str(tiny_model),
        engine="hf",
        engine_options={"dtype": "float32"},
        template="few-shot",
        max_new_tokens=6,
        batch_size=2,
        shard_size=5,
        guards={"skip": ["max_tokens", "length_ratio", "wrong_script", "repetition"]},
        ray={"workers": 2},
    )


@pytest.fixture(scope="module")
def single(tmp_path_factory, config) -> Path:
    import torch

    torch.set_num_threads(1)  # what each Ray actor gets (cpus_per_worker=1)
    out = tmp_path_factory.mktemp("single")
    run(config, out)
    return out


def _same_output(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ra, rb = json.loads((a / "report.json").read_text()), json.loads((b / "report.json").read_text())
    for key in (
        "records",
        "translated",
        "rejected",
        "input_rejects",
        "rejects_by_reason",
        "segments",
        "unique_segments",
        "retried_segments",
        "fixed_by_retry",
    ):
        assert ra[key] == rb[key], key


def test_ray_run_equals_single_process_run(cluster, config, single, tmp_path):
    report = run_ray(config, tmp_path)
    _same_output(tmp_path, single)
    # rejected records (if any) match the single-process run exactly (_same_output); the retry ladder may rescue all
    assert report["translated"] > 0 and report["input_rejects"] == 1
    assert report["generated_segments"] == json.loads((single / "report.json").read_text())["generated_segments"]
    assert sum(report["ray"]["calls_by_worker"].values()) == report["ray"]["calls"] > 4


def test_killed_worker_loses_no_record(cluster, config, single, tmp_path, monkeypatch):
    killed: list[int] = []
    record = runner.Run.record

    def record_then_kill(self, plan, call, result):
        share = record(self, plan, call, result)
        if not killed:  # SIGKILL the worker that delivered the first result, while it has more calls to run
            killed.append(int(result.worker.rsplit(":", 1)[1]))
            os.kill(killed[0], signal.SIGKILL)
        return share

    monkeypatch.setattr(runner.Run, "record", record_then_kill)
    try:
        report = run_ray(config, tmp_path)
    except Exception as e:  # "finishes or resumes": then a rerun must complete the same output
        warnings.warn(f"the Ray job did not survive the worker kill ({type(e).__name__}); resuming it", stacklevel=1)
        monkeypatch.setattr(runner.Run, "record", record)
        report = run_ray(config, tmp_path)
    assert killed and sum(report["ray"]["calls_by_worker"].values()) == report["ray"]["calls"]
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    _same_output(tmp_path, single)


def test_restart_skips_finished_shards_and_plans_only_missing_calls(config, single, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(single, out)
    # As if the run died in shard 3: shards 3+ have no done marker and the final files are not there yet.
    for k in (3, 4, 5):
        for suffix in (".json", ".jsonl", ".rejects.jsonl"):
            (out / "shards" / f"part-{k:05d}{suffix}").unlink()
    for name in (*OUTPUTS, "report.json"):
        (out / name).unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("part-0000[0-2].*")}

    def planned_calls() -> list:  # what the runner would submit to an executor
        r = runner.Run(config, out)
        return [c for k, items in r.shards(RejectLog()) if not r.is_done(k) for c in r.plan(k, items).calls]

    assert planned_calls() == []  # all cached
    # Shard 4's segments never generated: only shards 4 and 5 (which reuses shard 4's) need calls.
    with sqlite3.connect(out / "cache.sqlite") as db:
        db.execute("DELETE FROM segments WHERE shard >= 4")
    calls = planned_calls()
    assert calls and {c.shard for c in calls} == {4, 5}
    assert all(len(c.sources) <= config.batch_size * 4 for c in calls)
    # A restart with everything cached writes the missing shards without starting a worker, and only those.
    for p in out.glob("cache.sqlite*"):
        p.unlink()
    for p in single.glob("cache.sqlite*"):  # with its write-ahead log: the single run's rows may still be there
        shutil.copy(p, out / p.name)
    report = run_ray(config.model_copy(update={"distributed": "ray"}), out)
    assert report["ray"]["calls"] == 0 and report["ray"]["tokens_this_run"] == 0
    assert [
        json.loads((out / "shards" / f"part-{k:05d}.json").read_text())["generated_segments"] for k in (3, 4, 5)
    ] == [0, 0, 0]
    assert kept == {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("part-0000[0-2].*")}
    _same_output(out, single)


@pytest.mark.timeout(60)
def test_cli_wiring_and_option_errors(config, tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    with pytest.raises(ValueError, match=r"ray\.bogus"):
        TranslateConfig(**{**config.model_dump(), "ray": {"bogus": 1}})
    res = CliRunner().invoke(
        app,
        [
            "translate",
            config.input,
            "-m",
            config.model,
            "-o",
            str(tmp_path / "o"),
            "--distributed",
            "ray",
            "--ray-option",
            "workers=3",
            "--dry-run",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "dry run: 29 records" in res.output and not (tmp_path / "o").exists()


def test_vllm_actors_get_their_tensor_parallel_gpus_and_fill_the_cluster(config):
    """Defect 12 and data parallelism: a vllm actor gets tensor_parallel_size GPUs, and with `workers` unset the
    replicas fill the cluster's GPUs (8 GPUs, TP 2: 4 replicas); CPU engines get 2 workers with no GPU."""
    vllm = config.model_copy(update={"engine": "vllm", "engine_options": {"tensor_parallel_size": 2}})
    assert plan_resources(vllm, vllm.ray.model_copy(update={"workers": None}), 8) == (4, 2.0)
    assert plan_resources(vllm, vllm.ray.model_copy(update={"workers": 3}), 8) == (3, 2.0)
    tp1 = vllm.model_copy(update={"engine_options": {}})
    assert plan_resources(tp1, tp1.ray.model_copy(update={"workers": None}), 8) == (8, 1.0)
    assert plan_resources(config, config.ray.model_copy(update={"workers": None}), 0) == (2, 0)
