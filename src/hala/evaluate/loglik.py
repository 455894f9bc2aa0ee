"""Log-likelihood of continuations given a context, batched, computing each shared prompt prefix once.

Tokenization follows lm-evaluation-harness (and lighteval) exactly, so scores are comparable with theirs:
trailing spaces of the context move to the continuation; `context + continuation` is encoded once and split at the
length of the encoded context (so the continuation is tokenized as it appears after the context); special tokens
are added as the tokenizer does by default (Gemma: BOS; the tiny test tokenizer: none); an over-long input is cut
from the left.

How the prompt is shared: every choice of a question has the same context, so the requests are grouped by their
context tokens and each context runs through the model once.
* If every continuation in a group is a single token (letter labels: the common OALL case), all choices are
  scored from the last position's distribution of that one pass, and up to `batch_size` contexts are batched
  (right-padded: causal attention keeps padding from touching real positions; only the needed positions go
  through the LM head — Gemma's 262k-token head costs more than the rest of the 270M model).
* Otherwise the context runs once with `use_cache=True`; its KV cache is repeated for the n choices and only the
  continuation tokens run, as one batch of n. (Running context+choice n times would redo the context n times.)
"""

from __future__ import annotations

from typing import Callable

Request = tuple[str, str]  # (context, continuation)


class LoglikScorer:
    def __init__(self, model, tokenizer, batch_size: int = 8, max_length: int | None = None):
        self.model, self.tok, self.batch_size = model, tokenizer, max(1, batch_size)
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None) or 2048
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @classmethod
    def load(cls, ref: str, dtype: str = "float32", batch_size: int = 8, device: str | None = None,
             trust_remote_code: bool = False) -> "LoglikScorer":
        from hala.models import load_model, load_tokenizer

        return cls(load_model(ref, dtype=dtype, trust_remote_code=trust_remote_code, device=device),
                   load_tokenizer(ref, trust_remote_code=trust_remote_code), batch_size)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def encode(self, context: str, continuation: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.tok(context + continuation)["input_ids"]
        ctx = self.tok(context)["input_ids"]
        if not ctx:
            raise ValueError("empty context: the prompt encodes to no tokens")
        cont = whole[len(ctx):]
        if not cont:
            raise ValueError(f"continuation {continuation!r} encodes to no tokens after its context")
        return tuple(ctx), tuple(cont)

    def loglikelihoods(self, requests: list[Request], progress: Callable[[int], None] | None = None) -> list[float]:
        """Sum of log-probabilities of each continuation's tokens given its context (natural log)."""
        return self.token_loglikelihoods([self.encode(c, x) for c, x in requests], progress)

    def token_loglikelihoods(self, encoded: list[tuple[tuple[int, ...], tuple[int, ...]]],
                             progress: Callable[[int], None] | None = None) -> list[float]:
        """`loglikelihoods` for requests already tokenized as (context ids, continuation ids): for callers that
        split a chat-template rendering themselves (hala.evaluate.instruct scores assistant tokens only)."""
        import torch

        encoded = [(tuple(ctx), tuple(cont)) for ctx, cont in encoded]
        if any(not ctx or not cont for ctx, cont in encoded):
            raise ValueError("every request needs at least one context token and one continuation token")
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, _) in enumerate(encoded):
            groups.setdefault(ctx, []).append(i)
        scores = [0.0] * len(encoded)
        single = [(ctx, idx) for ctx, idx in groups.items() if all(len(encoded[i][1]) == 1 for i in idx)]
        multi = [(ctx, idx) for ctx, idx in groups.items() if any(len(encoded[i][1]) > 1 for i in idx)]
        single.sort(key=lambda g: -len(g[0]))  # similar lengths together: less padding
        with torch.inference_mode():
            for start in range(0, len(single), self.batch_size):
                chunk = single[start:start + self.batch_size]
                logprobs = self._last_position([self._fit(ctx, 1) for ctx, _ in chunk])
                for row, (_, idx) in zip(logprobs, chunk):
                    for i in idx:
                        scores[i] = row[encoded[i][1][0]].item()
                if progress:
                    progress(sum(len(idx) for _, idx in chunk))
            for ctx, idx in multi:
                conts = [encoded[i][1] for i in idx]
                for i, s in zip(idx, self._cached(self._fit(ctx, max(map(len, conts))), conts)):
                    scores[i] = s
                if progress:
                    progress(len(idx))
        return scores

    def _fit(self, ctx: tuple[int, ...], cont_len: int) -> tuple[int, ...]:
        # As lm-eval: keep the last max_length+1 tokens of context+continuation (the final one is never input).
        return ctx[-(self.max_length + 1 - cont_len):]

    def _last_position(self, contexts: list[tuple[int, ...]]):
        """Log-probabilities of the next token after each context: one right-padded forward pass."""
        import torch

        width = max(map(len, contexts))
        ids = torch.full((len(contexts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, ctx in enumerate(contexts):
            ids[r, :len(ctx)] = torch.tensor(ctx)
            mask[r, :len(ctx)] = 1
        last = [len(c) - 1 for c in contexts]
        keep = sorted(set(last))
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         logits_to_keep=torch.tensor(keep, device=self.device))
        logits = out.logits[torch.arange(len(contexts)), [keep.index(p) for p in last]]
        return torch.log_softmax(logits.float(), dim=-1).cpu()

    def _cached(self, ctx: tuple[int, ...], conts: list[tuple[int, ...]]) -> list[float]:
        """Score several continuations of one context: the context runs once, its KV cache serves them all."""
        import torch

        out = self.model(input_ids=torch.tensor([ctx], device=self.device), use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1).cpu()
        scores = [first[c[0]].item() for c in conts]
        width = max(map(len, conts)) - 1
        if width == 0:
            return scores
        cache = out.past_key_values
        if not all(hasattr(layer, "batch_repeat_interleave") for layer in getattr(cache, "layers", [])):
            # Hybrid caches whose recurrent/conv state layers cannot be repeated per choice (LFM2's conv layers,
            # transformers 5.24: found by rehearsing the paper recipes): score each choice with the whole context.
            return self._uncached(ctx, conts)
        cache.batch_repeat_interleave(len(conts))
        # Right padding needs no attention mask: a causal model's real positions never attend to later padding.
        ids = torch.full((len(conts), width), self.pad_id, dtype=torch.long)
        for r, c in enumerate(conts):
            ids[r, :len(c) - 1] = torch.tensor(c[:-1])
        out = self.model(input_ids=ids.to(self.device), past_key_values=cache, use_cache=True)
        logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
        for r, c in enumerate(conts):
            scores[r] += sum(logprobs[r, k - 1, c[k]].item() for k in range(1, len(c)))
        return scores

    def _uncached(self, ctx: tuple[int, ...], conts: list[tuple[int, ...]]) -> list[float]:
        """Same scores as `_cached`, one right-padded forward pass over context + continuation per choice."""
        import torch

        seqs = [ctx + c[:-1] for c in conts]
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, seq in enumerate(seqs):
            ids[r, :len(seq)] = torch.tensor(seq)
            mask[r, :len(seq)] = 1
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
        logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
        start = len(ctx) - 1  # the position that predicts the first continuation token
        return [sum(logprobs[r, start + k, c[k]].item() for k in range(len(c))) for r, c in enumerate(conts)]
