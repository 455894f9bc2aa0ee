"""Translation check: the original and the quantised teacher translate the same dev pairs; chrF++ of each.

Translation goes through `hala.translate` (hf engine), i.e. the very code path that will later use the
quantised teacher, so this also proves the checkpoint plugs into `hala translate`.
"""

from __future__ import annotations

from pathlib import Path

from hala.records import Pair


def chrf_pp(hypotheses: list[str], references: list[str]) -> float:
    from sacrebleu.metrics import CHRF

    return CHRF(word_order=2).corpus_score(hypotheses, [references]).score  # word_order=2 is chrF++


def compare_translation(original: str | Path, quantized: str | Path, pairs: list[Pair], template: str,
                        max_new_tokens: int, engine_options: dict) -> dict:
    from hala.translate import translate_texts

    sources = [p.src for p in pairs]
    references = [p.tgt for p in pairs]
    src_lang, tgt_lang = pairs[0].src_lang, pairs[0].tgt_lang
    outputs = {name: translate_texts(sources, str(ref), src_lang=src_lang, tgt_lang=tgt_lang, template=template,
                                     engine="hf", max_new_tokens=max_new_tokens, **engine_options)
               for name, ref in (("original", original), ("quantized", quantized))}
    scores = {name: chrf_pp(hyps, references) for name, hyps in outputs.items()}
    return {"pairs": len(pairs), "src_lang": src_lang, "tgt_lang": tgt_lang, "template": template,
            "chrf_original": scores["original"], "chrf_quantized": scores["quantized"],
            "chrf_drop": scores["original"] - scores["quantized"],
            # hala.translate returns "" for a translation its guards rejected (wrong script, loop, ...)
            "rejected_original": outputs["original"].count(""),
            "rejected_quantized": outputs["quantized"].count(""),
            "examples": [{"src": s, "ref": r, "original": o, "quantized": q}
                         for s, r, o, q in list(zip(sources, references, outputs["original"],
                                                    outputs["quantized"]))[:3]]}
