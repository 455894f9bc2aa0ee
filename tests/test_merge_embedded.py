"""The real embedded Gemma-3-270M merged with a stand-in fine-tune of itself: equals mergekit, loads, generates."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from hala.merge import MergeConfig
from hala.merge.merge import merge_models
from hala.merge.standin import perturbed_copy

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

# A clear turn of the attention output projections (true slerp) and a small nudge of the MLP down projections
# (nearly parallel: linear fallback); the rest is unchanged, as after a LoRA fine-tune of a few modules.
NOISE = (("self_attn.o_proj", 0.3), ("mlp.down_proj", 0.01))


def test_embedded_gemma_slerp_equals_mergekit_and_generates(embedded_gemma, tmp_path):
    pytest.importorskip("mergekit", reason="mergekit (the 'merge' extra) is the reference this test compares to")
    from mergekit import merge_methods
    from mergekit.merge_methods.base import TensorGroup

    from hala.models import load_model, load_tokenizer

    tuned = perturbed_copy(embedded_gemma, tmp_path / "tuned", seed=1, noise=NOISE)
    out = tmp_path / "merged"
    summary = merge_models(MergeConfig(base=str(embedded_gemma), tuned=str(tuned), t=0.5), out)
    assert summary["tensors"] == 236 and summary["dtype"] == "float32"
    record = json.loads((out / "hala_merge.json").read_text())["tensors"]
    assert record["model.layers.5.self_attn.o_proj.weight"]["nearly_parallel"] is False
    assert record["model.layers.5.mlp.down_proj.weight"]["nearly_parallel"] is True

    # mergekit's slerp on the same inputs for every tensor of two layers (both regimes) and the final norm
    # (bench/merge_memory.py compares all 236 tensors with mergekit's full run_merge).
    names = ["model.norm.weight"] + [n for n in record if n.startswith(("model.layers.0.", "model.layers.5."))]
    slerp = merge_methods.get("slerp")
    with (
        safe_open(str(embedded_gemma / "model.safetensors"), "pt") as fa,
        safe_open(str(tuned / "model.safetensors"), "pt") as fb,
        safe_open(str(out / "model.safetensors"), "pt") as fo,
    ):
        for name in names:
            a, b = fa.get_tensor(name), fb.get_tensor(name)
            (expected,) = slerp([TensorGroup.from_tensors([a, b], base_index=0)], parameters={"t": 0.5})
            ours = fo.get_tensor(name)
            assert ours.dtype == expected.dtype
            assert (ours - expected).abs().max().item() <= 1e-6, name
            if name.endswith("o_proj.weight"):
                assert not torch.equal(ours, a) and not torch.equal(ours, b)
        # The unchanged 671 MB embedding, merged in 1M-element pieces, is parallel to itself: exactly the base.
        assert torch.equal(fo.get_tensor("model.embed_tokens.weight"), fa.get_tensor("model.embed_tokens.weight"))

    tokenizer, model = load_tokenizer(out), load_model(out)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # still tied
    enc = tokenizer("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = generated[0, enc["input_ids"].shape[1] :]
    assert len(new) >= 1
    assert tokenizer.decode(new, skip_special_tokens=True).strip()
