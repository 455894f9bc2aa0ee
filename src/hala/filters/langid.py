"""Language ID with py3langid's shipped model (140 labels, no download), scored a batch at a time.

Why not `py3langid.classify` per text: it walks a byte-level DFA in a Python loop and then does a small float16
matrix product per text, ~60-120 µs a text here — language ID alone would cap the filter at a few thousand pairs/s.
`BatchLangId` runs the SAME model and the same arithmetic (a test checks labels and probabilities against
py3langid's own `classify`) but walks the DFA for a whole batch at once with numpy (one step per byte position,
all texts together) and sums the feature weights with torch's `embedding_bag`: ~10 µs a text.

Language ID is unreliable on short strings ("OK", "Save", "Linux" are valid in many languages, and a few
character n-grams carry little evidence), so sides shorter than `min_chars` are not judged — the `script` rule
still checks their alphabet.
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field

from hala.filters.base import Rule, RuleParams, register


class BatchLangId:
    """py3langid's model with normalised probabilities, for lists of texts."""

    def __init__(self, candidates: list[str] | None = None, max_bytes: int = 1024):
        import torch
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if candidates:
            ident.set_languages(candidates)
        self._encode = LanguageIdentifier._encode  # py3langid's own text -> bytes (case, NFC, UTF-8)
        self.max_bytes = max_bytes
        self.labels: list[str] = list(ident.nb_classes)
        self.known = set(self.labels)
        nextmove = np.asarray(ident.tk_nextmove)  # uint16 states, no copy
        rowbase = np.asarray(ident.tk_row, dtype=np.int32) << 8
        output = np.asarray(ident.tk_output, dtype=np.int32)
        # Fold "next state" and "its output" into the transition table so a step is two gathers on int32.
        self.next_row = rowbase[nextmove]
        self.out_at = output[nextmove]
        self.start = int(rowbase[0])
        self.weights = torch.from_numpy(np.asarray(ident.nb_ptc, dtype=np.float32))
        self.prior = np.asarray(ident.nb_pc, dtype=np.float32)
        # Script aliases (e.g. two columns for 'sr'): fold the duplicate into the first column, as py3langid does.
        first: dict[str, int] = {}
        self.aliases: list[tuple[int, int]] = []
        for i, label in enumerate(self.labels):
            if label in first:
                self.aliases.append((first[label], i))
            else:
                first[label] = i

    def _features(self, encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """DFA walk over all texts at once -> (text index, feature id, count) for each distinct feature."""
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")  # longest first: the texts still walking are a prefix
        sorted_len = lengths[order]
        steps = int(sorted_len[0]) if n else 0
        data = np.frombuffer(b"".join(encoded[i] for i in order), dtype=np.uint8)
        # Lay the bytes out step-major (all texts' byte 0, then all byte 1, ...) so that each step of the walk
        # reads and writes one contiguous slice.
        active = np.searchsorted(-sorted_len, -np.arange(1, steps + 1), side="right")
        step_start = np.concatenate(([0], np.cumsum(active)))
        row = np.repeat(np.arange(n), sorted_len)
        position = np.arange(data.size) - np.repeat(np.cumsum(sorted_len) - sorted_len, sorted_len)
        where = step_start[position] + row
        byte = np.empty(data.size, dtype=np.int32)
        byte[where] = data
        text = np.empty(data.size, dtype=np.int64)
        text[where] = order[row]
        out = np.empty(data.size, dtype=np.int32)
        state = np.full(n, self.start, dtype=np.int32)
        for t in range(steps):
            k, a = active[t], step_start[t]
            idx = state[:k] + byte[a : a + k]
            out[a : a + k] = self.out_at[idx]
            state[:k] = self.next_row[idx]
        hit = out >= 0
        nfeat = self.weights.shape[0]
        keys, counts = np.unique(text[hit] * nfeat + out[hit], return_counts=True)
        return keys // nfeat, keys % nfeat, counts

    def classify(self, texts: list[str]) -> list[tuple[str, float]]:
        """(label, probability) for each text, as `py3langid.classify` with `norm_probs=True` gives."""
        import torch

        if not texts:
            return []
        encoded = [self._encode(t)[: self.max_bytes] for t in texts]
        text_of, feat, counts = self._features(encoded)
        scores = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if feat.size:
            starts = np.flatnonzero(np.r_[True, text_of[1:] != text_of[:-1]])
            summed = torch.nn.functional.embedding_bag(
                torch.from_numpy(feat),
                self.weights,
                torch.from_numpy(starts),
                mode="sum",
                per_sample_weights=torch.from_numpy(np.log1p(counts.astype(np.float32))),
            ).numpy()
            scores[text_of[starts]] = summed + self.prior  # texts without any feature stay 0: uniform
        lengths = np.fromiter(map(len, encoded), dtype=np.float32, count=len(encoded))
        scores *= (1.0 / np.sqrt(np.maximum(lengths, 1.0)))[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.aliases:
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        best = scores.argmax(axis=1)
        return [(self.labels[b], float(scores[r, b])) for r, b in enumerate(best)]


class LangIdParams(RuleParams):
    min_chars: int = Field(20, ge=1, description="sides with fewer characters are not judged (too little evidence)")
    min_confidence: float = Field(
        0.7, ge=0, le=1, description="reject only when the other language's probability is at least this"
    )
    accept: dict[str, list[str]] = Field(
        default_factory=lambda: {"ar": ["ary", "arz"], "en": ["pcm"]},
        description="labels that also count as the declared language: py3langid separates Moroccan (ary) and "
        "Egyptian (arz) Arabic, and calls short MSA sentences one of them; English with many proper "
        "names comes out as Nigerian Pidgin (pcm)",
    )
    candidates: list[str] | None = Field(
        None,
        description="restrict py3langid to these labels (default: all "
        "140 it knows); the pair's languages are always included",
    )
    max_bytes: int = Field(1024, ge=16, description="judge only the first N UTF-8 bytes of a side")


@register
class LangId(Rule):
    name = "langid"
    summary = "a side is identified (py3langid) as another language than declared"
    Params = LangIdParams

    def __init__(self, params: LangIdParams):
        super().__init__(params)
        self._model: BatchLangId | None = None

    def model(self, langs: set[str]) -> BatchLangId:
        if self._model is None:
            p = self.params
            extra = {label for lang in langs for label in p.accept.get(lang, ())}
            candidates = tuple(sorted(set(p.candidates) | langs | extra)) if p.candidates else None
            self._model = shared_model(candidates, p.max_bytes)
        return self._model

    def check_batch(self, pairs: list[dict]) -> list[str | None]:
        langs = {p[k] for p in pairs[:1] for k in ("src_lang", "tgt_lang")}
        model = self.model(langs)
        jobs: list[tuple[int, str, str]] = []  # (pair index, side, expected language)
        texts: list[str] = []
        known, min_chars = model.known, self.params.min_chars
        for side, lang_key in (("src", "src_lang"), ("tgt", "tgt_lang")):
            for i, pair in enumerate(pairs):
                text, lang = pair[side], pair[lang_key]
                if len(text) < min_chars or len(text.strip()) < min_chars:
                    continue
                if lang not in known:
                    self.note(f"py3langid does not know language '{lang}': that side is not checked")
                    continue
                jobs.append((i, side, lang))
                texts.append(text)
        results: list[str | None] = [None] * len(pairs)
        accept = self.params.accept
        for (i, side, lang), (label, prob) in zip(jobs, model.classify(texts)):
            if (
                results[i] is None
                and label != lang
                and label not in accept.get(lang, ())
                and prob >= self.params.min_confidence
            ):
                results[i] = f"{side} looks like '{label}' ({prob:.2f}), expected '{lang}'"
        return results


@functools.lru_cache(maxsize=2)
def shared_model(candidates: tuple[str, ...] | None, max_bytes: int) -> BatchLangId:
    """One loaded model per process and setting (loading takes ~1 s and ~80 MB; filter runs reuse it)."""
    return BatchLangId(list(candidates) if candidates else None, max_bytes)
