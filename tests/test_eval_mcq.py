"""Multiple-choice evaluation: acc / acc_norm arithmetic, the prefix-cached scorer against a plain forward pass,
every loader, the OALL-v2 prompts, the task registry, the stage (with resume) and the CLI."""

from __future__ import annotations

import csv
import json

import pytest

from hala.evaluate.formats import context, get_format, render
from hala.evaluate.loaders import YES_NO_CHOICES, MCQItem, read_items
from hala.evaluate.mcq import _judge, char_length, evaluate_mcq, shots_for
from hala.evaluate.subset import spread_indices
from hala.evaluate.tasks import Registry, resolve_task
from hala.records import write_records


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models are dominated by threading overhead on a shared 2-core machine: one thread is ~20x faster.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _logprob(model, tok, ctx_ids, cont_ids) -> float:
    """Independent reference: one plain forward pass over context+continuation, no cache, no batching."""
    import torch

    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([list(ctx_ids) + list(cont_ids)])).logits[0].float(), -1)
    return sum(lp[len(ctx_ids) - 1 + k, t].item() for k, t in enumerate(cont_ids))


# ------------------------------------------------------------------------------------------- arithmetic
def test_acc_norm_divides_by_characters_hand_checked():
    doc = render(get_format("acva"), MCQItem("q", ["نعم", "القط يجلس"], 1))
    # sums: -2.0 (3 chars) vs -4.5 (9 chars): acc picks choice 0; per char -0.667 vs -0.5: acc_norm picks 1
    judged = _judge(doc, [-2.0, -4.5])
    assert judged["lengths"] == [3, 9]
    assert (judged["pred"], judged["pred_norm"], judged["acc"], judged["acc_norm"]) == (0, 1, 0, 1)
    assert char_length(" A") == 1 and char_length("أ") == 1  # one leading space (lm-eval delimiter) not counted
    assert _judge(doc, [-1.0, -1.0])["pred"] == 0  # ties: first choice, like numpy argmax


