"""Model and dataset cards (README.md with YAML front matter) built from a run directory.

The metadata goes through huggingface_hub's `ModelCardData` / `DatasetCardData` / `EvalResult`, so the front
matter is what the Hub and `ModelCard.load(...)` expect (`model-index` for the evaluation results). The body is
Markdown tables: every number in it is read from a stage's own output files. The text holds no timestamps or
machine paths, so rebuilding the folder gives the same bytes (a resumed upload then skips what is already there).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from hala.publish.evals import EvalRow, eval_results
from hala.publish.licences import CUSTOM_TERMS, Finding, model_licence, parse
from hala.publish.origin import data_text, hub_ids, model_text, origin
from hala.publish.rundir import Lineage, Run, StageInfo, data_lineage, short, shorten

GEMMA_NOTICE = "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms."


@dataclass
class CardContext:
    run: Run
    stage: StageInfo
    lineage: Lineage
    findings: list[Finding]
    rows: list[EvalRow]
    repo: str
    overridden: list[str] = field(default_factory=list)  # licence problems the user chose to publish anyway
    recipe_included: bool = False  # hala_recipe.yaml is in the folder

    @property
    def models(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "model"]

    @property
    def data(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "data"]


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return " ".join(fmt(v).split()).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _licences_text(counts: Counter) -> str:
    return ", ".join(f"{name} ({n})" if n > 1 else name for name, n in counts.most_common())


def languages(ctx: CardContext, extra: set[str] = frozenset()) -> list[str]:
    langs = set(extra)
    for s in ctx.lineage.stages:
        for k in ("src_lang", "tgt_lang"):
            if isinstance(s.config.get(k), str):
                langs.add(s.config[k].lower())
        for d in s.config.get("directions") or []:
            if isinstance(d, str) and "-" in d:
                langs.update(d.split("-"))
    for f in ctx.data:
        langs |= f.languages
    return sorted(lang for lang in langs if lang.isalpha() and 2 <= len(lang) <= 3)


def _stage_summary(run: Run, s: StageInfo) -> str:
    c = s.config
    keys = {
        "quantize": ("model", "scheme"),
        "data.packages": ("tgt_lang", "sources", "limit"),
        "data.chat": ("input", "layout", "license"),
        "data.mix": ("inputs",),
        "translate": ("input", "model", "engine", "template", "src_lang", "tgt_lang", "limit"),
        "filter": ("inputs",),
        "corpus": ("sources", "directions"),
        "train": ("model", "train", "mode", "lora_r", "lora_alpha", "learning_rate", "max_steps", "epochs"),
        "merge": ("base", "tuned", "method", "t", "sweep", "select_on"),
    }.get(s.type, tuple(c)[:4])
    shown = [f"{k}={json.dumps(shorten(run, c[k]), ensure_ascii=False)}" for k in keys if k in c]
    return ", ".join(shown)


def _metrics_summary(s: StageInfo, limit: int = 5) -> str:
    items = [(k, v) for k, v in s.metrics.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return ", ".join(f"{k}={fmt(v)}" for k, v in items[:limit])


def lineage_section(ctx: CardContext) -> str:
    rows = [
        [f"`{s.name}`", s.type, s.key[:12], _stage_summary(ctx.run, s), _metrics_summary(s)] for s in ctx.lineage.stages
    ]
    return (
        "## How it was made\n\nThe stages of the run that this artifact comes from, in order (key = the "
        "stage's cache key: its type, version, settings and inputs; settings as the recipe wrote them, where "
        "`@STAGE/FILE` is a file that stage of the run made):\n\n"
        + table(["stage", "type", "key", "settings", "results"], rows)
    )


def _finding_text(run: Run, f: Finding) -> str:
    if f.role == "published":
        return "the published records"
    return model_text(run, f.what) if f.kind == "model" else data_text(run, f.what)


def licence_section(ctx: CardContext, published: str) -> str:
    rows = []
    for f in ctx.findings:
        for name, n in f.licences.most_common():
            lic = parse(name)
            rows.append(
                [
                    _finding_text(ctx.run, f),
                    f.kind + ("" if f.role == "input" else f" ({f.role})"),
                    f"`{f.stage}`",
                    name,
                    n if f.kind == "data" else None,
                    lic.policy,
                    f.where(name),
                ]
            )
    text = [
        f"## Licences\n\nThis {published}'s licence is derived from its inputs:\n",
        table(["input", "kind", "read by stage", "licence", "records", "terms", "where the licence was read"], rows),
    ]
    names = {n for f in ctx.findings for n in f.licences}
    terms = sorted(n for n in names if parse(n).policy in ("share-alike", "non-commercial", "custom-terms"))
    if terms:
        text.append(
            f"\nTerms that travel with it: {', '.join(terms)} (share-alike, non-commercial or custom "
            f"terms: read them before reuse)."
        )
    if "gemma" in names:
        text.append(f"\n{GEMMA_NOTICE}")
    if ctx.overridden:
        text.append(
            "\n**Licence check overridden by the publisher** (`--allow-licence`):\n"
            + "\n".join(f"- {p}" for p in ctx.overridden)
        )
    return "\n".join(text)


def provenance_section(ctx: CardContext) -> str:
    m = ctx.run.manifest
    versions = m.get("versions") or {}
    libs = ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("python", "platform", "hala"))
    return (
        "## Provenance\n\n"
        + table(
            ["", ""],
            [
                [
                    "recipe",
                    f"`{ctx.run.recipe}`" + (" (`hala_recipe.yaml` in this repository)" if ctx.recipe_included else ""),
                ],
                ["recipe sha256", m.get("recipe_sha256")],
                ["stage", f"`{ctx.stage.name}` ({ctx.stage.type}), key `{ctx.stage.key}`"],
                ["hala", versions.get("hala")],
                ["python", versions.get("python")],
                ["libraries", libs or None],
            ],
        )
        + "\n\n`hala_provenance.json` holds every stage's settings, keys and results, and every input's licence."
    )


def _rows_table(run: Run, rows: list[EvalRow], mark: bool) -> str:
    return table(
        ["model", "evaluated model", "task", "data", "metric", "value", "n"],
        [
            [
                r.label + (" **(this model)**" if mark and r.this else ""),
                model_text(run, r.model),
                r.task_name,
                data_text(run, r.data),
                r.metric,
                r.value,
                r.n,
            ]
            for r in rows
        ],
    )


def evaluation_section(ctx: CardContext) -> str:
    own = [r for r in ctx.rows if r.this]
    parts = ["## Evaluation\n"]
    if own:
        parts.append("Results of this model (also in the card's `model-index` metadata):\n")
        parts.append(
            table(
                ["task", "data", "metric", "value", "n", "definition"],
                [[r.task_name, data_text(ctx.run, r.data), r.metric, r.value, r.n, r.definition] for r in own],
            )
        )
    else:
        parts.append("No evaluation stage of the run evaluated this model.")
    others = [r for r in ctx.rows if not r.this]
    if others:
        parts.append(
            "\n### Comparison\n\nEvery evaluation in the run, side by side (same data, same settings, "
            "as in the run's report):\n"
        )
        parts.append(_rows_table(ctx.run, ctx.rows, mark=True))
    sigs = sorted({r.definition for r in ctx.rows if r.task == "translation" and r.definition})
    if sigs:
        parts.append("\nsacrebleu signatures: " + "; ".join(f"`{s}`" for s in sigs))
    return "\n".join(parts)


def data_table(ctx: CardContext, role: str = "input") -> str:
    rows = [
        [
            _finding_text(ctx.run, f),
            f"`{f.stage}`",
            f.records,
            _licences_text(f.licences) or "none in the records (those of the stage's own inputs)",
            ", ".join(f"{k} ({v})" for k, v in f.sources.most_common(6)) or "–",
        ]
        for f in ctx.data
        if f.role == role
    ]
    if not rows:
        return "None: the records were made by the stages below, from no input file."
    return table(["data", "read by stage", "records", "licences (records)", "sources (records)"], rows)


# ------------------------------------------------------------------------------------------------ model card
def _method(ctx: CardContext) -> list[list]:
    s, run = ctx.stage, ctx.run
    rows: list[list] = []
    if s.type == "merge":
        merge = s.file("merge.json") or {}
        sweep = s.file("sweep.json")
        rows += [
            ["method", f"{merge.get('method', s.config.get('method'))} merge of base and tuned model"],
            ["base (t = 0)", _model_cell(run, s.config.get("base"))],
            ["tuned (t = 1)", _model_cell(run, s.config.get("tuned"))],
            ["t", merge.get("t")],
        ]
        if sweep:
            rows.append(
                [
                    "t chosen by",
                    f"sweep over {[r.get('t') for r in sweep.get('rows') or []]} on "
                    f"`{short(run, sweep.get('select_on'))}` ({sweep.get('metric')}): "
                    + ", ".join(f"t={r.get('t')}: {fmt(r.get('score'))}" for r in sweep.get("rows") or []),
                ]
            )
        tuned = ctx.run.resolve(str(s.config.get("tuned", "")))
        train = next(
            (
                t
                for t in ctx.lineage.stages
                if t.type == "train" and tuned is not None and tuned.resolve().is_relative_to(t.dir.resolve())
            ),
            None,
        )
        if train is not None:
            rows += [[f"tuned model: {k}", v] for k, v in _train_rows(ctx, train)]
    elif s.type == "train":
        rows += _train_rows(ctx, s)
    elif s.type == "quantize":
        v = s.file("verification.json") or {}
        rows += [
            [
                "method",
                f"{v.get('scheme', s.config.get('scheme'))} quantization (llm-compressor, "
                f"compressed-tensors) of {_model_cell(run, s.config.get('model'))}",
            ],
            ["drift checks", "passed" if v.get("passed") else "FAILED"],
        ]
        rows += [
            [f"check {c.get('metric')}", f"{fmt(c.get('value'))} ({c.get('op', '')} {c.get('threshold')})"]
            for c in v.get("checks") or []
        ]
    return rows


def _model_cell(run: Run, value) -> str:
    """A model a stage started from, for the card: the stage of the run that made it, and what it really is."""
    o = origin(run, value)
    return f"{model_text(run, value)}: {o.describe()}" if o.stage else o.describe()


def _train_rows(ctx: CardContext, s: StageInfo) -> list[list]:
    c, summary = s.config, s.file("train_summary.json") or {}
    mode = summary.get("mode", c.get("mode", "lora"))
    rows = [
        ["method", "LoRA SFT (adapter merged into the weights)" if mode == "lora" else "full fine-tuning (SFT)"],
        ["base model", _model_cell(ctx.run, c.get("model"))],
    ]
    if mode == "lora":
        rows.append(["LoRA", f"r={c.get('lora_r', 16)}, alpha={c.get('lora_alpha', 32)}"])
    rows += [
        [
            "training data",
            data_text(ctx.run, c.get("train")) + (f", dev {data_text(ctx.run, c['dev'])}" if c.get("dev") else ""),
        ],
        ["loss", "assistant turns only"],
        ["learning rate", c.get("learning_rate") or f"default ({'2e-4' if mode == 'lora' else '2e-5'})"],
        ["steps / epochs", f"{summary.get('steps')} / {summary.get('epochs')}"],
        ["examples used", summary.get("train_examples_used")],
        [
            "train loss (mean / last logged) / dev loss",
            f"{fmt(summary.get('train_loss'))} / {fmt(summary.get('final_loss'))} / {fmt(summary.get('eval_loss'))}",
        ],
    ]
    return rows


def _hub_bases(ctx: CardContext) -> list[str]:
    """Hub repo ids of the models the published model was made from (`base_model`): each model reference of its
    own stage (a merge: base and tuned) followed through the run's stages to the model it started from, so a
    `@STAGE/model` reference never reaches the metadata; a local model gives none."""
    keys = {"merge": ("base", "tuned")}.get(ctx.stage.type, ("model",))
    return hub_ids(ctx.run, [ctx.stage.config.get(k) for k in keys])


KIND_WORDS = {"merge": "A merged model", "train": "A fine-tuned model", "quantize": "A quantized model"}


def model_card(ctx: CardContext):
    from huggingface_hub import ModelCard, ModelCardData

    lic, lic_name = model_licence(ctx.models)
    bases = _hub_bases(ctx)
    relation = {"quantize": "quantized", "train": "finetune", "merge": "finetune"}.get(ctx.stage.type)
    tags = ["hala", "translate-and-tune", ctx.stage.type]
    if ctx.stage.type == "merge":
        tags += ["merge", str(ctx.stage.config.get("method", "slerp"))]
    name = ctx.repo.split("/")[-1]
    data = ModelCardData(
        model_name=name,
        language=languages(ctx) or None,
        license=lic,
        license_name=lic_name,
        license_link=CUSTOM_TERMS.get(lic) if lic in CUSTOM_TERMS else None,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=tags,
        base_model=bases or None,
        base_model_relation=relation if bases else None,
        eval_results=eval_results(ctx.rows) or None,
        hala={
            "recipe": ctx.run.recipe,
            "stage": ctx.stage.name,
            "stage_type": ctx.stage.type,
            "stage_key": ctx.stage.key,
            "version": ctx.run.hala_version,
        },
    )
    made_from = origin(ctx.run, f"@{ctx.stage.name}/model").describe()
    body = [
        f"# {name}",
        "",
        f"{KIND_WORDS.get(ctx.stage.type, 'A model')} made by [hala](https://arxiv.org/abs/2509.14008)'s "
        f"translate-and-tune "
        f"pipeline: stage `{ctx.stage.name}` of the `{ctx.run.recipe}` recipe run. Made from {made_from}.",
        "",
        "Every number on this card is read from the run's own stage outputs (the same files its report reads).",
        "",
        "## Model",
        "",
        table(["", ""], _method(ctx) + [["languages", ", ".join(languages(ctx)) or "–"], ["licence", lic_name or lic]]),
        "",
        evaluation_section(ctx),
        "",
        "## Training data",
        "",
        "Data the stages of this model read (records as counted in the files; licences from each record's "
        "`meta.license` — and `meta.license_src` / `meta.license_tgt` where a pair's sides differ — or the file's "
        "origin):",
        "",
        data_table(ctx),
        "",
    ]
    if any(f.role == "selection" for f in ctx.data):
        body += ["Data used only to choose a setting (not trained on):", "", data_table(ctx, "selection"), ""]
    body += [
        lineage_section(ctx),
        "",
        licence_section(ctx, "model"),
        "",
        provenance_section(ctx),
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{ctx.repo}")',
        f'model = AutoModelForCausalLM.from_pretrained("{ctx.repo}")',
        'messages = [{"role": "user", "content": "..."}]',
        'inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", '
        "return_dict=True)",
        "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=128)[0]))",
        "```",
        "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))


# ---------------------------------------------------------------------------------------------- dataset card
def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return name
    return "10M<n<100M"


FIELD_DOCS = {
    "id": "record id (unique in the dataset)",
    "messages": "chat turns: list of {role, content}; role is system, user, assistant or tool",
    "src": "source text",
    "tgt": "target text (the translation)",
    "src_lang": "source language code",
    "tgt_lang": "target language code",
    "meta": "JSON string: source, license and, for translated records, the original text and the "
    "translator's settings (meta.translation)",
}


def _counts_section(ctx: CardContext) -> str:
    rows = []
    for s in data_lineage(ctx.run, ctx.lineage, ctx.stage.name):
        if s.type == "translate" and (r := s.file("report.json")):
            reasons = ", ".join(f"{k} {v}" for k, v in (r.get("rejects_by_reason") or {}).items()) or "none"
            rows.append([f"`{s.name}`", "translate", r.get("records"), r.get("translated"), r.get("rejected"), reasons])
        elif s.type == "filter" and (r := s.file("filter_report.json") or s.file("report.json")):  # or an old run's
            reasons = ", ".join(f"{k} {v}" for k, v in (r.get("rejected_by_rule") or {}).items() if v) or "none"
            rows.append([f"`{s.name}`", "filter", r.get("input_pairs"), r.get("kept"), r.get("rejected"), reasons])
        elif s.type == "corpus" and (r := s.file("corpus_report.json")):
            reasons = ", ".join(f"{k} {v}" for k, v in (r.get("rejects") or {}).items()) or "none"
            rows.append(
                [
                    f"`{s.name}`",
                    "corpus",
                    f"{r.get('pairs')} pairs",
                    f"{r.get('examples')} examples",
                    sum((r.get("rejects") or {}).values()),
                    reasons,
                ]
            )
        elif s.type in ("data.chat", "data.mix") and s.metrics:
            rows.append(
                [
                    f"`{s.name}`",
                    s.type,
                    None,
                    s.metrics.get("samples"),
                    s.metrics.get("rejected"),
                    ", ".join(f"{k} {v}" for k, v in (s.metrics.get("rejected_by_reason") or {}).items()) or "none",
                ]
            )
        elif "records_in" in s.metrics and "records_out" in s.metrics:  # any other stage that counts in and out
            report = s.file("decontam_report.json") or s.file("report.json") or {}
            by = next(
                (v for k, v in report.items() if k.startswith(("dropped_by", "rejected_by")) and isinstance(v, dict)),
                {},
            )
            rows.append(
                [
                    f"`{s.name}`",
                    s.type,
                    s.metrics["records_in"],
                    s.metrics["records_out"],
                    s.metrics.get("dropped", s.metrics.get("rejected")),
                    ", ".join(f"{k} {v}" for k, v in by.items() if v) or "none",
                ]
            )
    if not rows:
        return ""
    return (
        "## Kept and rejected\n\nEvery record a stage dropped is in that stage's rejects file with its "
        "reason; counts per stage:\n\n" + table(["stage", "type", "in", "out", "rejected", "rejected by reason"], rows)
    )


def _translator_section(ctx: CardContext) -> str:
    parts = []
    for s in data_lineage(ctx.run, ctx.lineage, ctx.stage.name):
        if s.type != "translate":
            continue
        r = s.file("report.json") or {}
        prov = r.get("provenance") or {}
        guards = s.config.get("guards") or {}
        rows = [
            ["model", _model_cell(ctx.run, s.config.get("model") or prov.get("model"))],
            ["engine", prov.get("engine", s.config.get("engine"))],
            ["prompt template", prov.get("template", s.config.get("template"))],
            [
                "direction",
                f"{prov.get('src_lang', s.config.get('src_lang'))} → {prov.get('tgt_lang', s.config.get('tgt_lang'))}",
            ],
            ["generation", json.dumps(prov.get("settings") or {}, ensure_ascii=False)],
            ["engine options", json.dumps(prov.get("engine_options") or {}, ensure_ascii=False)],
            ["segmentation", prov.get("segment", s.config.get("segment"))],
            [
                "guards",
                "default settings" + (f", switched off: {', '.join(guards['skip'])}" if guards.get("skip") else "")
                if not {k for k in guards if k != "skip"}
                else json.dumps(guards),
            ],
            [
                "segments (unique / generated)",
                f"{r.get('segments')} ({r.get('unique_segments')} / {r.get('generated_segments')})",
            ],
            ["retried by a guard / fixed by the retry", f"{r.get('retried_segments')} / {r.get('fixed_by_retry')}"],
            ["throughput", f"{fmt(r.get('tokens_per_s'))} tokens/s, {fmt(r.get('records_per_s'))} records/s"],
        ]
        parts.append(f"### Stage `{s.name}`\n\n" + table(["", ""], rows))
    if not parts:
        return ""
    return "## Translator\n\n" + "\n\n".join(parts)


def _spans_section(stats: dict) -> str:
    if not stats.get("records"):
        return ""
    rows = [[kind, n, stats["kept"].get(kind, 0)] for kind, n in sorted(stats["found"].items())]
    return (
        "## Protected spans\n\nCode, math, URLs, placeholders and markup are hidden from the translator and "
        "put back byte-exact; a record whose spans did not come back was rejected (`protected_span` above). "
        f"Counted again over the {stats['records']} translated records published here (originals in "
        "`meta.original`):\n\n" + table(["kind", "spans in the originals", "found byte-exact in the translation"], rows)
    )


def dataset_card(
    ctx: CardContext, splits: dict[str, int], columns: dict[str, str], kind: str, published: Finding, span_stats: dict
):
    from huggingface_hub import DatasetCard, DatasetCardData

    total = sum(splits.values())
    licence_names = sorted(published.licences) or ["unknown"]
    hub_ids = sorted({parse(n).hub_id for n in licence_names})
    others = [n for n in licence_names if parse(n).hub_id == "other"]
    translated = any(s.type == "translate" for s in ctx.lineage.stages)
    data = DatasetCardData(
        pretty_name=ctx.repo.split("/")[-1],
        language=languages(ctx, published.languages) or None,
        license=hub_ids,
        license_name=", ".join(others) if others else None,
        task_categories=["translation"] if kind == "pair" else ["text-generation"],
        size_categories=[_size_category(total)],
        tags=["hala"] + (["machine-translated", "synthetic"] if translated else []),
        configs=[
            {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in splits]}
        ],
        hala={
            "recipe": ctx.run.recipe,
            "stage": ctx.stage.name,
            "stage_type": ctx.stage.type,
            "stage_key": ctx.stage.key,
            "version": ctx.run.hala_version,
        },
    )
    name = ctx.repo.split("/")[-1]
    what = "parallel pairs" if kind == "pair" else "chat samples"
    body = [
        f"# {name}",
        "",
        f"{total} {what} made by [hala](https://arxiv.org/abs/2509.14008): stage `{ctx.stage.name}` "
        f"({ctx.stage.type}) of the `{ctx.run.recipe}` recipe run"
        + (", machine-translated (see Translator)." if translated else "."),
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{ctx.repo}")',
        "```",
        "",
        "## Schema",
        "",
        table(["column", "type", "meaning"], [[f"`{c}`", t, FIELD_DOCS.get(c, "")] for c, t in columns.items()]),
        "",
        "## Splits",
        "",
        table(["split", "records"], [[s, n] for s, n in splits.items()]),
        "",
        "## Sources",
        "",
        table(["source (meta.source)", "records"], [[k, v] for k, v in published.sources.most_common()])
        if published.sources
        else "No record names its source.",
        "",
        "Licences of the published records (`meta.license`, and `meta.license_src` / `meta.license_tgt` where a "
        "pair's sides differ): " + (_licences_text(published.licences) or "none"),
        "",
    ]
    for section in (_counts_section(ctx), _translator_section(ctx), _spans_section(span_stats)):
        if section:
            body += [section, ""]
    body += [
        "## Inputs",
        "",
        data_table(ctx),
        "",
        lineage_section(ctx),
        "",
        licence_section(ctx, "dataset"),
        "",
        provenance_section(ctx),
        "",
    ]
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))
