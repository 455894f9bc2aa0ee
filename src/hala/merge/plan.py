"""Check that two models can be merged and plan every output tensor, before any weight is read.

Everything a merge can trip over is found here from config.json files and safetensors headers alone (non-float
buffers, which are tiny, are also compared by value): a different architecture, vocabulary or layer count, tensor
names or shapes that differ, a t schedule that leaves a tensor without a value, a tokenizer source without a
tokenizer. Each is one error that names both models and what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from hala.errors import HalaError
from hala.merge.config import TSetting, depth_position, layer_depths, resolve_t
from hala.merge.safetensors_stream import CheckpointReader, TensorInfo

# What mergekit copies with a tokenizer, plus vocab.json; generation_config.json travels with it because its
# eos/pad ids belong to that tokenizer and chat template.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "added_tokens.json",
    "merges.txt",
    "vocab.json",
    "chat_template.jinja",
    "chat_template.json",
    "generation_config.json",
)
VOCAB_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
SHAPE_KEYS = (
    "num_hidden_layers",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
)
LM_HEAD = "lm_head.weight"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Job:
    """One output tensor: its sources, its t (None: a non-float buffer, copied), compute and output dtypes."""

    name: str
    base: TensorInfo
    tuned: TensorInfo
    t: float | None
    dtype: torch.dtype  # both inputs are promoted to this before merging (mergekit's rule)
    out_dtype: torch.dtype


@dataclass
class Plan:
    jobs: list[Job]
    config: dict  # the output config.json
    tokenizer_dir: Path
    tokenizer_files: list[str]


def _read_config(model_dir: Path) -> dict:
    path = model_dir / "config.json"
    if not path.exists():
        raise HalaError(f"{model_dir}: not a model directory (no config.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def _get(cfg: dict, key: str):
    """A config value, looking inside `text_config` for multimodal configs."""
    return cfg.get(key, (cfg.get("text_config") or {}).get(key))


def check_configs(base: Path, tuned: Path, cb: dict, ct: dict) -> None:
    arch_b, arch_t = (cb.get("architectures"), cb.get("model_type")), (ct.get("architectures"), ct.get("model_type"))
    if arch_b != arch_t:
        raise HalaError(
            f"architecture mismatch: base {base} is {arch_b[0]} (model_type {arch_b[1]}), tuned "
            f"{tuned} is {arch_t[0]} (model_type {arch_t[1]}); a merge needs the same architecture"
        )
    vb, vt = _get(cb, "vocab_size"), _get(ct, "vocab_size")
    if vb != vt:
        raise HalaError(
            f"vocabulary size mismatch: base {base} has vocab_size {vb}, tuned {tuned} has {vt}; "
            f"merge a fine-tune with the base it was trained from (same tokenizer)"
        )
    for key in SHAPE_KEYS:
        if _get(cb, key) != _get(ct, key):
            raise HalaError(
                f"config mismatch: {key} is {_get(cb, key)} in base {base} and {_get(ct, key)} in "
                f"tuned {tuned}; a merge needs the same architecture size"
            )


def _embedding(names: set[str], where: Path) -> str:
    found = sorted(n for n in names if n.endswith("embed_tokens.weight"))
    if len(found) != 1:
        raise HalaError(
            f"{where}: has no {LM_HEAD} (tied embeddings) but no single input embedding to tie it to "
            f"(found {found or 'none'})"
        )
    return found[0]


def _sources(rb: CheckpointReader, rt: CheckpointReader, base: Path, tuned: Path) -> tuple[dict, dict, bool]:
    """Map each output name to its tensor in each model. A model with tied embeddings stores no LM head; when the
    other model has one, the tied model's input embedding stands in for it (mergekit's `tied_names`)."""
    nb, nt = set(rb.tensors), set(rt.tensors)
    src_b = {n: rb.tensors[n] for n in nb}
    src_t = {n: rt.tensors[n] for n in nt}
    untied = (LM_HEAD in nb) != (LM_HEAD in nt)
    if LM_HEAD in nt and LM_HEAD not in nb:
        src_b[LM_HEAD] = rb.tensors[_embedding(nb, base)]
    if LM_HEAD in nb and LM_HEAD not in nt:
        src_t[LM_HEAD] = rt.tensors[_embedding(nt, tuned)]
    only_b, only_t = sorted(set(src_b) - set(src_t)), sorted(set(src_t) - set(src_b))
    if only_b or only_t:
        raise HalaError(
            f"tensor names differ between base {base} and tuned {tuned}: only in base: "
            f"{_few(only_b)}; only in tuned: {_few(only_t)}"
        )
    return src_b, src_t, untied


def _few(items: list[str], n: int = 5) -> str:
    return "none" if not items else ", ".join(items[:n]) + (f" (and {len(items) - n} more)" if len(items) > n else "")


def _check_shapes(src_b: dict, src_t: dict, base: Path, tuned: Path) -> None:
    bad = [n for n in sorted(src_b) if src_b[n].shape != src_t[n].shape]
    if not bad:
        return
    first = bad[0]
    kind = "vocabulary size mismatch" if first.endswith(("embed_tokens.weight", LM_HEAD)) else "tensor shape mismatch"
    more = f" ({len(bad) - 1} more differ)" if bad[1:] else ""
    raise HalaError(
        f"{kind}: {first} is {list(src_b[first].shape)} in base {base} and "
        f"{list(src_t[first].shape)} in tuned {tuned}{more}"
    )


def _check_buffer(rb: CheckpointReader, rt: CheckpointReader, b: TensorInfo, t: TensorInfo) -> None:
    """Integer or bool tensors cannot be interpolated: they must be identical, and are copied (as in mergekit)."""
    if b.dtype.is_floating_point and t.dtype.is_floating_point:
        return
    if b.dtype != t.dtype or not torch.equal(rb.read(b.name), rt.read(t.name)):
        raise HalaError(
            f"non-float tensor {b.name} differs between base and tuned ({b.dtype} vs {t.dtype}); it "
            f"cannot be interpolated, so it must be identical"
        )


def _tokenizer(base: Path, tuned: Path, source: str) -> tuple[Path, list[str]]:
    src = tuned if source == "tuned" else base
    files = [f for f in TOKENIZER_FILES if (src / f).exists()]
    if not any(f in files for f in VOCAB_FILES):
        other = "base" if source == "tuned" else "tuned"
        raise HalaError(
            f"{src}: no tokenizer files ({', '.join(VOCAB_FILES)}) to copy from the {source} model; "
            f"set tokenizer_source to {other} (--tokenizer-from {other})"
        )
    return src, files


def plan_merge(
    base: Path, tuned: Path, rb: CheckpointReader, rt: CheckpointReader, t: TSetting, dtype: str, tokenizer_source: str
) -> Plan:
    cb, ct = _read_config(base), _read_config(tuned)
    check_configs(base, tuned, cb, ct)
    src_b, src_t, untied = _sources(rb, rt, base, tuned)
    _check_shapes(src_b, src_t, base, tuned)
    tok_dir, tok_files = _tokenizer(base, tuned, tokenizer_source)

    # The base's storage order keeps reads sequential; an LM head stood in for by an embedding goes last.
    names = sorted(src_b, key=lambda n: (n == LM_HEAD and untied, str(src_b[n].path), src_b[n].offset))
    depths = layer_depths(names)
    jobs, missing = [], []
    for name in names:
        b, tu = src_b[name], src_t[name]
        _check_buffer(rb, rt, b, tu)
        if not b.dtype.is_floating_point:
            jobs.append(Job(name, b, tu, None, b.dtype, b.dtype))
            continue
        value = resolve_t(t, name, depth_position(name, depths))
        if value is None:
            missing.append(name)
            continue
        compute = torch.promote_types(b.dtype, tu.dtype)
        jobs.append(Job(name, b, tu, value, compute, DTYPES.get(dtype, compute)))
    if missing:
        raise HalaError(
            f"the t schedule gives no value for {_few(missing)}: no filter matches; add an entry "
            f"without a filter as the fallback (e.g. --t 0.5 after --t-filter options)"
        )
    return Plan(jobs, _output_config(cb, jobs, untied), tok_dir, tok_files)


def _output_config(cfg: dict, jobs: list[Job], untied: bool) -> dict:
    """The base's config.json (as mergekit writes it), with the output dtype and, when only one input had its
    own LM head, the output's untied embeddings."""
    out = dict(cfg)
    floats = [j for j in jobs if j.t is not None]
    if floats:
        largest = max(floats, key=lambda j: j.base.numel)
        key = "torch_dtype" if "torch_dtype" in out and "dtype" not in out else "dtype"
        out[key] = str(largest.out_dtype).removeprefix("torch.")
    if untied:
        out["tie_word_embeddings"] = False
    return out
