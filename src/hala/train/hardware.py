"""Speed settings decided from the hardware when the config leaves them unset (None).

Measured on a 2-core AMD EPYC with avx512_bf16 (docs/TRAIN.md): gradient checkpointing only slows a small model
down (it recomputes every forward) and is kept for GPUs and models of 1B parameters or more; bf16 autocast pays
off where the device has native bf16 matmuls (CUDA with bf16 support, CPUs with AVX512-BF16 or AMX); TRL's fused
LM head is label-only on Triton devices only, so hala's label-only head is used everywhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

BIG_MODEL_PARAMS = 1_000_000_000


@dataclass(frozen=True)
class Plan:
    device: str  # "cuda", "xpu" or "cpu"
    bf16: bool
    gradient_checkpointing: bool
    label_only_head: bool

    def to_dict(self) -> dict:
        return asdict(self)


def accelerator_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    return "cpu"


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to tell, so stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_bf16(device: str) -> bool:
    import torch

    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    if device == "xpu":
        return True
    return cpu_has_native_bf16()


def plan(config, n_params: int) -> Plan:
    device = accelerator_device()
    pick = lambda value, default: default if value is None else value  # noqa: E731
    return Plan(
        device=device,
        bf16=pick(config.bf16, native_bf16(device)),
        gradient_checkpointing=pick(config.gradient_checkpointing, device != "cpu" and n_params >= BIG_MODEL_PARAMS),
        label_only_head=pick(config.label_only_head, device not in ("cuda", "xpu")),
    )


def count_parameters(model_dir: Path) -> int:
    """Parameters of a safetensors model, read from the file headers (no weights loaded)."""
    from safetensors import safe_open

    total = 0
    for file in Path(model_dir).glob("*.safetensors"):
        with safe_open(file, framework="pt") as f:
            for name in f.keys():
                n = 1
                for dim in f.get_slice(name).get_shape():
                    n *= dim
                total += n
    return total
