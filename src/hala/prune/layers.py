"""Layer pruning: remove the decoder layers that change the hidden state least, so a student decodes faster.

A small translator's decoding cost on a CPU is its decoder layers (once the vocabulary is trimmed, see
hala.vocab.trim) times the tokens it writes. Many layers of a pretrained decoder barely change the hidden state
they receive; removing those and letting the fine-tuning that follows heal the rest costs little quality for a
proportional gain in speed (Men et al. 2024, "ShortGPT: Layers in Large Language Models are More Redundant Than
You Expect"; Gromov et al. 2024, "The Unreasonable Ineffectiveness of the Deeper Layers").

No maintained library removes whole decoder layers from a transformers model (torch.nn.utils.prune and
llm-compressor zero weights inside layers; they do not shorten the stack), so the three steps are written here:

1. `block_influence`: each layer's Block Influence, BI = 1 - mean cosine similarity between the hidden state a
   layer receives and the one it returns, over every real (non-padding) token position of calibration texts
   (ShortGPT's metric). Measured with forward hooks on the layers themselves, not `output_hidden_states`, whose
   last entry is taken after the final norm in most architectures.
2. `layers_to_drop`: the `n` layers of lowest BI, never the first or the last (the embedding's first reader and
   the output's last writer carry the most specific work; ShortGPT's rankings never pick them either).
3. `drop_layers`: the layer list shortened in place, every kept layer renumbered (attention layers index the KV
   cache by `layer_idx`) and the per-layer config lists (`layer_types`: Gemma-3's sliding/full attention
   pattern, LFM2's conv/attention pattern) cut to match, so the saved model reloads and converts
   (CTranslate2 reads `layer_types`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hala.errors import HalaError
from hala.scoring import TextBatch

# Per-layer lists in model configs that must be cut with the layers (one entry per layer).
PER_LAYER_CONFIG_LISTS = ("layer_types",)


def _base(model: nn.Module) -> nn.Module | None:
    """The module that holds the decoder stack (`model.model` in Llama-like architectures)."""
    return getattr(model, "model", None) or getattr(model, model.base_model_prefix, None)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder layers (`model.model.layers` in Llama-like architectures)."""
    layers = getattr(_base(model), "layers", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) < 3:
        raise HalaError(
            f"prune.layers: {type(model).__name__} has no `model.layers` stack of at least 3 decoder layers; "
            f"layer pruning supports Llama-like decoders (Gemma-3, Llama, Qwen, LFM2)"
        )
    return layers


@torch.no_grad()
def block_influence(model: nn.Module, batches: Sequence[TextBatch]) -> list[float]:
    """Block Influence of every decoder layer over the real tokens of `batches`, in layer order."""
    layers = decoder_layers(model)
    sums = [0.0] * len(layers)
    tokens = 0
    mask_now: list[torch.Tensor] = []

    def hook(index: int):
        def record(module, args, kwargs, output):
            received = args[0] if args else kwargs["hidden_states"]
            returned = output[0] if isinstance(output, tuple) else output
            cos = nn.functional.cosine_similarity(received.float(), returned.float(), dim=-1)
            sums[index] += float((1.0 - cos)[mask_now[0]].sum())

        return record

    handles = [layer.register_forward_hook(hook(i), with_kwargs=True) for i, layer in enumerate(layers)]
    try:
        model.eval()
        for batch in batches:
            mask_now[:] = [batch.mask.bool()]
            tokens += int(batch.mask.sum())
            model(input_ids=batch.ids, attention_mask=batch.mask)
    finally:
        for handle in handles:
            handle.remove()
    if not tokens:
        raise HalaError("prune.layers: the calibration texts encode to no tokens")
    return [s / tokens for s in sums]


def layers_to_drop(influence: Sequence[float], n: int) -> list[int]:
    """Indices of the `n` layers of lowest influence, never the first or the last, in increasing order."""
    inner = range(1, len(influence) - 1)
    if not 0 <= n <= len(inner):
        raise HalaError(
            f"prune.layers: cannot drop {n} of {len(influence)} layers (the first and last are always kept: "
            f"at most {len(inner)})"
        )
    return sorted(sorted(inner, key=lambda i: (influence[i], i))[:n])


def drop_layers(model: nn.Module, drop: Sequence[int]) -> list[int]:
    """Remove the layers `drop` from `model` in place; returns the original indices of the layers kept."""
    layers = decoder_layers(model)
    if any(not 0 <= i < len(layers) for i in drop):
        raise HalaError(f"prune.layers: layer indices {sorted(drop)} out of range for {len(layers)} layers")
    keep = [i for i in range(len(layers)) if i not in set(drop)]
    kept_layers = nn.ModuleList(layers[i] for i in keep)
    for new_index, layer in enumerate(kept_layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    _base(model).layers = kept_layers
    for config in {id(c): c for c in (model.config, model.config.get_text_config())}.values():
        config.num_hidden_layers = len(keep)
        for name in PER_LAYER_CONFIG_LISTS:
            values = getattr(config, name, None)
            if isinstance(values, list) and len(values) == len(layers):
                setattr(config, name, [values[i] for i in keep])
    return keep
