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

import logging
import weakref
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


# ---------------------------------------------------------------- tokens and masks for many texts at once
# Why by hand: the tokenizer's offsets (what `token_mask` needs) are part of every `encode_batch`; without them
# tokens + masks take 1.08-1.17x less CPU on Gemma-3 (`bench/scale_data_prep.py --mask-paths`, docs/BENCHMARKS.md),
# and the tokenizer is ~2/3 of data preparation.
# For tokenizers whose tokens spell the text byte for byte (byte-level BPE; SentencePiece-style BPE whose only
# normalisation is space -> "▁", with <0xNN> byte pieces) a token's length is a property of its id, so the
# offsets are a cumulative sum over a per-vocabulary table. The table must reproduce the tokenizer's own offsets
# on a probe text, every record's lengths must add up to its text, and one record per batch is compared with the
# offsets path; whatever fails one of these gets the tokenizer's offsets instead.
_PROBE = "Ab1  x\t٣٤ مرحبا،\n{é}😀 end "
_BYTE_PIECE_PREFIX, _BYTE_PIECE_LEN = "<0x", 6
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # backend -> table (None: not of such a kind)


def _spelling(backend) -> str | None:
    """'bytelevel' or 'metaspace' when the tokenizer's pieces spell the text with a fixed length per token; None
    for anything else (a normaliser that rewrites text, a prefix space/'▁' added, other models)."""
    if type(backend.model).__name__ != "BPE":
        return None
    norm, pre = backend.normalizer, backend.pre_tokenizer
    normalized = norm.normalize_str(_PROBE) if norm is not None else _PROBE
    pieces = "".join(p for p, _ in pre.pre_tokenize_str(normalized)) if pre is not None else normalized
    if pieces == _PROBE.replace(" ", "▁"):
        return "metaspace"
    if norm is None and pieces != _PROBE and len(pieces) == len(_PROBE.encode()):
        return "bytelevel"
    return None


def token_byte_lengths(backend) -> np.ndarray | None:
    """Each token id's length in bytes of the original text (-1 where it has none, e.g. an unknown token), or None
    when the tokenizer is not of a kind whose tokens spell the text. Cached per tokenizer object."""
    if backend in _TABLES:
        return _TABLES[backend]
    kind = _spelling(backend)
    table = None
    if kind is not None:
        table = np.full(backend.get_vocab_size(with_added_tokens=True), -1, dtype=np.int64)
        byte_pieces = kind == "metaspace" and bool(getattr(backend.model, "byte_fallback", False))
        for token, i in backend.get_vocab(with_added_tokens=False).items():
            if kind == "bytelevel":
                table[i] = len(token)  # one character of the byte-level alphabet per byte
            elif byte_pieces and len(token) == _BYTE_PIECE_LEN and token.startswith(_BYTE_PIECE_PREFIX):
                table[i] = 1
            else:
                table[i] = len(token.replace("▁", " ").encode())
        for i, added in backend.get_added_tokens_decoder().items():
            table[i] = len(added.content.encode())  # added tokens are matched in the text as written
        unk = getattr(backend.model, "unk_token", None)
        if unk is not None and backend.token_to_id(unk) is not None:
            table[backend.token_to_id(unk)] = -1  # stands for text of any length
        if not _spells_probe(backend, table):
            table = None
    _TABLES[backend] = table
    return table


def _spells_probe(backend, table: np.ndarray) -> bool:
    """The table's offsets, in characters, equal the tokenizer's own on the probe (catches what the pieces alone
    do not show, e.g. a post-processor that trims whitespace off the offsets)."""
    encoding = backend.encode(_PROBE, add_special_tokens=False)
    offsets = _byte_offsets(table, np.asarray(encoding.ids, dtype=np.int64), len(_PROBE.encode()))
    if offsets is None:
        return False
    char_at = np.repeat(np.arange(len(_PROBE)), [len(c.encode()) for c in _PROBE])
    chars = [(int(char_at[a]), int(char_at[b - 1]) + 1) if b > a else (int(char_at[a]),) * 2 for a, b in offsets]
    return chars == [tuple(o) for o in encoding.offsets]


def _byte_offsets(table: np.ndarray, ids: np.ndarray, n_bytes: int) -> np.ndarray | None:
    """(tokens, 2) byte offsets from the length table; None unless every length is known and they add up."""
    lengths = table[ids]
    if (len(lengths) and lengths.min() < 0) or int(lengths.sum()) != n_bytes:
        return None
    ends = np.cumsum(lengths)
    return np.stack([ends - lengths, ends], axis=1)


def _byte_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans as byte spans; empty ones dropped (they mark no token, as in `span_mask`)."""
    spans = [(s, e) for s, e in spans if e > s]
    if text.isascii():
        return spans
    return [(len(text[:s].encode()), len(text[:e].encode())) for s, e in spans]


def _by_offsets(backend, texts: list[str], spans_of: list[list[tuple[int, int]]]) -> list[tuple]:
    """The tokenizer's own path: its character offsets (one batch call)."""
    out = []
    for encoding, spans in zip(backend.encode_batch(texts, add_special_tokens=False), spans_of):
        ids = np.asarray(encoding.ids, dtype=np.int32)
        mask = span_mask(encoding, len(ids), spans)
        if mask is None:
            mask = token_mask(np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2), spans)
        out.append((ids, mask))
    return out


def encode_with_masks(backend, texts: list[str], spans_of: list[list[tuple[int, int]]]) -> list[tuple]:
    """(input_ids int32, assistant mask int8) per text, with no special tokens added (the rendered text holds
    them). `backend`: a `tokenizers.Tokenizer`; `spans_of`: each text's assistant character spans."""
    if not texts:
        return []
    table = token_byte_lengths(backend) if hasattr(backend, "encode_batch_fast") else None
    if table is None:
        return _by_offsets(backend, texts, spans_of)
    out, checked = [], None  # checked: the first record the table spelled, compared with the offsets path
    for k, (text, spans, encoding) in enumerate(
        zip(texts, spans_of, backend.encode_batch_fast(texts, add_special_tokens=False))
    ):
        ids = np.asarray(encoding.ids, dtype=np.int32)
        offsets = _byte_offsets(table, ids, len(text.encode()))
        if offsets is None:
            out.extend(_by_offsets(backend, [text], [spans]))
        else:
            out.append((ids, token_mask(offsets, _byte_spans(text, spans))))
            checked = k if checked is None else checked
    if checked is None:
        return out
    [(ids, mask)] = _by_offsets(backend, texts[checked : checked + 1], spans_of[checked : checked + 1])
    if not (np.array_equal(ids, out[checked][0]) and np.array_equal(mask, out[checked][1])):
        logging.getLogger(__name__).warning(
            "token lengths disagree with the tokenizer's offsets: using its offsets for this tokenizer from now on"
        )
        _TABLES[backend] = None
        return _by_offsets(backend, texts, spans_of)
    return out
