"""Translation evaluation: translate the sources through the translate stage, then score BLEU / chrF++.

Translations come from the translate stage's API (`hala.translate.translate_with_reasons`, the reason-reporting
form of `translate_texts`): the same engines, prompts, span protection and guards as `hala translate`, so the score
describes what the pipeline produces. A translation the guards reject is scored as "" and flagged `rejected`.
Precomputed hypotheses (a list or a file with one sentence per line) skip translation. With `cache`, finished
chunks are appended to a JSONL file and a rerun resumes after them (the file's first line fingerprints the
settings, so changed settings start over).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hala.errors import ConfigError, HalaError, InputError
from hala.evaluate.comet import comet_score
from hala.evaluate.metrics import score_translations
from hala.evaluate.pairs import read_direction, texts
from hala.evaluate.subset import spread
from hala.progress import console
from hala.records import RejectLog
from hala.resume import resumable
from hala.translate.engines.options import CallOptions

# Options of `translate_with_reasons` itself; every other engine option configures the engine.
CALL_OPTIONS = tuple(CallOptions.model_fields)


def _translate_api():
    try:
        from hala.translate import load_engine, translate_with_reasons
    except ImportError as e:
        raise HalaError(
            "translation evaluation needs the translate stage (hala.translate), which is not "
            f"importable here ({e}); pass precomputed hypotheses instead "
            "(hala eval translation --hyp FILE --ref FILE)"
        ) from e
    return load_engine, translate_with_reasons


def _read_cache(cache: Path, fingerprint: dict) -> list[dict]:
    """The translations cached by an earlier run with the same settings (the file's first line), else none."""
    if not resumable(cache, fingerprint):
        return []
    lines = cache.read_text(encoding="utf-8").splitlines()
    done = []
    for line in lines[1:]:
        try:
            done.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash: redo from there
            # and drop it from the file, or the rows appended next would sit behind it and be lost on each resume
            cache.write_text("".join(x + "\n" for x in lines[: len(done) + 1]), encoding="utf-8")
            break
    return done


def translate_sources(
    srcs: list[str],
    model: str,
    *,
    src_lang: str,
    tgt_lang: str,
    engine: str = "hf",
    template: str = "hala",
    max_new_tokens: int = 256,
    batch_size: int = 8,
    engine_options: dict | None = None,
    cache: Path | None = None,
    chunk: int = 64,
    timing: dict | None = None,
) -> list[dict]:
    """`{"hyp", "reason"}` per source: the translation, and why the guards rejected it (then hyp is "").

    `timing`, when given, receives the generation time of the sentences translated by this call (wall and process
    CPU seconds, model loading and conversion excluded): speed comparisons between models must not count a
    one-off CTranslate2 conversion, and CPU seconds stay comparable on a shared machine."""
    load_engine, translate_with_reasons = _translate_api()
    options = dict(engine_options or {})
    call = CallOptions.model_validate({k: options.pop(k) for k in CALL_OPTIONS if k in options})
    cap = call.length_cap
    call_options = {**call.model_dump(exclude={"length_cap"}), "length_cap": cap and (cap.ratio, cap.extra)}
    settings = {
        "model": str(model),
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
        "engine": engine,
        "template": template,
        "max_new_tokens": max_new_tokens,
        "engine_options": engine_options or {},
        "n": len(srcs),
    }
    done = _read_cache(cache, settings) if cache else []
    if cache and not done:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"settings": settings}, ensure_ascii=False) + "\n", encoding="utf-8")
    if done:
        console.print(f"translate {src_lang}→{tgt_lang}: resuming after {len(done)} cached translations")
    if len(done) >= len(srcs):
        return done[: len(srcs)]
    eng = load_engine(engine, str(model), batch_size, **options)  # once: the model loads once for all chunks
    t0, cpu0, resumed = time.time(), time.process_time(), len(done)
    for start in range(len(done), len(srcs), chunk):
        out = translate_with_reasons(
            srcs[start : start + chunk],
            str(model),
            src_lang=src_lang,
            tgt_lang=tgt_lang,
            engine=eng,
            template=template,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            **call_options,
        )
        rows = [{"hyp": hyp, "reason": reason} for hyp, reason in out]
        done.extend(rows)
        if cache:
            with open(cache, "a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        console.print(
            f"translate {src_lang}→{tgt_lang}: {len(done)}/{len(srcs)} sentences "
            f"({(len(done) - resumed) / max(time.time() - t0, 1e-9):.2f} sent/s)"
        )
    if timing is not None:
        timing.update(sentences=len(done) - resumed, seconds=time.time() - t0, cpu_seconds=time.process_time() - cpu0)
    return done


