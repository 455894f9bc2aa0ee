"""Next-token drift between the original and the quantised model over the same texts.

One forward pass per model per batch gives everything: perplexity of each model (per language), the KL
divergence KL(original || quantised) of the next-token distributions, and how often the most likely next token
is unchanged (top-1 agreement). The models are never in memory together (a 111B teacher is ~0.2 TB per bf16
copy): the original's pass keeps its log-probs at the real positions (`LogprobStore`: in memory up to a budget,
then spilled to safetensors files), is freed, and the quantised model's pass compares against them.

Cost is dominated by the output layer: every position needs the full-vocabulary distribution for the KL (Gemma-3:
262k entries), so batches are built from texts of similar length (little padding) and the log-softmax is taken
only at real positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


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


def _next_token_logprobs(model, enc, mask: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token at the real positions only: (positions, vocab)."""
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    return torch.log_softmax(logits[:, :-1][mask].float(), dim=-1)  # position t predicts token t+1


def compare_logprobs(lp_ref: torch.Tensor, lp_cand: torch.Tensor, target: torch.Tensor) -> Totals:
    kl = (lp_ref.exp() * (lp_ref - lp_cand)).sum(-1)
    return Totals(tokens=int(target.numel()),
                  nll_ref=-lp_ref.gather(-1, target).sum().item(),
                  nll_cand=-lp_cand.gather(-1, target).sum().item(),
                  kl=kl.sum().item(),
                  agree=int((lp_ref.argmax(-1) == lp_cand.argmax(-1)).sum()))


@torch.no_grad()
def compare_batch(reference, candidate, enc) -> Totals:
    """Both models on one batch (small models; kept for tests and the benchmarks)."""
    mask = _positions(enc)
    target = enc["input_ids"][:, 1:][mask].unsqueeze(-1)
    return compare_logprobs(_next_token_logprobs(reference, enc, mask), _next_token_logprobs(candidate, enc, mask),
                            target)


def _positions(enc) -> torch.Tensor:
    # right padding: a position counts when it and the token it predicts are both real
    return enc["attention_mask"][:, 1:].bool() & enc["attention_mask"][:, :-1].bool()


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[str]]:
    """Texts sorted by token count, cut into batches: each batch pads to a similar length."""
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    ordered = [texts[i] for i in sorted(range(len(texts)), key=lengths.__getitem__)]
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


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


def _input_device(model) -> torch.device:
    return next(model.parameters()).device  # with a device_map: where the embeddings live


@torch.no_grad()
def reference_pass(model, tokenizer, texts_by_lang: dict[str, list[str]], batch_size: int, store: LogprobStore,
                   advance=lambda n: None) -> list[tuple[str, list[str]]]:
    """Run the original model over every batch, keep its log-probs in `store`; returns the batches in order."""
    batches = []
    for lang, texts in texts_by_lang.items():
        for batch in length_batches(tokenizer, texts, batch_size):
            enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="right")
            mask = _positions(enc)
            enc = enc.to(_input_device(model))
            store.add(_next_token_logprobs(model, enc, mask.to(enc["input_ids"].device)).cpu())
            batches.append((lang, batch))
            advance(len(batch))
    return batches


@torch.no_grad()
def candidate_pass(model, tokenizer, batches: list[tuple[str, list[str]]], store: LogprobStore,
                   advance=lambda n: None) -> dict:
    """Score the quantised model on the same batches against the stored reference: the report's fields."""
    per_lang: dict[str, Totals] = {}
    for i, (lang, batch) in enumerate(batches):
        enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="right")
        mask = _positions(enc)
        target = enc["input_ids"][:, 1:][mask].unsqueeze(-1)
        enc = enc.to(_input_device(model))
        lp_cand = _next_token_logprobs(model, enc, mask.to(enc["input_ids"].device)).cpu()
        per_lang.setdefault(lang, Totals()).add(compare_logprobs(store.get(i), lp_cand, target))
        advance(len(batch))
    return _report(per_lang)


def compare_models(reference, candidate, tokenizer, texts_by_lang: dict[str, list[str]], batch_size: int,
                   advance=lambda n: None) -> dict:
    """Per-language perplexity of both models plus pooled KL and top-1 agreement (JSON-able), both in memory."""
    per_lang: dict[str, Totals] = {}
    for lang, texts in texts_by_lang.items():
        totals = per_lang.setdefault(lang, Totals())
        for batch in length_batches(tokenizer, texts, batch_size):
            enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="right").to(reference.device)
            totals.add(compare_batch(reference, candidate, enc))
            advance(len(batch))
    return _report(per_lang)


def _report(per_lang: dict[str, Totals]) -> dict:
    pooled = Totals()
    for t in per_lang.values():
        pooled.add(t)
    if pooled.tokens == 0:
        raise ValueError("verification texts produced no next-token positions (each text needs 2+ tokens)")
    return {
        "perplexity": {lang: _perplexity(t) for lang, t in per_lang.items()},
        "next_token": {"positions": pooled.tokens, "kl_mean": pooled.kl / pooled.tokens,
                       "top1_agreement": pooled.agree / pooled.tokens},
    }


def _perplexity(t: Totals) -> dict:
    ref = float(torch.tensor(t.nll_ref / max(t.tokens, 1)).exp())
    cand = float(torch.tensor(t.nll_cand / max(t.tokens, 1)).exp())
    return {"original": ref, "quantized": cand, "ratio": cand / ref, "tokens": t.tokens,
            "kl_mean": t.kl / max(t.tokens, 1), "top1_agreement": t.agree / max(t.tokens, 1)}
