"""Training throughput: real (non-pad) tokens/s of `hala train` vs TRL's SFTTrainer with its default config.

    python bench/train_throughput.py                        # embedded Gemma-3-270M, LoRA, 6 steps of batch 8
    python bench/train_throughput.py --steps 4 --variants hala,trl,hala-trl-head

Variants, each in its own process, run one after the other (so they never compete with each other for the
cores):
  hala           `hala.train.run` with its defaults (LoRA r16 all-linear, batch 8, label-only LM head, bf16 where
                 the CPU has native bf16, no gradient checkpointing, per-batch padding, length-grouped batches)
  trl            `trl.SFTTrainer` with SFTConfig's defaults (bf16, gradient checkpointing, fp32 weights, loss on
                 every token, random batches), changed only where needed to run and be measured on a CPU:
                 use_cpu=True, max_steps, no checkpoint saving, non-pad token counting, no tqdm/reporting;
                 the same LoRA config (peft_config) and batch size as hala
  hala-trl-head  hala with `label_only_head=False` (TRL's own chunked head over every position): what the
                 label-only head alone is worth
Same model, same data (Tatoeba EN->AR chat samples, exactly steps x batch of them, so every variant trains on the
same examples once and sees the same real tokens), same steps. Timing is Trainer's train loop only (from
on_train_begin to on_train_end; model loading, data preparation and the final merge are excluded), measured by the
same callback in every variant. Ratios to TRL are given by wall time and by CPU time (all threads): on a shared
machine the CPU-time ratio is the steadier one. Prints a table and writes bench/results/train_throughput.json after
every variant (an interrupted run keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TATOEBA = ROOT.parent / "shared" / "data" / "tatoeba-ara-eng" / "tatoeba-test-v2021-08-07"
VARIANTS = ("hala", "trl", "hala-trl-head")


def tatoeba_pairs(seed: int = 0) -> list[tuple[str, str]]:
    """Tatoeba's MSA (`ara`-labelled) EN-AR pairs, in a fixed shuffled order."""
    if not Path(f"{TATOEBA}.eng").is_file():
        sys.exit(f"{TATOEBA}.eng not found: this benchmark needs ../shared/data (developer machines and CI)")
    read = lambda suffix: Path(f"{TATOEBA}{suffix}").read_text(encoding="utf-8").split("\n")  # noqa: E731
    rows = [
        (e, a) for e, a, label in zip(read(".eng"), read(".ara"), read(".ara.labels")) if label == "ara" and e and a
    ]
    random.Random(seed).shuffle(rows)
    return rows