def _read_pairs(
    pairs: str | Path | list,
    src_lang: str,
    tgt_lang: str,
    columns: tuple[str, str] | None,
    rejects: str | Path | RejectLog | None,
) -> tuple[list[str], list[str], int]:
    """The direction's sources and references, and how many input lines were rejected (written to `rejects`
    when it is a path, always: an empty file says a rerun on fixed data found nothing wrong)."""
    log = (
        rejects
        if isinstance(rejects, RejectLog)
        else RejectLog(None if rejects is None else Path(rejects), keep_empty=True)
    )
    before, shown = log.total, len(log.examples)
    try:
        srcs, refs = read_direction(pairs, src_lang, tgt_lang, columns, log)
    finally:
        if log is not rejects:
            log.close()
    if log.total > before:
        first = log.examples[shown] if len(log.examples) > shown else None
        console.print(
            f"[yellow]{src_lang}→{tgt_lang}: {log.total - before} input line(s) rejected[/]"
            f"{f' (first: {first})' if first else ''}{f'; see {log.path}' if log.path else ''}"
        )
    return srcs, refs, log.total - before


def evaluate_translation(
    model: str | None,
    pairs: str | Path | list,
    *,
    src_lang: str = "en",
    tgt_lang: str = "ar",
    engine: str = "hf",
    template: str = "hala",
    limit: int | None = None,
    hypotheses: list[str] | str | Path | None = None,
    columns: tuple[str, str] | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    engine_options: dict | None = None,
    worst_k: int = 10,
    comet_model: str | None = None,
    cache: Path | None = None,
    rejects: str | Path | RejectLog | None = None,
) -> dict:
    """Score `model`'s `src_lang`→`tgt_lang` translations of `pairs` (or given `hypotheses`) against references.

    Returns corpus `bleu`, `chrf` (chrF++), `n`, sacrebleu `signature`s, `sentences` (per-sentence scores),
    `worst` (lowest chrF++), `comet` (score, or the reason it was skipped) and timing. `pairs` is any input the
    pair readers take (docs/RECORDS.md) or a list of pairs; a line that cannot be used is counted in
    `input_rejects` and, when `rejects` is a path, written there as `{"source", "line", "reason", "raw"}`.
    """
    all_srcs, refs, input_rejects = _read_pairs(pairs, src_lang, tgt_lang, columns, rejects)
    srcs, refs = spread(all_srcs, limit), spread(refs, limit)
    timing: dict = {}
    if hypotheses is not None:
        hyps = texts(hypotheses)
        if len(hyps) == len(all_srcs):  # aligned with the whole set: take the same slice as the references
            hyps = spread(hyps, limit)
        if len(hyps) != len(refs):
            raise InputError(f"{len(hyps)} hypotheses for {len(refs)} references: they must be line-aligned")
        reasons = [None] * len(hyps)
    elif model is None:
        raise ConfigError("give a model to translate with, or precomputed hypotheses")
    else:
        translated = translate_sources(
            srcs,
            model,
            src_lang=src_lang,
            tgt_lang=tgt_lang,
            engine=engine,
            template=template,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            engine_options=engine_options,
            cache=cache,
            timing=timing,
        )
        hyps, reasons = [t["hyp"] for t in translated], [t["reason"] for t in translated]
    n_timed = timing.get("sentences", 0)
    result = {
        "direction": f"{src_lang}-{tgt_lang}",
        "model": None if model is None else str(model),
        "engine": engine if hypotheses is None else "hypotheses",
        "template": template,
        **score_translations(hyps, refs, srcs, worst_k=worst_k),
        "rejected": sum(r is not None for r in reasons),
        "input_rejects": input_rejects,  # data lines that could not be used (file:line: reason in rejects)
        # Generation speed of the sentences translated in this run (None when all came from the cache).
        "translate_seconds": round(timing["seconds"], 2) if n_timed else None,
        "translate_cpu_seconds": round(timing["cpu_seconds"], 2) if n_timed else None,
        "sentences_per_second": round(n_timed / timing["seconds"], 3) if n_timed else None,
        "sentences_per_cpu_second": round(n_timed / timing["cpu_seconds"], 3) if n_timed else None,
    }
    for sentence, reason in zip(result["sentences"], reasons):
        if reason is not None:  # the guards rejected this translation: it was scored as ""
            sentence["rejected"] = reason
    result["comet"] = comet_score(srcs, hyps, refs, comet_model)
    if "skipped" in result["comet"] and comet_model:
        console.print(f"[yellow]COMET skipped:[/] {result['comet']['skipped']}")
    return result
