"""hala's acc / acc_norm equal lm-evaluation-harness's on the same prompts and model (the reference check of
docs/EVAL.md). hala renders the questions (OALL-v2 AlGhafa and ACVA prompts: choices' texts are scored, so their
lengths differ and acc_norm matters); lm-eval scores them as a custom `multiple_choice` task with an empty
target delimiter, through its own HFLM wrapper of the same local model directory."""

from __future__ import annotations

import json

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval not installed (pip install 'hala[refcheck]' torch==2.13.0)")

TASK_YAML = """task: hala_refcheck
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
output_type: multiple_choice
doc_to_text: context
doc_to_choice: choices
doc_to_target: gold
target_delimiter: ""
metric_list:
  - metric: acc
  - metric: acc_norm
"""

ITEMS = [
    {
        "question": "ما عاصمة المملكة العربية السعودية؟",
        "choices": ["الرياض", "مدينة جدة الساحلية على البحر الأحمر", "مكة"],
        "answer": 0,
    },
    {"question": "كم عدد أيام الأسبوع؟", "choices": ["سبعة", "خمسة أيام فقط في الأسبوع", "ثلاثة"], "answer": 0},
    {
        "question": "The quick brown fox jumps over the lazy dog.",
        "choices": ["yes", "no, it is a cat that sleeps"],
        "answer": 1,
    },
    {"question": "السلام عليكم", "choices": ["وعليكم السلام ورحمة الله وبركاته", "مرحبا"], "answer": 0},
    {"question": "ما لون السماء؟", "choices": ["أزرق", "أحمر", "لون أخضر داكن جدا", "أسود"], "answer": 0},
    {"question": "Hello, how are you today?", "choices": ["fine", "I am very well, thank you for asking"], "answer": 1},
    {"question": "القط يجلس على الحصيرة.", "answer": "نعم"},
    {"question": "الرياض هي عاصمة المملكة العربية السعودية.", "answer": "نعم"},
    {"question": "القاهرة تقع في العراق.", "answer": "لا"},
]


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared 2-core machine: threading overhead dominates
    yield
    torch.set_num_threads(before)


def test_acc_and_acc_norm_equal_lm_evaluation_harness(tiny_model, tmp_path, one_thread):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from hala.evaluate.formats import context, render
    from hala.evaluate.loglik import LoglikScorer
    from hala.evaluate.mcq import evaluate_task
    from hala.evaluate.tasks import resolve_task

    results, docs = [], []
    for part, prompt in ((ITEMS[:6], "alghafa"), (ITEMS[6:], "acva")):
        data = resolve_task(part, prompt=prompt)
        results.append(evaluate_task(LoglikScorer.load(str(tiny_model)), data))
        docs += [render(data.prompt, item) for item in data.items]
    hala_details = [d for r in results for d in r["details"]]
    with open(tmp_path / "docs.jsonl", "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(
                json.dumps(
                    {"context": context(doc, []), "choices": doc.continuations, "gold": doc.gold}, ensure_ascii=False
                )
                + "\n"
            )
    (tmp_path / "hala_refcheck.yaml").write_text(TASK_YAML.format(docs=tmp_path / "docs.jsonl"), encoding="utf-8")

    lm = HFLM(pretrained=str(tiny_model), dtype="float32", batch_size=4, device="cpu")
    out = simple_evaluate(
        model=lm,
        tasks=["hala_refcheck"],
        log_samples=True,
        task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False),
    )
    ref = out["results"]["hala_refcheck"]
    n = len(hala_details)
    assert ref["acc,none"] == pytest.approx(sum(d["acc"] for d in hala_details) / n, abs=1e-9)
    assert ref["acc_norm,none"] == pytest.approx(sum(d["acc_norm"] for d in hala_details) / n, abs=1e-9)
    samples = sorted(out["samples"]["hala_refcheck"], key=lambda s: s["doc_id"])
    for s, d in zip(samples, hala_details):
        assert [x[0] for x in s["filtered_resps"]] == pytest.approx(d["logprobs"], abs=1e-4)
        assert (s["acc"], s["acc_norm"]) == (d["acc"], d["acc_norm"])
    # the check is only meaningful if length normalisation changes some answers
    assert any(d["pred"] != d["pred_norm"] for d in hala_details)
