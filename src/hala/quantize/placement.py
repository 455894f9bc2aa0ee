"""Where and at what precision the verification loads each model, and what that costs in memory.

One function decides it for the stage (`verify` loads accordingly) and for the resource plan (`hala run --dry-run
--gpus N --gpu-memory ... --host-memory ...` sizes the quantize stage from the same answer), so the plan cannot
describe a placement the code does not use.

* **One model at a time.** The original is loaded, scores the verification texts (its next-token log-probs are
  kept, in memory or spilled to a temporary file) and translates the dev pairs, then is freed; only then is the
  quantised model loaded and compared. Peak memory is one copy plus the kept log-probs, not two copies.
* **Precision.** `verify_dtype: auto` (the default) is the original checkpoint's own dtype (bf16 for a bf16
  release) on GPUs and for large models; float32 only for small models on CPU, where it is exact and faster on
  CPUs without bf16 instructions (measured, docs/QUANTIZE.md).
* **Devices.** `device_map: auto` spreads the model over every visible GPU (accelerate's big-model placement,
  spilling to CPU RAM if they are full); `device: cuda` puts the whole copy on one GPU; neither: CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float8": 1}
SMALL_MODEL_PARAMS = 2_000_000_000  # below this, float32 verification on CPU is cheap and exact


def checkpoint_dtype(model_dir: Path) -> str:
    """The dtype a checkpoint was saved in (config.json `dtype` / `torch_dtype`), float32 when unstated."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "float32"
    text = config.get("text_config") or {}
    value = config.get("dtype") or config.get("torch_dtype") or text.get("dtype") or text.get("torch_dtype")
    return value if value in BYTES else "float32"


def on_accelerator(config) -> bool:
    return bool(config.device_map) or str(config.device or "").startswith("cuda")


def verify_placement(config, n_params: int, ckpt_dtype: str) -> dict:
    """{"dtype", "where": "cpu" | "one-gpu" | "gpus", "copies_at_once"} for the verification step."""
    if config.verify_dtype != "auto":
        dtype = config.verify_dtype
    elif on_accelerator(config) or n_params >= SMALL_MODEL_PARAMS:
        dtype = ckpt_dtype
    else:
        dtype = "float32"
    where = "gpus" if config.device_map else "one-gpu" if str(config.device or "").startswith("cuda") else "cpu"
    return {"dtype": dtype, "where": where, "copies_at_once": 1}


def logprob_cache_bytes(positions: int, vocab: int) -> int:
    """The reference model's next-token log-probs kept for the comparison (float32, positions x vocabulary)."""
    return positions * vocab * 4
