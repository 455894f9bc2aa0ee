"""Language-model scoring, written once: how likely a causal LM finds some tokens.

Two questions are asked of a model, by three stages:
* **a continuation given a context** — summed log-likelihood of the continuation's tokens
  (`continuation_loglikelihoods`): multiple-choice evaluation (hala.evaluate.mcq through hala.evaluate.loglik)
  and the reference-answer perplexity of instruction models (hala.evaluate.instruct);
* **every next token of whole texts** — the log-probability distribution at each real position
  (`text_batches` + `next_token_logprobs`): perplexity for choosing a merge's t (hala.merge.perplexity) and the
  FP8 verification's perplexity, KL and top-1 agreement against the original model (hala.quantize.metrics).

Why a top-level module (beside models.py) and not inside hala.evaluate: quantize and merge use it too, and neither
may depend on the evaluation stage (merge imports the evaluation stage only lazily, for its optional scorers).

The rules, each in one small function so that every caller applies the same one:
* **dtype** (`log_softmax_f32`): log-softmax in float32 whatever the model computes in: bfloat16's 8-bit
  mantissa would round every log-probability before they are summed over tokens.
* **padding** (`right_pad`, `pad_token_id`): right padding. A causal model's real positions never attend to
  later positions, so padding after a sequence's last real token cannot change its scores; any id serves as pad.
* **special tokens / BOS** (`encode_texts`, `encode_continuation`): the tokenizer's default special tokens are
  added (Gemma: BOS; the tiny test tokenizer: none), except for text rendered by a chat template, which already
  holds them (`add_special_tokens=False`).
* **truncation**: a context+continuation keeps its *last* `max_length + 1` tokens, the continuation being at the
  end (`truncate_context`, lm-evaluation-harness's rule); a text scored for perplexity keeps its *first*
  `max_tokens` (`encode_texts`).
* **batching** (`length_batches`): sequences sorted by token count, so a batch pads to a similar length (MCQ
  contexts longest first, as lm-evaluation-harness: running out of memory shows in the first batch; texts
  shortest first, the order the FP8 verification always used — kept so its numbers stay bitwise the same).
* **positions** (`TextBatch.positions`): position t predicts token t+1, and counts when both are real tokens.
* **perplexity** (`perplexity`): exp(total negative log-likelihood / predicted tokens), token-weighted.

torch is imported inside the functions: importing hala stays light for commands that never load a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

Ids = tuple[int, ...]
DEFAULT_MAX_LENGTH = 2048  # for a model config that names no context length


# --------------------------------------------------------------------------------------------- the rules
def pad_token_id(tokenizer) -> int:
    """The id right padding uses: the tokenizer's pad token, else 0 (never attended, so any id will do)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def model_max_length(model) -> int:
    """The longest input the model takes: its config's position limit, else DEFAULT_MAX_LENGTH."""
    return getattr(model.config, "max_position_embeddings", None) or DEFAULT_MAX_LENGTH


def input_device(model) -> torch.device:
    """Where input ids go: the first parameter's device (with a device_map, where the embeddings live)."""
    return next(model.parameters()).device


def log_softmax_f32(logits: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over the vocabulary (last axis), computed in float32."""
    import torch

    return torch.log_softmax(logits.float(), dim=-1)


def right_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), both (len(seqs), longest) long tensors, each sequence at the left of its row."""
    import torch

    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def length_batches(lengths: Sequence[int], batch_size: int, longest_first: bool = False) -> list[list[int]]:
    """Indices sorted by length (stable: equal lengths keep their order), cut into batches of `batch_size`."""
    order = sorted(range(len(lengths)), key=(lambda i: -lengths[i]) if longest_first else lengths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), max(1, batch_size))]


def truncate_context(ctx: Sequence[int], cont_len: int, max_length: int) -> Ids:
    """The context's tokens that fit before a `cont_len`-token continuation: as lm-evaluation-harness, the last
    max_length + 1 tokens of context + continuation are kept (the final token is predicted, never input)."""
    return tuple(ctx[-(max_length + 1 - cont_len) :])


