"""`hala translate`: translate chat samples, pairs or table columns, keeping code, math, URLs and markup intact."""

from __future__ import annotations

import json

import typer


def _engine_options(values: list[str]) -> dict:
    """KEY=VALUE pairs; VALUE is read as JSON when it parses (numbers, booleans), else kept as a string."""
    out = {}
    for v in values:
        key, sep, raw = v.partition("=")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got '{v}'")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _length_cap(value: str) -> dict | None:
    if value.strip().lower() in ("off", "none", "no"):
        return None
    ratio, sep, extra = value.partition(",")
    try:
        return {"ratio": float(ratio), "extra": int(extra) if sep else 0}
    except ValueError:
        raise ValueError(f"--length-cap expects RATIO,EXTRA (e.g. 4,32) or off, got '{value}'") from None


def translate_cmd(
    input: str = typer.Argument(..., help="Records to translate: .jsonl(.gz), .parquet, a saved dataset "
                                           "directory, or hf:NAME (optionally :CONFIG and @SPLIT)."),
    model: str = typer.Option(..., "--model", "-m", help="Translator: embedded:NAME, a model directory, a hub "
                                                          "id, or (engine openai) the served model name."),
    out: str = typer.Option(..., "--out", "-o", help="Output directory (rerun the same command to resume)."),
    engine: str = typer.Option("ct2", help="ct2 (CPU default, int8), hf (transformers), vllm (GPU), openai "
                                           "(any OpenAI-compatible server), echo (instant stand-in for tests and "
                                           "benchmarks)."),
    template: str = typer.Option("hala", help="Prompt: hala (chat, instruction models), few-shot or zero-shot "
                                              "(completion, for base models such as embedded:gemma-3-270m)."),
    src_lang: str = typer.Option("en", help="Source language code."),
    tgt_lang: str = typer.Option("ar", help="Target language code."),
    kind: str = typer.Option("auto", help="auto, chat, pair or table (table needs --fields)."),
    fields: str = typer.Option(None, help="Comma-separated columns to translate in a generic table "
                                          "(string or list-of-string values)."),
    limit: int = typer.Option(None, help="Translate only the first N records."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show segments and prompts; load no model, write "
                                                          "nothing."),
    batch_size: int = typer.Option(16, help="Prompts per batch."),
    max_new_tokens: int = typer.Option(256, help="Token limit per segment (a hit triggers one retry with "
                                                 "twice the limit, then a reject)."),
    length_cap: str = typer.Option("4,32", help="Length-aware limit RATIO,EXTRA: a segment of n source tokens "
                                                "generates at most min(max-new-tokens, RATIO*n+EXTRA) tokens; "
                                                "'off': every segment may use max-new-tokens."),
    calls_in_flight: int = typer.Option(None, help="Engine calls kept in flight across shards (default: as the "
                                                   "engine asks; vllm/openai several, ct2/hf one)."),
    segment: str = typer.Option("sentence", help="sentence: one segment per sentence; line: one per line "
                                                 "(long lines still split)."),
    max_segment_chars: int = typer.Option(400, help="Longest segment sent to the model."),
    shard_size: int = typer.Option(256, help="Records per output shard (the unit of resume)."),
    skip_guard: list[str] = typer.Option(None, "--skip-guard", help="Switch off a quality guard: empty, "
                                         "max_tokens, repetition, length_ratio, wrong_script (repeatable)."),
    option: list[str] = typer.Option(None, "--option", help="Engine option KEY=VALUE (repeatable), e.g. "
                                     "compute_type=float32 (ct2), dtype=float32 (hf), "
                                     "base_url=http://host:8000/v1 / api_key_env=MY_KEY (openai)."),
    distributed: str = typer.Option("none", help="ray: run the engine on the workers of a Ray cluster "
                                                  "(needs the ray extra; same output and resume; see "
                                                  "docs/SCALING.md)."),
    ray_option: list[str] = typer.Option(None, "--ray-option", help="Ray option KEY=VALUE (repeatable): "
                                         "address=auto, workers=4, cpus_per_worker=2, gpus_per_worker=1."),
) -> None:
    """Translate a dataset: every chat message (roles kept), the `src` of pairs (into `tgt`), or --fields
    columns. Code, LaTeX, URLs, e-mails, HTML tags, placeholders and markdown structure are never sent to the
    model and are verified byte-exact afterwards; failed quality guards are retried once, then rejected with a
    reason. Originals and provenance go to each record's `meta`. Output: OUT/translated.jsonl,
    OUT/rejects.jsonl, OUT/report.json."""
    from pathlib import Path

    from hala.translate import TranslateConfig, run

    config = TranslateConfig(
        input=input, model=model, engine=engine, template=template, src_lang=src_lang, tgt_lang=tgt_lang,
        kind=kind, fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else [], limit=limit,
        dry_run=dry_run, batch_size=batch_size, max_new_tokens=max_new_tokens, segment=segment,
        max_segment_chars=max_segment_chars, shard_size=shard_size, engine_options=_engine_options(option or []),
        guards={"skip": skip_guard or []}, distributed=distributed, ray=_engine_options(ray_option or []),
        length_cap=_length_cap(length_cap), calls_in_flight=calls_in_flight)
    report = run(config, Path(out))
    if dry_run:
        _show_dry_run(report)
        return
    typer.echo(f"records: {report['records']}  translated: {report['translated']}  rejected: "
               f"{report['rejected']}  unreadable input: {report['input_rejects']}")
    for reason, n in sorted(report["rejects_by_reason"].items(), key=lambda kv: -kv[1]):
        typer.echo(f"  rejected {n:>6}  {reason}")
    typer.echo(f"segments: {report['segments']} ({report['unique_segments']} unique, "
               f"{report['generated_segments']} generated, {report['retried_segments']} retried, "
               f"{report['fixed_by_retry']} fixed by the retry)  tokens: {report['tokens']}  "
               f"{report['tokens_per_s']} tok/s  {report['records_per_s']} records/s")
    typer.echo(f"output: {report['output']}\nrejects: {report['rejects']}")


def _show_dry_run(report: dict) -> None:
    for ex in report["examples"]:
        typer.echo(f"--- record at line {ex['line']}")
        for s in ex["segments"]:
            typer.echo(f"segment: {s['text']!r}  protected: {s['protected']}")
            prompt = s["prompt"]
            typer.echo("prompt: " + (json.dumps(prompt, ensure_ascii=False) if isinstance(prompt, list)
                                     else prompt.replace("\n", "\n        ")))
    typer.echo(f"dry run: {report['records']} records, {report['segments']} segments "
               f"({report['unique_segments']} unique); nothing was translated")


def register(app: typer.Typer) -> None:
    app.command("translate")(translate_cmd)
