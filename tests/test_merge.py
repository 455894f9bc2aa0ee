"""Merge stage on tiny random models: equality with mergekit, exact endpoints, schedules/filters, early errors,
tied embeddings, dtypes, tokenizer copying, streaming and sharding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from hala.errors import HalaError
from hala.merge import MergeConfig, TFilter, kernels, run
from hala.merge.config import depth_position, interpolate, layer_depths, parse_schedule, resolve_t
from hala.merge.merge import merge_models
from hala.merge.safetensors_stream import CheckpointReader, OutputTensor, ShardWriter
from hala.merge.standin import perturbed_copy
from hala.testing import build_tiny_model

TOL = 1e-6
# mergekit 0.1.5 imports numpy.core at import time; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning")


# ------------------------------------------------------------------------------------------------ helpers
def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        out.update(load_file(f))
    return out


def mergekit_tensor(method: str, a: torch.Tensor, b: torch.Tensor, t: float, out_dtype=None) -> torch.Tensor:
    """mergekit's own merge method on one tensor pair (a is the base), as its planner calls it."""
    pytest.importorskip("mergekit", reason="mergekit (the 'merge' extra) is the reference these tests compare to")
    from mergekit import merge_methods
    from mergekit.merge_methods.base import TensorGroup

    if method == "slerp":
        group, params = TensorGroup.from_tensors([a, b], base_index=0), {"t": t}
    else:
        group, params = TensorGroup.from_tensors([a, b]), {"weight": [1 - t, t]}
    (result,) = merge_methods.get(method)([group], parameters=params, out_dtype=out_dtype)
    return result


def mergekit_run(model_dir: Path, out: Path) -> dict[str, torch.Tensor]:
    """Run mergekit's full pipeline on the mergekit_config.yml hala wrote beside its own merge."""
    pytest.importorskip("mergekit", reason="mergekit (the 'merge' extra) is the reference these tests compare to")
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    config = MergeConfiguration.model_validate(yaml.safe_load((model_dir / "mergekit_config.yml").read_text()))
    run_merge(config, str(out), MergeOptions(quiet=True, write_model_card=False, copy_tokenizer=False))
    return weights(out)


def max_diff(x: dict, y: dict) -> float:
    assert set(x) == set(y)
    for k in x:
        assert x[k].dtype == y[k].dtype, k
    return max((x[k].double() - y[k].double()).abs().max().item() for k in x)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tiny_model) -> tuple[Path, Path]:
    """Two tiny Llama models with the same tokenizer and independent random weights (seed 0 and 1)."""
    return tiny_model, build_tiny_model(tmp_path_factory.mktemp("tiny-b"), seed=1)


@pytest.fixture(scope="module")
def deep_pair(tmp_path_factory) -> tuple[Path, Path]:
    """Three layers, so a gradient has a middle layer at depth 0.5."""
    return (
        build_tiny_model(tmp_path_factory.mktemp("deep-a"), layers=3, seed=2),
        build_tiny_model(tmp_path_factory.mktemp("deep-b"), layers=3, seed=3),
    )


def merge(base, tuned, out, **kw) -> dict[str, torch.Tensor]:
    merge_models(MergeConfig(base=str(base), tuned=str(tuned), **kw), out)
    return weights(out)


# ------------------------------------------------------------------------------------------------ equality
@pytest.mark.parametrize("order", ["ab", "ba"])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 1.0])
def test_slerp_equals_mergekit(pair, tmp_path, order, t):
    base, tuned = pair if order == "ab" else pair[::-1]
    ours = merge(base, tuned, tmp_path / "m", t=t)
    a, b = weights(base), weights(tuned)
    theirs = {k: mergekit_tensor("slerp", a[k], b[k], t) for k in a}
    assert max_diff(ours, theirs) <= TOL


