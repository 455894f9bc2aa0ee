"""`hala train` under `accelerate launch`: a real 2-process DDP run on CPU (gloo), and the shipped accelerate
configs (DDP on CPU, DDP and FSDP on 8 GPUs) the paper recipes name, checked as accelerate reads them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import PAIRS, chat_sample, write_jsonl

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "accelerate"


def free_port() -> int:
    # Several test runs may share the machine: a fixed rendezvous port (accelerate's 29500) would collide.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_process_hala(*args: str) -> tuple[list[str], dict]:
    """(command, environment) that run `hala ARGS` in two CPU processes under `accelerate launch` (gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(CONFIGS / "ddp-cpu.yaml"),
        "--main_process_port",
        str(free_port()),
        "-m",
        "hala.cli",
        *args,
    ]
    return cmd, env


@pytest.mark.timeout(360)
def test_two_cpu_processes_train_and_write_the_model(tiny_model, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [chat_sample(i, s, t) for i, (s, t) in enumerate(PAIRS * 2)])
    out = tmp_path / "out"
    cmd, env = two_process_hala(
        "train",
        "--model",
        str(tiny_model),
        "--train",
        str(train),
        "--out",
        str(out),
        "--full",
        "--max-steps",
        "3",
        "--batch-size",
        "2",
        "--save-steps",
        "100",
    )
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["processes"] == 2 and summary["distributed_backend"] == "gloo"
    # 8 examples, 2 per process per step, 2 processes: 3 steps are 1.5 epochs
    assert summary["steps"] == 3 and summary["epochs"] == 1.5
    assert (out / "model" / "model.safetensors").exists() and (out / "model" / "tokenizer.json").exists()
    assert result.stdout.count('"processes": 2') == 1  # one process reports


def launch_env(config: Path) -> tuple:
    """What `accelerate launch --config_file CONFIG` would give each process: parsed args and environment."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config), "-m", "hala.cli", "train"])
    args, _, _ = _validate_launch_command(args)
    return args, prepare_multi_gpu_env(args)


def test_the_recipes_name_shipped_accelerate_configs():
    named = {
        m
        for recipe in (REPO / "recipes").glob("*.yaml")
        for m in re.findall(r"configs/accelerate/([\w.-]+\.yaml)", recipe.read_text(encoding="utf-8"))
    }
    assert named, "the paper recipes document their accelerate launch"
    assert named <= {p.name for p in CONFIGS.glob("*.yaml")}


@pytest.mark.parametrize(
    "name, processes, fsdp, precision",
    [("ddp-cpu.yaml", 2, False, "no"), ("ddp-8gpu.yaml", 8, False, "bf16"), ("fsdp-8gpu.yaml", 8, True, "bf16")],
)
def test_accelerate_reads_each_config(name, processes, fsdp, precision):
    args, env = launch_env(CONFIGS / name)
    assert args.num_processes == processes and bool(args.use_fsdp) == fsdp and args.multi_gpu != fsdp
    assert env["ACCELERATE_MIXED_PRECISION"] == precision
    assert env.get("ACCELERATE_USE_FSDP", "false") == ("true" if fsdp else "false")


def test_fsdp_config_shards_decoder_layers_and_saves_plain_weights(monkeypatch):
    """The 9B recipe's FSDP settings, as the plugin accelerate builds from them sees them: FSDP2, full sharding,
    safetensors-compatible full state dicts, FSDP's own activation checkpointing (not the Trainer's), and on a Gemma-2
    model (Fanar-1-9B's architecture, here tiny and random) exactly the decoder layers become FSDP units."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from transformers import Gemma2Config, Gemma2ForCausalLM

    _, env = launch_env(CONFIGS / "fsdp-8gpu.yaml")
    for key, value in env.items():
        if key.startswith(("FSDP_", "ACCELERATE_USE_FSDP")):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type.name == "FULL_STATE_DICT" and plugin.activation_checkpointing

    model = Gemma2ForCausalLM(
        Gemma2Config(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
        )
    )
    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
    wrapped = [name for name, module in model.named_modules() if policy(module)]
    assert wrapped == ["model.layers.0", "model.layers.1"]
