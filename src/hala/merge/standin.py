"""A deterministic stand-in for a short fine-tune, for testing and benchmarking merges (not a training method).

It copies a model with seeded perturbations of chosen sizes, so a merge sees both regimes a real fine-tune
produces: tensors that barely moved (nearly parallel: slerp falls back to linear) and tensors that turned by a
clear angle (true spherical interpolation). Weights are streamed like the merge itself, so making a stand-in of
a large model needs no more memory than its largest tensor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from hala.atomic import atomic_dir
from hala.merge.plan import TOKENIZER_FILES
from hala.merge.safetensors_stream import CheckpointReader, OutputTensor, ShardWriter

# Relative noise (fraction of the tensor's own standard deviation) by name fragment; first match wins.
DEFAULT_NOISE = (("self_attn.o_proj", 0.3), ("mlp.", 0.01), ("layernorm", 0.01), ("embed_tokens", 0.01))


def perturbed_copy(
    src: str | Path,
    out: str | Path,
    seed: int = 0,
    noise: tuple[tuple[str, float], ...] = DEFAULT_NOISE,
    chat_template: str | None = None,
) -> Path:
    """Write `src` with `w + scale * std(w) * N(0, 1)` for each float tensor whose name matches `noise`."""
    src, out = Path(src), Path(out)
    with CheckpointReader(src) as reader, atomic_dir(out) as tmp:
        names = sorted(reader.tensors, key=lambda n: (str(reader.tensors[n].path), reader.tensors[n].offset))
        layout = [OutputTensor(n, reader.tensors[n].dtype, reader.tensors[n].shape) for n in names]
        writer = ShardWriter(tmp, layout, max_shard_bytes=5 * 10**9)
        for i, name in enumerate(names):
            w = reader.read(name)
            scale = next((s for frag, s in noise if frag in name), 0.0)
            if scale and w.dtype.is_floating_point and w.numel() > 1:
                g = torch.Generator().manual_seed(seed * 100_003 + i)
                w32 = w.float()
                w = (w32 + scale * w32.std() * torch.randn(w32.shape, generator=g)).to(w.dtype)
            writer.write(name, w)
        writer.close()
        for name in ("config.json",) + TOKENIZER_FILES:
            if (src / name).exists():
                shutil.copy2(src / name, tmp / name)
        if chat_template is not None:
            (tmp / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
    return out
