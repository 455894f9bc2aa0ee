"""`hala report`: a small fake run directory (the layout documented in docs/EVAL.md) renders to Markdown and a
self-contained HTML page whose tables carry the run's numbers; missing or broken inputs become notes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from hala.errors import HalaError
from hala.report import ReportConfig, run


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


def make_fake_run(root: Path, student_chrf: float = 21.37) -> Path:
    """A run with a filter, translator evals before/after training, train summary, a translate report, merge
    sweep and base / tuned / merged MCQ evals: each file holds the keys its stage really writes."""
    stages = {
        "filter": ("filter-aaaa", "filter", 3.5, {"kept": 1180}),
        "translator_base_eval": ("evalb-bbbb", "eval.translation", 61.0, {"chrf_en-ar": 17.61}),
        "train_translator": ("train-cccc", "train", 512.0, {"train_loss": 1.234}),
        "translator_eval": ("evalt-dddd", "eval.translation", 58.0, {"chrf_en-ar": 21.37}),
        "quantize": ("quant-eeee", "quantize", 40.0, {}),
        "translate_instructions": ("tr-iiii", "translate", 80.0, {}),
        "merge": ("merge-ffff", "merge", 120.0, {"t": 0.6}),
        "eval_base": ("mcqb-gggg", "eval.mcq", 30.0, {"acc_norm_avg": 0.3125}),
        "eval_tuned": ("mcqt-jjjj", "eval.mcq", 29.0, {"acc_norm_avg": 0.3906}),
        "eval_merged": ("mcqm-hhhh", "eval.mcq", 31.0, {"acc_norm_avg": 0.4375}),
    }
    _write(
        root / "manifest.json",
        {
            "recipe": "fake-quickstart",
            "stages": {
                name: {"type": t, "key": d.split("-")[1] * 8, "dir": d, "status": "done", "seconds": s, "metrics": m}
                for name, (d, t, s, m) in stages.items()
            },
        },
    )
    rules = [
        ("empty", 1500, 12, None),
        ("length_ratio", 1488, 97, None),
        ("langid", 1391, 151, None),
        ("duplicate", 1240, 60, None),
        ("semantic", 0, 0, "no embedding model configured"),
    ]
    _write(
        root / "filter-aaaa" / "report.json",
        {  # the keys hala.filters.report.build_report writes
            "input_pairs": 1500,
            "kept": 1180,
            "rejected": 320,
            "read_errors": 0,
            "seconds": 3.5,
            "pairs_per_second": 428.6,
            "rejected_by_rule": {name: n for name, _, n, _ in rules},
            "rules": [
                {
                    "name": name,
                    "summary": f"rule {name}",
                    "checked": checked,
                    "rejected": n,
                    "skipped": skipped,
                    "share_of_input": round(n / 1500, 4),
                    "notes": [],
                    "examples": [],
                }
                for name, checked, n, skipped in rules
            ],
        },
    )
    _write(
        root / "tr-iiii" / "report.json",
        {  # the keys hala.translate.runner._finish writes
            "records": 40,
            "translated": 37,
            "rejected": 3,
            "input_rejects": 0,
            "rejects_by_reason": {"length_ratio": 2, "wrong_script": 1},
            "tokens": 5120,
            "seconds": 80.0,
            "tokens_per_s": 64.25,
            "records_per_s": 0.5,
        },
    )
    for d, label, chrf, bleu, speed in (
        ("evalb-bbbb", "base", 17.61, 3.05, 1.7),
        ("evalt-dddd", "trained", student_chrf, 5.42, 2.4),
    ):
        _write(
            root / d / "eval_translation.json",
            {
                "kind": "translation",
                "model": f"model-{label}",
                "label": label,
                "data": "/x/heldout.jsonl",
                "heldout": True,
                "role": "teacher" if label == "base" else "student",
                "template": "t",
                "engine": "ct2",
                "batch_size": 16 if label == "base" else 64,
                "directions": {
                    "en-ar": {
                        "n": 100,
                        "bleu": bleu,
                        "chrf": chrf,
                        "rejected": 3,
                        "sentences_per_second": speed,
                        "signature": {"bleu": "nrefs:1|tok:intl", "chrf": "nrefs:1|nc:6|nw:2"},
                        "comet": {"skipped": "no COMET model configured"},
                        "worst": [
                            {
                                "i": 7,
                                "src": "about how long?",
                                "ref": "منذ متى؟",
                                "hyp": "",
                                "chrf": 0.0,
                                "rejected": "max_tokens: segment",
                            }
                        ],
                    },
                    "ar-en": {"n": 100, "bleu": bleu + 1, "chrf": chrf + 10.5, "signature": {}},
                },
            },
        )
    _write(
        root / "train-cccc" / "train_summary.json",
        {  # the keys hala.train.stage._summary writes
            "model_dir": "model",
            "base_model": "embedded:gemma-3-270m",
            "mode": "lora",
            "steps": 150,
            "epochs": 1.5,
            "train_loss": 1.234,
            "final_loss": 1.2,
            "eval_loss": 1.31,
            "train_examples_used": 800,
            "real_tokens_seen": 96000,
            "losses": [{"step": 10, "loss": 2.5}, {"step": 150, "loss": 1.2}],
            "eval_losses": [{"step": 150, "eval_loss": 1.31}],
            "session": {"steps": 150, "seconds": 512.0, "real_tokens": 96000, "real_tokens_per_second": 187.5},
        },
    )
    _write(
        root / "quant-eeee" / "verification.json",
        {
            "model": "teacher",
            "scheme": "FP8_DYNAMIC",
            "passed": True,  # keys of hala.quantize.stage's report
            "sizes": {"original_on_disk_bytes": 1072419256, "quantized_on_disk_bytes": 436216840},
            "translation": {
                "status": "reported",
                "pairs": 20,
                "src_lang": "en",
                "tgt_lang": "ar",
                "template": "few-shot",
                "chrf_original": 34.004,
                "chrf_quantized": 33.014,
            },
            "perplexity": {"en": {"original": 22.6, "quantized": 24.3, "ratio": 1.075}},
            "checks": [{"metric": "kl_mean", "value": 0.039, "op": "<=", "threshold": 0.1, "passed": True}],
        },
    )
    _write(
        root / "merge-ffff" / "sweep.json",
        {
            "select_on": "mcq:quickstart",
            "method": "slerp",
            "metric": "acc_norm",
            "best_t": 0.6,
            "best_score": 0.4375,
            "rows": [
                {"t": t, "score": v, "metric": "acc_norm", "details": {"n": 150}}  # as hala.merge.sweep writes
                for t, v in ((0.0, 0.3125), (0.3, 0.375), (0.6, 0.4375), (1.0, 0.40625))
            ],
        },
    )
    for d, label, share, ppl in (("mcqb-gggg", "base", 0.1389, 88.4), ("mcqm-hhhh", "merged", 0.4722, 41.7)):
        _write(
            root / d / "eval_instruct.json",
            {  # the keys hala.evaluate.instruct.run writes
                "kind": "instruct",
                "label": label,
                "model": f"model-{label}",
                "n": 36,
                "lang_share": share,
                "mean_script_share": share + 0.05,
                "empty_answers": 0,
                "hit_max_tokens": 3,
                "ref_ppl": ppl,
                "ref_tokens": 2400,
                "signature": {
                    "prompts": 36,
                    "data": "instruct_heldout_ar.jsonl",
                    "max_new_tokens": 32,
                    "threshold": 0.5,
                    "script": "ARABIC",
                },
                "signature_text": "prompts:36|max_new:32|thr:0.5",
            },
        )
    for d, label, a, b, speed in (
        ("mcqb-gggg", "base", 0.2813, 0.3438, 3.2),
        ("mcqt-jjjj", "tuned", 0.3594, 0.4219, 2.9),
        ("mcqm-hhhh", "merged", 0.4063, 0.4688, 3.0),
    ):
        _write(
            root / d / "eval_mcq.json",
            {
                "kind": "mcq",
                "model": f"model-{label}",
                "label": label,
                "few_shot": 0,
                "tasks": {
                    "mcq-ar": {"n": 150, "acc": a, "acc_norm": a, "questions_per_second": speed},
                    "acva-ar": {"n": 300, "acc": b, "acc_norm": b + 0.01},
                },
                "average": {"acc": round((a + b) / 2, 4), "acc_norm": round((a + b + 0.01) / 2, 4), "n_tasks": 2},
            },
        )
    return root


def test_report_html_carries_the_runs_numbers(tmp_path):
    run_dir = make_fake_run(tmp_path / "run")
    summary = run(ReportConfig(run_dir=str(run_dir)), run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    for number in (
        "17.61",
        "21.37",
        "31.87",
        "28.11",
        "0.2813",
        "0.3594",
        "0.4688",
        "0.3538",
        "97",
        "151",
        "0.4375",
        "FP8_DYNAMIC",
        "1.075",
        "33.01 quantized",
        "436.2 MB",
        "fake-quickstart",
        "منذ متى؟",
        "512",
        "6.47%",
        "64.25",
        "wrong_script 1",
        "187.5 real tokens/s",
        "en-ar 1.7 sentences/s",
        "mcq-ar 3.2 questions/s",
    ):
        assert number in html, number
    assert "en-ar: teacher 17.61 → student 21.37 chrF++ (+3.76, student better), 1.41× the teacher" in html
    assert "held-out (no stage of this run reads it)" in html and "[rejected: max_tokens: segment]" in html
    assert "skipped: no embedding model configured" in html and '<th dir="auto">tuned acc_norm</th>' in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert "0.4722" in html and "41.7" in html  # the instruction-model section
    assert len(images) == summary["metrics"]["figures"] == 8  # chrF++, MCQ, instruct, sweep, filter, loss, time, rates
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert not re.search(r'(src|href)="(http|//|file:)', html)  # self-contained: nothing fetched
    assert "| average |" in md and "report_files/benchmarks_acc_norm.png" in md
    for figure in ("sweep_merge", "filter_filter", "training_loss", "throughput", "stage_seconds"):
        assert (run_dir / "report_files" / f"{figure}.png").read_bytes().startswith(b"\x89PNG")
    assert summary["skipped"] == []


def test_headline_shows_a_worse_student_as_worse(tmp_path):
    """The baseline rule: the headline compares the student with its teacher on the same data and reports the
    sign as measured — a student below its teacher is a negative delta, never a 'before → after' gain."""
    run_dir = make_fake_run(tmp_path / "run", student_chrf=15.11)
    run(ReportConfig(run_dir=str(run_dir)), run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "en-ar: teacher 17.61 → student 15.11 chrF++ (-2.50, teacher better)" in html
    assert "ar-en: teacher 28.11 → student 25.61 chrF++ (-2.50, teacher better)" in html
    assert html.index("Headline: student vs teacher") < html.index("Translator quality")
    # the speed ratio compares two decodings: each one's batch size is named beside it
    assert "(model-trained, t prompt, ct2, batch 64) vs teacher" in html and "t prompt, ct2, batch 16)" in html


def test_headline_refuses_held_out_claim_when_a_stage_reads_the_data(tmp_path):
    run_dir = make_fake_run(tmp_path / "run")
    _write(
        run_dir / "train-cccc" / "stage.json",
        {"name": "train_translator", "status": "done", "config": {"train": "/y/heldout.jsonl"}},
    )
    run(ReportConfig(run_dir=str(run_dir)), run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "NOT held-out: stage(s) train_translator read this data" in html


def test_missing_and_broken_inputs_become_notes(tmp_path):
    run_dir = tmp_path / "partial"
    (run_dir / "only-stage").mkdir(parents=True)
    (run_dir / "only-stage" / "eval_mcq.json").write_text("{not json", encoding="utf-8")
    summary = run(ReportConfig(run_dir=str(run_dir)), tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "No manifest.json" in html and "Skipped: no stage wrote eval_mcq.json." in html
    assert "unreadable (JSONDecodeError" in html
    assert "Benchmarks (multiple choice, log-likelihood)" in summary["skipped"]
    with pytest.raises(HalaError, match="nope: run directory not found"):
        run(ReportConfig(run_dir=str(tmp_path / "nope")), tmp_path / "out2")


def test_report_reads_what_the_eval_stage_writes(tiny_model, tmp_path):
    """The eval stage's real outputs (not hand-written JSON) feed the report."""
    from hala.evaluate.stage import EvalMCQConfig, EvalTranslationConfig, run_mcq, run_translation

    run_dir = tmp_path / "run"
    (tmp_path / "d.en").write_text("Hello world, good morning.\n", encoding="utf-8")
    (tmp_path / "d.ar").write_text("مرحبا بالعالم، صباح الخير.\n", encoding="utf-8")
    (tmp_path / "h.txt").write_text("مرحبا يا عالم، صباح الخير.\n", encoding="utf-8")
    t = run_translation(
        EvalTranslationConfig(data=str(tmp_path / "d"), hypotheses={"en-ar": str(tmp_path / "h.txt")}, label="given"),
        run_dir / "evt",
    )
    m = run_mcq(EvalMCQConfig(model=str(tiny_model), limit=2, label="tiny"), run_dir / "evm")
    _write(
        run_dir / "manifest.json",
        {
            "recipe": "r",
            "stages": {
                "evt": {"dir": "evt", "status": "done", "seconds": 1.0, "metrics": t["metrics"]},
                "evm": {"dir": "evm", "status": "done", "seconds": 2.0, "metrics": m["metrics"]},
            },
        },
    )
    run(ReportConfig(run_dir=str(run_dir)), run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"{t['metrics']['chrf_en-ar']:.4g}" in html and "tiny acc_norm" in html


def test_cli_report(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    run_dir = make_fake_run(tmp_path / "run")
    res = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "report.html").exists() and "figures" in res.output


def test_report_reads_what_the_filter_stage_writes(tmp_path):
    """The filter stage's real report.json (not hand-written JSON) feeds the filter section."""
    from hala.filters.config import FilterConfig
    from hala.filters.stage import run as run_filter

    pairs = [
        {"src": "Good morning, my friend.", "tgt": "صباح الخير يا صديقي."},
        {"src": "Open the file.", "tgt": "افتح الملف."},
        {"src": "Open the file.", "tgt": "افتح الملف."},  # duplicate
        {"src": "Settings", "tgt": "Settings"},
    ]  # untranslated
    src = tmp_path / "pairs.jsonl"
    src.write_text(
        "".join(
            json.dumps({"id": f"p{i}", **p, "src_lang": "en", "tgt_lang": "ar"}, ensure_ascii=False) + "\n"
            for i, p in enumerate(pairs)
        ),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    result = run_filter(FilterConfig(inputs=[str(src)], progress=False), run_dir / "filter-0123")
    _write(
        run_dir / "manifest.json",
        {
            "recipe": "r",
            "stages": {"filter": {"type": "filter", "dir": "filter-0123", "status": "done", "seconds": 1.0}},
        },
    )
    run(ReportConfig(run_dir=str(run_dir)), run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    rejected = {r: n for r, n in result["rejected_by_rule"].items() if n}
    assert sum(rejected.values()) == result["rejected"] >= 2
    assert f"filter: 4 pairs in, {result['kept']} kept, {result['rejected']} rejected, 0 unreadable" in html
    for rule, n in rejected.items():
        assert f'<td dir="auto">{rule}</td>' in html and f'<td class="num" dir="auto">{n}</td>' in html
    assert "report_files/filter_filter.png" in (run_dir / "report.md").read_text(encoding="utf-8")
