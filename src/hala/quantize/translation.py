"""Translation check: the original and the quantised teacher translate the same dev pairs; chrF++ of each.

Translation goes through `hala.translate` (hf engine: prompts, batching, stop tokens, guards), i.e. the very code
path that will later use the quantised teacher, so this also proves the checkpoint plugs into `hala translate`.
The engine wraps the models the next-token check already loaded instead of loading them again.

Cost is one batched greedy decode per model; it grows with the number of decode steps, not with the number of
sentences, so the dev pairs go in as few batches as possible and the token cap follows the references' length.
"""

from __future__ import annotations

import math

from hala.records import Pair
from hala.translate.engines.hf import HFEngine


def chrf_pp(hypotheses: list[str], references: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=2).corpus_score(hypotheses, [references]).score  # word_order=2 is chrF++


def token_cap(tokenizer, references: list[str]) -> int:
    """1.5x the longest reference in tokens (and at least 16): room for a wordier but sane translation, while a
    looping one stops early. Decode steps are most of the check's cost (on CPU each step reads every weight)."""
    longest = max(len(ids) for ids in tokenizer(references, add_special_tokens=False)["input_ids"])
    return max(16, math.ceil(1.5 * longest))


def translate_with(
    model, tokenizer, pairs: list[Pair], template: str, max_new_tokens: int | None, batch_size: int
) -> list[str]:
    """One model's translations of the dev pairs (the models are translated one after the other, never both in
    memory)."""
    from hala.translate import translate_texts

    cap = max_new_tokens or token_cap(tokenizer, [p.tgt for p in pairs])
    return translate_texts(
        [p.src for p in pairs],
        "",
        src_lang=pairs[0].src_lang,
        tgt_lang=pairs[0].tgt_lang,
        template=template,
        engine=HFEngine.from_loaded(model, tokenizer, batch_size),
        max_new_tokens=cap,
    )


def compare_outputs(
    outputs: dict[str, list[str]], tokenizer, pairs: list[Pair], template: str, max_new_tokens: int | None
) -> dict:
    """chrF++ of the "original" and "quantized" translations of `pairs`, and a few examples."""
    sources = [p.src for p in pairs]
    references = [p.tgt for p in pairs]
    cap = max_new_tokens or token_cap(tokenizer, references)
    scores = {name: chrf_pp(hyps, references) for name, hyps in outputs.items()}
    return {
        "pairs": len(pairs),
        "src_lang": pairs[0].src_lang,
        "tgt_lang": pairs[0].tgt_lang,
        "template": template,
        "max_new_tokens": cap,
        "chrf_original": scores["original"],
        "chrf_quantized": scores["quantized"],
        "chrf_drop": scores["original"] - scores["quantized"],
        # hala.translate returns "" for a translation its guards rejected (wrong script, loop, ...)
        "rejected_original": outputs["original"].count(""),
        "rejected_quantized": outputs["quantized"].count(""),
        "examples": [
            {"src": s, "ref": r, "original": o, "quantized": q}
            for s, r, o, q in list(zip(sources, references, outputs["original"], outputs["quantized"]))[:3]
        ],
    }


def compare_translation(
    models: dict, tokenizer, pairs: list[Pair], template: str, max_new_tokens: int | None, batch_size: int
) -> dict:
    """`models` maps "original"/"quantized" to loaded models (both in memory: small models, benchmarks)."""
    outputs = {
        name: translate_with(model, tokenizer, pairs, template, max_new_tokens, batch_size)
        for name, model in models.items()
    }
    return compare_outputs(outputs, tokenizer, pairs, template, max_new_tokens)
