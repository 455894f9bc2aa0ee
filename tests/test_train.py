"""The train stage on tiny random models: assistant-only labels, the label-only head, memorisation, resume,
outputs, rejects and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hala.prompts import translation_messages
from hala.testing import CHATML_TEMPLATE
from hala.train import TrainConfig, run

PAIRS = [
    ("Hello, how are you today?", "مرحبا، كيف حالك اليوم؟"),
    ("The cat sits on the mat.", "القط يجلس على الحصيرة."),
    ("Peace be upon you", "السلام عليكم ورحمة الله"),
    ("Riyadh is the capital of Saudi Arabia.", "الرياض هي عاصمة المملكة العربية السعودية."),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def chat_sample(i: int, src: str, tgt: str) -> dict:
    return {"id": f"s{i}", "messages": translation_messages(src, "en", "ar") + [{"role": "assistant", "content": tgt}]}


def write_jsonl(path: Path, rows: list, extra_lines: tuple[str, ...] = ()) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


@pytest.fixture
def translation_set(tmp_path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", [chat_sample(i, s, t) for i, (s, t) in enumerate(PAIRS)])


MULTI_TURN = {
    "id": "mt",
    "messages": [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "Translate: cat"},
        {"role": "assistant", "content": "قط"},
        {"role": "user", "content": "Translate: dog"},
        {"role": "assistant", "content": "كلب"},
    ],
}


def expected_labels(tokenizer, messages, header: str, end: str) -> list[int]:
    """Independent oracle: in the rendered text, each assistant turn is `header + content + end`; exactly the
    tokens of `content + end` are trained."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans, pos = [], 0
    for m in messages:
        if m["role"] == "assistant":
            start = text.index(header + m["content"].strip() + end, pos) + len(header)
            pos = start + len(m["content"].strip()) + len(end)
            spans.append((start, pos))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [
        tok if any(s <= a < e for s, e in spans) else -100
        for tok, (a, _) in zip(enc["input_ids"], enc["offset_mapping"])
    ]


def prepared_labels(model: str, train: Path, tmp_path: Path, **overrides) -> tuple:
    """The labels SFTTrainer will train on, built by the stage's own code path."""
    from hala.train.stage import prepare

    config = TrainConfig(model=model, train=str(train), max_steps=1, **overrides)
    session = prepare(config, tmp_path / "prep")
    return session, [row["labels"] for row in session.trainer.train_dataset]


UNMARKED_CHATML = CHATML_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")


@pytest.mark.parametrize("template, strategy", [(None, "markers"), (UNMARKED_CHATML, "prefix")])
def test_assistant_only_labels_chatml_token_by_token(tiny_model, tmp_path, template, strategy):
    rows = [chat_sample(0, *PAIRS[0]), MULTI_TURN]
    session, labels = prepared_labels(
        str(tiny_model), write_jsonl(tmp_path / "t.jsonl", rows), tmp_path, chat_template=template
    )
    assert session.strategy == strategy
    tok = session.tokenizer
    for row, got in zip(rows, labels):
        want = expected_labels(tok, row["messages"], "<|im_start|>assistant\n", "<|im_end|>")
        assert got == want
        trained = tok.decode([t for t in got if t != -100])
        assert trained == "".join(m["content"] + "<|im_end|>" for m in row["messages"] if m["role"] == "assistant")


def test_prefix_fallback_matches_generation_markers(tiny_model):
    """A template without {% generation %} markers (like SmolLM2's ChatML) gets the same mask by rendering
    prefixes as the marked template gets from transformers."""
    from transformers import AutoTokenizer

    from hala.train.masks import mask_strategy, tokenize_with_prefix_mask

    marked = AutoTokenizer.from_pretrained(tiny_model)
    plain = AutoTokenizer.from_pretrained(tiny_model)
    plain.chat_template = UNMARKED_CHATML
    assert mask_strategy(plain) == "prefix"
    for messages in (chat_sample(0, *PAIRS[1])["messages"], MULTI_TURN["messages"]):
        want = marked.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
        got = tokenize_with_prefix_mask(plain, messages)
        assert got["input_ids"] == want["input_ids"]
        assert got["assistant_masks"] == want["assistant_masks"]