def test_slerp_covers_both_branches_and_linear_equals_mergekit(pair, tmp_path):
    summary = merge_models(MergeConfig(base=str(pair[0]), tuned=str(pair[1]), t=0.3), tmp_path / "s")
    # Norm weights are all ones in both models (parallel -> linear fallback); random matrices are not.
    assert 0 < summary["nearly_parallel_tensors"] < summary["merged_tensors"]
    record = json.loads((tmp_path / "s" / "hala_merge.json").read_text())
    assert record["tensors"]["model.norm.weight"]["nearly_parallel"] is True
    assert record["tensors"]["model.layers.0.self_attn.q_proj.weight"]["nearly_parallel"] is False

    ours = merge(*pair, tmp_path / "l", method="linear", t=0.3)
    a, b = weights(pair[0]), weights(pair[1])
    assert max_diff(ours, {k: mergekit_tensor("linear", a[k], b[k], 0.3) for k in a}) <= TOL


@pytest.mark.parametrize("method", ["slerp", "linear"])
def test_endpoints_are_the_inputs_exactly(pair, tmp_path, method):
    a, b = weights(pair[0]), weights(pair[1])
    at0 = merge(*pair, tmp_path / "t0", method=method, t=0.0)
    at1 = merge(*pair, tmp_path / "t1", method=method, t=1.0)
    for k in a:
        assert torch.equal(at0[k], a[k]), k
        assert torch.equal(at1[k], b[k]), k


def test_multi_piece_kernel_equals_mergekit():
    """Tensors larger than one 1M-element piece: norms and dots reduce over pieces exactly like mergekit."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2500, 1000, generator=g)
    cases = {"angle": torch.randn(2500, 1000, generator=g), "parallel": a + 1e-3 * torch.randn(2500, 1000, generator=g)}
    for kind, b in cases.items():
        for t in (0.3, 0.5):
            pieces = []
            fa, fb = a.reshape(-1), b.reshape(-1)
            parallel = kernels.slerp(
                t,
                lambda s, e: fa[s:e],  # noqa: B023 - called within this iteration
                lambda s, e: fb[s:e],  # noqa: B023
                a.numel(),
                torch.float32,
                pieces.append,  # noqa: B023
            )
            assert parallel == (kind == "parallel")
            assert len(pieces) == 3
            ours = torch.cat([p.reshape(-1) for p in pieces]).reshape(a.shape)
            assert (ours - mergekit_tensor("slerp", a, b, t)).abs().max().item() <= TOL


# ------------------------------------------------------------------------------------------------ schedules
def test_gradient_and_filter_resolution():
    assert interpolate([0.0, 1.0], 0.25) == 0.25
    assert interpolate([0.0, 1.0, 0.5], 0.75) == pytest.approx(0.75)
    assert interpolate([0.2], 0.9) == 0.2
    names = ["model.embed_tokens.weight"] + [f"model.layers.{i}.mlp.up_proj.weight" for i in range(5)]
    depths = layer_depths(names)
    assert depths == {"model.layers": 5}
    assert [depth_position(n, depths) for n in names] == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    schedule = [TFilter(filter="self_attn", value=[0, 1]), TFilter(filter="mlp", value=0.7)]
    assert resolve_t(schedule, "model.layers.2.self_attn.q_proj.weight", 0.5) == 0.5
    assert resolve_t(schedule, "model.layers.2.mlp.up_proj.weight", 0.5) == 0.7
    assert resolve_t(schedule, "model.norm.weight", 0.0) is None
    assert parse_schedule("0.5", []) == 0.5
    assert parse_schedule("0,1", ["mlp=0.2"]) == [TFilter(filter="mlp", value=0.2), TFilter(value=[0.0, 1.0])]
    with pytest.raises(ValueError, match="MODULE=VALUES"):
        parse_schedule("0.5", ["mlp"])


def test_filters_apply_to_the_right_tensors(pair, tmp_path):
    a, b = weights(pair[0]), weights(pair[1])
    schedule = [TFilter(filter="self_attn", value=1.0), TFilter(filter="mlp", value=0.0), TFilter(value=0.5)]
    out = merge(*pair, tmp_path / "m", method="linear", t=schedule)
    for k in a:
        if "self_attn" in k:
            assert torch.equal(out[k], b[k]), k
        elif "mlp" in k:
            assert torch.equal(out[k], a[k]), k
        else:
            assert torch.allclose(out[k], (a[k] + b[k]) / 2, atol=TOL), k


def test_gradient_follows_depth_with_mergekit_edges(deep_pair, tmp_path):
    a, b = weights(deep_pair[0]), weights(deep_pair[1])
    out = merge(*deep_pair, tmp_path / "m", method="linear", t=[0.0, 1.0])
    for k in a:
        if ".layers.0." in k or ".layers." not in k:  # depth 0, and embeddings/final norm take the first anchor
            assert torch.equal(out[k], a[k]), k
        elif ".layers.2." in k:
            assert torch.equal(out[k], b[k]), k
        else:
            assert torch.allclose(out[k], (a[k] + b[k]) / 2, atol=TOL), k


def test_schedule_equals_mergekit_run_merge(deep_pair, tmp_path):
    """Filters + gradients through mergekit's own planner and executor, from the YAML hala writes."""
    schedule = [
        TFilter(filter="self_attn", value=[0, 1]),
        TFilter(filter="mlp", value=[1, 0.2, 0.6]),
        TFilter(value=0.3),
    ]
    for method in ("slerp", "linear"):
        model = tmp_path / f"hala-{method}"
        ours = merge(*deep_pair, model, method=method, t=schedule)
        record = json.loads((model / "hala_merge.json").read_text())["tensors"]
        assert record["model.layers.1.self_attn.q_proj.weight"]["t"] == 0.5
        assert record["model.layers.1.mlp.up_proj.weight"]["t"] == 0.2
        assert record["model.layers.2.mlp.up_proj.weight"]["t"] == 0.6
        assert record["model.layers.1.input_layernorm.weight"]["t"] == 0.3
        assert record["model.embed_tokens.weight"]["t"] == 0.3
        assert max_diff(ours, mergekit_run(model, tmp_path / f"mergekit-{method}")) <= TOL


