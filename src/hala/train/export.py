"""The stage's outputs: a plain merged model directory that every other stage loads like any model, and the
LoRA adapter when one was trained.

Every process calls `trainer.save_model` (under FSDP gathering the weights is collective; only the main process
writes), into a staging directory; the main process then turns it into the final directories. The merge reloads
the base in its own precision and folds the saved adapter into it, rather than merging into the training copy:
that copy may hold the frozen base in bf16 (faster on CPU), where the small LoRA deltas would be rounded away, and
reloading proves the saved adapter is complete.
"""

from __future__ import annotations

from pathlib import Path

from hala.atomic import atomic_dir, replace_dir

MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
STAGING_DIR = ".final.tmp"


def end_of_turn_token(tokenizer) -> str | None:
    """The special token that closes an assistant turn in this chat template (`<end_of_turn>`, `<|im_end|>`):
    the last trained token of a rendered assistant turn, when it is a special (added) token."""
    from hala.train.masks import tokenize_with_prefix_mask

    enc = tokenize_with_prefix_mask(
        tokenizer, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    )
    trained = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    token = tokenizer.convert_ids_to_tokens(trained[-1]) if trained else None
    return token if token in tokenizer.get_added_vocab() else None


def stop_at_end_of_turn(generation_config, tokenizer) -> None:
    """A chat-trained model ends its answer with the template's end-of-turn token: make generation stop there
    (Gemma's base generation config stops only at <eos>, so its answers would run on)."""
    token = end_of_turn_token(tokenizer)
    if token is None:
        return
    eos = generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id not in eos:
        generation_config.eos_token_id = eos + [token_id]


def finalize(
    staging: Path, out_dir: Path, base_dir: Path, lora: bool, tokenizer, trust_remote_code: bool = False
) -> None:
    """Main process only: `staging` holds what `trainer.save_model` wrote (adapter or full weights)."""
    from transformers import AutoModelForCausalLM, GenerationConfig

    # Trainer pickles its arguments next to the weights; the outputs hold safetensors and JSON only.
    (staging / "training_args.bin").unlink(missing_ok=True)
    if not lora:
        generation = GenerationConfig.from_pretrained(staging)
        stop_at_end_of_turn(generation, tokenizer)
        generation.save_pretrained(staging)
        replace_dir(staging, out_dir / MODEL_DIR)
        return
    from peft import PeftModel

    adapter = out_dir / ADAPTER_DIR
    replace_dir(staging, adapter)
    base = AutoModelForCausalLM.from_pretrained(
        base_dir, dtype="auto", use_safetensors=True, trust_remote_code=trust_remote_code
    )
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    stop_at_end_of_turn(merged.generation_config, tokenizer)
    with atomic_dir(out_dir / MODEL_DIR) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
