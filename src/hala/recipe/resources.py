"""The resource plan: `hala run RECIPE --dry-run --gpus N --gpu-memory 80GB --host-memory 1TB [--json]`.

For every stage: peak host memory, peak GPU memory per device, GPUs used, GPU-hours and wall time, computed from
the real size of each hub model the recipe names (`MODELS`, each entry citing where it was read), the dtypes and
batch settings in the stage configs, and throughputs that are stated assumptions (`ASSUMPTIONS`, or the recipe's
own `estimate` blocks) until measured. A stage that cannot fit the machine is named with its numbers and the plan
exits non-zero. Nothing is loaded: this is arithmetic over configs.

The quantize stage is sized from `hala.quantize.placement.verify_placement`, the function the stage itself uses to
load its models, so the plan describes the code's real placement.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hala.errors import ConfigError

GB = 1e9


@dataclass(frozen=True)
class ModelSpec:
    params: int
    dtype: str  # the checkpoint's precision
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    architecture: str
    source: str  # where these numbers were read


# Real sizes of the hub models the paper recipes use. The rehearsal's configs (hala/rehearse/configs) shrink
# these architectures; the plan needs the real ones.
MODELS: dict[str, ModelSpec] = {
    "CohereLabs/command-a-translate-08-2025": ModelSpec(
        111_000_000_000,
        "bfloat16",
        64,
        12288,
        96,
        8,
        128,
        256000,
        "Cohere2ForCausalLM",
        "parameters: 'a 111 billion parameter model', Command A model card (huggingface.co/CohereLabs/"
        "c4ai-command-a-03-2025; command-a-translate-08-2025 is its translation fine-tune); shape (64 layers, "
        "hidden 12288, 96 heads, 8 KV heads, vocab 256000): the Command R+ config.json of the same family "
        "(huggingface.co/turboderp/command-r-plus-103B-exl2), assumed unchanged for Command A",
    ),
    "LiquidAI/LFM2-350M": ModelSpec(
        354_483_968,
        "bfloat16",
        16,
        1024,
        16,
        8,
        64,
        65536,
        "Lfm2ForCausalLM",
        "parameters, layers (16: 10 conv + 6 attention), vocabulary, bf16: LFM2 model card table "
        "(huggingface.co/LiquidAI/LFM2-350M); hidden/heads: assumption for the KV-cache estimate",
    ),
    "LiquidAI/LFM2-700M": ModelSpec(
        742_489_344,
        "bfloat16",
        16,
        1536,
        24,
        8,
        64,
        65536,
        "Lfm2ForCausalLM",
        "parameters, layers, vocabulary, bf16: LFM2 model card table (huggingface.co/LiquidAI/LFM2-350M lists "
        "all sizes); hidden/heads: assumption for the KV-cache estimate",
    ),
    "LiquidAI/LFM2-1.2B": ModelSpec(
        1_170_340_608,
        "bfloat16",
        16,
        2048,
        32,
        8,
        64,
        65536,
        "Lfm2ForCausalLM",
        "parameters 1,170,340,608, 16 layers (10 conv + 6 attn), vocabulary 65,536, bf16: model card "
        "(huggingface.co/LiquidAI/LFM2-1.2B); hidden/heads: assumption for the KV-cache estimate",
    ),
    "QCRI/Fanar-1-9B-Instruct": ModelSpec(
        9_241_705_984,
        "bfloat16",
        42,
        3584,
        16,
        8,
        256,
        256000,
        "Gemma2ForCausalLM",
        "'we continually pretrain the google/gemma-2-9b model' (Fanar-1-9B-Instruct model card); shape from "
        "gemma-2-9b's config.json (42 layers, hidden 3584, intermediate 14336, 16 heads, 8 KV heads, head_dim "
        "256, vocab 256000); parameters computed from that shape",
    ),
}

# Throughputs and overheads: assumptions (not measured by hala: no GPU was available) until replaced by a
# measurement (bench/*_throughput.py on your hardware).
ASSUMPTIONS = {
    "host_usable_fraction": (
        0.85,
        "share of --host-memory a stage may use (OS, page cache of the checkpoint "
        "being read, pinned CUDA buffers take the rest)",
    ),
    "gpu_reserved_gb": (4.0, "per GPU: CUDA context, NCCL buffers, allocator fragmentation"),
    "vllm_gpu_memory_utilization": (0.9, "vLLM's default share of each GPU"),
    "gpu_bf16_tflops": (989.0, "dense bf16 peak per GPU (H100 SXM, NVIDIA datasheet); an 80 GB A100 is 312"),
    "train_mfu": (0.35, "model FLOPs utilisation of full fine-tuning with FSDP/DDP"),
    "load_gb_per_s": (2.0, "checkpoint read + placement speed, per process"),
    "fp8_convert_gb_per_s": (1.0, "llm-compressor FP8-dynamic conversion on CPU (data-free), bf16 GB per second"),
    "cpu_tflops": (1.0, "sustained bf16/fp32 matmul throughput of a many-core host CPU"),
    "cpu_memory_gb_per_s": (100.0, "host memory bandwidth (each decode step reads every weight once)"),
    "gpu_memory_gb_per_s": (3350.0, "HBM bandwidth per GPU (H100 SXM datasheet)"),
    "verify_decode_steps": (200, "greedy decode steps of the verification's translation check, per model"),
    "verify_positions": (1500, "next-token positions of the shipped verification texts (24 texts)"),
    "cpu_stage_host_gb": (4.0, "streaming CPU stages (data, filter, corpus, decontam, report)"),
    "vllm_host_gb": (16.0, "host memory of one vLLM instance besides the memory-mapped weights"),
    "eval_tokens": (2_000_000, "tokens scored by an eval.mcq stage (OALL-v2 size order)"),
    "eval_tokens_per_s_per_gpu": (20_000, "log-likelihood scoring throughput of a 1-9B model on one GPU"),
}


def A(name: str) -> float:
    return ASSUMPTIONS[name][0]


BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "fp8": 1, "auto": 2}


def parse_size(text: str) -> int:
    """'80GB' -> 80e9, '80GiB' -> 80*2^30, '1TB' -> 1e12; a bare number is GB."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGTP]?)(i?)B?\s*", str(text), flags=re.IGNORECASE)
    if not m:
        raise ConfigError(f"cannot read size '{text}' (e.g. 80GB, 1TB, 640GiB)")
    number, unit, binary = float(m.group(1)), m.group(2).upper() or "G", m.group(3)
    power = "KMGTP".index(unit) + 1
    return int(number * ((1024 if binary else 1000) ** power))


