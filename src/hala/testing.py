"""Tiny random-weight models built in-process (seconds, offline) for tests, benchmarks of plumbing, and dry runs.

A tiny model is a real transformers model directory (config.json, model.safetensors, tokenizer files, chat
template), so every stage treats it exactly like a hub or embedded model. The tokenizer is a byte-level BPE
trained on a few hundred English and Arabic strings, so any text encodes without unknown tokens.
"""

from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] }}{{ '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

SEED_TEXT = [  # the tiny tokenizer's training text, English and Arabic (also used by hala.rehearse)
    "Translate everything that follows into Arabic:",
    "Translate everything that follows into English:",
    "The quick brown fox jumps over the lazy dog.",
    "Hello, how are you today?",
    "def f(x): return x * 2",
    "$x^2 + y^2 = z^2$",
    "https://example.com/path?q=1",
    "مرحبا، كيف حالك اليوم؟",
    "ترجم كل ما يلي إلى العربية:",
    "القط يجلس على الحصيرة.",
    "السلام عليكم ورحمة الله",
    "الرياض هي عاصمة المملكة العربية السعودية.",
    "0123456789 .,;:!?()[]{}<>\"'`-_=+*/\\|@#%^&~",
    "أ ب ت ث ج ح خ د ذ ر ز س ش ص ض ط ظ ع غ ف ق ك ل م ن ه و ي ة ى ء",
]


def build_tiny_tokenizer(extra_text: list[str] | None = None, vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator((SEED_TEXT + list(extra_text or [])) * 3, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def build_tiny_model(
    out_dir: str | Path,
    arch: str = "llama",
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    extra_text: list[str] | None = None,
) -> Path:
    """Write a tiny random causal LM + tokenizer to `out_dir` and return it. `arch`: 'llama' or 'gemma3'."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    out_dir = Path(out_dir)
    tok = build_tiny_tokenizer(extra_text)
    common = dict(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    if arch == "llama":
        config = LlamaConfig(**common, tie_word_embeddings=True)
    elif arch == "gemma3":
        config = Gemma3TextConfig(**common, head_dim=hidden // heads, sliding_window=64)
    else:
        raise ValueError(f"unknown tiny arch '{arch}' (llama, gemma3)")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return out_dir