def test_acc_and_acc_norm_match_independent_logprobs(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    items = [
        {"question": "ما عاصمة السعودية؟", "choices": ["الرياض", "جدة", "مكة المكرمة والمدينة"], "answer": 0},
        {"question": "The quick brown fox?", "choices": ["yes", "no, it is a lazy dog"], "answer": 1},
    ]
    r = evaluate_mcq(str(tiny_model), items, prompt="alghafa")  # alghafa scores the choices' texts
    assert r["n"] == 2 and r["prompt"] == "alghafa"
    expect_acc = expect_norm = 0
    for item, d in zip(items, r["details"]):
        doc = render(get_format("alghafa"), MCQItem(item["question"], item["choices"], item["answer"]))
        ctx = context(doc, [])
        ids = [tok(ctx)["input_ids"]] * len(doc.continuations)
        whole = [tok(ctx + c)["input_ids"] for c in doc.continuations]
        lps = [_logprob(model, tok, i, w[len(i) :]) for i, w in zip(ids, whole)]
        assert d["logprobs"] == pytest.approx(lps, abs=1e-4)
        lengths = [len(c) for c in item["choices"]]
        assert d["lengths"] == lengths
        expect_acc += max(range(len(lps)), key=lambda k: lps[k]) == item["answer"]
        expect_norm += max(range(len(lps)), key=lambda k: lps[k] / lengths[k]) == item["answer"]
    assert r["acc"] == expect_acc / 2 and r["acc_norm"] == expect_norm / 2


@pytest.mark.parametrize("arch_fixture", ["tiny_model", "tiny_gemma"])
def test_prefix_cached_batched_scores_equal_plain_forward(arch_fixture, request):
    """Both scorer paths (batched single-token, KV-cache reuse) equal a plain forward pass — also for Gemma's
    sliding-window layers with a context longer than the window (64 tokens in the tiny Gemma)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.evaluate.loglik import LoglikScorer

    path = request.getfixturevalue(arch_fixture)
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    scorer = LoglikScorer(model, tok, batch_size=2)
    contexts = ["مرحبا، كيف حالك اليوم؟ " * k + "الإجابة:" for k in (1, 2, 9)]
    conts = ["أ", "د", "القط يجلس على الحصيرة.", "Hello there"]
    requests = [(c, x) for c in contexts for x in conts]
    got = scorer.loglikelihoods(requests)
    assert max(len(scorer.encode(c, "x")[0]) for c in contexts) > 64
    assert {len(scorer.encode(c, x)[1]) == 1 for c, x in requests} == {True, False}  # both paths used
    for (c, x), g in zip(requests, got):
        ctx, cont = scorer.encode(c, x)
        assert g == pytest.approx(_logprob(model, tok, ctx, cont), abs=1e-4)


def test_encode_moves_trailing_space_to_the_continuation(tiny_model):
    from hala.evaluate.loglik import LoglikScorer
    from hala.models import load_tokenizer

    scorer = LoglikScorer.__new__(LoglikScorer)
    scorer.tok = load_tokenizer(tiny_model)
    assert scorer.encode("Answer: ", "A") == scorer.encode("Answer:", " A")


# ---------------------------------------------------------------------------------------------- loaders
def test_mmlu_csv_without_and_with_header(tmp_path):
    with open(tmp_path / "algebra_test.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["ما 1+1؟", "1", "2", "3", "4", "B"], ["q2, with comma", "a", "b", "c", "d", "D"]])
    with open(tmp_path / "en.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [["question", "choice0", "choice1", "choice2", "choice3", "answer"], ["2+2?", "3", "4", "5", "6", "1"]]
        )
    items = read_items(tmp_path / "algebra_test.csv")
    assert [(i.choices, i.answer) for i in items] == [(["1", "2", "3", "4"], 1), (["a", "b", "c", "d"], 3)]
    assert items[1].question == "q2, with comma"
    header = read_items(tmp_path / "en.csv")
    assert len(header) == 1 and header[0].answer == 1  # index answers, header row skipped
    by_dir = read_items(tmp_path, "mmlu")
    assert {i.subset for i in by_dir} == {"algebra", "en"}  # per-subject file name, _test stripped


def test_arabic_mmlu_csv_skips_empty_options(tmp_path):
    with open(tmp_path / "ArabicMMLU.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(
            fh, ["ID", "Subject", "Question", "Option 1", "Option 2", "Option 3", "Option 4", "Option 5", "Answer Key"]
        )
        w.writeheader()
        w.writerow(
            {
                "ID": "1",
                "Subject": "History",
                "Question": "س",
                "Option 1": "أ1",
                "Option 2": "ب2",
                "Option 3": "ج3",
                "Option 4": "",
                "Option 5": "",
                "Answer Key": "C",
            }
        )
    (item,) = read_items(tmp_path / "ArabicMMLU.csv")
    assert (item.choices, item.answer, item.subset, item.id) == (["أ1", "ب2", "ج3"], 2, "History", "1")


def test_exams_jsonl_both_layouts(tmp_path):
    nested = {
        "id": "e1",
        "question": {"stem": "سؤال", "choices": [{"text": "x", "label": "A"}, {"text": "y", "label": "B"}]},
        "answerKey": "B",
        "info": {"subject": "Biology"},
    }
    flat = {"question": "سؤال", "A": "1", "B": "2", "C": "3", "D": "4", "answer": "D", "subject": "Physics"}
    write_records(tmp_path / "exams.jsonl", [nested])
    write_records(tmp_path / "flat.jsonl", [flat])
    (a,) = read_items(tmp_path / "exams.jsonl")
    (b,) = read_items(tmp_path / "flat.jsonl", "exams")
    assert (a.choices, a.answer, a.subset) == (["x", "y"], 1, "Biology")
    assert (b.choices, b.answer, b.subset) == (["1", "2", "3", "4"], 3, "Physics")


def test_generic_jsonl_is_the_shipped_quickstart_set():
    items = resolve_task("mcq-ar").items
    assert len(items) == 150 and all(len(i.choices) in (2, 4) and 0 <= i.answer < len(i.choices) for i in items)
    assert items[0].id == "mcq-ar-0001" and items[0].subset  # subject from meta


def test_yes_no_alghafa_aratrust_and_answer_forms(tmp_path):
    write_records(
        tmp_path / "yn.jsonl",
        [{"id": "Iraq-1", "question": "بغداد عاصمة العراق.", "answer": "نعم"}, {"question": "q", "answer": "خطأ"}],
    )
    yn = read_items(tmp_path / "yn.jsonl")
    assert [i.answer for i in yn] == [0, 1] and yn[0].choices == YES_NO_CHOICES and yn[0].subset == "Iraq"
    write_records(tmp_path / "ag.jsonl", [{"query": "q", "sol1": "a", "sol2": "b", "sol3": "c", "label": "2"}])
    assert read_items(tmp_path / "ag.jsonl")[0].answer == 2
    write_records(tmp_path / "at.jsonl", [{"Question": "q", "A": "أ) x", "B": "ب) y", "C": "ج) z", "Answer": "ب"}])
    assert read_items(tmp_path / "at.jsonl")[0].answer == 1
    write_records(tmp_path / "text.jsonl", [{"question": "q", "choices": ["x", "y"], "answer": "y"}])
    assert read_items(tmp_path / "text.jsonl")[0].answer == 1


def test_bad_rows_name_file_and_line(tmp_path):
    write_records(
        tmp_path / "bad.jsonl",
        [{"question": "q", "choices": ["a", "b"], "answer": 0}, {"question": "q", "choices": ["a", "b"], "answer": 5}],
    )
    with pytest.raises(ValueError, match=r"bad.jsonl:2: invalid mcq row: answer index 5 is out of range"):
        read_items(tmp_path / "bad.jsonl")
    write_records(tmp_path / "unknown.jsonl", [{"foo": 1}])
    with pytest.raises(ValueError, match="cannot tell the multiple-choice format"):
        read_items(tmp_path / "unknown.jsonl")


def test_saved_datasets_and_offline_hub_tasks(tmp_path, monkeypatch):
    import datasets

    rows = [
        {"question": f"q{i}", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "C", "subject": "s"} for i in range(3)
    ]
    datasets.DatasetDict(
        {"test": datasets.Dataset.from_list(rows), "validation": datasets.Dataset.from_list(rows[:1])}
    ).save_to_disk(str(tmp_path / "exams"))
    data = resolve_task(f"arabic_exams={tmp_path / 'exams'}")  # an OALL task bound to a local copy
    assert len(data.items) == 3 and len(data.fewshot) == 1 and data.prompt.name == "exams"
    assert data.items[0].answer == 2
    with pytest.raises(Exception, match="offline"):
        resolve_task("arabic_exams")


def test_acva_and_mmlu_ar_mt_from_shared_data(shared_data):
    acva = resolve_task(f"acva-ar={shared_data / 'acva-ar'}")
    assert len(acva.items) == 8711 and len(acva.fewshot) == 289 and acva.prompt.name == "acva"
    mmlu = resolve_task(f"mmlu-ar-mt={shared_data / 'mmlu-ar-mt'}")
    assert len(mmlu.items) == 14042 and len(mmlu.fewshot) == 285
    assert len({i.subset for i in mmlu.items}) == 57 and mmlu.items[0].subset == "abstract_algebra"


# ---------------------------------------------------------------------------------------------- prompts
def test_oall_prompts_render_exactly():
    item = MCQItem("ما 2+2؟", ["3", "4"], 1, subset="math_basics")
    mt = render(get_format("arabic_mmlu_mt"), item)
    assert mt.instruction + mt.query == (
        "السؤال التالي هو سؤال متعدد الإختيارات. اختر الإجابة الصحيحة: أ، ب، ج، "
        "أو د... إلخ. \n\nما 2+2؟\nأ. 3\nب. 4\nالإجابة:"
    )
    assert mt.continuations == ["أ", "ب"]
    ex = render(get_format("exams"), item)
    assert ex.instruction.endswith("حول math basics. \n\n")
    assert ex.query == "السؤال: ما 2+2؟\n أ) 3\n\n ب) 4\n\nالإجابة:"
    ag = render(get_format("alghafa"), item)
    assert ag.query == "السؤال: ما 2+2؟\n0) 3\n1) 4\nالإجابة:" and ag.continuations == ["3", "4"]
    assert render(get_format("arabic_mmlu_ht"), item).continuations == ["1", "2"]
    assert render(get_format("mmlu_en"), item).continuations == [" A", " B"]
    acva = render(get_format("acva"), MCQItem("بغداد عاصمة العراق.", YES_NO_CHOICES, 0))
    assert (acva.instruction, acva.query) == ("", "السؤال: بغداد عاصمة العراق.\nالإجابة:")


def test_few_shot_context_puts_instruction_once_and_skips_the_question_itself():
    fmt = get_format("arabic_mmlu")
    docs = [render(fmt, MCQItem(f"q{i}", ["x", "y"], i % 2, id=str(i), subset="a" if i < 3 else "b")) for i in range(5)]
    shots = shots_for(docs[1], docs, 2)
    assert [s.item.id for s in shots] == ["0", "2"]  # same subset, itself excluded
    assert [s.item.id for s in shots_for(docs[4], docs, 5)] == ["3"]
    ctx = context(docs[1], shots)
    assert ctx.count("اختر الإجابة الصحيحة") == 1 and ctx.startswith(fmt.instruction)
    assert ctx.endswith("q0\nأ. x\nب. y\nالإجابة:أ\n\nq2\nأ. x\nب. y\nالإجابة:أ\n\nq1\nأ. x\nب. y\nالإجابة:")


def test_limit_spreads_evenly():
    assert spread_indices(10, 3) == [0, 3, 6] and spread_indices(3, 10) == [0, 1, 2]


# ------------------------------------------------------------------------------------------- registry
def test_registry_declares_oall_v2_and_quickstart(tmp_path):
    reg = Registry()
    assert reg.suites["oall-v2"] == [
        "alghafa",
        "arabic_mmlu",
        "arabic_exams",
        "madinah_qa",
        "aratrust",
        "arabic_mmlu_ht",
    ]
    assert reg.tasks["arabic_mmlu_ht"].hub.repo == "MBZUAI/human_translated_arabic_mmlu"
    assert reg.expand(["quickstart", "x.jsonl"]) == ["mcq-ar", "x.jsonl"]
    (tmp_path / "mine.yaml").write_text(
        "tasks:\n  mine:\n    data: mine.jsonl\n    format: mcq\nsuites:\n  s: [mine, mcq-ar]\n"
    )
    assert Registry([tmp_path / "mine.yaml"]).suites["s"] == ["mine", "mcq-ar"]
    (tmp_path / "bad.yaml").write_text("tasks:\n  t:\n    formt: mcq\n")
    with pytest.raises(Exception, match="bad.yaml"):
        Registry([tmp_path / "bad.yaml"])
    with pytest.raises(Exception, match="neither a declared task"):
        resolve_task("no-such-task")


# ---------------------------------------------------------------------------------------- stage + CLI
def test_stage_writes_results_and_resumes(tiny_model, tmp_path, monkeypatch):
    from hala.evaluate.stage import EvalMCQConfig, run_mcq

    items = [{"question": f"سؤال {i}", "choices": ["أ", "ب", "ج"], "answer": i % 3} for i in range(6)]
    write_records(tmp_path / "mine.jsonl", items)
    config = EvalMCQConfig(
        model=str(tiny_model), tasks=["quickstart", str(tmp_path / "mine.jsonl")], limit=4, few_shot=1, label="base"
    )
    out = run_mcq(config, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "eval_mcq.json").read_text(encoding="utf-8"))
    assert set(summary["tasks"]) == {"mcq-ar", "mine"} and summary["tasks"]["mcq-ar"]["n"] == 4
    assert summary["average"]["acc_norm"] == pytest.approx(
        (summary["tasks"]["mcq-ar"]["acc_norm"] + summary["tasks"]["mine"]["acc_norm"]) / 2, abs=1e-6
    )
    details = (tmp_path / "out" / "mcq_mine.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(details) == 4 and len(json.loads(details[0])["logprobs"]) == 3
    assert out["metrics"]["acc_norm_avg"] == summary["average"]["acc_norm"]

    import hala.evaluate.mcq as mcq

    monkeypatch.setattr(mcq, "evaluate_task", lambda *a, **k: pytest.fail("finished task was recomputed"))
    assert run_mcq(config, tmp_path / "out")["average"] == out["average"]


def test_evaluate_mcq_accepts_a_suite(tiny_model, tmp_path):
    (tmp_path / "s.yaml").write_text(
        "suites:\n  two: [mcq-ar, acva-small]\ntasks:\n  acva-small:\n    data: yn.jsonl\n    format: yes_no\n"
    )
    write_records(tmp_path / "yn.jsonl", [{"question": "بغداد عاصمة العراق.", "answer": "نعم"}] * 2)
    r = evaluate_mcq(str(tiny_model), "two", limit=2, registry=Registry([tmp_path / "s.yaml"]))
    assert r["n"] == 4 and set(r["tasks"]) == {"mcq-ar", "acva-small"}
    assert r["acc_norm"] == pytest.approx((r["tasks"]["mcq-ar"]["acc_norm"] + r["tasks"]["acva-small"]["acc_norm"]) / 2)
    assert r["tasks"]["acva-small"]["prompt"] == "acva"


def test_cli_mcq_and_tasks(tiny_model, tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    res = CliRunner().invoke(
        app,
        ["eval", "mcq", "--model", str(tiny_model), "--task", "mcq-ar", "--limit", "3", "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "eval_mcq.json").read_text(encoding="utf-8"))["tasks"]["mcq-ar"]["n"] == 3
    listing = CliRunner().invoke(app, ["eval", "tasks"])
    assert listing.exit_code == 0 and "oall-v2" in listing.output and "quickstart" in listing.output
