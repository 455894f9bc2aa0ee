"""`hala train`: supervised fine-tuning (LoRA or full) on chat samples, assistant turns only.

Options generated from `TrainConfig` (hala.cli.generate); `--lora/--full` is the short spelling of `--mode`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, stage_command


def _prepare(data: dict, extras: dict) -> None:
    if extras["lora"] is not None:
        data["mode"] = "lora" if extras["lora"] else "full"


def train(config: Any, out: Path, lora: bool | None) -> None:
    """Fine-tune a causal LM on chat samples with TRL's SFTTrainer (loss on the assistant turns only), LoRA or
    full. Writes OUT/model (a plain merged model, tokenizer and chat template included), OUT/adapter (LoRA),
    OUT/train_summary.json (losses, eval loss, real tokens/s). Interrupted runs resume from the newest checkpoint
    when rerun with the same OUT. Runs unchanged under `accelerate launch` (DDP/FSDP, docs/TRAIN.md)."""
    import json
    import os

    from hala.train import run

    summary = run(config, out)
    if os.environ.get("RANK", "0") != "0":  # under `accelerate launch`, one process reports
        return
    typer.echo(json.dumps({k: v for k, v in summary.items() if k not in ("losses", "eval_losses")}, indent=2))
    typer.echo(f"model: {out / summary['model_dir']}")


FIELDS = {
    "model": Opt(("-m",)),
    "mode": Opt(help="lora: LoRA adapters; full: full fine-tuning (also --lora/--full)."),
    "lora_target_modules": Opt(
        ("--lora-target",), help="Module to adapt, or all-linear (every linear layer except the LM head)."
    ),
    "learning_rate": Opt(("--lr",), help="Peak learning rate [default: 2e-4 LoRA, 2e-5 full]."),
    "chat_template": Opt(help="Chat template override: a .jinja file or the template text."),
    "trust_remote_code": Opt(help="Allow model repositories' own code."),
}

EXTRAS = [
    Extra(
        "out",
        Path,
        typer.Option(
            ...,
            "--out",
            "-o",
            help="Output directory: model/ (merged), adapter/ (LoRA), "
            "checkpoints/, train_summary.json. Rerun to resume.",
        ),
    ),
    Extra("lora", bool, typer.Option(None, "--lora/--full", help="LoRA adapters or full fine-tuning (--mode).")),
]


def register(app: typer.Typer) -> None:
    stage_command(app, "train", "train", train, fields=FIELDS, extras=EXTRAS, prepare=_prepare)
