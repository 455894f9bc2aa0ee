"""Speed settings decided from the hardware when the config leaves them unset (None).

Measured on a 2-core AMD EPYC with avx512_bf16 (docs/TRAIN.md): gradient checkpointing only slows a small model
down (it recomputes every forward) and is kept for GPUs and models of 1B parameters or more; bf16 autocast pays
off where the device has native bf16 matmuls (CUDA with bf16 support, CPUs with AVX512-BF16 or AMX); TRL's fused
LM head is label-only on Triton devices only, so hala's label-only head is used everywhere else.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import asdict, dataclass

from hala.devices import accelerator_device, native_bf16
from hala.errors import HalaError

BIG_MODEL_PARAMS = 1_000_000_000


@dataclass(frozen=True)
class Plan:
    device: str  # "cuda", "xpu" or "cpu"
    bf16: bool
    gradient_checkpointing: bool
    label_only_head: bool
    fsdp: bool = False  # launched by `accelerate launch` with an FSDP config

    def to_dict(self) -> dict:
        return asdict(self)


def under_fsdp() -> bool:
    """`accelerate launch` with an FSDP config exports ACCELERATE_USE_FSDP (accelerate/utils/launch.py)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in {"1", "true", "yes"}


def plan(config, n_params: int) -> Plan:
    device = accelerator_device()

    def pick(value, default):
        return default if value is None else value

    return Plan(
        device=device,
        bf16=pick(config.bf16, native_bf16(device)),
        gradient_checkpointing=pick(config.gradient_checkpointing, device != "cpu" and n_params >= BIG_MODEL_PARAMS),
        label_only_head=pick(config.label_only_head, device not in ("cuda", "xpu")),
        fsdp=under_fsdp(),
    )


def apply_fsdp_checkpointing(plan: Plan) -> None:
    """Under FSDP, activation checkpointing must be FSDP's own: transformers' docs (TrainingArguments.fsdp_config)
    say the Trainer argument adds a redundant all-gather in the backward pass, and the Trainer refuses both at
    once. accelerate builds its FSDP plugin from FSDP_ACTIVATION_CHECKPOINTING (what `fsdp_activation_checkpointing`
    in the accelerate config file becomes), so hala's decision is written there before the Trainer exists."""
    if plan.fsdp:
        os.environ["FSDP_ACTIVATION_CHECKPOINTING"] = "true" if plan.gradient_checkpointing else "false"


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launch_command(n_gpus: int, argv: list[str] | None = None, only: str | None = None) -> str:
    """The `accelerate launch` line that runs this same hala command in one process per GPU."""
    args = list((argv if argv is not None else sys.argv)[1:])
    if only is not None:  # a recipe run: launch only this training stage (the others run with plain `hala run`)
        cleaned, skip = [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a in ("--only", "--from"):
                skip = True
                continue
            if a.startswith(("--only=", "--from=")):
                continue
            cleaned.append(a)
        args = cleaned + ["--only", only]
    config = "configs/accelerate/ddp-8gpu.yaml"
    return f"accelerate launch --config_file {config} --num_processes {n_gpus} -m hala.cli " + " ".join(
        shlex.quote(a) for a in args
    )


def refuse_data_parallel(only: str | None = None, n_gpus: int | None = None, argv: list[str] | None = None) -> None:
    """One process that sees several GPUs would make the Trainer wrap the model in `nn.DataParallel` (one process
    driving every GPU: slow, GPU 0 holds every gradient, and not what the recipes' batch sizes assume). Refuse with
    the exact `accelerate launch` command instead."""
    n_gpus = visible_gpus() if n_gpus is None else n_gpus
    if n_gpus <= 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return
    raise HalaError(
        f"training in one process on {n_gpus} GPUs would fall back to nn.DataParallel; launch one process per GPU: "
        f"`{launch_command(n_gpus, argv, only)}` (models too big for one GPU with full fine-tuning, e.g. 9B: "
        f"configs/accelerate/fsdp-8gpu.yaml), or expose one GPU with CUDA_VISIBLE_DEVICES=0"
    )
