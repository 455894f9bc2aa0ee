"""Merge two models into a new model directory, streaming tensor by tensor.

Memory stays near one tensor pair regardless of model size: small tensors are read whole, large ones (an
embedding matrix) in 1M-element pieces, and the output is written as it is computed. The directory appears
atomically and holds the weights, the base's config.json, the tokenizer/chat template/generation config of the
tokenizer source, `hala_merge.json` (inputs, settings and per-tensor t) and `mergekit_config.yml` (the same merge
as a mergekit config).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
import yaml

from hala import __version__
from hala.atomic import atomic_dir, write_json
from hala.merge import kernels
from hala.merge.config import MergeConfig, TSetting, plain, to_mergekit
from hala.merge.plan import Job, Plan, plan_merge
from hala.merge.safetensors_stream import CheckpointReader, OutputTensor, ShardWriter, TensorInfo
from hala.models import resolve_model
from hala.progress import progress_bar


def _reader(reader: CheckpointReader, info: TensorInfo, dtype: torch.dtype) -> kernels.Reader:
    if info.nbytes <= kernels.WHOLE_TENSOR_BYTES:
        whole = reader.read(info.name).to(dtype)
        return lambda start, stop: whole[start:stop]
    return lambda start, stop: reader.read(info.name, start, stop).to(dtype)


def _merge_tensor(job: Job, method: str, rb: CheckpointReader, rt: CheckpointReader, writer: ShardWriter) -> bool:
    if job.t is None:
        writer.write(job.name, rb.read(job.base.name))
        return False
    # The kernel rounds to the promoted input dtype first, then we round to the output dtype (mergekit's order).
    kernel = kernels.METHODS[method]
    return kernel(
        job.t,
        _reader(rb, job.base, job.dtype),
        _reader(rt, job.tuned, job.dtype),
        job.base.numel,
        job.dtype,
        lambda piece: writer.write(job.name, piece.to(job.out_dtype)),
    )


def _write_tensors(
    plan: Plan, method: str, rb: CheckpointReader, rt: CheckpointReader, out: Path, max_shard_bytes: int
) -> tuple[list[str], dict[str, dict]]:
    layout = [OutputTensor(j.name, j.out_dtype, j.base.shape) for j in plan.jobs]
    writer = ShardWriter(out, layout, max_shard_bytes)
    per_tensor = {}
    with progress_bar(len(plan.jobs), f"{method} merge", unit="tensors") as bar:
        for job in plan.jobs:
            parallel = _merge_tensor(job, method, rb, rt, writer)
            per_tensor[job.name] = {"t": job.t, "nearly_parallel": parallel} if job.t is not None else {"copied": True}
            bar.advance(1, info=job.name)
    return writer.close(), per_tensor


def merge_models(config: MergeConfig, out: str | Path, t: TSetting | None = None) -> dict:
    """Merge `config.base` and `config.tuned` with `t` (default `config.t`) into model directory `out`."""
    setting = config.t if t is None else t
    out = Path(out)
    base, tuned = resolve_model(config.base), resolve_model(config.tuned)
    start = time.time()
    with CheckpointReader(base) as rb, CheckpointReader(tuned) as rt:
        plan = plan_merge(base, tuned, rb, rt, setting, config.dtype, config.tokenizer_source)
        with atomic_dir(out) as tmp:
            files, per_tensor = _write_tensors(plan, config.method, rb, rt, tmp, int(config.shard_size_gb * 1e9))
            for name in plan.tokenizer_files:
                shutil.copy2(plan.tokenizer_dir / name, tmp / name)
            write_json(tmp / "config.json", plan.config)
            record = {
                "base": config.base,
                "tuned": config.tuned,
                "base_path": str(base),
                "tuned_path": str(tuned),
                "method": config.method,
                "t": plain(setting),
                "dtype": config.dtype,
                "tokenizer_source": config.tokenizer_source,
                "hala_version": __version__,
                "tensors": per_tensor,
            }
            write_json(tmp / "hala_merge.json", record)
            (tmp / "mergekit_config.yml").write_text(
                yaml.safe_dump(to_mergekit(config, str(base), str(tuned), setting), sort_keys=False), encoding="utf-8"
            )
    merged = [v for v in per_tensor.values() if "t" in v]
    return {
        "model": str(out),
        "method": config.method,
        "t": plain(setting),
        "dtype": plan.config.get("dtype", plan.config.get("torch_dtype")),
        "tensors": len(per_tensor),
        "merged_tensors": len(merged),
        "nearly_parallel_tensors": sum(v["nearly_parallel"] for v in merged),
        "bytes": sum(j.base.numel * j.out_dtype.itemsize for j in plan.jobs),
        "seconds": round(time.time() - start, 2),
        "files": files + plan.tokenizer_files + ["config.json", "hala_merge.json", "mergekit_config.yml"],
    }
