"""Fault tests (issue 16): `kill -9` at random points inside every long stage of a recipe, then resume, must give
outputs byte-equal to an uninterrupted run (0 records lost, 0 duplicated); SIGTERM stops a run cleanly, says so,
and leaves a state the next run resumes.

One recipe chains filter -> corpus -> train -> eval.mcq -> eval.translation -> merge -> quantize (FP8) on tiny
in-process models. The runs are forked from this (already imported) process — a fresh interpreter per run would
spend most of the budget importing torch — and each kills itself with SIGKILL at a random moment (seeded:
reproducible) inside its target stage's work, so every stage is hit mid-work; each run after a kill is a resume
of the last one (resume of a resume included). Translate has its own kill test (tests/test_translate_resume.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import textwrap
import time
from pathlib import Path

import pytest

from hala.records import write_records

pytestmark = pytest.mark.slow

STAGES = ["filter", "corpus", "sft", "mcq", "trans", "merged", "quant"]
RECIPE = """
name: faults
stages:
  - name: filter
    type: filter
    with: {{inputs: ["{tsv}"], rules: [empty, length, identical, duplicate], progress: false}}
  - name: corpus
    type: corpus
    with: {{sources: [{{ref: "@filter/kept.jsonl"}}], dev_fraction: 0.1, test_fraction: 0.1}}
  - name: sft
    type: train
    with: {{model: "{model}", train: "@corpus/train.jsonl", mode: full, max_steps: 6, save_steps: 2,
           batch_size: 4, max_length: 64, logging_steps: 1}}
  - name: mcq
    type: eval.mcq
    with: {{model: "{model}", tasks: ["{mcq}"]}}
  - name: trans
    type: eval.translation
    with: {{model: "{model}", data: "{pairs}", max_new_tokens: 6, batch_size: 2}}
  - name: merged
    type: merge
    with: {{base: "{model}", tuned: "@sft/model", t: 0.5}}
  - name: quant
    type: quantize
    with: {{model: "@merged/model", translation_check: skip, verify_texts_per_lang: 4, batch_size: 4}}