@dataclass
class Machine:
    gpus: int
    gpu_memory: int
    host_memory: int

    @property
    def gpu_usable(self) -> float:
        return self.gpu_memory - A("gpu_reserved_gb") * GB

    @property
    def host_usable(self) -> float:
        return self.host_memory * A("host_usable_fraction")


@dataclass
class ModelInfo:
    spec: ModelSpec
    weight_bytes_per_param: float  # as stored now (FP8 after quantize)
    name: str


@dataclass
class StagePlan:
    stage: str
    type: str
    placement: str
    host_peak_gb: float
    gpu_peak_gb: float  # per GPU
    gpus: int
    gpu_hours: float
    wall_hours: float
    fits: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _gb(x: float) -> float:
    return x / GB


def lookup_model(ref: str, produced: dict[str, ModelInfo]) -> ModelInfo | None:
    """A model reference: a hub id in MODELS, a model an earlier stage produced (`@stage/model`), a local dir."""
    ref = str(ref)
    m = re.match(r"^@([A-Za-z0-9_.-]+)/", ref)
    if m:
        return produced.get(m.group(1))
    if ref in MODELS:
        spec = MODELS[ref]
        return ModelInfo(spec, BYTES[spec.dtype], ref)
    path = Path(ref).expanduser()
    if (path / "config.json").exists():
        from hala.models import count_parameters
        from hala.quantize.placement import checkpoint_dtype

        n = count_parameters(path)
        if n:
            dtype = checkpoint_dtype(path)
            return ModelInfo(ModelSpec(n, dtype, 1, 1, 1, 1, 1, 1, "local", str(path)), BYTES.get(dtype, 4), ref)
    return None


def _unknown(stage: str, type_: str, ref: str) -> StagePlan:
    return StagePlan(
        stage,
        type_,
        "?",
        0.0,
        0.0,
        0,
        0.0,
        0.0,
        notes=[f"model '{ref}' has no known size (not in hala.recipe.resources.MODELS): not sized"],
    )


