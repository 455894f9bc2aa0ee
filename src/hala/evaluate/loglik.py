"""Multiple-choice requests `(context, continuation)` as strings, scored by hala.scoring.

`LoglikScorer` is the evaluation stage's handle: a loaded model and tokenizer plus the batch settings. Strings are
tokenized as lm-evaluation-harness and lighteval do (`hala.scoring.encode_continuation`: trailing spaces of the
context move to the continuation, the pair is encoded once and split at the encoded context's length, default
special tokens such as Gemma's BOS added), so scores compare with theirs (tests/test_eval_refcheck.py). The
scoring (each context computed once, batching, left truncation, float32 log-softmax) is
`hala.scoring.continuation_loglikelihoods`, shared with the instruct evaluation's reference perplexity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hala.scoring import (
    continuation_loglikelihoods,
    encode_continuation,
    model_max_length,
    pad_token_id,
)

Request = tuple[str, str]  # (context, continuation)


class LoglikScorer:
    def __init__(self, model, tokenizer, batch_size: int = 8, max_length: int | None = None):
        self.model, self.tok, self.batch_size = model, tokenizer, max(1, batch_size)
        self.max_length = max_length or model_max_length(model)
        self.pad_id = pad_token_id(tokenizer)

    @classmethod
    def load(
        cls,
        ref: str,
        dtype: str = "float32",
        batch_size: int = 8,
        device: str | None = None,
        trust_remote_code: bool = False,
    ) -> LoglikScorer:
        from hala.models import load_model, load_tokenizer

        return cls(
            load_model(ref, dtype=dtype, trust_remote_code=trust_remote_code, device=device),
            load_tokenizer(ref, trust_remote_code=trust_remote_code),
            batch_size,
        )

    def encode(self, context: str, continuation: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return encode_continuation(self.tok, context, continuation)

    def loglikelihoods(self, requests: list[Request], progress: Callable[[int], None] | None = None) -> list[float]:
        """Sum of log-probabilities of each continuation's tokens given its context (natural log)."""
        return self.token_loglikelihoods([self.encode(c, x) for c, x in requests], progress)

    def token_loglikelihoods(
        self, encoded: Sequence[tuple[Sequence[int], Sequence[int]]], progress: Callable[[int], None] | None = None
    ) -> list[float]:
        """`loglikelihoods` for requests already tokenized as (context ids, continuation ids)."""
        return continuation_loglikelihoods(
            self.model, encoded, self.pad_id, batch_size=self.batch_size, max_length=self.max_length, progress=progress
        )
