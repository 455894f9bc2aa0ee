"""`hala translate`: translate chat samples, pairs or table columns, keeping code, math, URLs and markup intact.

The options are generated from `TranslateConfig` (hala.cli.generate); `--option`, `--ray-option` and
`--skip-guard` are the established short spellings of `engine_options`, `ray` and `guards.skip`."""

from __future__ import annotations

import json
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, key_values, parse_value, refuse_empty_input, stage_command


def _length_cap(value: str) -> Any:
    """`RATIO,EXTRA` (e.g. 4,32) or `off`; a YAML mapping ({ratio: 4, extra: 32}) also works."""
    if value.strip().lower() in ("off", "none", "no", "null"):
        return None
    ratio, sep, extra = value.partition(",")
    try:
        return {"ratio": float(ratio), "extra": int(extra) if sep else 0}
    except ValueError:
        return parse_value(value)  # the config names the field if this is not a length cap either


def _merge(data: dict, field: str, update: dict) -> None:
    if update:
        current = data.get(field)
        data[field] = {**(current if isinstance(current, dict) else {}), **update}


def _prepare(data: dict, extras: dict) -> None:
    _merge(data, "engine_options", key_values(extras["option"], "--option"))
    _merge(data, "ray", key_values(extras["ray_option"], "--ray-option"))
    if extras["skip_guard"]:
        _merge(data, "guards", {"skip": list(extras["skip_guard"])})


def translate(config: Any, out: str, option: list[str], ray_option: list[str], skip_guard: list[str]) -> None:
    """Translate a dataset: every chat message (roles kept), the `src` of pairs (into `tgt`), or --fields
    columns. Code, LaTeX, URLs, e-mails, HTML tags, placeholders and markdown structure are never sent to the
    model and are verified byte-exact afterwards; failed quality guards are retried once, then rejected with a
    reason. Originals and provenance go to each record's `meta`. Output: OUT/translated.jsonl,
    OUT/rejects.jsonl, OUT/report.json."""
    from pathlib import Path

    from hala.translate import run

    report = run(config, Path(out))
    if config.dry_run:
        _show_dry_run(report)
        return
    typer.echo(
        f"records: {report['records']}  translated: {report['translated']}  rejected: "
        f"{report['rejected']}  unreadable input: {report['input_rejects']}"
    )
    for reason, n in sorted(report["rejects_by_reason"].items(), key=lambda kv: -kv[1]):
        typer.echo(f"  rejected {n:>6}  {reason}")
    typer.echo(
        f"segments: {report['segments']} ({report['unique_segments']} unique, "
        f"{report['generated_segments']} generated, {report['retried_segments']} retried, "
        f"{report['fixed_by_retry']} fixed by the retry)  tokens: {report['tokens']}  "
        f"{report['tokens_per_s']} tok/s  {report['records_per_s']} records/s"
    )
    typer.echo(f"output: {report['output']}\nrejects: {report['rejects']}")
    refuse_empty_input("translate", config.input, report["records"], report["input_rejects"])


def _show_dry_run(report: dict) -> None:
    for ex in report["examples"]:
        typer.echo(f"--- record at line {ex['line']}")
        for s in ex["segments"]:
            typer.echo(f"segment: {s['text']!r}  protected: {s['protected']}")
            prompt = s["prompt"]
            typer.echo(
                "prompt: "
                + (
                    json.dumps(prompt, ensure_ascii=False)
                    if isinstance(prompt, list)
                    else prompt.replace("\n", "\n        ")
                )
            )
    typer.echo(
        f"dry run: {report['records']} records, {report['segments']} segments "
        f"({report['unique_segments']} unique); nothing was translated"
    )


FIELDS = {
    "input": Opt(
        argument=True,
        help="Records to translate: .jsonl(.gz), .parquet, a saved dataset directory, or "
        "hf:NAME (optionally :CONFIG and @SPLIT).",
    ),
    "model": Opt(
        ("-m",),
        help="Translator: embedded:NAME, a model directory, a hub id, or (engine openai) the served model name.",
    ),
    "engine": Opt(
        help="ct2 (CPU default, int8), hf (transformers), vllm (GPU), openai (any OpenAI-compatible "
        "server), echo (instant stand-in for tests and benchmarks)."
    ),
    "template": Opt(
        help="Prompt: hala (chat, instruction models), few-shot or zero-shot (completion, for base "
        "models such as embedded:gemma-3-270m)."
    ),
    "src_lang": Opt(help="Source language code."),
    "tgt_lang": Opt(help="Target language code."),
    "kind": Opt(help="What the records are; table needs --fields."),
    "fields": Opt(comma=True, help="Columns to translate in a generic table (string or list-of-string values)."),
    "dry_run": Opt(help="Show segments and prompts; load no model, write nothing."),
    "batch_size": Opt(help="Prompts per batch."),
    "max_new_tokens": Opt(
        help="Token limit per segment (a hit triggers one retry with twice the limit, then a reject)."
    ),
    "length_cap": Opt(
        parse=_length_cap,
        metavar="RATIO,EXTRA",
        help="Length-aware limit: a segment of n source "
        "tokens generates at most min(max-new-tokens, RATIO*n+EXTRA) tokens; 'off': every segment "
        "may use max-new-tokens [default: 4,32].",
    ),
    "segment": Opt(help="sentence: one segment per sentence; line: one per line (long lines still split)."),
    "max_segment_chars": Opt(help="Longest segment sent to the model."),
    "distributed": Opt(
        help="ray: run the engine on the workers of a Ray cluster (needs the ray extra; same output "
        "and resume; see docs/SCALING.md)."
    ),
}

EXTRAS = [
    Extra("out", str, typer.Option(..., "--out", "-o", help="Output directory (rerun the same command to resume).")),
    Extra(
        "option",
        list[str],
        typer.Option(
            None,
            "--option",
            metavar="KEY=VALUE",
            help="Engine option "
            "(repeatable; into engine_options), e.g. compute_type=float32 (ct2), dtype=float32 (hf), "
            "base_url=http://host:8000/v1 / api_key_env=MY_KEY (openai).",
        ),
    ),
    Extra(
        "ray_option",
        list[str],
        typer.Option(
            None,
            "--ray-option",
            metavar="KEY=VALUE",
            help="Ray option (repeatable; into ray): address=auto, workers=4, cpus_per_worker=2, gpus_per_worker=1.",
        ),
    ),
    Extra(
        "skip_guard",
        list[str],
        typer.Option(
            None,
            "--skip-guard",
            help="Switch off a quality guard "
            "(repeatable; into guards.skip): empty, max_tokens, repetition, length_ratio, wrong_script.",
        ),
    ),
]


def register(app: typer.Typer) -> None:
    stage_command(app, "translate", "translate", translate, fields=FIELDS, extras=EXTRAS, prepare=_prepare)