# ------------------------------------------------------------------ per stage type
def plan_quantize(name: str, config, model: ModelInfo, machine: Machine) -> StagePlan:
    from hala.quantize import placement as qp

    spec = model.spec
    p = spec.params
    convert_host = p * BYTES[config.dtype] + p * 1  # the model at `dtype` + the FP8 state dict being saved
    place = qp.verify_placement(config, p, spec.dtype)
    copy = p * BYTES[place["dtype"]] * place["copies_at_once"]
    logprobs = qp.logprob_cache_bytes(int(A("verify_positions")), spec.vocab)
    verify_host, verify_gpu, gpus = logprobs, 0.0, 0
    if place["where"] == "cpu":
        verify_host += copy
        where = f"host ({place['dtype']})"
    elif place["where"] == "one-gpu":
        verify_gpu, gpus = copy, 1
        where = f"one GPU ({place['dtype']})"
    else:
        gpus = machine.gpus
        verify_gpu = copy / max(1, gpus) * 1.1  # accelerate's balanced map is not exactly even
        where = f"device_map over {gpus} GPUs ({place['dtype']})"
    copies = f"{place['copies_at_once']} cop{'y' if place['copies_at_once'] == 1 else 'ies'} at once"
    host = max(convert_host, verify_host)
    # per model: load, score the texts (2 FLOPs/param/position), decode the dev translations (each step reads
    # every weight once: memory-bound)
    weights = p * BYTES[place["dtype"]]
    if place["where"] == "cpu":
        score = 2 * p * A("verify_positions") / (A("cpu_tflops") * 1e12)
        decode = A("verify_decode_steps") * weights / (A("cpu_memory_gb_per_s") * GB)
    else:
        # one GPU computes at a time through a device map (layers in sequence), so no speed-up over one GPU
        score = 2 * p * A("verify_positions") / (A("gpu_bf16_tflops") * 1e12 * 0.3)
        decode = A("verify_decode_steps") * weights / (A("gpu_memory_gb_per_s") * GB)
    wall = (
        p * BYTES[config.dtype] / GB / A("fp8_convert_gb_per_s")
        + 2 * (weights / GB / A("load_gb_per_s") + score + decode)
    ) / 3600
    plan = StagePlan(
        name,
        "quantize",
        f"convert on host ({config.dtype}); verify on {where}, {copies}",
        _gb(host),
        _gb(verify_gpu),
        gpus,
        wall * gpus,
        wall,
    )
    if host > machine.host_usable:
        which = "conversion" if convert_host >= verify_host else "verification"
        plan.problems.append(
            f"{which} needs {_gb(host):.0f} GB of host memory ({copies}, {p / 1e9:.0f}B "
            f"parameters at {place['dtype'] if which == 'verification' else config.dtype}), "
            f"usable {_gb(machine.host_usable):.0f} GB of {_gb(machine.host_memory):.0f} GB"
        )
    if verify_gpu > machine.gpu_usable:
        plan.problems.append(
            f"verification needs {_gb(verify_gpu):.0f} GB per GPU ({where}, {copies}), usable "
            f"{_gb(machine.gpu_usable):.0f} GB of {_gb(machine.gpu_memory):.0f} GB"
            + ("; set device_map: auto" if place["where"] == "one-gpu" else "")
        )
    if gpus > machine.gpus:
        plan.problems.append(f"needs {gpus} GPUs, the machine has {machine.gpus}")
    return plan


def _kv_bytes_per_token(spec: ModelSpec) -> float:
    return 2 * spec.layers * spec.kv_heads * spec.head_dim * 2  # K and V, bf16


