"""Translation metrics: corpus BLEU and chrF++ with sacrebleu, per-sentence scores, and the worst examples.

Settings are fixed so numbers are comparable across runs, and each score is stored with its sacrebleu signature:
* BLEU uses `tokenize='intl'`: the default `13a` leaves Arabic punctuation (، ؟ ؛) glued to the preceding word,
  and the `flores101/200`/`spm` tokenizers download a model on first use, which fails offline.
* chrF++ is `CHRF(word_order=2)` (character 6-grams plus word uni- and bigrams, beta 2).
"""

from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF

from hala.errors import InputError


def bleu_metric(sentence: bool = False) -> BLEU:
    # Sentence-level BLEU needs effective order, or any sentence shorter than 4 words scores 0.
    return BLEU(tokenize="intl", effective_order=sentence)


def chrf_metric() -> CHRF:
    return CHRF(word_order=2)


def corpus_scores(hyps: list[str], refs: list[str]) -> dict:
    """Corpus BLEU and chrF++ (0-100) with their signatures."""
    if len(hyps) != len(refs):
        raise InputError(f"{len(hyps)} hypotheses but {len(refs)} references: they must be line-aligned")
    if not refs:
        raise InputError("no sentences to score")
    bleu, chrf = bleu_metric(), chrf_metric()
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    return {
        "bleu": round(b.score, 4),
        "chrf": round(c.score, 4),
        "n": len(refs),
        "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())},
    }


def sentence_scores(hyps: list[str], refs: list[str]) -> list[dict]:
    """Per-sentence BLEU (effective order) and chrF++."""
    bleu, chrf = bleu_metric(sentence=True), chrf_metric()
    return [
        {"bleu": round(bleu.sentence_score(h, [r]).score, 4), "chrf": round(chrf.sentence_score(h, [r]).score, 4)}
        for h, r in zip(hyps, refs)
    ]


def score_translations(hyps: list[str], refs: list[str], srcs: list[str] | None = None, worst_k: int = 10) -> dict:
    """Corpus scores, every sentence's scores (`sentences`), and the `worst_k` sentences by chrF++ (`worst`)."""
    result = corpus_scores(hyps, refs)
    per = sentence_scores(hyps, refs)
    sentences = [
        {"i": i, **({"src": srcs[i]} if srcs else {}), "ref": r, "hyp": h, **s}
        for i, (h, r, s) in enumerate(zip(hyps, refs, per))
    ]
    result["worst"] = sorted(sentences, key=lambda s: (s["chrf"], s["i"]))[:worst_k]
    result["sentences"] = sentences
    return result