def chat_samples(pairs: list[tuple[str, str]]) -> list[dict]:
    """EN->AR chat samples with hala's translation prompt (the one `hala translate` and `hala eval` use)."""
    from hala.prompts import translation_messages

    return [
        {"id": f"tatoeba-{i}", "messages": translation_messages(e, "en", "ar") + [{"role": "assistant", "content": a}]}
        for i, (e, a) in enumerate(pairs)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def lora_config():
    """The LoRA hala trains by default, given to TRL too (it has no LoRA of its own by default)."""
    from peft import LoraConfig

    from hala.train.config import TrainConfig

    d = {k: f.default for k, f in TrainConfig.model_fields.items() if k.startswith("lora_")}
    return LoraConfig(
        r=d["lora_r"],
        lora_alpha=d["lora_alpha"],
        lora_dropout=d["lora_dropout"],
        target_modules=d["lora_target_modules"],
        task_type="CAUSAL_LM",
    )


def timed(train) -> dict:
    """Run `train(callback)`; the callback sees the train loop's start/end and Trainer's non-pad token count."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.t0, self.cpu0, self.tokens0 = time.perf_counter(), time.process_time(), state.num_input_tokens_seen

        def on_train_end(self, args, state, control, **kwargs):
            self.seconds = time.perf_counter() - self.t0
            self.cpu_seconds = time.process_time() - self.cpu0
            self.tokens = state.num_input_tokens_seen - self.tokens0
            self.steps = state.global_step

    clock = Clock()
    train(clock)
    return {
        "steps": clock.steps,
        "real_tokens": int(clock.tokens),
        "seconds": round(clock.seconds, 2),
        "cpu_seconds": round(clock.cpu_seconds, 2),
        "real_tokens_per_s": round(clock.tokens / clock.seconds, 2),
        "s_per_step": round(clock.seconds / clock.steps, 2),
    }


def run_hala(model: str, train_file: Path, work: Path, steps: int, batch: int, label_only_head: bool | None) -> dict:
    from hala.train import TrainConfig, run

    config = TrainConfig(
        model=model,
        train=str(train_file),
        max_steps=steps,
        batch_size=batch,
        save_steps=10**6,
        label_only_head=label_only_head,
    )
    result = timed(lambda clock: run(config, work / "hala", callbacks=[clock]))
    summary = json.loads((work / "hala" / "train_summary.json").read_text())
    return {**result, "settings": summary["settings"], "assistant_mask": summary["assistant_mask"]}


def run_trl(model: str, train_file: Path, work: Path, steps: int, batch: int) -> dict:
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    from hala.models import resolve_model

    args = SFTConfig(
        output_dir=str(work / "trl"),
        use_cpu=True,
        max_steps=steps,
        per_device_train_batch_size=batch,
        save_strategy="no",
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        report_to="none",
    )
    dataset = load_dataset("json", data_files=str(train_file), split="train").remove_columns(["id"])
    trainer = SFTTrainer(model=str(resolve_model(model)), args=args, train_dataset=dataset, peft_config=lora_config())
    result = timed(lambda clock: (trainer.add_callback(clock), trainer.train()))
    return {
        **result,
        "settings": {
            "bf16": args.bf16,
            "gradient_checkpointing": args.gradient_checkpointing,
            "model_dtype": str(next(trainer.model.parameters()).dtype),
            "assistant_only_loss": args.assistant_only_loss,
        },
    }


def one_variant(name: str, model: str, train_file: Path, steps: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-train-{name}-") as tmp:
        work = Path(tmp)
        if name == "trl":
            return run_trl(model, train_file, work, steps, batch)
        return run_hala(
            model, train_file, work, steps, batch, label_only_head=False if name == "hala-trl-head" else None
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8, help="examples per step (hala's and TRL's default: 8)")
    parser.add_argument("--variants", default="hala,trl", help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_throughput.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one variant, print its JSON
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print("RESULT " + json.dumps(one_variant(args.one, args.model, args.data, args.steps, args.batch)))
        return

    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"unknown variants: {', '.join(sorted(unknown))} (known: {', '.join(VARIANTS)})")
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-data-") as tmp:
        data = write_jsonl(Path(tmp) / "train.jsonl", chat_samples(tatoeba_pairs()[: args.steps * args.batch]))
        for name in variants:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                name,
                "--data",
                str(data),
                "--model",
                args.model,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                sys.exit(f"variant {name} failed:\n{proc.stderr[-4000:]}")
            r = results[name] = json.loads(line.removeprefix("RESULT "))
            print(
                f"{name:>14}: {r['real_tokens_per_s']:8.1f} real tokens/s  {r['s_per_step']:6.2f} s/step  "
                f"{r['cpu_seconds']:7.1f} CPU s  ({r['real_tokens']} tokens, {r['steps']} steps)",
                flush=True,
            )
            write_record(args, results)  # after every variant: a long run interrupted keeps what it measured
    for name, ratio in write_record(args, results)["ratio_vs_trl"].items():
        print(
            f"{name:>14}: {ratio['real_tokens_per_s']:.2f}x TRL SFTTrainer defaults in real tokens/s, "
            f"{ratio['real_tokens_per_cpu_s']:.2f}x per CPU second"
        )
    print(f"wrote {args.out}")


def write_record(args, results: dict) -> dict:
    """Ratios to the TRL baseline by wall time and by CPU time (the second is steadier on a shared machine)."""
    per_cpu = {name: r["real_tokens"] / r["cpu_seconds"] for name, r in results.items()}
    base = results.get("trl")
    ratios = (
        {
            name: {
                "real_tokens_per_s": round(r["real_tokens_per_s"] / base["real_tokens_per_s"], 2),
                "real_tokens_per_cpu_s": round(per_cpu[name] / per_cpu["trl"], 2),
            }
            for name, r in results.items()
        }
        if base
        else {}
    )
    record = {
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
        "model": args.model,
        "steps": args.steps,
        "batch": args.batch,
        "data": "tatoeba-ara-eng (ara), EN->AR",
        "threads": __import__("torch").get_num_threads(),
        "cpu": _cpu_name(),
        "load_average_at_end": os.getloadavg()[0],
        "results": results,
        "ratio_vs_trl": ratios,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def _cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
