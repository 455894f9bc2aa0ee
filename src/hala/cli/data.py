"""`hala data`: produce parallel pairs from offline sources, and validate record files."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Parallel data sources and record-file checks.", no_args_is_help=True)


@data_app.command("packages")
def packages_cmd(
    out: str = typer.Option(..., "--out", "-o", help="Output file (.jsonl, .jsonl.gz or .parquet), pair schema."),
    tgt_lang: str = typer.Option("ar", help="Target language code (the catalogs' locale, e.g. ar, fr, de)."),
    source: list[str] = typer.Option(None, "--source",
                                     help="Package source(s) to use: django, pycountry, babel (default: all)."),
) -> None:
    """Extract human-translated English→TGT pairs from catalogs shipped in installed PyPI packages
    (Django gettext catalogs, pycountry/iso-codes, Babel CLDR names); deduplicated, licence in meta."""
    from hala.records import write_records
    from hala.sources.packages import package_pairs

    counts: dict[str, int] = {}
    n = write_records(out, package_pairs(tgt_lang, source or None, counts))
    for name, c in counts.items():
        typer.echo(f"{name:>10}: {c} pairs")
    typer.echo(f"{'total':>10}: {n} unique pairs -> {out}")


@data_app.command("check")
def check_cmd(
    path: str = typer.Argument(..., help="Record file (.jsonl/.jsonl.gz/.parquet) or saved dataset directory."),
    kind: str = typer.Option(None, help="Schema: chat or pair (default: inferred per record)."),
    rejects: str = typer.Option(None, help="Write rejected lines here (JSONL with file, line and reason)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Validate a record file: count good records, report each bad one as file:line: reason (invalid JSON or
    schema, a repeated id, an empty turn). Exits 1 when any record is rejected or the file holds no records."""
    import json
    from pathlib import Path

    from hala.records import RejectLog, read_records

    log = RejectLog(Path(rejects) if rejects else None, max_examples=50)
    with log:
        good = sum(1 for _ in read_records(path, kind, log))
    warnings = [f"{path}: no records (an empty file: nothing for a stage to read)"] if good + log.total == 0 else []
    if as_json:
        typer.echo(json.dumps({"path": path, "good": good, "rejected": log.total, "reasons": log.counts,
                               "examples": [str(r) for r in log.examples], "warnings": warnings},
                              ensure_ascii=False, indent=2))
    else:
        for r in log.examples:
            typer.echo(str(r), err=True)
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
        typer.echo(f"{good} good records, {log.total} rejected")
    if log.total or warnings:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
