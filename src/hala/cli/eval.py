"""`hala eval`: translation quality (BLEU / chrF++), multiple-choice benchmarks (acc / acc_norm) and held-out
instruction prompts (share of answers in Arabic, reference perplexity).

`translation`, `mcq` and `instruct` are generated from their stage configs (hala.cli.generate); `tasks` lists
the declared tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, out_dir, stage_command

eval_app = typer.Typer(
    help="Evaluate translation quality, Arabic multiple-choice benchmarks and instruction "
    "models on held-out Arabic prompts.",
    no_args_is_help=True,
)

OUT = out_dir("hala-eval")


def _translation_prepare(data: dict, extras: dict) -> None:
    """--both and --hyp in terms of the config; --hyp/--ref without --data scores the files, no model."""
    if extras["hyp"] and not data.get("data"):
        if not extras["ref"]:
            raise typer.BadParameter(
                "--hyp needs --ref, or --data (parallel text whose target side is the reference)", param_hint="--ref"
            )
        from hala.evaluate.stage import score_hypotheses

        result = score_hypotheses(extras["hyp"], extras["ref"], extras["src"], extras["out"], data.get("label"))
        _print_translation(result["directions"], extras["out"], extras["as_json"])
        raise typer.Exit()
    from hala.evaluate.stage import EvalTranslationConfig

    defaults = EvalTranslationConfig.model_fields
    src = data.get("src_lang", defaults["src_lang"].default)
    tgt = data.get("tgt_lang", defaults["tgt_lang"].default)
    if extras["both"]:
        data["directions"] = [f"{src}-{tgt}", f"{tgt}-{src}"]
    if extras["hyp"]:
        first = (data.get("directions") or [f"{src}-{tgt}"])[0]
        data["hypotheses"] = {**(data.get("hypotheses") or {}), first: extras["hyp"]}


def translation(
    config: Any, out: Path, both: bool, hyp: str | None, ref: str | None, src: str | None, as_json: bool
) -> None:
    """BLEU (tokenize=intl) and chrF++ with sacrebleu signatures, per-sentence scores and the worst examples.

    Translates the sources through the translate stage's engines, or scores given hypotheses:
    `hala eval translation --hyp out.txt --ref ref.txt`."""
    from hala.evaluate.stage import run_translation

    _print_translation(run_translation(config, out)["directions"], out, as_json)


def _print_translation(directions: dict, out: Path, as_json: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    if as_json:
        keep = ("n", "bleu", "chrf", "comet", "signature")
        summary = {name: {k: r[k] for k in keep if k in r} for name, r in directions.items()}
        typer.echo(json.dumps({"directions": summary, "out": str(out)}, ensure_ascii=False, indent=2))
        return

    table = Table(title="translation quality")
    for col in ("direction", "n", "BLEU", "chrF++", "COMET"):
        table.add_column(col)
    for name, r in directions.items():
        comet = r.get("comet", {})
        table.add_row(
            name,
            str(r["n"]),
            f"{r['bleu']:.2f}",
            f"{r['chrf']:.2f}",
            f"{comet['score']:.4f}" if "score" in comet else "skipped" if comet else "-",
        )
    console = Console()
    console.print(table)
    for name, r in directions.items():
        console.print(f"[dim]{name}: {r['signature']['bleu']} | {r['signature']['chrf']}[/]")
    console.print(f"results in {out}/")


def mcq(config: Any, out: Path, as_json: bool) -> None:
    """Log-likelihood multiple choice with OALL-v2 prompts: acc and acc_norm per task, and their average."""
    from rich.console import Console
    from rich.table import Table

    from hala.evaluate.stage import run_mcq

    result = run_mcq(config, out)
    for name, r in result["tasks"].items():  # answer keys read only after Arabic normalisation: said, not hidden
        if r.get("answer_keys_normalised"):
            typer.echo(
                f"note: {name}: {r['answer_keys_normalised']} answer key(s) matched after Arabic "
                f"normalisation, e.g. {r['answer_key_notes'][0]}",
                err=True,
            )
    if as_json:
        tasks = {name: {k: v for k, v in r.items() if k != "details"} for name, r in result["tasks"].items()}
        typer.echo(json.dumps({**result, "tasks": tasks, "out": str(out)}, ensure_ascii=False, indent=2, default=str))
        return
    table = Table(title=f"{config.model} ({config.few_shot}-shot)")
    for col in ("task", "prompt", "n", "acc", "acc_norm", "q/s"):
        table.add_column(col)
    for name, r in result["tasks"].items():
        table.add_row(
            name,
            r["prompt"],
            str(r["n"]),
            f"{r['acc']:.4f}",
            f"{r['acc_norm']:.4f}",
            f"{r['questions_per_second'] or 0:.2f}",
        )
    avg = result["average"]
    table.add_row("average", "", str(avg["n_tasks"]) + " tasks", f"{avg['acc']:.4f}", f"{avg['acc_norm']:.4f}", "")
    Console().print(table)
    Console().print(f"results in {out}/")


def instruct(config: Any, out: Path) -> None:
    """Held-out Arabic prompts: share of greedy answers written in Arabic, perplexity of reference answers."""
    from hala.evaluate.instruct import run

    result = run(config, out)
    typer.echo(
        json.dumps(
            {"metrics": result["metrics"], "signature": result["signature"], "out": str(out)},
            ensure_ascii=False,
            indent=2,
        )
    )


@eval_app.command("tasks")
def tasks_cmd(tasks_file: list[str] = typer.Option(None, "--tasks-file", help="Extra YAML file to include.")) -> None:
    """List the declared multiple-choice tasks and suites."""
    from rich.console import Console
    from rich.table import Table

    from hala.evaluate.tasks import Registry

    registry = Registry(tasks_file or [])
    table = Table(title="tasks")
    for col in ("task", "data", "format", "prompt", "description"):
        table.add_column(col)
    for name, spec in registry.tasks.items():
        source = spec.data or (f"hf:{spec.hub.repo}" if spec.hub else "bind NAME=PATH")
        table.add_row(name, source, spec.format, spec.prompt or "-", spec.description)
    console = Console()
    console.print(table)
    for suite, names in registry.suites.items():
        console.print(f"suite [bold]{suite}[/]: {', '.join(names)}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


MODEL = Opt(("-m",), help="Model to evaluate (hub id, directory, embedded:NAME).")
DTYPE = Opt(help="float32, bfloat16 or auto.")
AS_JSON = Extra(
    "as_json", bool, typer.Option(False, "--json", help="Print the summary as JSON on stdout instead of a table.")
)
stage_command(
    eval_app,
    "translation",
    "eval.translation",
    translation,
    fields={
        "data": Opt(
            ("-d",),
            help="Parallel text: PREFIX (with PREFIX.en / PREFIX.ar), a directory holding one such "
            "pair, a .tsv, .jsonl pairs, a saved dataset or hf:NAME[:CONFIG][@SPLIT].",
        ),
        "model": Opt(("-m",), help="Model to translate with (hub id, directory, embedded:NAME)."),
        "src_lang": Opt(help="Language of the data's source side (first TSV column)."),
        "tgt_lang": Opt(help="Language of the data's target side."),
        "engine": Opt(help="Translate engine (as `hala translate`)."),
        "engine_options": Opt(
            help="The engine's own options (as `hala translate --option`), e.g. "
            "--set engine_options.compute_type=float32 for ct2."
        ),
        "template": Opt(help="Prompt template: hala (chat), few-shot or zero-shot (base models)."),
        "max_new_tokens": Opt(help="Generation limit per sentence."),
        "batch_size": Opt(help="Sentences per generation batch."),
        "worst_k": Opt(help="Lowest-chrF++ sentences kept as the worst examples."),
    },
    extras=[
        OUT,
        Extra("both", bool, typer.Option(False, "--both", help="Evaluate both directions (src→tgt and tgt→src).")),
        Extra(
            "hyp",
            str,
            typer.Option(
                None,
                "--hyp",
                help="Score these translations (one per line) instead of "
                "translating (against --ref, or the target side of "
                "--data).",
            ),
        ),
        Extra("ref", str, typer.Option(None, "--ref", help="With --hyp: references, one per line.")),
        Extra(
            "src",
            str,
            typer.Option(None, "--src", help="With --hyp: source sentences (shown beside the worst examples)."),
        ),
        AS_JSON,
    ],
    prepare=_translation_prepare,
)
stage_command(
    eval_app,
    "mcq",
    "eval.mcq",
    mcq,
    fields={
        "model": MODEL,
        "tasks": Opt(
            ("--task", "-t"),
            help="Task or suite name (see `hala eval tasks`), NAME=PATH to bind a declared "
            "task to local data, or a path (format detected).",
        ),
        "task_files": Opt(("--tasks-file",), help="Extra YAML file declaring tasks/suites."),
        "few_shot": Opt(help="Few-shot examples per question (from the task's few-shot split)."),
        "batch_size": Opt(help="Prompts per forward pass."),
        "prompt": Opt(
            help="Override the prompt format (arabic_mmlu, arabic_mmlu_mt, exams, alghafa, aratrust, acva, "
            "madinah_qa, arabic_mmlu_ht, mmlu_en)."
        ),
        "dtype": DTYPE,
    },
    extras=[
        OUT,
        Extra(
            "as_json", bool, typer.Option(False, "--json", help="Print the summary (no per-question details) as JSON.")
        ),
    ],
)
stage_command(
    eval_app,
    "instruct",
    "eval.instruct",
    instruct,
    fields={
        "model": MODEL,
        "data": Opt(
            ("-d",), help="Chat samples ending with a reference answer (default: the shipped held-out Arabic prompts)."
        ),
        "generate": Opt(help="--no-generate: reference perplexity only (no generation; much faster)."),
    },
    extras=[OUT],
)
