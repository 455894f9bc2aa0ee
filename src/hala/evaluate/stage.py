"""The eval stage: configs and `run(config, out_dir)` for translation quality and multiple-choice benchmarks.

Outputs (see docs/EVAL.md): `eval_translation.json` + `sentences_<src>-<tgt>.jsonl` (per-sentence scores), or
`eval_mcq.json` + `mcq_<task>.jsonl` (per-question log-probabilities). Both resume on the same out_dir: finished
translation chunks and finished tasks are reused when the settings are unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from hala.atomic import read_json, write_json
from hala.devices import resolve_device
from hala.errors import ConfigError
from hala.records import write_records
from hala.resume import resumable
from hala.translate.engines.options import EngineName, validate_options

_DIRECTION = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")


class EvalTranslationConfig(BaseModel):
    """Translation quality of `model` on parallel `data`, in one or both directions."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(
        None, description="model reference to translate with (omit when every direction has precomputed hypotheses)"
    )
    data: str = Field(
        description="parallel text, any input `hala filter` reads (docs/RECORDS.md): PREFIX of "
        "PREFIX.en/PREFIX.ar (or .eng/.ara), a directory, .tsv, .jsonl/.parquet pairs, "
        "a saved dataset or hf:NAME; unusable lines go to rejects.jsonl"
    )
    src_lang: str = "en"
    tgt_lang: str = "ar"
    directions: list[str] | None = Field(None, description="e.g. ['en-ar', 'ar-en']; default: src_lang-tgt_lang")
    engine: EngineName = "hf"
    template: str = "hala"
    max_new_tokens: int = Field(256, gt=0)
    batch_size: int = Field(8, gt=0)
    engine_options: dict[str, Any] = Field(
        default_factory=dict,
        description="the engine's own options (as the translate stage's) and the translate call's: segment, "
        "max_segment_chars, guards, length_cap ([ratio, extra]); checked when the config is built "
        "(hala.translate.engines.options)",
    )
    limit: int | None = Field(None, gt=0, description="evaluate N sentence pairs spread evenly over the set")
    hypotheses: dict[str, str] = Field(
        default_factory=dict, description="direction -> file of precomputed translations (one per line)"
    )
    comet_model: str | None = Field(None, description="local COMET checkpoint; skipped with a reason if absent")
    worst_k: int = Field(10, ge=0)
    label: str | None = Field(None, description="name shown in the report, e.g. 'base' or 'trained'")
    role: Literal["teacher", "student", "student-base", "other"] | None = Field(
        None,
        description="what this translator is in the pipeline: the report's headline compares the student "
        "with the teacher (as the pipeline prompted it) on the same held-out data",
    )
    heldout: bool = Field(
        False,
        description="the data is held out: no stage trained, filtered or selected on it "
        "(the report checks the recipe for stages that read it)",
    )

    @field_validator("engine_options")
    @classmethod
    def _known_options(cls, v: dict, info: ValidationInfo) -> dict:
        if "engine" in info.data:  # else the engine itself is invalid, and reported
            validate_options(info.data["engine"], v, call=True)
        return v  # as written: the translation cache's settings and the summary show what was asked

    @field_validator("directions")
    @classmethod
    def _directions(cls, v: list[str] | None) -> list[str] | None:
        for d in v or []:
            if not _DIRECTION.match(d):
                raise ValueError(f"direction '{d}' is not of the form src-tgt (e.g. en-ar)")
        return v

    @model_validator(mode="after")
    def _known_directions(self) -> EvalTranslationConfig:
        # when the config is built (`--dry-run`), not after the first direction ran: a mistyped direction in
        # `hypotheses` would otherwise be ignored, and that direction translated by the model instead
        names = [f"{a}-{b}" for a, b in self.direction_list()]
        unknown = sorted(set(self.hypotheses) - set(names))
        if unknown:
            raise ValueError(
                f"hypotheses: {', '.join(unknown)} is not a direction of this evaluation "
                f"(directions: {', '.join(names)})"
            )
        return self

    def direction_list(self) -> list[tuple[str, str]]:
        dirs = self.directions or [f"{self.src_lang}-{self.tgt_lang}"]
        out = [tuple(d.split("-")) for d in dirs]
        for a, b in out:
            if {a, b} != {self.src_lang, self.tgt_lang}:
                raise ConfigError(
                    f"direction {a}-{b} does not match the data's languages {self.src_lang}/{self.tgt_lang}"
                )
        return out


