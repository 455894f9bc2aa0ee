"""`hala eval`: translation quality (BLEU / chrF++), multiple-choice benchmarks (acc / acc_norm) and held-out
instruction prompts (share of answers in Arabic, reference perplexity)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

eval_app = typer.Typer(help="Evaluate translation quality, Arabic multiple-choice benchmarks and instruction "
                            "models on held-out Arabic prompts.",
                       no_args_is_help=True)


@eval_app.command("translation")
def translation_cmd(
    data: str = typer.Option(None, "--data", "-d",
                             help="Parallel text: PREFIX (with PREFIX.en / PREFIX.ar), a directory holding one such "
                                  "pair, a .tsv, .jsonl pairs, a saved dataset or hf:NAME[:CONFIG][@SPLIT]."),
    model: str = typer.Option(None, "--model", "-m",
                              help="Model to translate with (hub id, directory, embedded:NAME)."),
    src_lang: str = typer.Option("en", help="Language of the data's source side (first TSV column)."),
    tgt_lang: str = typer.Option("ar", help="Language of the data's target side."),
    both: bool = typer.Option(False, "--both", help="Evaluate both directions (src→tgt and tgt→src)."),
    engine: str = typer.Option("hf", help="Translate engine (as `hala translate`)."),
    template: str = typer.Option("hala", help="Prompt template: hala (chat), few-shot or zero-shot (base models)."),
    limit: int = typer.Option(None, help="Evaluate N pairs spread evenly over the set."),
    max_new_tokens: int = typer.Option(256, help="Generation limit per sentence."),
    batch_size: int = typer.Option(8, help="Sentences per generation batch."),
    comet_model: str = typer.Option(None, help="Local COMET checkpoint (skipped with a reason when absent)."),
    hyp: str = typer.Option(None, "--hyp", help="Score these translations (one per line) instead of translating "
                                                "(against --ref, or the target side of --data)."),
    ref: str = typer.Option(None, "--ref", help="With --hyp: references, one per line."),
    src: str = typer.Option(None, "--src", help="With --hyp: source sentences (shown beside the worst examples)."),
    label: str = typer.Option(None, help="Name for the report (e.g. base, trained)."),
    out: Path = typer.Option(Path("hala-eval"), "--out", "-o", help="Output directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout instead of a table."),
) -> None:
    """BLEU (tokenize=intl) and chrF++ with sacrebleu signatures, per-sentence scores and the worst examples.

    Translates the sources through the translate stage's engines, or scores given hypotheses:
    `hala eval translation --hyp out.txt --ref ref.txt`."""
    from hala.atomic import write_json
    from hala.evaluate.metrics import score_translations
    from hala.evaluate.pairs import texts
    from hala.evaluate.stage import EvalTranslationConfig, run_translation
    from hala.records import write_records

    if hyp and not data:
        if not ref:
            raise typer.BadParameter("--hyp needs --ref, or --data (parallel text whose target side is the "
                                     "reference)", param_hint="--ref")
        result = score_translations(texts(hyp), texts(ref), texts(src) if src else None)
        write_records(out / "sentences.jsonl", result.pop("sentences"))
        write_json(out / "eval_translation.json", {"kind": "translation", "hypotheses": hyp, "references": ref,
                                                   "label": label, "directions": {"hyp": result}})
        _print_translation({"hyp": result}, out, as_json)
        return
    if not data:
        raise typer.BadParameter("give --data (parallel text) or --hyp/--ref", param_hint="--data")
    directions = [f"{src_lang}-{tgt_lang}"] + ([f"{tgt_lang}-{src_lang}"] if both else [])
    config = EvalTranslationConfig(model=model, data=data, src_lang=src_lang, tgt_lang=tgt_lang, directions=directions,
                                   engine=engine, template=template, limit=limit, max_new_tokens=max_new_tokens,
                                   batch_size=batch_size, comet_model=comet_model, label=label,
                                   hypotheses={directions[0]: hyp} if hyp else {})
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
        table.add_row(name, str(r["n"]), f"{r['bleu']:.2f}", f"{r['chrf']:.2f}",
                      f"{comet['score']:.4f}" if "score" in comet else "skipped" if comet else "-")
    console = Console()
    console.print(table)
    for name, r in directions.items():
        console.print(f"[dim]{name}: {r['signature']['bleu']} | {r['signature']['chrf']}[/]")
    console.print(f"results in {out}/")


@eval_app.command("mcq")
def mcq_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model to evaluate (hub id, directory, embedded:NAME)."),
    task: list[str] = typer.Option(["quickstart"], "--task", "-t",
                                   help="Task or suite name (see `hala eval tasks`), NAME=PATH to bind a declared "
                                        "task to local data, or a path (format detected). Repeatable."),
    few_shot: int = typer.Option(0, help="Few-shot examples per question (from the task's few-shot split)."),
    limit: int = typer.Option(None, help="Evaluate N questions per task, spread evenly."),
    batch_size: int = typer.Option(8, help="Prompts per forward pass."),
    prompt: str = typer.Option(None, help="Override the prompt format (arabic_mmlu, arabic_mmlu_mt, exams, alghafa, "
                                          "aratrust, acva, madinah_qa, arabic_mmlu_ht, mmlu_en)."),
    tasks_file: list[str] = typer.Option(None, "--tasks-file", help="Extra YAML file declaring tasks/suites."),
    dtype: str = typer.Option("float32", help="float32, bfloat16 or auto."),
    label: str = typer.Option(None, help="Name for the report (e.g. base, tuned, merged)."),
    out: Path = typer.Option(Path("hala-eval"), "--out", "-o", help="Output directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (no per-question details) as JSON."),
) -> None:
    """Log-likelihood multiple choice with OALL-v2 prompts: acc and acc_norm per task, and their average."""
    from rich.console import Console
    from rich.table import Table

    from hala.evaluate.stage import EvalMCQConfig, run_mcq

    config = EvalMCQConfig(model=model, tasks=task, task_files=tasks_file or [], few_shot=few_shot, limit=limit,
                           batch_size=batch_size, prompt=prompt, dtype=dtype, label=label)
    result = run_mcq(config, out)
    for name, r in result["tasks"].items():  # answer keys read only after Arabic normalisation: said, not hidden
        if r.get("answer_keys_normalised"):
            typer.echo(f"note: {name}: {r['answer_keys_normalised']} answer key(s) matched after Arabic "
                       f"normalisation, e.g. {r['answer_key_notes'][0]}", err=True)
    if as_json:
        tasks = {name: {k: v for k, v in r.items() if k != "details"} for name, r in result["tasks"].items()}
        typer.echo(json.dumps({**result, "tasks": tasks, "out": str(out)}, ensure_ascii=False, indent=2,
                              default=str))
        return
    table = Table(title=f"{model} ({few_shot}-shot)")
    for col in ("task", "prompt", "n", "acc", "acc_norm", "q/s"):
        table.add_column(col)
    for name, r in result["tasks"].items():
        table.add_row(name, r["prompt"], str(r["n"]), f"{r['acc']:.4f}", f"{r['acc_norm']:.4f}",
                      f"{r['questions_per_second'] or 0:.2f}")
    avg = result["average"]
    table.add_row("average", "", str(avg["n_tasks"]) + " tasks", f"{avg['acc']:.4f}", f"{avg['acc_norm']:.4f}", "")
    Console().print(table)
    Console().print(f"results in {out}/")


@eval_app.command("instruct")
def instruct_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model to evaluate (hub id, directory, embedded:NAME)."),
    data: str = typer.Option("package:instruct_heldout_ar.jsonl", "--data", "-d",
                             help="Chat samples ending with a reference answer (default: the shipped held-out "
                                  "Arabic prompts)."),
    lang: str = typer.Option("ar", help="Language the answers should be written in (its script is counted)."),
    threshold: float = typer.Option(0.5, help="An answer is in LANG when this share of its letters is."),
    max_new_tokens: int = typer.Option(32, help="Greedy generation limit per answer."),
    batch_size: int = typer.Option(12, help="Prompts per batch."),
    limit: int = typer.Option(None, help="Use N prompts spread evenly over the set."),
    dtype: str = typer.Option("float32", help="float32, bfloat16 or auto."),
    no_generate: bool = typer.Option(False, "--no-generate", help="Reference perplexity only (no generation)."),
    label: str = typer.Option(None, help="Name for the report (e.g. base, tuned, merged)."),
    out: Path = typer.Option(Path("hala-eval"), "--out", "-o", help="Output directory."),
) -> None:
    """Held-out Arabic prompts: share of greedy answers written in Arabic, perplexity of reference answers."""
    from hala.evaluate.instruct import EvalInstructConfig, run

    config = EvalInstructConfig(model=model, data=data, lang=lang, threshold=threshold, max_new_tokens=max_new_tokens,
                                batch_size=batch_size, limit=limit, dtype=dtype, generate=not no_generate,
                                label=label)
    result = run(config, out)
    typer.echo(json.dumps({"metrics": result["metrics"], "signature": result["signature"], "out": str(out)},
                          ensure_ascii=False, indent=2))


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
