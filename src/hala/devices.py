"""What this machine computes on: the accelerator torch sees and whether it has native bf16 matmuls.

Shared by every stage that picks a device or a default precision (train, translate's hf engine, eval, the
run manifest), so none of them reaches into another stage for it. torch is imported inside the functions: a
module that imports this one stays cheap to import.
"""

from __future__ import annotations

from pathlib import Path


def accelerator_device() -> str:
    """ "cuda", "xpu" or "cpu": the first kind of accelerator torch sees."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    return "cpu"


def resolve_device(device: str) -> str:
    """`auto`: the first GPU when torch sees one, else the CPU; anything else unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


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