class EvalMCQConfig(BaseModel):
    """Log-likelihood multiple-choice accuracy (`acc`, `acc_norm`) of `model` on tasks and suites."""

    model_config = ConfigDict(extra="forbid")
    model: str
    tasks: list[str] = Field(
        default_factory=lambda: ["quickstart"], description="declared tasks or suites, NAME=PATH bindings, or paths"
    )
    task_files: list[str] = Field(default_factory=list, description="extra YAML files declaring tasks/suites")
    few_shot: int = Field(0, ge=0)
    batch_size: int = Field(8, gt=0)
    limit: int | None = Field(None, gt=0, description="evaluate N questions per task, spread evenly")
    prompt: str | None = Field(None, description="override every task's prompt format")
    dtype: str = "float32"
    device: str = Field(
        "auto", description="torch device for the scorer: auto (cuda when available, else cpu), cpu, cuda, cuda:1, ..."
    )
    label: str | None = Field(None, description="name shown in the report, e.g. 'base', 'tuned', 'merged'")


def run_translation(config: EvalTranslationConfig, out_dir: Path) -> dict:
    from hala.evaluate.translation import evaluate_translation

    out_dir = Path(out_dir)
    directions, metrics, outputs = {}, {}, {}
    for src, tgt in config.direction_list():
        name = f"{src}-{tgt}"
        result = evaluate_translation(
            config.model,
            config.data,
            src_lang=src,
            tgt_lang=tgt,
            engine=config.engine,
            template=config.template,
            limit=config.limit,
            hypotheses=config.hypotheses.get(name),
            columns=(config.src_lang, config.tgt_lang),
            max_new_tokens=config.max_new_tokens,
            batch_size=config.batch_size,
            engine_options=config.engine_options,
            worst_k=config.worst_k,
            comet_model=config.comet_model,
            cache=out_dir / f"translations_{name}.jsonl",
            # every direction reads the same data, so each writes the same rejects: one file for the run
            rejects=out_dir / "rejects.jsonl",
        )
        sentences, comet = result.pop("sentences"), result["comet"]
        for sentence, score in zip(sentences, comet.pop("scores", [])):
            sentence["comet"] = score
        outputs[f"sentences_{name}"] = f"sentences_{name}.jsonl"
        write_records(out_dir / outputs[f"sentences_{name}"], sentences)
        directions[name] = result
        metrics.update({f"bleu_{name}": result["bleu"], f"chrf_{name}": result["chrf"]})
        if "score" in comet:
            metrics[f"comet_{name}"] = comet["score"]
    summary = {
        "kind": "translation",
        "model": config.model,
        "label": config.label,
        "role": config.role,
        "heldout": config.heldout,
        "data": config.data,
        "template": config.template,
        "engine": config.engine,
        "engine_options": config.engine_options,
        "batch_size": config.batch_size,  # speed depends on it: the report names it beside each model's rate
        "limit": config.limit,
        "directions": directions,
        "metrics": metrics,
    }
    write_json(out_dir / "eval_translation.json", summary)
    outputs["summary"] = "eval_translation.json"
    outputs["rejects"] = "rejects.jsonl"
    return {"metrics": metrics, "outputs": outputs, "directions": directions}


