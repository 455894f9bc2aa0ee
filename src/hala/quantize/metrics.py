"""Next-token drift between the original and the quantised model over the same texts.

One forward pass per model per batch gives everything: perplexity of each model (per language), the KL
divergence KL(original || quantised) of the next-token distributions, and how often the most likely next token
is unchanged (top-1 agreement). The models are never in memory together (a 111B teacher is ~0.2 TB per bf16
copy): the original's pass keeps its log-probs at the real positions (`LogprobStore`: in memory up to a budget,
then spilled to safetensors files), is freed, and the quantised model's pass compares against them.

Cost is dominated by the output layer: every position needs the full-vocabulary distribution for the KL (Gemma-3:
262k entries), so batches are built from texts of similar length (little padding) and the log-softmax is taken
only at real positions. Tokenizing, batching, padding and the log-probabilities are hala.scoring's, shared with
the evaluation and merge stages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hala.errors import InputError
from hala.scoring import TextBatch, next_token_logprobs, perplexity, summed_nll, text_batches


@dataclass
class Totals:
    tokens: int = 0
    nll_ref: float = 0.0
    nll_cand: float = 0.0
    kl: float = 0.0
    agree: int = 0

    def add(self, other: Totals) -> None:
        self.tokens += other.tokens
        self.nll_ref += other.nll_ref
        self.nll_cand += other.nll_cand
        self.kl += other.kl
        self.agree += other.agree


def compare_logprobs(lp_ref: torch.Tensor, lp_cand: torch.Tensor, target: torch.Tensor) -> Totals:
    """Both models' next-token log-probs at the same positions ((positions, vocab) each) against the tokens
    that follow (`target`: (positions, 1))."""
    kl = (lp_ref.exp() * (lp_ref - lp_cand)).sum(-1)
    return Totals(
        tokens=int(target.numel()),
        nll_ref=summed_nll(lp_ref, target),
        nll_cand=summed_nll(lp_cand, target),
        kl=kl.sum().item(),
        agree=int((lp_ref.argmax(-1) == lp_cand.argmax(-1)).sum()),
    )


@torch.no_grad()
def compare_batch(reference, candidate, batch: TextBatch) -> Totals:
    """Both models on one batch (small models; kept for tests and the benchmarks)."""
    lp_ref = next_token_logprobs(reference, batch)
    lp_cand = next_token_logprobs(candidate, batch).to(lp_ref.device)
    return compare_logprobs(lp_ref, lp_cand, batch.targets.to(lp_ref.device))


class LogprobStore:
    """The reference model's log-probs per batch, in memory up to `budget_bytes`, beyond that in safetensors
    files under `spill_dir` (deleted by `close`)."""

    def __init__(self, spill_dir, budget_bytes: int = 2 << 30):
        from pathlib import Path

        self.spill_dir, self.budget = Path(spill_dir), budget_bytes
        self.items: list = []
        self.in_memory = 0
        self.spilled = 0

    def add(self, lp: torch.Tensor) -> None:
        size = lp.numel() * lp.element_size()
        if self.in_memory + size <= self.budget:
            self.items.append(lp)
            self.in_memory += size
            return
        from safetensors.torch import save_file

        self.spill_dir.mkdir(parents=True, exist_ok=True)
        path = self.spill_dir / f"lp-{len(self.items):05d}.safetensors"
        save_file({"lp": lp.contiguous()}, str(path))
        self.items.append(path)
        self.spilled += size

    def get(self, i: int) -> torch.Tensor:
        item = self.items[i]
        if isinstance(item, torch.Tensor):
            return item
        from safetensors.torch import load_file

        return load_file(str(item))["lp"]

    def close(self) -> None:
        import shutil

        self.items = []
        shutil.rmtree(self.spill_dir, ignore_errors=True)


@torch.no_grad()
def reference_pass(
    model, tokenizer, texts_by_lang: dict[str, list[str]], batch_size: int, store: LogprobStore, advance=lambda n: None
) -> list[tuple[str, TextBatch]]:
    """Run the original model over every batch, keep its log-probs in `store`; returns the batches in order."""
    batches = []
    for lang, texts in texts_by_lang.items():
        for batch in text_batches(tokenizer, texts, batch_size):
            store.add(next_token_logprobs(model, batch).cpu())
            batches.append((lang, batch))
            advance(batch.rows)
    return batches


@torch.no_grad()
def candidate_pass(
    model, tokenizer, batches: list[tuple[str, TextBatch]], store: LogprobStore, advance=lambda n: None
) -> dict:
    """Score the quantised model on the same batches against the stored reference: the report's fields.
    (`tokenizer` is unused: the batches hold their token ids; kept so both passes are called alike.)"""
    per_lang: dict[str, Totals] = {}
    for i, (lang, batch) in enumerate(batches):
        lp_cand = next_token_logprobs(model, batch).cpu()
        per_lang.setdefault(lang, Totals()).add(compare_logprobs(store.get(i), lp_cand, batch.targets))
        advance(batch.rows)
    return _report(per_lang)


def compare_models(
    reference, candidate, tokenizer, texts_by_lang: dict[str, list[str]], batch_size: int, advance=lambda n: None
) -> dict:
    """Per-language perplexity of both models plus pooled KL and top-1 agreement (JSON-able), both in memory."""
    per_lang: dict[str, Totals] = {}
    for lang, texts in texts_by_lang.items():
        totals = per_lang.setdefault(lang, Totals())
        for batch in text_batches(tokenizer, texts, batch_size):
            totals.add(compare_batch(reference, candidate, batch))
            advance(batch.rows)
    return _report(per_lang)


def _report(per_lang: dict[str, Totals]) -> dict:
    pooled = Totals()
    for t in per_lang.values():
        pooled.add(t)
    if pooled.tokens == 0:
        raise InputError("verification texts produced no next-token positions (each text needs 2+ tokens)")
    return {
        "perplexity": {lang: _perplexity(t) for lang, t in per_lang.items()},
        "next_token": {
            "positions": pooled.tokens,
            "kl_mean": pooled.kl / pooled.tokens,
            "top1_agreement": pooled.agree / pooled.tokens,
        },
    }


def _perplexity(t: Totals) -> dict:
    ref, cand = perplexity(t.nll_ref, max(t.tokens, 1)), perplexity(t.nll_cand, max(t.tokens, 1))
    return {
        "original": ref,
        "quantized": cand,
        "ratio": cand / ref,
        "tokens": t.tokens,
        "kl_mean": t.kl / max(t.tokens, 1),
        "top1_agreement": t.agree / max(t.tokens, 1),
    }
