"""`hala filter`: clean parallel pairs with the named, configurable rule chain; print counts per rule."""

from __future__ import annotations

from pathlib import Path

import typer


def filter_cmd(
    inputs: list[str] = typer.Argument(None, help="Inputs: pair .jsonl/.parquet, .tsv, .po/.mo, line-aligned "
                                                  "STEM.en/STEM.ar (or .eng/.ara) files, a directory of those, "
                                                  "hf:NAME[:CONFIG][@SPLIT], packages:; NAME=REF names a source."),
    out: Path = typer.Option(None, "--out", "-o", help="Output directory: kept.jsonl, rejects.jsonl, "
                                                       "report.json, report.md."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML with `rules:` (and any other FilterConfig "
                                                             "field); default: the shipped default chain."),
    src_lang: str = typer.Option(None, help="Source language of inputs without language codes (default en)."),
    tgt_lang: str = typer.Option(None, help="Target language of inputs without language codes (default ar)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the effective config as YAML and exit."),
    list_rules: bool = typer.Option(False, "--list-rules", help="List every rule with its options and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Filter parallel pairs: every pair runs through the rules in order and is kept, or rejected with the first
    rule it fails (and why) in rejects.jsonl. Prints counts per rule; they sum to input − kept."""
    import yaml

    from hala.filters import load_config
    from hala.filters.registry import load_rules

    if list_rules:
        for name, cls in load_rules().items():
            typer.echo(f"{name}: {cls.summary}")
            for field, info in cls.Params.model_fields.items():
                typer.echo(f"    {field} = {info.get_default(call_default_factory=True)!r}  {info.description or ''}")
        return
    cfg = load_config(config, inputs=inputs or (["-"] if show_config else None), src_lang=src_lang,
                      tgt_lang=tgt_lang, progress=not quiet)
    if show_config:
        typer.echo(yaml.safe_dump(cfg.model_dump(exclude={"inputs", "progress"}), sort_keys=False,
                                  allow_unicode=True))
        return
    if out is None:
        raise typer.BadParameter("--out DIR is required", param_hint="--out")
    from hala.filters import run

    report = run(cfg, out)
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
    typer.echo(f"kept {report['kept']}/{report['input_pairs']} ({report['kept_share']:.1%}) in {report['seconds']} s "
               f"({report['pairs_per_second']} pairs/s) -> {out}/{report['outputs']['kept']}; "
               f"report: {out}/report.md")


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_cmd)
