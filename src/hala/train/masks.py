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

Strategy = Literal["markers", "trl", "prefix"]


def mask_strategy(tokenizer) -> Strategy:
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if template is None:
        raise ValueError("the tokenizer has no chat template: set `chat_template` (a .jinja path or the template "
                         "text) in the train config, or --chat-template on the command line")
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
            raise ValueError(
                f"the chat template does not render earlier turns the same way whatever follows, so the assistant "
                f"tokens cannot be located (turn {i}); use a template with {{% generation %}} markers "
                f"(`chat_template` in the train config)")
        spans.append((len(before), len(through)))
    return text, spans


def tokenize_with_prefix_mask(tokenizer, messages: list[dict]) -> dict[str, list[int]]:
    """`input_ids` (identical to `apply_chat_template(tokenize=True)`) and `assistant_masks` (1 = trained)."""
    text, spans = assistant_char_spans(tokenizer, messages)
    # The rendered text already holds the template's special tokens (BOS included): add none.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    # A token is trained when it overlaps a span, like transformers' mask for {% generation %} markers.
    mask = [int(any(start < e and end > s for s, e in spans)) for start, end in enc["offset_mapping"]]
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}