# ------------------------------------------------------------------------------------------------ early errors
def _nothing_written(out: Path) -> bool:
    return not out.exists() and not any(p.name.startswith(f".{out.name}.") for p in out.parent.iterdir())


def test_architecture_mismatch_fails_before_work(tiny_model, tiny_gemma, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(HalaError, match="architecture mismatch.*LlamaForCausalLM.*Gemma3ForCausalLM"):
        merge_models(MergeConfig(base=str(tiny_model), tuned=str(tiny_gemma)), out)
    assert _nothing_written(out)


def test_vocabulary_mismatch_fails_before_work(tiny_model, tmp_path):
    other = build_tiny_model(tmp_path / "other-vocab", extra_text=[f"word{i} كلمة{i}" for i in range(300)])
    assert (
        json.loads((other / "config.json").read_text())["vocab_size"]
        != json.loads((tiny_model / "config.json").read_text())["vocab_size"]
    )
    out = tmp_path / "m"
    with pytest.raises(HalaError, match="vocabulary size mismatch"):
        merge_models(MergeConfig(base=str(tiny_model), tuned=str(other)), out)
    assert _nothing_written(out)


def test_size_and_schedule_errors_fail_before_work(tiny_model, tmp_path):
    narrow = build_tiny_model(tmp_path / "narrow", hidden=32)
    out = tmp_path / "m"
    with pytest.raises(HalaError, match="config mismatch: hidden_size"):
        merge_models(MergeConfig(base=str(tiny_model), tuned=str(narrow)), out)
    with pytest.raises(HalaError, match="gives no value for model.embed_tokens.weight"):
        merge_models(
            MergeConfig(base=str(tiny_model), tuned=str(tiny_model), t=[TFilter(filter="self_attn", value=0.5)]), out
        )
    assert _nothing_written(out)


def test_tensor_name_and_shape_mismatches_are_named(pair, tmp_path):
    def edited(name: str, edit) -> Path:
        odd = tmp_path / name
        shutil.copytree(pair[1], odd)
        w = load_file(odd / "model.safetensors")
        edit(w)
        save_file(w, odd / "model.safetensors", metadata={"format": "pt"})
        return odd

    key = "model.layers.1.mlp.up_proj.weight"
    shorter = edited("shorter", lambda w: w.update({key: w[key][:-1]}))
    with pytest.raises(HalaError, match=r"tensor shape mismatch: model.layers.1.mlp.up_proj.weight is \[128, 64\]"):
        merge_models(MergeConfig(base=str(pair[0]), tuned=str(shorter)), tmp_path / "m")
    missing = edited("missing", lambda w: w.pop(key))
    with pytest.raises(
        HalaError,
        match=r"tensor names differ.*only in base: model.layers.1.mlp.up_proj.weight; "
        r"only in tuned: none",
    ):
        merge_models(MergeConfig(base=str(pair[0]), tuned=str(missing)), tmp_path / "m")
    assert _nothing_written(tmp_path / "m")


# ------------------------------------------------------------------------------------------------ model files
def test_tied_embeddings_stay_tied_and_load(pair, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "m"
    merged = merge(*pair, out)
    assert "lm_head.weight" not in merged
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert torch.equal(model.model.embed_tokens.weight.detach(), merged["model.embed_tokens.weight"])


def test_tied_base_with_untied_tuned(pair, tmp_path):
    from transformers import AutoModelForCausalLM

    untied = tmp_path / "untied"
    model = AutoModelForCausalLM.from_pretrained(pair[1])
    model.config.tie_word_embeddings = False
    head = model.model.embed_tokens.weight.detach() + 0.05 * torch.randn_like(model.model.embed_tokens.weight)
    model.lm_head.weight = torch.nn.Parameter(head)
    model.save_pretrained(untied)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(pair[1] / f, untied / f)
    assert "lm_head.weight" in weights(untied)

    out = tmp_path / "m"
    merged = merge(pair[0], untied, out, t=0.4)
    a, b = weights(pair[0]), weights(untied)
    # The tied base's LM head is its input embedding (mergekit's tied_names rule).
    expected = mergekit_tensor("slerp", a["model.embed_tokens.weight"], b["lm_head.weight"], 0.4)
    assert (merged["lm_head.weight"] - expected).abs().max().item() <= TOL
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    loaded = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(loaded.lm_head.weight.detach(), merged["lm_head.weight"])
    assert not torch.equal(loaded.lm_head.weight, loaded.model.embed_tokens.weight)


def _to_bf16(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    save_file(
        {k: v.to(torch.bfloat16) for k, v in weights(src).items()}, dst / "model.safetensors", metadata={"format": "pt"}
    )
    return dst


def test_dtype_is_preserved_or_converted(pair, tmp_path):
    a16, b16 = _to_bf16(pair[0], tmp_path / "a16"), _to_bf16(pair[1], tmp_path / "b16")
    ours = merge(a16, b16, tmp_path / "m16", t=0.3)
    assert {v.dtype for v in ours.values()} == {torch.bfloat16}
    a, b = weights(a16), weights(b16)
    assert max_diff(ours, {k: mergekit_tensor("slerp", a[k], b[k], 0.3) for k in a}) <= TOL

    out = tmp_path / "to16"
    ours = merge(*pair, out, t=0.3, dtype="bfloat16")
    assert {v.dtype for v in ours.values()} == {torch.bfloat16}
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    a, b = weights(pair[0]), weights(pair[1])
    theirs = {k: mergekit_tensor("slerp", a[k], b[k], 0.3, out_dtype=torch.bfloat16) for k in a}
    assert max_diff(ours, theirs) <= TOL


def test_tokenizer_and_chat_template_come_from_the_chosen_model(pair, tmp_path):
    tuned = perturbed_copy(pair[0], tmp_path / "tuned", seed=1, chat_template="{{ 'TUNED TEMPLATE' }}")
    merge(pair[0], tuned, tmp_path / "from-tuned")
    assert (tmp_path / "from-tuned" / "chat_template.jinja").read_text() == "{{ 'TUNED TEMPLATE' }}"
    merge(pair[0], tuned, tmp_path / "from-base", tokenizer_source="base")
    assert (tmp_path / "from-base" / "chat_template.jinja").read_text() == (pair[0] / "chat_template.jinja").read_text()
    for f in (
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "config.json",
        "hala_merge.json",
        "mergekit_config.yml",
    ):
        assert (tmp_path / "from-tuned" / f).exists(), f


# ------------------------------------------------------------------------------------------------ streaming I/O
def test_piecewise_reads_and_shards_give_the_same_model(pair, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    whole = merge(*pair, tmp_path / "whole", t=0.3)
    monkeypatch.setattr(kernels, "WHOLE_TENSOR_BYTES", 0)  # every tensor re-read in pieces from disk
    monkeypatch.setattr(kernels, "PIECE", 1000)
    sharded = merge(*pair, tmp_path / "sharded", t=0.3, shard_size_gb=40e3 / 1e9)
    files = sorted(p.name for p in (tmp_path / "sharded").glob("*.safetensors"))
    assert len(files) > 3 and (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    assert max_diff(whole, sharded) <= TOL
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "sharded")
    assert torch.equal(model.model.layers[1].mlp.up_proj.weight.detach(), sharded["model.layers.1.mlp.up_proj.weight"])


def test_shard_writer_roundtrip(tmp_path):
    from safetensors import safe_open

    tensors = {
        "a": torch.arange(10, dtype=torch.int64),
        "b": torch.randn(3, 5).to(torch.bfloat16),
        "empty": torch.zeros(0, 4),
        "c": torch.tensor([True, False, True]),
        "d": torch.randn(7, 3),
    }
    layout = [OutputTensor(k, v.dtype, tuple(v.shape)) for k, v in tensors.items()]
    writer = ShardWriter(tmp_path, layout, max_shard_bytes=64)
    for k, v in tensors.items():
        if v.numel():
            flat = v.reshape(-1)
            writer.write(k, flat[: len(flat) // 2])
            writer.write(k, flat[len(flat) // 2 :])
    files = writer.close()
    assert "model.safetensors.index.json" in files
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    for name, v in tensors.items():
        with safe_open(str(tmp_path / index["weight_map"][name]), "pt") as f:
            assert torch.equal(f.get_tensor(name), v)
    with CheckpointReader(tmp_path) as reader:
        assert torch.equal(reader.read("d", 4, 11), tensors["d"].reshape(-1)[4:11])
    with pytest.raises(RuntimeError, match="write order"):
        ShardWriter(tmp_path / "x", layout, 64).write("b", tensors["b"])


def test_stage_run_writes_summary_and_resumes(pair, tmp_path):
    config = MergeConfig(base=str(pair[0]), tuned=str(pair[1]), t=0.5)
    first = run(config, tmp_path)
    assert first["model"] == "model" and (tmp_path / "model" / "model.safetensors").exists()
    assert json.loads((tmp_path / "merge.json").read_text())["config"]["t"] == 0.5
    stamp = (tmp_path / "model" / "model.safetensors").stat().st_mtime_ns
    again = run(config, tmp_path)
    assert again["resumed"] is True
    assert (tmp_path / "model" / "model.safetensors").stat().st_mtime_ns == stamp


def test_config_rejects_inconsistent_sweep_fields():
    with pytest.raises(ValueError, match="sweep needs select_on"):
        MergeConfig(base="a", tuned="b", sweep=[0.0, 1.0])
    with pytest.raises(ValueError, match="either t or sweep"):
        MergeConfig(base="a", tuned="b", t=0.3, sweep=[0.0, 1.0], select_on="ppl:x.txt")
    with pytest.raises(ValueError, match="only used with sweep"):
        MergeConfig(base="a", tuned="b", select_on="ppl:x.txt")
    with pytest.raises(ValueError, match="Extra inputs"):
        MergeConfig(base="a", tuned="b", tt=0.3)
