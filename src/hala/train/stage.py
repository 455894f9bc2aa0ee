"""The train stage: supervised fine-tuning (LoRA or full) on chat samples with TRL's SFTTrainer.

    out_dir/model/               merged model (LoRA folded in) + tokenizer + chat template: load it like any model
    out_dir/adapter/             the LoRA adapter (LoRA runs only)
    out_dir/checkpoints/         periodic checkpoints (safetensors weights + optimizer/scheduler/RNG state)
    out_dir/train_summary.json   losses, eval loss, steps, real tokens/s, time, settings
    out_dir/train_config.json    the config this directory belongs to
    out_dir/rejects.jsonl        records that could not be used, `file:line: reason` (when there were any)

Rerunning on the same out_dir resumes from the newest checkpoint that was written whole (same weights as an
uninterrupted run, mid-epoch too) and
returns at once when the run had finished. The same call runs unchanged under `accelerate launch` with several
processes (DDP or FSDP, docs/TRAIN.md): every process trains, the main process writes the outputs.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hala.atomic import read_json, write_json
from hala.errors import ConfigError
from hala.records import RejectLog
from hala.resume import resumable
from hala.train.config import TrainConfig

SUMMARY = "train_summary.json"
CONFIG = "train_config.json"
CHECKPOINTS = "checkpoints"
REJECTS = "rejects.jsonl"


def _check_same_run(config: TrainConfig, out_dir: Path, is_main: bool) -> None:
    saved_path, current = out_dir / CONFIG, config.model_dump(mode="json")
    # other settings: SettingsChanged (checkpoints of another config must not be resumed from)
    if not resumable(saved_path, current, field=None, refuse="a training run") and is_main:
        write_json(saved_path, current)


def _read_chat_template(value: str) -> str:
    # Template text always contains Jinja braces; anything else is a path (checked before stat(), which
    # fails with "file name too long" on template text).
    if "{" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"chat_template: {value} is neither a template file nor template text")
    return path.read_text(encoding="utf-8")


def load_tokenizer(config: TrainConfig, model_dir: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=config.trust_remote_code)
    if config.chat_template:
        tokenizer.chat_template = _read_chat_template(config.chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(config: TrainConfig, model_dir: Path, dtype):
    from transformers import AutoModelForCausalLM

    attn = {} if config.attn_implementation == "auto" else {"attn_implementation": config.attn_implementation}
    return AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=dtype, use_safetensors=True, trust_remote_code=config.trust_remote_code, **attn
    )


def lora_config(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def sft_args(config: TrainConfig, out_dir: Path, plan, has_dev: bool):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS),
        use_cpu=plan.device == "cpu",
        bf16=plan.bf16,
        # Under FSDP, checkpointing is FSDP's own (fsdp_config / FSDP_ACTIVATION_CHECKPOINTING, set by
        # hardware.apply_fsdp_checkpointing): the Trainer argument would add a redundant all-gather in the
        # backward pass, and transformers refuses both at once.
        activation_checkpointing=plan.gradient_checkpointing and not plan.fsdp,
        learning_rate=config.lr,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        # Rows arrive truncated to config.max_length (and packed to it) from hala.train.data's cache; TRL's own
        # max_length only applies to the preparation it skips (and refuses padding-free without packing).
        max_length=None,
        seed=config.seed,
        # hala.train.data already built truncated, assistant-masked `labels` in its cache: TRL's own preparation
        # (every rank after rank 0, under the collective timeout) is skipped.
        dataset_kwargs={"skip_prepare_dataset": True},
        padding_free=config.padding_free or config.packing,
        # Pad each batch to its own longest example (TRL's collator) and batch similar lengths together.
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_dev else "no",
        eval_steps=config.eval_steps or config.save_steps,
        logging_steps=config.logging_steps,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        report_to="none",
        # Every LoRA/full parameter receives a gradient each step; searching for unused ones costs a pass.
        ddp_find_unused_parameters=False,
        trust_remote_code=config.trust_remote_code,
    )


@dataclass
class Session:
    """Everything one training run needs, built by `prepare` (tests inspect it without training)."""

    config: TrainConfig
    out_dir: Path
    model_dir: Path
    tokenizer: Any
    trainer: Any
    progress: Any
    plan: Any
    strategy: str
    rejects: RejectLog
    n_train: int
    n_dev: int
    data: dict

    @property
    def is_main(self) -> bool:
        return self.trainer.args.process_index == 0


def prepare(config: TrainConfig, out_dir: Path, callbacks: list | None = None) -> Session:
    import torch
    from transformers import PrinterCallback

    from hala.models import count_parameters, resolve_model
    from hala.train.data import prepare_dataset
    from hala.train.hardware import apply_fsdp_checkpointing, refuse_data_parallel
    from hala.train.hardware import plan as hardware_plan
    from hala.train.masks import mask_strategy
    from hala.train.progress import ProgressCallback
    from hala.train.trainer import HalaSFTTrainer

    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    model_dir = resolve_model(config.model)
    tokenizer = load_tokenizer(config, model_dir)
    strategy = mask_strategy(tokenizer)
    plan = hardware_plan(config, count_parameters(model_dir))
    if plan.device == "cuda":
        refuse_data_parallel()
    apply_fsdp_checkpointing(plan)
    lora = config.mode == "lora"
    # With bf16 compute, LoRA's frozen base weights are loaded in bf16: autocast would otherwise cast every weight
    # on every forward. What is trained (the adapters, or every weight in full mode) stays float32.
    model = load_base_model(config, model_dir, torch.bfloat16 if (lora and plan.bf16) else torch.float32)
    args = sft_args(config, out_dir, plan, has_dev=config.dev is not None)
    is_main = args.process_index == 0
    _check_same_run(config, out_dir, is_main)

    rejects = RejectLog(out_dir / REJECTS if is_main else None)
    data = dict(
        tokenizer=tokenizer,
        strategy=strategy,
        max_length=config.max_length,
        rejects=rejects,
        cache_root=Path(config.data_cache) if config.data_cache else None,
        num_proc=config.data_num_proc,
        system_turns_mode=config.system_turns,
    )
    with rejects:
        train_set, train_meta = prepare_dataset(config.train, packing=config.packing, **data)
        dev_set, dev_meta = prepare_dataset(config.dev, **data) if config.dev else (None, {"examples": 0})
    progress = ProgressCallback()
    trainer = HalaSFTTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        train_dataset=train_set,
        eval_dataset=dev_set,
        peft_config=lora_config(config) if lora else None,
        callbacks=[progress, *(callbacks or [])],
        label_only_head=plan.label_only_head,
    )
    trainer.remove_callback(PrinterCallback)  # the progress bar shows the logs
    return Session(
        config,
        out_dir,
        model_dir,
        tokenizer,
        trainer,
        progress,
        plan,
        strategy,
        rejects,
        train_meta["examples"],
        dev_meta["examples"],
        train_meta,
    )


def run(config: TrainConfig, out_dir: Path, callbacks: list | None = None) -> dict:
    """Train, write out_dir/model (+ adapter), return the summary. `callbacks`: extra transformers
    TrainerCallbacks (e.g. to stop early)."""
    from hala.train.export import STAGING_DIR, finalize

    out_dir = Path(out_dir)
    if (out_dir / SUMMARY).exists():  # finished: the same config returns its summary, another one is an error
        _check_same_run(config, out_dir, is_main=False)
        return read_json(out_dir / SUMMARY)
    session = prepare(config, out_dir, callbacks)
    trainer = session.trainer
    resume = last_complete_checkpoint(out_dir / CHECKPOINTS, remove_torn=session.is_main)
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    finally:
        session.progress.close()
    eval_loss = None
    if session.n_dev:  # reuse the eval of the last step when there was one
        last = session.progress.eval_losses[-1] if session.progress.eval_losses else None
        evaluated = last is not None and last["step"] == trainer.state.global_step
        eval_loss = last["eval_loss"] if evaluated else trainer.evaluate()["eval_loss"]

    staging = out_dir / STAGING_DIR
    if session.is_main and staging.exists():
        shutil.rmtree(staging)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    summary = _summary(session, result, resume, eval_loss)
    if session.is_main:
        finalize(
            staging, out_dir, session.model_dir, config.mode == "lora", session.tokenizer, config.trust_remote_code
        )
        write_json(out_dir / SUMMARY, summary)
    trainer.accelerator.wait_for_everyone()
    return summary


def last_complete_checkpoint(checkpoints: Path, remove_torn: bool) -> str | None:
    """The newest checkpoint that was written to the end, as a path for `Trainer.train(resume_from_checkpoint=)`.

    The Trainer writes `checkpoint-N/` in place (weights, optimizer, scheduler, RNG, then trainer_state.json) and
    transformers' `get_last_checkpoint` takes the highest N whatever it holds, so a run stopped while saving
    (SIGTERM/SIGKILL mid-write) could never be resumed. trainer_state.json comes last: a checkpoint whose state
    file parses and names its own step is whole. Newer torn ones are removed (by the main process) so the
    Trainer's rotation and the next save do not trip over their leftovers; they hold nothing a resume can use."""
    import json
    import re

    if not checkpoints.is_dir():
        return None
    steps = {}
    for d in checkpoints.iterdir():
        if d.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", d.name)):
            steps[int(m.group(1))] = d
    for step in sorted(steps, reverse=True):
        try:
            whole = json.loads((steps[step] / "trainer_state.json").read_text(encoding="utf-8"))["global_step"] == step
        except (OSError, ValueError, KeyError, TypeError):
            whole = False
        if whole:
            return str(steps[step])
        if remove_torn:
            logging.getLogger(__name__).warning(
                "removing %s: written only in part (the run stopped while saving)", steps[step]
            )
            shutil.rmtree(steps[step])
    return None


