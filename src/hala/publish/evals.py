"""Evaluation numbers of a run, read from its eval stages' own outputs (`eval_translation.json`, `eval_mcq.json`,
`eval_instruct.json`), as generic rows (label, evaluated model, task, data, metric, value) — the same files the
report reads, so a card's numbers equal the report's whatever headline the report puts on them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hala.publish.rundir import REF, RUN_REF, Run, StageInfo, is_shipped, short


@dataclass
class EvalRow:
    stage: str
    label: str  # the eval stage's label (base, trained, merged, teacher ...) or its name
    model: str  # the evaluated model's reference
    this: bool  # evaluates the model being published
    task: str  # "translation" | "multiple-choice"
    task_name: str  # e.g. "translation en-ar", "mcq-ar"
    data: str  # the data reference, machine prefixes removed
    data_name: str  # a readable description of the data
    config: str | None  # direction (translation) or task name (MCQ)
    split: str | None
    metric_type: str  # Hub metric id: bleu | chrf | accuracy
    metric: str  # BLEU | chrF++ | acc | acc_norm
    value: float
    n: int | None
    definition: str  # sacrebleu signature, or the task definition (prompt, shots, scoring)


def _evaluates(run: Run, eval_stage: StageInfo, target: StageInfo) -> bool:
    model = str(eval_stage.config.get("model") or "")
    m = REF.match(model)
    if m:
        return m.group(1) == target.name
    try:
        return Path(model).resolve() == (target.dir / "model").resolve()
    except OSError:
        return False


def _data_name(run: Run, ref: str) -> tuple[str, str | None]:
    m = REF.match(ref)
    if m:
        stage, rel = m.groups()
        split = next((s for s in ("test", "dev", "train") if s in Path(rel).stem.split("_")), None)
        return f"{rel} of stage {stage} ({run.recipe} run)", split
    return file_text(run, ref), None


def file_text(run: Run, value) -> str:
    """A data file for the card's metadata: hala's shipped files by name (not `${hala.data}/...`), a run's own
    file by stage, anything else with machine prefixes removed."""
    text = str(value or "")
    if m := REF.match(text):
        return f"{m.group(2)} of stage {m.group(1)} ({run.recipe} run)"
    if text and is_shipped(Path(text)):
        return f"{Path(text).name} (shipped with hala)"
    return short(run, text)


def dataset_id(ref: str) -> str:
    """`dataset.type` of a model-index result: the Hub wants a dataset id there, and a run's own file has none,
    so it gets a plain name made of the stage and the file (`corpus-pairs_test`; a shipped or local file: its
    stem) — never an `@STAGE/FILE` reference or a machine path. The readable description is `dataset.name`."""
    m = REF.match(ref)
    stem = Path(m.group(2) if m else ref).stem
    name = f"{m.group(1)}-{stem}" if m and m.group(1) != RUN_REF else stem
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "data"


def translation_rows(run: Run, stage: StageInfo, target: StageInfo | None) -> list[EvalRow]:
    data = stage.file("eval_translation.json") or {}
    label = str(data.get("label") or stage.config.get("label") or stage.name)
    ref = str(stage.config.get("data") or data.get("data") or "")
    data_name, split = _data_name(run, ref)
    this = target is not None and _evaluates(run, stage, target)
    rows = []
    for direction, r in (data.get("directions") or {}).items():
        for key, metric_type, metric in (("bleu", "bleu", "BLEU"), ("chrf", "chrf", "chrF++")):
            if isinstance(r.get(key), (int, float)):
                rows.append(
                    EvalRow(
                        stage.name,
                        label,
                        short(run, stage.config.get("model") or data.get("model")),
                        this,
                        "translation",
                        f"translation {direction}",
                        short(run, ref),
                        data_name,
                        direction,
                        split,
                        metric_type,
                        metric,
                        float(r[key]),
                        r.get("n"),
                        str((r.get("signature") or {}).get(key, "")),
                    )
                )
    return rows


def mcq_rows(run: Run, stage: StageInfo, target: StageInfo | None) -> list[EvalRow]:
    data = stage.file("eval_mcq.json") or {}
    label = str(data.get("label") or stage.config.get("label") or stage.name)
    this = target is not None and _evaluates(run, stage, target)
    model = short(run, stage.config.get("model") or data.get("model"))
    rows = []
    for task, r in (data.get("tasks") or {}).items():
        definition = (
            f"log-likelihood multiple choice, prompt '{r.get('prompt')}', {r.get('few_shot', 0)}-shot; "
            f"acc_norm divides each log-probability by the continuation's length in characters; "
            f"source {file_text(run, r.get('source'))}"
        )
        for metric in ("acc", "acc_norm"):
            if isinstance(r.get(metric), (int, float)):
                rows.append(
                    EvalRow(
                        stage.name,
                        label,
                        model,
                        this,
                        "multiple-choice",
                        task,
                        task,
                        f"{task}: {file_text(run, r.get('source'))}",
                        task,
                        None,
                        "accuracy",
                        metric,
                        float(r[metric]),
                        r.get("n"),
                        definition,
                    )
                )
    return rows


# eval.instruct metrics: (key in eval_instruct.json, Hub metric type, name on the card)
INSTRUCT_METRICS = (
    ("ref_ppl", "perplexity", "reference perplexity"),
    ("lang_share", "lang_share", "answers in the language"),
    ("mean_script_share", "script_share", "mean script share"),
)


def instruct_rows(run: Run, stage: StageInfo, target: StageInfo | None) -> list[EvalRow]:
    """eval.instruct: answers to held-out prompts (the report's "instruction model" table, where base, tuned
    and merged differ when a small multiple-choice set cannot tell them apart)."""
    data = stage.file("eval_instruct.json") or {}
    label = str(data.get("label") or stage.config.get("label") or stage.name)
    this = target is not None and _evaluates(run, stage, target)
    sig = data.get("signature") or {}
    ref = str(stage.config.get("data") or sig.get("data") or "")
    ref = ref.removeprefix("package:")  # hala's shipped data, as eval.instruct names it
    lang = sig.get("lang", stage.config.get("lang", ""))
    task = f"instructions-{lang}" if lang else "instructions"
    name = f"{Path(ref).name} (held-out prompts, shipped with hala)" if "/" not in ref else file_text(run, ref)
    return [
        EvalRow(
            stage.name,
            label,
            short(run, stage.config.get("model") or data.get("model")),
            this,
            "text-generation",
            task,
            short(run, ref),
            name,
            task,
            None,
            metric_type,
            metric,
            float(data[key]),
            data.get("n"),
            str(data.get("signature_text") or ""),
        )
        for key, metric_type, metric in INSTRUCT_METRICS
        if isinstance(data.get(key), (int, float))
    ]


def eval_rows(run: Run, target: StageInfo | None = None) -> list[EvalRow]:
    """Every finished evaluation in the run, in pipeline order; `this` marks those of `target`'s model."""
    rows: list[EvalRow] = []
    for stage in run.stages.values():
        if stage.status != "done":
            continue
        if stage.type == "eval.translation":
            rows += translation_rows(run, stage, target)
        elif stage.type == "eval.mcq":
            rows += mcq_rows(run, stage, target)
        elif stage.type == "eval.instruct":
            rows += instruct_rows(run, stage, target)
    return rows


def eval_results(rows: list[EvalRow], source_url: str | None = None) -> list:
    """The published model's rows as huggingface_hub `EvalResult`s (the card's `model-index`)."""
    from huggingface_hub import EvalResult

    return [
        EvalResult(
            task_type=r.task,
            task_name=r.task_name,
            dataset_type=dataset_id(r.data),
            dataset_name=r.data_name,
            dataset_config=r.config,
            dataset_split=r.split,
            metric_type=r.metric_type,
            metric_name=r.metric,
            metric_value=r.value,
            metric_config=r.definition or None,
            verified=False,
            **({"source_name": f"hala stage {r.stage}", "source_url": source_url} if source_url else {}),
        )
        for r in rows
        if r.this
    ]
