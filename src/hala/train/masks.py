"""Assistant-only loss: which tokens of a conversation the model is trained to produce.

Exactly the assistant turns' content and their end-of-turn token carry a label; system, user and template tokens
(role headers, BOS) are masked. Three ways to get that mask, tried in order:

* `markers` — the chat template wraps assistant turns in `{% generation %}` markers (hala's Gemma-3 template,
  the tiny test models' ChatML): TRL's `assistant_only_loss=True` uses transformers' own assistant mask.
* `trl` — a template family TRL ships a marked "training" twin for (Qwen, Llama-3, Gemma, LFM2, Phi, ...): TRL
  swaps it in for tokenisation; the model keeps its original template.
* `prefix` — any other template (e.g. SmolLM2's ChatML, which carries no markers): we render the conversation up
  to each assistant turn with and without that turn; the characters in between, minus trailing whitespace, are the
  turn's content and end-of-turn token, mapped to tokens by offsets. This works for every template that renders
  earlier turns the same whatever follows ("prefix-preserving"), which is checked, not assumed. We do this rather
  than inject markers with regexes because it needs no knowledge of the template's text.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hala.errors import ConfigError

Strategy = Literal["markers", "trl", "prefix"]


def mask_strategy(tokenizer) -> Strategy:
    from trl.chat_template_utils import (
        get_training_chat_template,
        has_generation_markers,
    )

    template = tokenizer.chat_template
    if template is None:
        raise ConfigError(
            "the tokenizer has no chat template: set `chat_template` (a .jinja path or the template "
            "text) in the train config, or --chat-template on the command line"
        )
    if has_generation_markers(template):
        return "markers"
    try:
        get_training_chat_template(tokenizer)
        return "trl"
    except ValueError:  # TRL raises for template families it does not know
        return "prefix"


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_char_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant turn (content + end-of-turn token)."""
    text = _render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1]).rstrip()
        if not (text.startswith(before) and text.startswith(through) and through.startswith(before)):
            raise ConfigError(
                f"the chat template does not render earlier turns the same way whatever follows, so the assistant "
                f"tokens cannot be located (turn {i}); use a template with {{% generation %}} markers "
                f"(`chat_template` in the train config)"
            )
        spans.append((len(before), len(through)))
    return text, spans


def training_template(tokenizer, strategy: Strategy) -> str | None:
    """The template whose `{% generation %}` markers give the mask: the tokenizer's own (`markers`), TRL's
    marked training twin (`trl`; the model keeps its original template), none for `prefix`."""
    if strategy == "markers":
        return tokenizer.chat_template
    if strategy == "trl":
        from trl.chat_template_utils import get_training_chat_template

        return get_training_chat_template(tokenizer) or tokenizer.chat_template
    return None


def generation_spans(tokenizer, messages: list[dict], template: str) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans inside `{% generation %}` markers, by transformers' own
    renderer (what `apply_chat_template(return_assistant_tokens_mask=True)` uses, without its per-character
    `char_to_token` loop)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, indices = render_jinja_template(
        conversations=[messages],
        chat_template=template,
        return_assistant_tokens_mask=True,
        **tokenizer.special_tokens_map,
    )
    return rendered[0], [tuple(span) for span in indices[0]]


def token_mask(offsets: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """1 for every token whose character range overlaps an assistant span (transformers' rule for
    `{% generation %}` masks), for all tokens x spans at once: a (tokens, 2) offsets array in, int8 mask out."""
    if not spans or len(offsets) == 0:
        return np.zeros(len(offsets), dtype=np.int8)
    s = np.asarray(spans, dtype=np.int64)
    starts, ends = offsets[:, :1], offsets[:, 1:2]
    return ((starts < s[None, :, 1]) & (ends > s[None, :, 0])).any(axis=1).astype(np.int8)


def span_mask(encoding, n_tokens: int, spans: list[tuple[int, int]]) -> np.ndarray | None:
    """The same mask from a `tokenizers.Encoding`, by looking up only each span's first and last character
    (`char_to_token`), O(spans) instead of O(tokens) Python work. None when a boundary character belongs to no
    token (a normaliser dropped it): the caller then uses `token_mask` over the offsets."""
    mask = np.zeros(n_tokens, dtype=np.int8)
    for start, end in spans:
        if end <= start:
            continue
        first, last = encoding.char_to_token(start), encoding.char_to_token(end - 1)
        if first is None or last is None:
            return None
        mask[first : last + 1] = 1
    return mask


def tokenize_with_prefix_mask(tokenizer, messages: list[dict]) -> dict[str, list[int]]:
    """`input_ids` (identical to `apply_chat_template(tokenize=True)`) and `assistant_masks` (1 = trained)."""
    text, spans = assistant_char_spans(tokenizer, messages)
    # The rendered text already holds the template's special tokens (BOS included): add none.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": token_mask(offsets, spans).tolist()}