def test_prefix_fallback_refuses_a_template_that_rewrites_history(tiny_model):
    from transformers import AutoTokenizer

    from hala.train.masks import tokenize_with_prefix_mask

    tok = AutoTokenizer.from_pretrained(tiny_model)
    # Renders the number of messages up front: earlier turns change as the conversation grows.
    tok.chat_template = "{{ messages|length }}" + UNMARKED_CHATML
    with pytest.raises(ValueError, match="earlier turns"):
        tokenize_with_prefix_mask(tok, MULTI_TURN["messages"])


def test_label_only_head_gives_trls_loss(tiny_gemma, translation_set, tmp_path):
    """hala's loss (LM head at label positions only) equals TRL's fused-head loss on the same batch."""
    session, _ = prepared_labels(str(tiny_gemma), translation_set, tmp_path, mode="full", batch_size=4)
    trainer = session.trainer
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert (batch["labels"] == -100).any() and (batch["attention_mask"] == 0).any()  # prompt and padding
    model = trainer.model
    model.eval()
    with torch.no_grad():
        trainer.label_only_head = True
        ours = trainer.compute_loss(model, dict(batch))
        trainer.label_only_head = False
        trls = trainer.compute_loss(model, dict(batch))
    assert ours.item() == pytest.approx(trls.item(), rel=1e-5)


def test_memorises_a_small_translation_set(tiny_model, translation_set, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = TrainConfig(
        model=str(tiny_model),
        train=str(translation_set),
        dev=str(translation_set),
        mode="full",
        max_steps=60,
        batch_size=4,
        learning_rate=3e-3,
        lr_scheduler="constant",
        warmup=0,
        save_steps=30,
        logging_steps=5,
    )
    summary = run(config, tmp_path / "out")
    assert summary["losses"][0]["loss"] > 4.0
    assert summary["final_loss"] < 0.3 and summary["eval_loss"] < 0.3
    assert summary["session"]["real_tokens_per_second"] > 0 and summary["steps"] == 60

    model_dir = tmp_path / "out" / "model"
    assert (model_dir / "model.safetensors").exists() and not list(model_dir.glob("*.bin"))
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert "{% generation %}" in tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    src, tgt = PAIRS[3]
    prompt = tok.apply_chat_template(
        translation_messages(src, "en", "ar"), add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**prompt, max_new_tokens=40, do_sample=False)
    assert tok.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True) == tgt


