"""Scorers for the t sweep: `NAME:ARG` -> a number to maximise for one candidate model directory.

Built in: `mcq:TASK` (multiple-choice acc_norm, OALL-v2 log-likelihood conventions), `chrf:PAIRS` (translation
chrF++), `instruct:FILE` (minus reference-answer perplexity on held-out prompts, Arabic-answer share alongside),
all from the evaluation stage (`hala.evaluate`), and `ppl:FILE` (minus perplexity, hala.merge.perplexity, for
when there is no task; it needs no evaluation stage, only hala.scoring). Register another with
`@register_scorer("name")`; tests inject cheap ones this way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hala.errors import ConfigError, HalaError


@dataclass(frozen=True)
class Score:
    value: float  # higher is better
    metric: str
    details: dict = field(default_factory=dict)


ScoreFn = Callable[[Path, str, "int | None"], Score]  # (model_dir, arg, limit) -> Score


@dataclass(frozen=True)
class Scorer:
    name: str
    fn: ScoreFn
    arg: str  # "file": ARG must be an existing file; "task": a file or a task name
    description: str


SCORERS: dict[str, Scorer] = {}


def register_scorer(name: str, arg: str = "file", description: str = "") -> Callable[[ScoreFn], ScoreFn]:
    def add(fn: ScoreFn) -> ScoreFn:
        SCORERS[name] = Scorer(name, fn, arg, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return add


def _looks_like_path(arg: str) -> bool:
    return "/" in arg or arg.endswith((".jsonl", ".json", ".gz", ".parquet", ".txt"))


def parse_select_on(spec: str) -> tuple[Scorer, str]:
    """`NAME:ARG` -> (scorer, ARG), checked before any merging so a typo fails at once."""
    name, sep, arg = spec.partition(":")
    known = ", ".join(f"{n}:..." for n in sorted(SCORERS))
    if not sep or not arg:
        raise ConfigError(f"select_on: expected NAME:ARG (e.g. mcq:dev.jsonl), got '{spec}'; scorers: {known}")
    if name not in SCORERS:
        raise ConfigError(f"select_on: unknown scorer '{name}' in '{spec}'; scorers: {known}")
    scorer = SCORERS[name]
    if (scorer.arg == "file" or _looks_like_path(arg)) and not Path(arg).exists():
        raise HalaError(f"select_on {spec}: {arg}: no such file")
    return scorer, arg


def _evaluate(module: str, function: str):
    """Import an evaluation-stage function lazily (the stage is optional for merging itself)."""
    import importlib

    try:
        return getattr(importlib.import_module(f"hala.evaluate.{module}"), function)
    except (ImportError, AttributeError) as e:
        raise HalaError(f"this scorer needs hala.evaluate.{module}.{function} (the evaluation stage): {e}") from e


@register_scorer("mcq", arg="task")
def mcq_score(model: Path, task: str, limit: int | None) -> Score:
    """Multiple-choice accuracy (acc_norm) on a JSONL of {question, choices, answer} or a named task."""
    result = _evaluate("mcq", "evaluate_mcq")(str(model), task, limit=limit)
    return Score(float(result["acc_norm"]), "acc_norm", {"acc": result.get("acc"), "n": result.get("n")})


def _pair_languages(path: str) -> dict:
    """src_lang/tgt_lang of the first pair in a record file, so any language pair is scored the right way."""
    from hala.records import RejectLog, read_records

    for pair in read_records(path, "pair", RejectLog()):
        return {"src_lang": pair.src_lang, "tgt_lang": pair.tgt_lang}
    raise HalaError(f"select_on chrf: {path}: no valid parallel pairs")


@register_scorer("chrf")
def chrf_score(model: Path, pairs: str, limit: int | None) -> Score:
    """Translation chrF++ on a parallel-pair file (src -> tgt, languages from the records)."""
    result = _evaluate("translation", "evaluate_translation")(str(model), pairs, limit=limit, **_pair_languages(pairs))
    return Score(
        float(result["chrf"]),
        "chrf",
        {"bleu": result.get("bleu"), "n": result.get("n"), "signature": result.get("signature")},
    )


@register_scorer("instruct")
def instruct_score(model: Path, path: str, limit: int | None) -> Score:
    """Minus the perplexity of reference answers to held-out prompts (chat samples), with the share of greedy
    answers written in Arabic in the details (hala.evaluate.instruct)."""
    result = _evaluate("instruct", "evaluate_instruct")(str(model), path, limit=limit)
    result.pop("details", None)
    return Score(
        -float(result["ref_ppl"]),
        "neg_ref_ppl",
        {k: result.get(k) for k in ("ref_ppl", "lang_share", "mean_script_share", "n", "signature_text")},
    )


@register_scorer("ppl")
def ppl_score(model: Path, path: str, limit: int | None) -> Score:
    """Minus perplexity on a text file (one text per line) or a record file (chat samples, pairs' targets)."""
    from hala.merge.perplexity import perplexity

    result = perplexity(model, path, limit=limit)
    return Score(-result["perplexity"], "neg_perplexity", result)