def plan_vllm(name: str, type_: str, config, model: ModelInfo, machine: Machine, estimate) -> StagePlan:
    options = dict(getattr(config, "engine_options", {}) or {})
    tp = int(options.get("tensor_parallel_size", 1))
    if getattr(config, "distributed", "none") == "ray":
        replicas = int(config.ray.workers or 1)
    else:
        replicas = int(options.get("data_parallel_size", 1))
    gpus = tp * replicas
    spec = model.spec
    weights = spec.params * model.weight_bytes_per_param / tp
    max_len = int(options.get("max_model_len", 8192))
    kv_one_sequence = _kv_bytes_per_token(spec) * max_len / tp
    util = float(options.get("gpu_memory_utilization", A("vllm_gpu_memory_utilization")))
    budget = machine.gpu_memory * util - A("gpu_reserved_gb") * GB
    gpu_peak = machine.gpu_memory * util  # vLLM reserves its share whatever the model needs
    host = replicas * A("vllm_host_gb") * GB
    if estimate is not None:
        gpu_hours = estimate.gpu_hours()
        note = f"throughput: {estimate.basis}"
    else:
        gpu_hours = 0.0
        note = "no estimate block: GPU-hours not sized"
    wall = gpu_hours / max(1, min(gpus, machine.gpus))
    plan = StagePlan(
        name,
        type_,
        f"vLLM TP={tp} x {replicas} replica(s) ({model.weight_bytes_per_param:g} B/param weights)",
        _gb(host),
        _gb(gpu_peak),
        gpus,
        gpu_hours,
        wall,
        notes=[note],
    )
    if estimate is not None and estimate.gpus > gpus:
        plan.notes.append(
            f"the estimate assumes {estimate.gpus} GPUs but the stage uses {gpus}: "
            f"{estimate.gpus - gpus} idle (set ray.workers or data_parallel_size)"
        )
        plan.wall_hours = gpu_hours / max(1, gpus)
    if weights + kv_one_sequence > budget:
        plan.problems.append(
            f"weights {_gb(weights):.0f} GB + KV cache of one {max_len}-token sequence "
            f"{_gb(kv_one_sequence):.1f} GB per GPU exceed vLLM's {_gb(budget):.0f} GB "
            f"(TP={tp}, gpu_memory_utilization {util})"
        )
    if gpus > machine.gpus:
        plan.problems.append(f"needs {gpus} GPUs (TP {tp} x {replicas}), the machine has {machine.gpus}")
    if host > machine.host_usable:
        plan.problems.append(
            f"{replicas} vLLM instances need ~{_gb(host):.0f} GB of host memory, usable "
            f"{_gb(machine.host_usable):.0f} GB"
        )
    return plan


def _activation_bytes(spec: ModelSpec, batch: int, seq: int, checkpointing: bool, attn_quadratic: bool) -> float:
    """Korthikanti et al. (2022), per layer: 34*s*b*h bytes (16-bit), plus 5*a*s^2*b with eager attention;
    with checkpointing only each layer's input (2*s*b*h) is kept, plus one layer being recomputed."""
    s, b, h, a = seq, batch, spec.hidden, spec.heads
    per_layer = 34 * s * b * h + (5 * a * s * s * b if attn_quadratic else 0)
    if checkpointing:
        return spec.layers * 2 * s * b * h + per_layer
    return spec.layers * per_layer


def plan_train(name: str, config, model: ModelInfo, machine: Machine, estimate) -> StagePlan:
    spec = model.spec
    p = spec.params
    n = max(1, machine.gpus)
    checkpointing = config.gradient_checkpointing
    if checkpointing is None:  # hala.train.hardware's default on GPUs
        checkpointing = p >= 1_000_000_000
    # Gemma-2 has no sdpa in transformers (softcapping): eager attention materialises s^2 scores
    quadratic = spec.architecture == "Gemma2ForCausalLM" and config.attn_implementation in ("auto", "eager")
    act = _activation_bytes(spec, config.batch_size, config.max_length, checkpointing, quadratic)
    if config.mode == "full":
        states = 16 * p  # fp32 weights 4 + fp32 grads 4 + AdamW moments 8 (bf16 autocast)
        host = n * p * 4  # every process loads the float32 weights before placing/sharding them
    else:
        states = 2 * p + 0.02 * p * 16  # frozen bf16 base + adapters with their optimizer state
        host = n * p * 2
    ddp_gpu = states + act
    fsdp_gpu = states / n + act + 2 * (p / spec.layers) * 4  # + one gathered decoder layer (fp32)
    if ddp_gpu <= machine.gpu_usable or n == 1:
        strategy, gpu = ("DDP" if n > 1 else "one GPU"), ddp_gpu
    else:
        strategy, gpu = "FSDP", fsdp_gpu
    tokens = estimate.tokens() if estimate is not None else 0.0
    if estimate is not None:
        gpu_hours, basis = estimate.gpu_hours(), f"throughput: {estimate.basis}"
    else:
        flops = 6 * p * (4 / 3 if checkpointing else 1)
        tps = A("gpu_bf16_tflops") * 1e12 * A("train_mfu") / flops
        gpu_hours, basis = 0.0, f"no estimate block (derived: {tps:.0f} tokens/s/GPU at the assumed MFU)"
    config_file = "configs/accelerate/" + ("fsdp-8gpu.yaml" if strategy == "FSDP" else "ddp-8gpu.yaml")
    plan = StagePlan(
        name,
        "train",
        f"{strategy} x {n}, {config.mode}, batch {config.batch_size} x "
        f"{config.max_length} tokens, checkpointing {'on' if checkpointing else 'off'}",
        _gb(host),
        _gb(gpu),
        n,
        gpu_hours,
        gpu_hours / n,
        notes=[basis],
    )
    if n > 1:
        plan.notes.append(
            f"launch: accelerate launch --config_file {config_file} --num_processes {n} -m hala.cli "
            f"run RECIPE --only {name}"
        )
    if tokens:
        plan.notes.append(f"{tokens / 1e9:.2f}B training tokens")
    if gpu > machine.gpu_usable:
        shard = states / (n if strategy == "FSDP" else 1)
        plan.problems.append(
            f"{strategy} needs {_gb(gpu):.0f} GB per GPU ({_gb(shard):.0f}"
            f" GB weights/grads/optimizer + {_gb(act):.0f} GB activations), usable "
            f"{_gb(machine.gpu_usable):.0f} GB; lower batch_size or max_length, or turn on "
            f"gradient_checkpointing"
        )
    if host > machine.host_usable:
        plan.problems.append(
            f"{n} processes loading {config.mode} weights need {_gb(host):.0f} GB of host memory, "
            f"usable {_gb(machine.host_usable):.0f} GB"
        )
    return plan


