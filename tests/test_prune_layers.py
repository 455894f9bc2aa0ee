"""Layer pruning: the layers that change nothing are found and removed, and the shorter model computes exactly
what the original computed through the remaining layers (cache indices and per-layer config lists renumbered)."""

from __future__ import annotations

import json

import pytest
import torch

from hala.errors import HalaError
from hala.records import write_records

TEXTS = [
    "Open the window, please.",
    "The train leaves at noon.",
    "افتح النافذة من فضلك.",
    "يغادر القطار عند الظهر.",
    "Read the instructions before you start.",
    "اقرأ التعليمات قبل أن تبدأ.",
]
IDENTITY_LAYERS = [2, 3]  # made to return their input unchanged: the ones pruning must find


def make_identity(layer: torch.nn.Module) -> None:
    """Zero the two residual branches' output projections: the layer then returns what it receives (Gemma-3's
    norms on each branch's output keep a zero branch zero)."""
    with torch.no_grad():
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def model_with_identity_layers(request, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    from hala.prune.layers import decoder_layers
    from hala.testing import build_tiny_model

    root = tmp_path_factory.mktemp(f"prune-{request.param}")
    path = build_tiny_model(root / "base", arch=request.param, layers=6, extra_text=TEXTS * 5)
    model = AutoModelForCausalLM.from_pretrained(path)
    for i in IDENTITY_LAYERS:
        make_identity(decoder_layers(model)[i])
    model.save_pretrained(path, safe_serialization=True)
    data = root / "pairs.jsonl"
    write_records(
        data,
        [{"id": f"p{i}", "src": TEXTS[i], "tgt": TEXTS[i + 2], "src_lang": "en", "tgt_lang": "ar"} for i in range(4)],
    )
    return request.param, path, data, root


def test_the_layers_that_change_nothing_are_dropped(model_with_identity_layers):
    from hala.prune.stage import PruneConfig, run

    arch, path, data, root = model_with_identity_layers
    result = run(PruneConfig(model=str(path), texts=[str(data)], drop=2), root / "out")
    report = json.loads((root / "out" / "prune_report.json").read_text())
    assert report["dropped"] == IDENTITY_LAYERS, report["block_influence"]
    assert all(report["block_influence"][i] < 1e-5 for i in IDENTITY_LAYERS)
    assert min(x for i, x in enumerate(report["block_influence"]) if i not in IDENTITY_LAYERS) > 1e-3
    assert result["metrics"]["layers_after"] == 4
    assert result["metrics"]["params_after"] < result["metrics"]["params_before"]
    # Identity layers removed: the calibration perplexity does not move.
    assert report["calibration_ppl_after"] == pytest.approx(report["calibration_ppl_before"], rel=1e-4)


def test_the_pruned_model_decodes_as_the_original(model_with_identity_layers):
    """Greedy decoding with the KV cache (layer indices renumbered, Gemma-3's sliding/full pattern cut to the
    kept layers) gives the original's tokens and logits."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from hala.prune.stage import PruneConfig, run

    arch, path, data, root = model_with_identity_layers
    out = root / "decode"
    run(PruneConfig(model=str(path), texts=[str(data)], drop=2), out)
    original = AutoModelForCausalLM.from_pretrained(path).eval()
    pruned = AutoModelForCausalLM.from_pretrained(out / "model").eval()
    config = AutoConfig.from_pretrained(out / "model")
    assert config.num_hidden_layers == 4
    if arch == "gemma3":
        full = AutoConfig.from_pretrained(path).layer_types
        assert config.layer_types == [t for i, t in enumerate(full) if i not in IDENTITY_LAYERS]
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    kwargs = dict(max_new_tokens=8, do_sample=False, output_logits=True, return_dict_in_generate=True)
    a = original.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    b = pruned.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    assert torch.equal(a.sequences, b.sequences)
    for la, lb in zip(a.logits, b.logits, strict=True):
        torch.testing.assert_close(la, lb, rtol=1e-4, atol=1e-4)


def test_first_and_last_layers_are_never_dropped():
    from hala.prune.layers import layers_to_drop

    influence = [0.0, 0.5, 0.1, 0.3, 0.0]
    assert layers_to_drop(influence, 2) == [2, 3]
    assert layers_to_drop(influence, 3) == [1, 2, 3]
    with pytest.raises(HalaError, match="at most 3"):
        layers_to_drop(influence, 4)