class StopAt:
    """Raise right after the checkpoint of step `step` is written: a run killed mid-way."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                if state.global_step == step:
                    raise KeyboardInterrupt(f"interrupted after step {step}")

        return _Stop()


class StopWhileSaving:
    """Raise inside the Trainer's save of step `step`, after the weights and optimizer are written and before its
    RNG and trainer state: a run stopped (SIGTERM, SIGKILL) mid-checkpoint leaves a torn `checkpoint-N/`."""

    def __init__(self, monkeypatch, step: int):
        from transformers import Trainer

        save_rng = Trainer._save_rng_state

        def torn(trainer, output_dir):
            if trainer.state.global_step == step:
                raise KeyboardInterrupt(f"interrupted while saving step {step}")
            return save_rng(trainer, output_dir)

        monkeypatch.setattr(Trainer, "_save_rng_state", torn)
        self.undo = monkeypatch.undo


@pytest.mark.parametrize("stop", ["after_save", "while_saving"])
def test_resumed_run_ends_with_the_same_weights(tiny_gemma, translation_set, tmp_path, monkeypatch, stop):
    from safetensors.torch import load_file

    config = TrainConfig(
        model=str(tiny_gemma),
        train=str(translation_set),
        max_steps=9,
        batch_size=2,
        learning_rate=1e-3,
        save_steps=3,
        lora_dropout=0.1,
    )
    whole = run(config, tmp_path / "whole")
    if stop == "after_save":
        with pytest.raises(KeyboardInterrupt):
            run(config, tmp_path / "resumed", callbacks=[StopAt(6)])
        resumed_from, steps_left = "checkpoint-6", 3
    else:
        patch = StopWhileSaving(monkeypatch, 6)
        with pytest.raises(KeyboardInterrupt, match="while saving"):
            run(config, tmp_path / "resumed")
        patch.undo()
        torn = tmp_path / "resumed" / "checkpoints" / "checkpoint-6"
        assert (torn / "optimizer.pt").exists() and not (torn / "trainer_state.json").exists()
        # The torn checkpoint-6 is not resumed from (nor kept). checkpoint-3 is mid-epoch (2-step epochs): with
        # dropout drawing from the RNG, the same weights need an epoch order that does not depend on it.
        resumed_from, steps_left = "checkpoint-3", 6
    assert not (tmp_path / "resumed" / "model").exists()
    resumed = run(config, tmp_path / "resumed")
    assert resumed["session"]["resumed_from"] == resumed_from and resumed["session"]["steps"] == steps_left
    assert resumed["steps"] == whole["steps"] == 9

    for part, name in (("adapter", "adapter_model.safetensors"), ("model", "model.safetensors")):
        a, b = (load_file(tmp_path / run_dir / part / name) for run_dir in ("whole", "resumed"))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    base = load_file(Path(tiny_gemma) / "model.safetensors")
    merged = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    assert any(not torch.equal(base[k], merged[k]) for k in base if k in merged)  # the LoRA was folded in
    # Finished: a rerun returns the summary without training.
    assert run(config, tmp_path / "resumed") == resumed


def test_merged_model_equals_base_plus_adapter(tiny_model, translation_set, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = TrainConfig(
        model=str(tiny_model), train=str(translation_set), max_steps=4, batch_size=4, learning_rate=1e-2, save_steps=100
    )
    run(config, tmp_path / "out")
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "model")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), tmp_path / "out" / "adapter")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        m, a, b = (x.eval()(ids).logits for x in (merged, adapted, base))
    torch.testing.assert_close(m, a, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(m, b, atol=1e-4)


def test_rejects_config_mismatch_and_cli(tiny_model, translation_set, tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app
    from hala.errors import HalaError

    train = write_jsonl(
        tmp_path / "mixed.jsonl",
        [chat_sample(0, *PAIRS[0])],
        extra_lines=("not json", json.dumps({"id": "q", "messages": [{"role": "user", "content": "hi"}]})),
    )
    config_file = tmp_path / "train.yaml"
    config_file.write_text(f"model: {tiny_model}\nmax_steps: 2\nbatch_size: 1\nsave_steps: 100\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["train", "--config", str(config_file), "--train", str(train), "--full", "--lr", "1e-3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["mode"] == "full" and summary["steps"] == 2 and summary["rejected"] == 2
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejects] == [(2, "invalid JSON"), (3, "no assistant turn")]
    with pytest.raises(HalaError, match="learning_rate"):
        run(
            TrainConfig(
                model=str(tiny_model),
                train=str(train),
                mode="full",
                max_steps=2,
                batch_size=1,
                save_steps=100,
                learning_rate=5e-3,
            ),
            out,
        )


def test_config_is_strict_and_cli_has_help():
    from typer.testing import CliRunner

    from hala.cli import app

    with pytest.raises(ValueError, match="lora_rank"):
        TrainConfig(model="m", train="t", lora_rank=8)
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--lora" in result.output and "resume" in result.output


def test_hardware_plan_on_cpu():
    from hala.train.hardware import plan

    auto = plan(TrainConfig(model="m", train="t"), n_params=270_000_000)
    assert auto.device == "cpu" and auto.label_only_head and not auto.gradient_checkpointing
    forced = plan(
        TrainConfig(model="m", train="t", bf16=True, gradient_checkpointing=True, label_only_head=False), n_params=1
    )
    assert forced.bf16 and forced.gradient_checkpointing and not forced.label_only_head


def test_length_grouped_order_is_a_function_of_seed_and_epoch_only():
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from hala.train.trainer import EpochSeeded

    epoch = [0.0]
    sampler = EpochSeeded(LengthGroupedSampler(4, lengths=[(i * 7) % 23 + 1 for i in range(64)]), 42, lambda: epoch[0])
    first = list(sampler)
    torch.rand(1000)  # dropout and the like drawing from the global RNG change nothing
    assert list(sampler) == first and sorted(first) == list(range(64))
    epoch[0] = 1.5  # resumed half-way through epoch 1: the order epoch 1 had from its start
    resumed = list(sampler)
    epoch[0] = 1.0
    assert list(sampler) == resumed != first  # each epoch still gets its own shuffle