def plan_eval_mcq(name: str, config, model: ModelInfo, machine: Machine) -> StagePlan:
    weights = model.spec.params * BYTES.get(config.dtype, 4)
    on_gpu = machine.gpus > 0 and config.device in ("auto", "cuda") or str(config.device).startswith("cuda")
    hours = A("eval_tokens") / A("eval_tokens_per_s_per_gpu") / 3600
    plan = StagePlan(
        name,
        "eval.mcq",
        f"one {'GPU' if on_gpu else 'CPU'} ({config.dtype})",
        _gb(weights if not on_gpu else 4 * GB),
        _gb(weights * 1.2 if on_gpu else 0),
        int(on_gpu),
        hours if on_gpu else 0.0,
        hours,
    )
    if on_gpu and weights * 1.2 > machine.gpu_usable:
        plan.problems.append(
            f"{_gb(weights):.0f} GB of weights at {config.dtype} on one GPU, usable {_gb(machine.gpu_usable):.0f} GB"
        )
    return plan


def plan_merge(name: str, config, model: ModelInfo, machine: Machine) -> StagePlan:
    spec = model.spec
    largest = spec.vocab * spec.hidden * 4  # the embedding matrix in float32, the largest tensor streamed
    host = 3 * largest + 2 * GB  # base + tuned tensor + result, one tensor at a time
    wall = 3 * spec.params * BYTES[spec.dtype] / GB / A("load_gb_per_s") / 3600
    return StagePlan(name, "merge", "host, streamed tensor by tensor", _gb(host), 0.0, 0, 0.0, wall)


def plan_cpu(name: str, type_: str) -> StagePlan:
    return StagePlan(name, type_, "host (streaming)", A("cpu_stage_host_gb"), 0.0, 0, 0.0, 0.0)


def resource_plan(planned, machine: Machine) -> list[StagePlan]:
    from hala.recipe.registry import get_stage_type

    produced: dict[str, ModelInfo] = {}
    plans = []
    for p in planned:
        spec = p.spec
        stage_type = get_stage_type(spec.type)
        try:
            config = stage_type.config_class().model_validate(spec.with_)
        # a config that only validates with its @references resolved is sized as a CPU stage
        except Exception:  # noqa: BLE001
            plans.append(plan_cpu(spec.name, spec.type))
            continue
        ref = getattr(config, "model", None)
        model = lookup_model(ref, produced) if ref else None
        if spec.type == "quantize":
            plan = plan_quantize(spec.name, config, model, machine) if model else _unknown(spec.name, spec.type, ref)
            if model:
                produced[spec.name] = ModelInfo(model.spec, 1.0, model.name)  # FP8 weights
        elif spec.type in ("translate", "eval.translation") and getattr(config, "engine", None) == "vllm":
            plan = (
                plan_vllm(spec.name, spec.type, config, model, machine, spec.estimate)
                if model
                else _unknown(spec.name, spec.type, ref)
            )
        elif spec.type == "train":
            plan = (
                plan_train(spec.name, config, model, machine, spec.estimate)
                if model
                else _unknown(spec.name, spec.type, ref)
            )
            if model:
                produced[spec.name] = ModelInfo(model.spec, BYTES[model.spec.dtype], model.name)
        elif spec.type == "eval.mcq":
            plan = plan_eval_mcq(spec.name, config, model, machine) if model else _unknown(spec.name, spec.type, ref)
        elif spec.type == "merge":
            base = lookup_model(config.base, produced)
            plan = plan_merge(spec.name, config, base, machine) if base else _unknown(spec.name, spec.type, config.base)
            if base:
                produced[spec.name] = base
        else:
            plan = plan_cpu(spec.name, spec.type)
        plan.fits = not plan.problems
        plans.append(plan)
    return plans


