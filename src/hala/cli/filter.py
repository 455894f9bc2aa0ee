"""`hala filter`: clean parallel pairs with the named, configurable rule chain; print counts per rule.

Options generated from `FilterConfig` (hala.cli.generate); `--config` takes a YAML with `rules:` (and any other
field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, refuse_empty_input, stage_command


def _prepare(data: dict, extras: dict) -> None:
    if extras["list_rules"]:
        from hala.filters.registry import load_rules

        for name, cls in load_rules().items():
            typer.echo(f"{name}: {cls.summary}")
            for field, info in cls.Params.model_fields.items():
                typer.echo(f"    {field} = {info.get_default(call_default_factory=True)!r}  {info.description or ''}")
        raise typer.Exit()
    if extras["show_config"] and not data.get("inputs"):
        data["inputs"] = ["-"]  # the effective config without inputs: the rule chain and the other settings


def filter_pairs(config: Any, out: Path | None, show_config: bool, list_rules: bool) -> None:
    """Filter parallel pairs: every pair runs through the rules in order and is kept, or rejected with the first
    rule it fails (and why) in rejects.jsonl. Prints counts per rule; they sum to input − kept."""
    if show_config:
        import yaml

        typer.echo(
            yaml.safe_dump(config.model_dump(exclude={"inputs", "progress"}), sort_keys=False, allow_unicode=True)
        )
        return
    if out is None:
        raise typer.BadParameter("--out DIR is required", param_hint="--out")
    from hala.filters import run

    report = run(config, out)
    width = max(len(r["name"]) for r in report["rules"])
    for r in report["rules"]:
        count = f"skipped ({r['skipped']})" if r["skipped"] else str(r["rejected"])
        typer.echo(f"  {r['name']:<{width}}  {count}")
        for note in r["notes"]:
            typer.echo(f"  {'':<{width}}  note: {note}")
    total = sum(r["rejected"] for r in report["rules"])
    typer.echo(f"  {'total':<{width}}  {total} = {report['input_pairs']} in − {report['kept']} kept")
    if report["read_errors"]:
        typer.echo(f"  {report['read_errors']} unreadable lines/rows (in rejects.jsonl)")
    typer.echo(
        f"kept {report['kept']}/{report['input_pairs']} ({report['kept_share']:.1%}) in {report['seconds']} s "
        f"({report['pairs_per_second']} pairs/s) -> {out}/{report['outputs']['kept']}; "
        f"report: {out}/{report['outputs']['report_md']}"
    )
    refuse_empty_input("filter", config.inputs, report["input_pairs"], report["read_errors"])


FIELDS = {
    "inputs": Opt(
        argument=True,
        metavar="[NAME=]REF...",
        help="Inputs: pair .jsonl/.parquet, .tsv, .po/.mo, "
        "line-aligned STEM.en/STEM.ar (or .eng/.ara) files, a directory of those, "
        "hf:NAME[:CONFIG][@SPLIT], packages:; NAME=REF names a source.",
    ),
    "rules": Opt(
        help="The chain: rule names or {name: {params}}, in order (see --list-rules); usually given as "
        "`rules:` in --config."
    ),
    "progress": Opt((" /--quiet", " /-q"), help="A progress bar on stderr (--quiet/-q: none)."),
}

EXTRAS = [
    Extra(
        "out",
        Path,
        typer.Option(
            None,
            "--out",
            "-o",
            help="Output directory: kept.jsonl, rejects.jsonl, filter_report.json, filter_report.md.",
        ),
    ),
    Extra(
        "show_config", bool, typer.Option(False, "--show-config", help="Print the effective config as YAML and exit.")
    ),
    Extra("list_rules", bool, typer.Option(False, "--list-rules", help="List every rule with its options and exit.")),
]


def register(app: typer.Typer) -> None:
    stage_command(app, "filter", "filter", filter_pairs, fields=FIELDS, extras=EXTRAS, prepare=_prepare)
