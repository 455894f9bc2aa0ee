"""What `hala train` does, as one validated config (a typo in a recipe is an error naming the key).

Defaults are the ones measured to be sensible on a CPU (docs/TRAIN.md): no gradient checkpointing for small
models, bf16 autocast only where the hardware has native bf16 matmuls, batches padded to their own longest example
and grouped by length, and the LM head computed only at the positions that carry a label.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hala.train.system_turns import SystemTurns


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # ---- what to train on
    model: str = Field(description="base model: embedded:NAME, a local directory or a hub id")
    train: str = Field(description="chat-sample records (JSONL/.gz/Parquet); loss on assistant turns only")
    dev: str | None = Field(None, description="chat-sample records for the eval loss (optional)")
    chat_template: str | None = Field(
        None,
        description="chat template override: a path to a .jinja file or the template text itself; "
        "saved with the output model",
    )
    trust_remote_code: bool = False

    # ---- full fine-tuning or LoRA
    mode: Literal["lora", "full"] = "lora"
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: str | list[str] = Field(
        "all-linear", description="'all-linear' (every linear layer except the LM head) or module names"
    )

    # ---- optimisation
    learning_rate: float | None = Field(None, gt=0, description="default: 2e-4 for LoRA, 2e-5 for full")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name: linear, cosine, constant, ...")
    warmup: float = Field(0.03, ge=0, description="linear warmup: a share of the steps when < 1, else steps")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; overrides epochs when set")
    batch_size: int = Field(8, ge=1, description="examples per device per forward pass")
    grad_accum: int = Field(1, ge=1, description="forward passes per optimizer step")
    max_length: int = Field(1024, ge=8, description="tokens per example; longer examples are truncated")
    seed: int = 42

    # ---- speed (None = decided from the hardware, see hala.train.hardware)
    bf16: bool | None = Field(None, description="bf16 autocast; default: on where the device has native bf16")
    gradient_checkpointing: bool | None = Field(
        None, description="default: only on a GPU for models of 1B parameters or more"
    )
    group_by_length: bool = Field(True, description="batch examples of similar length (less padding)")
    label_only_head: bool | None = Field(
        None,
        description="compute LM-head logits only at label positions; default: on where TRL's fused head "
        "would score every position (devices without Triton, e.g. CPU)",
    )
    # "auto": transformers picks per architecture (sdpa where the class supports it, else eager). Naming sdpa
    # explicitly raises for classes that lack it, e.g. Gemma2ForCausalLM (Fanar-1-9B), whose softcapping sdpa
    # cannot express (transformers 5.24: `_supports_sdpa = False`).
    attn_implementation: str = Field(
        "auto", description="auto (transformers chooses per architecture), sdpa, eager, flash_attention_2, ..."
    )

    # ---- data preparation (hala.train.data): tokenised once into an on-disk cache every rank and rerun reuses
    data_cache: str | None = Field(
        None, description="cache directory for tokenised training data (default: $HALA_HOME/train-data)"
    )
    data_num_proc: int | None = Field(None, ge=1, description="worker processes that tokenise (default: all cores)")
    system_turns: SystemTurns = Field(
        "auto",
        description="system messages: keep, fold (into the next user turn, as Gemma 3's template does; for templates "
        "without a system role such as Gemma-2's), drop; auto: keep if the chat template renders a system turn, "
        "else fold (hala.train.system_turns)",
    )
    packing: bool = Field(
        False,
        description="pack examples into max_length rows (TRL's BFD packing, whole "
        "examples only) and train padding-free; needs an attention that "
        "honours position_ids (flash_attention_2 on GPUs)",
    )
    padding_free: bool = Field(
        False, description="concatenate each batch into one row without padding (TRL padding_free); implied by packing"
    )

    # ---- checkpoints, eval, logging
    save_steps: int = Field(200, ge=1, description="checkpoint every N optimizer steps (for resuming)")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept")
    eval_steps: int | None = Field(None, ge=1, description="eval loss every N steps (default: save_steps)")
    logging_steps: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if isinstance(self.lora_target_modules, list) and not self.lora_target_modules:
            raise ValueError("lora_target_modules: give 'all-linear' or at least one module name")
        return self

    @property
    def lr(self) -> float:
        return self.learning_rate or (2e-4 if self.mode == "lora" else 2e-5)