def encode_texts(
    tokenizer, texts: Sequence[str], add_special_tokens: bool = True, max_tokens: int | None = None
) -> list[list[int]]:
    """Token ids of each text; with `max_tokens`, each text keeps its first `max_tokens` ids."""
    if not texts:
        return []  # a fast tokenizer fails on an empty batch (IndexError in transformers 5.24)
    if max_tokens is None:
        return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]]
    enc = tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=True, max_length=max_tokens)
    return [list(ids) for ids in enc["input_ids"]]


def encode_continuation(tokenizer, context: str, continuation: str) -> tuple[Ids, Ids]:
    """(context ids, continuation ids), tokenized as lm-evaluation-harness and lighteval do, so scores compare
    with theirs: trailing spaces of the context move to the continuation; `context + continuation` is encoded
    once and split at the length of the encoded context (the continuation is tokenized as it appears after the
    context); the tokenizer's default special tokens are added."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = tokenizer(context + continuation)["input_ids"]
    ctx = tokenizer(context)["input_ids"]
    if not ctx:
        raise ValueError("empty context: the prompt encodes to no tokens")
    cont = whole[len(ctx) :]
    if not cont:
        raise ValueError(f"continuation {continuation!r} encodes to no tokens after its context")
    return tuple(ctx), tuple(cont)


def perplexity(nll: float, tokens: int) -> float:
    """exp(total negative log-likelihood / predicted tokens)."""
    return math.exp(nll / tokens)


def summed_nll(logprobs: torch.Tensor, targets: torch.Tensor) -> float:
    """Minus the summed log-probability of `targets` ((positions, 1) ids) under `logprobs` (positions, vocab)."""
    return -logprobs.gather(-1, targets.to(logprobs.device)).sum().item()


# ------------------------------------------------------------------------------ every next token of texts
@dataclass
class TextBatch:
    """Right-padded token ids of a few texts (`ids`, `mask`: (texts, longest))."""

    ids: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def of(cls, seqs: Sequence[Sequence[int]], pad_id: int) -> TextBatch:
        return cls(*right_pad(seqs, pad_id))

    @property
    def rows(self) -> int:
        return self.ids.shape[0]

    @property
    def positions(self) -> torch.Tensor:
        """(texts, longest - 1) bool: position t predicts token t+1 and counts when both are real."""
        return self.mask[:, 1:].bool() & self.mask[:, :-1].bool()

    @property
    def targets(self) -> torch.Tensor:
        """(positions, 1): the token each counted position predicts, in `next_token_logprobs` row order."""
        return self.ids[:, 1:][self.positions].unsqueeze(-1)


def text_batches(
    tokenizer, texts: Sequence[str], batch_size: int, add_special_tokens: bool = True, max_tokens: int | None = None
) -> list[TextBatch]:
    """The texts tokenized (`encode_texts`) and batched shortest first: each batch pads to a similar length."""
    seqs = encode_texts(tokenizer, texts, add_special_tokens, max_tokens)
    pad = pad_token_id(tokenizer)
    return [TextBatch.of([seqs[i] for i in idx], pad) for idx in length_batches([len(s) for s in seqs], batch_size)]


def next_token_logprobs(model, batch: TextBatch) -> torch.Tensor:
    """(positions, vocab) float32 log-probabilities of the next token at the batch's counted positions only
    (a 262k-token vocabulary makes the log-softmax over padding worth skipping)."""
    device = input_device(model)
    logits = model(input_ids=batch.ids.to(device), attention_mask=batch.mask.to(device)).logits
    return log_softmax_f32(logits[:, :-1][batch.positions.to(logits.device)])


def texts_nll(model, batches: Sequence[TextBatch]) -> tuple[float, int]:
    """(total negative log-likelihood, predicted tokens) of the texts in `batches`."""
    import torch

    nll, tokens = 0.0, 0
    with torch.inference_mode():
        for batch in batches:
            targets = batch.targets
            nll += summed_nll(next_token_logprobs(model, batch), targets)
            tokens += targets.shape[0]
    return nll, tokens


# ------------------------------------------------------------------------ a continuation given a context
def continuation_loglikelihoods(
    model,
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    pad_id: int,
    batch_size: int = 8,
    max_length: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Summed natural-log probability of each request's continuation ids given its context ids, computing each
    distinct context once.

    Requests are grouped by their context (every choice of a question shares it).
    * A group whose continuations are all one token (letter labels: the common OALL case) is scored from the
      last position's distribution of one pass over the context; up to `batch_size` such contexts run as one
      right-padded batch, longest first, and only the needed positions go through the LM head (Gemma's
      262k-token head costs more than the rest of the 270M model).
    * Any other group runs its context once with the KV cache kept, and only the continuation tokens run, as one
      batch for all of the group's continuations (`_continuations`): running context + continuation once per
      choice would redo the context n times.
    The context is truncated from the left to fit `max_length` (default: the model's), as `truncate_context`.
    """
    import torch

    max_length = max_length or model_max_length(model)
    encoded = [(tuple(ctx), tuple(cont)) for ctx, cont in requests]
    if any(not ctx or not cont for ctx, cont in encoded):
        raise ValueError("every request needs at least one context token and one continuation token")
    groups: dict[Ids, list[int]] = {}
    for i, (ctx, _) in enumerate(encoded):
        groups.setdefault(ctx, []).append(i)
    single = [(ctx, idx) for ctx, idx in groups.items() if all(len(encoded[i][1]) == 1 for i in idx)]
    multi = [(ctx, idx) for ctx, idx in groups.items() if any(len(encoded[i][1]) > 1 for i in idx)]
    scores = [0.0] * len(encoded)
    with torch.inference_mode():
        for batch in length_batches([len(ctx) for ctx, _ in single], batch_size, longest_first=True):
            chunk = [single[b] for b in batch]
            logprobs = _last_position(model, [truncate_context(ctx, 1, max_length) for ctx, _ in chunk], pad_id)
            for row, (_, idx) in zip(logprobs, chunk):
                for i in idx:
                    scores[i] = row[encoded[i][1][0]].item()
            if progress:
                progress(sum(len(idx) for _, idx in chunk))
        for ctx, idx in multi:
            conts = [encoded[i][1] for i in idx]
            fitted = truncate_context(ctx, max(map(len, conts)), max_length)
            for i, s in zip(idx, _continuations(model, fitted, conts, pad_id)):
                scores[i] = s
            if progress:
                progress(len(idx))
    return scores