def summary(plans: list[StagePlan], machine: Machine) -> dict:
    return {
        "machine": {
            "gpus": machine.gpus,
            "gpu_memory_gb": _gb(machine.gpu_memory),
            "host_memory_gb": _gb(machine.host_memory),
        },
        "stages": [p.to_dict() for p in plans],
        "totals": {
            "gpu_hours": round(sum(p.gpu_hours for p in plans), 1),
            "wall_hours": round(sum(p.wall_hours for p in plans), 1),
            "peak_host_gb": round(max((p.host_peak_gb for p in plans), default=0), 1),
            "peak_gpu_gb": round(max((p.gpu_peak_gb for p in plans), default=0), 1),
        },
        "fits": all(p.fits for p in plans),
        "assumptions": {k: {"value": v, "basis": b} for k, (v, b) in ASSUMPTIONS.items()},
        "model_sizes": {k: {"params": m.params, "dtype": m.dtype, "source": m.source} for k, m in MODELS.items()},
    }


def refusal(plans: list[StagePlan]) -> str | None:
    bad = [p for p in plans if not p.fits]
    if not bad:
        return None
    return "; ".join(f"stage '{p.stage}' ({p.type}) cannot fit: {' and '.join(p.problems)}" for p in bad)


def print_resource_plan(plans: list[StagePlan], machine: Machine, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=200 if not Console().is_terminal else None)
    table = Table(
        title=f"resource plan: {machine.gpus} GPU(s) x {_gb(machine.gpu_memory):.0f} GB, host "
        f"{_gb(machine.host_memory):.0f} GB"
    )
    for col in ("stage", "type", "placement", "host GB", "GPU GB/dev", "GPUs", "GPU-h", "wall-h", "fits"):
        table.add_column(col, justify="right" if col.endswith(("GB", "dev", "GPUs", "-h")) else "left")
    for p in plans:
        table.add_row(
            p.stage,
            p.type,
            p.placement,
            f"{p.host_peak_gb:.1f}",
            f"{p.gpu_peak_gb:.1f}",
            str(p.gpus),
            f"{p.gpu_hours:.1f}",
            f"{p.wall_hours:.1f}",
            "yes" if p.fits else "NO",
        )
    console.print(table)
    console.print(
        f"total: {sum(p.gpu_hours for p in plans):.1f} GPU-hours, {sum(p.wall_hours for p in plans):.1f} "
        f"wall-clock hours (sequential stages)"
    )
    for p in plans:
        for line in p.problems:
            console.print(f"  [bold red]{p.stage}[/]: {line}")
        for line in p.notes:
            console.print(f"  {p.stage}: {line}")
    console.print("assumptions (not measured by hala; replace with your measurements):")
    for k, (v, basis) in ASSUMPTIONS.items():
        console.print(f"  {k} = {v}: {basis}")


def machine_from_options(gpus: int | None, gpu_memory: str | None, host_memory: str | None) -> Machine:
    return Machine(
        gpus=gpus if gpus is not None else 0,
        gpu_memory=parse_size(gpu_memory or "80GB"),
        host_memory=parse_size(host_memory or os.environ.get("HALA_HOST_MEMORY", "1TB")),
    )


__all__ = [
    "ASSUMPTIONS",
    "MODELS",
    "Machine",
    "StagePlan",
    "machine_from_options",
    "parse_size",
    "print_resource_plan",
    "refusal",
    "resource_plan",
    "summary",
]