"""
# Summaries carry timings (report.md/json, logs) and mergekit_config.yml the absolute paths of the inputs (another
# run directory here), so they differ run to run; everything else a stage writes must be byte-equal.
VOLATILE = {
    "stage.json",
    "report.json",
    "report.md",
    "filter_report.json",
    "filter_report.md",
    "train_log.jsonl",
    "trainer_state.json",
    "metrics.json",
    "mergekit_config.yml",
}


def _write_inputs(tmp_path: Path, model: Path) -> Path:
    lines = [f"Sentence number {i} is here.\tالجملة رقم {i} هنا.\n" for i in range(240)] + ["dup\tمكرر\n"] * 3
    (tmp_path / "p.tsv").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("".join(f"Hello {i}\tمرحبا {i}\n" for i in range(6)), encoding="utf-8")
    write_records(
        tmp_path / "mine.jsonl",
        [{"id": f"q{i}", "question": f"سؤال {i}", "choices": ["أ", "ب", "ج"], "answer": i % 3} for i in range(12)],
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        textwrap.dedent(
            RECIPE.format(tsv=tmp_path / "p.tsv", model=model, mcq=tmp_path / "mine.jsonl", pairs=tmp_path / "dev.tsv")
        )
    )
    return recipe


def _child(recipe: str, run_dir: str, log: str, fault: tuple | None = None) -> None:
    """One `hala run` of the recipe. With `fault=(stage, delay, signum)` the run sends itself `signum` `delay`
    seconds after `stage` starts its work: a thread started by the runner's own "[run]"/"[resume]" line waits for
    the stage to record itself running (and, with `fault=(stage, delay, signum, after)`, for the path `after` in
    the stage's directory), then `delay`; a parent polling for the stage's `.tmp` would miss a stage that lasts
    milliseconds on a quiet machine (CI did)."""
    import threading

    import torch

    from hala.recipe import load_recipe, run_recipe

    torch.set_num_threads(1)
    fh = open(log, "a", encoding="utf-8")
    after = fault[3] if fault and len(fault) > 3 else None

    def signal_self() -> None:
        running = sorted(p.name.split("-")[0] for p in Path(run_dir).glob("*.tmp") if _is_running(p))
        fh.write(f"[fault] {signal.Signals(fault[2]).name} while running: {' '.join(running) or '-'}\n")
        fh.flush()
        os.kill(os.getpid(), fault[2])

    def signal_once_running() -> None:
        # The clock starts when the stage has recorded itself running (its work begins), not at the runner's
        # line: the few milliseconds between them are a good part of a short stage's reference time.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(_is_running(p) for p in Path(run_dir).glob(f"{fault[0]}-*.tmp")):
            time.sleep(0.0005)
        # Or from a mark of the stage's own progress: a reference time, measured in another run, can exceed the
        # whole stage when this run is quicker (CI's SIGINT run finished sft before 0.3 x its reference time).
        while time.monotonic() < deadline and after and not list(Path(run_dir).glob(f"{fault[0]}-*.tmp/{after}")):
            time.sleep(0.0005)
        time.sleep(fault[1])
        signal_self()

    def log_line(message: str) -> None:
        fh.write(message + "\n")
        fh.flush()
        if fault and message.startswith((f"[run] {fault[0]} ", f"[resume] {fault[0]} ")):
            # daemon: a run that ends first is not held open, nor signalled after its end
            threading.Thread(target=signal_once_running, daemon=True).start()

    try:
        run_recipe(load_recipe(recipe), Path(run_dir), Path(recipe), log=log_line)
    finally:
        fh.close()


def _is_running(tmp_dir: Path) -> bool:
    try:
        return json.loads((tmp_dir / "stage.json").read_text())["status"] == "running"
    except (OSError, ValueError, KeyError):  # published (renamed) meanwhile, or not yet recorded
        return False


def _start(recipe: Path, run_dir: Path, log: Path, fault: tuple | None = None):
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(str(recipe), str(run_dir), str(log), fault))
    proc.start()
    return proc


def _faulted_stages(log: Path) -> list[str]:
    return [
        name
        for line in log.read_text().splitlines()
        if line.startswith("[fault]")
        for name in line.split(": ", 1)[1].split()
        if name != "-"
    ]


def _outputs(run_dir: Path) -> dict[str, bytes]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    out = {}
    for name in STAGES:
        entry = manifest["stages"][name]
        assert entry["status"] == "done", (name, entry)
        stage_dir = run_dir / entry["dir"]
        for f in sorted(stage_dir.rglob("*")):
            rel = f.relative_to(stage_dir)
            if f.is_file() and f.name not in VOLATILE and "checkpoint-" not in str(rel) and f.suffix != ".json":
                out[f"{name}/{rel}"] = f.read_bytes()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("faults")
    recipe = _write_inputs(tmp, tiny_model)
    run_dir = tmp / "reference"
    t0 = time.time()
    proc = _start(recipe, run_dir, tmp / "reference.log")
    proc.join()
    assert proc.exitcode == 0, (tmp / "reference.log").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    seconds = {name: manifest["stages"][name]["seconds"] for name in STAGES}
    return recipe, _outputs(run_dir), seconds, time.time() - t0


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [0, 1])  # two random kill points per stage
def test_kill_9_inside_every_stage_then_resume_equals_an_uninterrupted_run(reference, tmp_path, seed):
    recipe, expected, seconds, _ = reference
    rng = random.Random(seed)
    run_dir, log = tmp_path / "run", tmp_path / "run.log"
    for stage in STAGES:
        # A random point inside the stage's own work. Where the stage ended first (a resume is quicker), the kill
        # lands in a later stage, as good a point; the stages after it still get their own turn.
        proc = _start(recipe, run_dir, log, fault=(stage, rng.uniform(0.05, 0.6) * seconds[stage], signal.SIGKILL))
        proc.join()
    proc = _start(recipe, run_dir, log)  # the last resume, to completion
    proc.join()
    assert proc.exitcode == 0, log.read_text()[-3000:]
    killed = _faulted_stages(log)
    assert len(set(killed)) >= len(STAGES) // 2, f"too few kills landed mid-stage: {killed}\n{log.read_text()[-4000:]}"
    got = _outputs(run_dir)
    assert sorted(got) == sorted(expected)  # no stray or missing files
    differ = [k for k in expected if got[k] != expected[k]]
    assert not differ, f"killed in {killed}; not byte-equal after resume: {differ}"
    assert not list(run_dir.glob("*.tmp"))
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):  # 0 lost, 0 duplicated, by id
        ids = [json.loads(x)["id"] for x in got[f"corpus/{name}"].decode().splitlines()]
        assert len(ids) == len(set(ids))


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_stops_cleanly_says_so_and_the_next_run_resumes(reference, tmp_path, signum):
    recipe, expected, seconds, _ = reference
    run_dir, log = tmp_path / "run", tmp_path / "run.log"
    proc = _start(recipe, run_dir, log, fault=("sft", 0.0, signum, "checkpoints/checkpoint-2"))  # steps 3-6 left
    proc.join(120)
    assert _faulted_stages(log) == ["sft"], log.read_text()  # the signal arrived inside the training stage
    assert proc.exitcode not in (0, None, -signum)  # it handled the signal, did not just die of it
    text = log.read_text()
    assert "[stopped] sft: interrupted" in text and "resumes it" in text
    (tmp_dir,) = run_dir.glob("sft-*.tmp")
    record = json.loads((tmp_dir / "stage.json").read_text())
    assert record["status"] == "failed" and record["error"].startswith("KeyboardInterrupt"), record["error"]
    assert signum == signal.SIGINT or "SIGTERM" in record["error"]
    assert not (run_dir / ".hala-run.owner.json").exists()  # the lock was released on the way out
    proc = _start(recipe, run_dir, log)
    proc.join()
    assert proc.exitcode == 0, log.read_text()[-4000:]
    assert "[resume] sft" in log.read_text()
    got = _outputs(run_dir)
    assert {k: v for k, v in got.items() if k.startswith(("filter/", "corpus/", "sft/"))} == {
        k: v for k, v in expected.items() if k.startswith(("filter/", "corpus/", "sft/"))
    }
