"""`hala train`: supervised fine-tuning (LoRA or full) on chat samples, assistant turns only."""

from __future__ import annotations

from pathlib import Path

import typer

from hala.train.config import TrainConfig  # pydantic only: keeps `hala --help` instant


def _default(name: str):
    """The config's own default, so the CLI and recipes cannot disagree."""
    return TrainConfig.model_fields[name].get_default(call_default_factory=True)


def train_cmd(
    model: str = typer.Option(None, "--model", "-m", help="Base model: embedded:NAME, local dir or hub id."),
    train: str = typer.Option(None, "--train", help="Chat-sample records to train on (.jsonl/.jsonl.gz/.parquet)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: model/ (merged), adapter/ (LoRA), "
                                                      "checkpoints/, train_summary.json. Rerun to resume."),
    dev: str = typer.Option(None, "--dev", help="Chat-sample records for the eval loss."),
    config_file: Path = typer.Option(None, "--config", help="YAML file with TrainConfig fields; options given on "
                                                            "the command line override it."),
    lora: bool = typer.Option(None, "--lora/--full", help="LoRA adapters (default) or full fine-tuning."),
    lora_r: int = typer.Option(None, help=f"LoRA rank [default: {_default('lora_r')}]."),
    lora_alpha: int = typer.Option(None, help=f"LoRA alpha [default: {_default('lora_alpha')}]."),
    lora_dropout: float = typer.Option(None, help=f"LoRA dropout [default: {_default('lora_dropout')}]."),
    lora_target: list[str] = typer.Option(None, "--lora-target", help="Module to adapt (repeatable) "
                                                                      "[default: all-linear]."),
    learning_rate: float = typer.Option(None, "--lr", help="Peak learning rate [default: 2e-4 LoRA, 2e-5 full]."),
    lr_scheduler: str = typer.Option(None, help=f"Scheduler [default: {_default('lr_scheduler')}]."),
    warmup: float = typer.Option(None, help="Warmup: a share of the steps when < 1, else steps "
                                            f"[default: {_default('warmup')}]."),
    epochs: float = typer.Option(None, help=f"Epochs [default: {_default('epochs')}]."),
    max_steps: int = typer.Option(None, help="Optimizer steps (overrides --epochs)."),
    batch_size: int = typer.Option(None, help=f"Examples per device per step [default: {_default('batch_size')}]."),
    grad_accum: int = typer.Option(None, help=f"Gradient accumulation [default: {_default('grad_accum')}]."),
    max_length: int = typer.Option(None, help=f"Token limit per example [default: {_default('max_length')}]."),
    seed: int = typer.Option(None, help=f"Random seed [default: {_default('seed')}]."),
    bf16: bool = typer.Option(None, "--bf16/--no-bf16", help="bf16 autocast [default: where the device has "
                                                             "native bf16]."),
    gradient_checkpointing: bool = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing",
                                                help="[default: only on a GPU for models >= 1B parameters]."),
    chat_template: str = typer.Option(None, help="Chat template override: a .jinja file or the template text."),
    save_steps: int = typer.Option(None, help=f"Checkpoint every N steps [default: {_default('save_steps')}]."),
    eval_steps: int = typer.Option(None, help="Eval loss every N steps [default: --save-steps]."),
    trust_remote_code: bool = typer.Option(None, "--trust-remote-code", help="Allow model repositories' own "
                                                                            "code (off by default)."),
) -> None:
    """Fine-tune a causal LM on chat samples with TRL's SFTTrainer (loss on the assistant turns only), LoRA or
    full. Writes OUT/model (a plain merged model, tokenizer and chat template included), OUT/adapter (LoRA),
    OUT/train_summary.json (losses, eval loss, real tokens/s). Interrupted runs resume from the newest checkpoint
    when rerun with the same OUT. Runs unchanged under `accelerate launch` (DDP/FSDP, docs/TRAIN.md)."""
    import json
    import os

    import yaml
    from pydantic import ValidationError

    from hala.errors import HalaError
    from hala.train import run

    fields = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file else {}
    if not isinstance(fields, dict):
        raise HalaError(f"{config_file}: expected a mapping of TrainConfig fields")
    given = dict(model=model, train=train, dev=dev, lora_r=lora_r, lora_alpha=lora_alpha,
                 lora_dropout=lora_dropout, lora_target_modules=lora_target or None, learning_rate=learning_rate,
                 lr_scheduler=lr_scheduler, warmup=warmup, epochs=epochs, max_steps=max_steps,
                 batch_size=batch_size, grad_accum=grad_accum, max_length=max_length, seed=seed, bf16=bf16,
                 gradient_checkpointing=gradient_checkpointing, chat_template=chat_template, save_steps=save_steps,
                 eval_steps=eval_steps, trust_remote_code=trust_remote_code,
                 mode=None if lora is None else ("lora" if lora else "full"))
    fields.update({k: v for k, v in given.items() if v is not None})
    try:
        config = TrainConfig(**fields)
    except ValidationError as e:
        raise HalaError("; ".join(_option_error(err) for err in e.errors())) from e
    summary = run(config, out)
    if os.environ.get("RANK", "0") != "0":  # under `accelerate launch`, one process reports
        return
    typer.echo(json.dumps({k: v for k, v in summary.items() if k not in ("losses", "eval_losses")}, indent=2))
    typer.echo(f"model: {out / summary['model_dir']}")


def _option_error(err: dict) -> str:
    """A pydantic error as the option/field it came from: `--model: Field required`."""
    message = err["msg"].removeprefix("Value error, ")
    return f"--{str(err['loc'][-1]).replace('_', '-')}: {message}" if err["loc"] else message


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