def _summary(session: Session, result, resume: str | None, eval_loss: float | None) -> dict:
    config, trainer, progress = session.config, session.trainer, session.progress
    state = trainer.state
    seconds = progress.session_seconds
    return {
        "model_dir": "model",
        "adapter_dir": "adapter" if config.mode == "lora" else None,
        "base_model": config.model,
        "mode": config.mode,
        "steps": state.global_step,
        "epochs": round(state.epoch or 0.0, 4),
        "train_loss": result.training_loss,
        "final_loss": progress.losses[-1]["loss"] if progress.losses else None,
        "eval_loss": eval_loss,
        "losses": progress.losses,
        "eval_losses": progress.eval_losses,
        "train_examples": session.n_train,
        # rows trained on: usable examples with a trained token inside max_length (packed: rows of packed examples)
        "train_examples_used": len(trainer.train_dataset),
        "data": {
            k: session.data.get(k)
            for k in (
                "cache_dir",
                "records",
                "examples",
                "rows",
                "packing",
                "system_turns",
                "system_turns_changed",
                "build_seconds",
            )
        },
        "dev_examples": session.n_dev,
        "rejected": session.rejects.total,
        "rejects_file": REJECTS if session.rejects.total else None,
        "real_tokens_seen": state.num_input_tokens_seen,
        "session": {
            "resumed_from": Path(resume).name if resume else None,
            "steps": progress.session_steps,
            "seconds": round(seconds, 2),
            "real_tokens": progress.session_tokens,
            "real_tokens_per_second": round(progress.session_tokens / seconds, 2) if seconds else None,
        },
        "processes": trainer.accelerator.num_processes,
        "distributed_backend": _backend(),
        "assistant_mask": session.strategy,
        "settings": session.plan.to_dict(),
    }


def _backend() -> str | None:
    import torch.distributed as dist

    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None
