"""Next-token drift between the original and the quantised model over the same texts.

One forward pass per model per batch gives everything: perplexity of each model (per language), the KL
divergence KL(original || quantised) of the next-token distributions, and how often the most likely next token
is unchanged (top-1 agreement). Both models are held in memory at once so no logits are stored.

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

    def add(self, other: "Totals") -> None:
        self.tokens += other.tokens
        self.nll_ref += other.nll_ref
        self.nll_cand += other.nll_cand
        self.kl += other.kl
        self.agree += other.agree


def _next_token_logprobs(model, enc, mask: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token at the real positions only: (positions, vocab)."""
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    return torch.log_softmax(logits[:, :-1][mask].float(), dim=-1)  # position t predicts token t+1


@torch.no_grad()
def compare_batch(reference, candidate, enc) -> Totals:
    # right padding: a position counts when it and the token it predicts are both real
    mask = enc["attention_mask"][:, 1:].bool() & enc["attention_mask"][:, :-1].bool()
    target = enc["input_ids"][:, 1:][mask].unsqueeze(-1)
    lp_ref = _next_token_logprobs(reference, enc, mask)
    lp_cand = _next_token_logprobs(candidate, enc, mask)
    kl = (lp_ref.exp() * (lp_ref - lp_cand)).sum(-1)
    return Totals(tokens=int(mask.sum()),
                  nll_ref=-lp_ref.gather(-1, target).sum().item(),
                  nll_cand=-lp_cand.gather(-1, target).sum().item(),
                  kl=kl.sum().item(),
                  agree=int((lp_ref.argmax(-1) == lp_cand.argmax(-1)).sum()))


def length_batches(tokenizer, texts: list[str], batch_size: int) -> list[list[str]]:
    """Texts sorted by token count, cut into batches: each batch pads to a similar length."""
    lengths = [len(ids) for ids in tokenizer(texts)["input_ids"]]
    ordered = [texts[i] for i in sorted(range(len(texts)), key=lengths.__getitem__)]
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


def compare_models(reference, candidate, tokenizer, texts_by_lang: dict[str, list[str]], batch_size: int,
                   advance=lambda n: None) -> dict:
    """Per-language perplexity of both models plus pooled KL and top-1 agreement (JSON-able)."""
    per_lang: dict[str, Totals] = {}
    for lang, texts in texts_by_lang.items():
        totals = per_lang.setdefault(lang, Totals())
        for batch in length_batches(tokenizer, texts, batch_size):
            enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="right").to(reference.device)
            totals.add(compare_batch(reference, candidate, enc))
            advance(len(batch))
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
