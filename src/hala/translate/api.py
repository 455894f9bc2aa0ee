"""In-memory translation of a list of strings: what the eval, quantize and recipe stages call.

    translate_texts(["Hello.", "See `ls -l`."], "embedded:gemma-3-270m", template="few-shot")

Same pipeline as `hala translate` (segmentation, span protection, guards with one retry, dedup) but nothing is
written to disk: the dedup cache lives in memory for the call. A text whose translation is rejected comes back
as "" (use `translate_with_reasons` to see why).
"""

from __future__ import annotations

from hala.prompts import get_template
from hala.translate.cache import Cache, fingerprint
from hala.translate.calls import SourcedTranslator
from hala.translate.engines import Engine, GenSettings, make_engine
from hala.translate.guards import GuardConfig, Guards
from hala.translate.segment import split
from hala.translate.translator import assemble


def load_engine(engine: str, model: str, batch_size: int = 8, **engine_options) -> Engine:
    """Build an engine once and pass it as `engine=` to several `translate_texts` calls (model loads once)."""
    return make_engine(engine, str(model), batch_size=batch_size, **engine_options)


def translate_with_reasons(
    texts: list[str],
    model: str,
    *,
    src_lang: str = "en",
    tgt_lang: str = "ar",
    engine: str | Engine = "hf",
    template: str = "hala",
    max_new_tokens: int = 256,
    batch_size: int = 8,
    segment: str = "sentence",
    max_segment_chars: int = 400,
    guards: GuardConfig | dict | None = None,
    length_cap: tuple[float, int] | list | None = None,
    **engine_options,
) -> list[tuple[str, str | None]]:
    """One `(translation, reject_reason)` per text; the translation is "" when the reason is not None.
    `guards`: a GuardConfig or its fields as a dict (a recipe's `engine_options.guards`), validated the same way.
    `length_cap=(ratio, extra)`: a segment of n source tokens generates at most min(max_new_tokens,
    ceil(ratio * n) + extra) tokens (off by default here; the translate stage has it on)."""
    guards = GuardConfig.model_validate(guards) if isinstance(guards, dict) else (guards or GuardConfig())
    tpl = get_template(template)
    eng = engine if not isinstance(engine, str) else load_engine(engine, model, batch_size, **engine_options)
    settings = GenSettings(
        max_new_tokens=max_new_tokens,
        stop=tpl.stop,
        length_ratio=length_cap[0] if length_cap else None,
        length_extra=length_cap[1] if length_cap else 0,
    )
    translator = SourcedTranslator(
        eng, template, src_lang, tgt_lang, settings, Guards(tgt_lang, guards), Cache(fingerprint=fingerprint())
    )
    docs = [split(t, segment, max_segment_chars) for t in texts]
    entries = translator.translate([s.text for d in docs for s in d.segments], chunk=max(batch_size * 8, 64))
    out = []
    for doc in docs:
        text, reason = assemble(doc, entries, guards.skip)
        out.append((text or "", reason))
    return out


def translate_texts(
    texts: list[str],
    model: str,
    *,
    src_lang: str = "en",
    tgt_lang: str = "ar",
    engine: str | Engine = "hf",
    template: str = "hala",
    max_new_tokens: int = 256,
    batch_size: int = 8,
    **engine_options,
) -> list[str]:
    """Translate each text (greedy); "" for a text whose translation was rejected. `engine` is an engine name
    (hf, ct2, vllm, openai) or an engine from `load_engine`; `engine_options` go to that engine, except
    `segment`, `max_segment_chars`, `guards` and `length_cap` (see `translate_with_reasons`)."""
    return [
        t
        for t, _ in translate_with_reasons(
            texts,
            model,
            src_lang=src_lang,
            tgt_lang=tgt_lang,
            engine=engine,
            template=template,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            **engine_options,
        )
    ]