def _last_position(model, contexts: list[Ids], pad_id: int) -> torch.Tensor:
    """(contexts, vocab) log-probabilities of the token after each context: one right-padded forward pass,
    with only the contexts' last positions through the LM head."""
    import torch

    ids, mask = right_pad(contexts, pad_id)
    device = input_device(model)
    last = [len(c) - 1 for c in contexts]
    keep = sorted(set(last))
    out = model(
        input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=torch.tensor(keep, device=device)
    )
    logits = out.logits[torch.arange(len(contexts)), [keep.index(p) for p in last]]
    return log_softmax_f32(logits).cpu()


def _continuations(model, ctx: Ids, conts: list[Ids], pad_id: int) -> list[float]:
    """Score several continuations of one context: the context runs once, its KV cache serves them all."""
    import torch

    device = input_device(model)
    out = model(input_ids=torch.tensor([ctx], device=device), use_cache=True, logits_to_keep=1)
    first = log_softmax_f32(out.logits[0, -1]).cpu()
    scores = [first[c[0]].item() for c in conts]
    width = max(map(len, conts)) - 1
    if width == 0:
        return scores
    cache = out.past_key_values
    if all(hasattr(layer, "batch_repeat_interleave") for layer in getattr(cache, "layers", [])):
        cache.batch_repeat_interleave(len(conts))
    else:
        # Hybrid caches whose recurrent/conv state layers cannot be repeated per choice (LFM2's conv layers,
        # transformers 5.24: found by rehearsing the paper recipes): run the context once per choice instead,
        # as one batch, so the cache is born with a row per choice.
        cache = model(
            input_ids=torch.tensor([ctx] * len(conts), device=device), use_cache=True, logits_to_keep=1
        ).past_key_values
    # Right padding needs no attention mask: a causal model's real positions never attend to later padding.
    ids, _ = right_pad([c[:-1] for c in conts], pad_id)
    out = model(input_ids=ids.to(device), past_key_values=cache, use_cache=True)
    logprobs = log_softmax_f32(out.logits).cpu()
    for r, c in enumerate(conts):
        scores[r] += sum(logprobs[r, k - 1, c[k]].item() for k in range(1, len(c)))
    return scores