def score_hypotheses(
    hypotheses: str, references: str, sources: str | None, out_dir: Path, label: str | None = None
) -> dict:
    """BLEU/chrF++ of a file of translations against a file of references (one sentence per line), no model:
    `hala eval translation --hyp FILE --ref FILE`. Writes `eval_translation.json` and `sentences.jsonl`."""
    from hala.evaluate.metrics import score_translations
    from hala.evaluate.pairs import texts

    out_dir = Path(out_dir)
    result = score_translations(texts(hypotheses), texts(references), texts(sources) if sources else None)
    write_records(out_dir / "sentences.jsonl", result.pop("sentences"))
    write_json(
        out_dir / "eval_translation.json",
        {
            "kind": "translation",
            "hypotheses": hypotheses,
            "references": references,
            "label": label,
            "directions": {"hyp": result},
        },
    )
    return {"directions": {"hyp": result}}


def _task_key(task: str) -> str:
    name = task.partition("=")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem if "/" in name else name)


def run_mcq(config: EvalMCQConfig, out_dir: Path) -> dict:
    from hala.evaluate.loglik import LoglikScorer
    from hala.evaluate.mcq import evaluate_task
    from hala.evaluate.tasks import Registry, resolve_task

    out_dir = Path(out_dir)
    registry = Registry(config.task_files)
    settings = {
        "model": config.model,
        "few_shot": config.few_shot,
        "limit": config.limit,
        "prompt": config.prompt,
        "dtype": config.dtype,
    }  # not the device: results do not depend on it
    scorer, results, outputs = None, {}, {}
    for task in registry.expand(config.tasks):
        key = _task_key(task)
        done = out_dir / f"mcq_{key}.json"
        if resumable(done, {**settings, "task": task}):
            results[key] = read_json(done)["result"]  # finished in an earlier, interrupted run
        else:
            data = resolve_task(task, registry, config.prompt)
            data.name = key
            scorer = scorer or LoglikScorer.load(
                config.model, dtype=config.dtype, batch_size=config.batch_size, device=resolve_device(config.device)
            )
            result = evaluate_task(scorer, data, config.few_shot, config.limit)
            write_records(out_dir / f"mcq_{key}.jsonl", result.pop("details"))
            write_json(done, {"settings": {**settings, "task": task}, "result": result})
            results[key] = result
        outputs[f"details_{key}"] = f"mcq_{key}.jsonl"
    # Headline: the mean of the tasks' scores, each task the mean of its subsets (lighteval's `_average`, the
    # OALL-v2 leaderboard's per-benchmark figure). Micro (every question weighted alike) is kept, labelled.
    average = {m: round(sum(r[m] for r in results.values()) / len(results), 6) for m in ("acc", "acc_norm")}
    n_total = sum(r["n"] for r in results.values())
    micro = {
        m: round(sum(r.get(f"{m}_micro", r[m]) * r["n"] for r in results.values()) / n_total, 6)
        for m in ("acc", "acc_norm")
    }
    average.update(
        method="macro: mean over tasks of each task's mean over its subsets (lighteval/OALL-v2)",
        acc_micro=micro["acc"],
        acc_norm_micro=micro["acc_norm"],
        n=n_total,
    )
    metrics = {
        "acc_norm_avg": average["acc_norm"],
        "acc_avg": average["acc"],
        "acc_norm_avg_micro": micro["acc_norm"],
        "acc_avg_micro": micro["acc"],
        **{f"acc_norm_{k}": r["acc_norm"] for k, r in results.items()},
    }
    summary = {
        "kind": "mcq",
        "model": config.model,
        "label": config.label,
        "few_shot": config.few_shot,
        "limit": config.limit,
        "tasks": results,
        "average": {**average, "n_tasks": len(results)},
        "metrics": metrics,
    }
    write_json(out_dir / "eval_mcq.json", summary)
    outputs["summary"] = "eval_mcq.json"
    return {"metrics": metrics, "outputs": outputs, "tasks": results, "average": summary["average"]}


def run(config: EvalTranslationConfig | EvalMCQConfig, out_dir: Path) -> dict:
    if isinstance(config, EvalTranslationConfig):
        return run_translation(config, out_dir)
    if isinstance(config, EvalMCQConfig):
        return run_mcq(config, out_dir)
    raise TypeError(f"not an eval config: {type(config).__name__}")
