"""`hala data`: produce parallel pairs from offline sources, and validate record files.

`packages`, `chat` and `mix` are generated from their stage configs (hala.cli.generate); `check` is not a stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, out_dir, stage_command

data_app = typer.Typer(
    help="Data sources (parallel pairs, instruction datasets), mixing, and record-file checks.", no_args_is_help=True
)


def packages(config: Any, out: str) -> None:
    """Extract human-translated English→TGT pairs from catalogs shipped in installed PyPI packages
    (Django gettext catalogs, pycountry/iso-codes, Babel CLDR names); deduplicated, licence in meta."""
    from hala.sources.packages import write_pairs

    n, counts = write_pairs(config, out)  # what the recipe stage does, to --out instead of OUT_DIR/pairs.jsonl
    for name, c in counts.items():
        typer.echo(f"{name:>10}: {c} pairs")
    typer.echo(f"{'total':>10}: {n} unique pairs -> {out}")


stage_command(
    data_app,
    "packages",
    "data.packages",
    packages,
    fields={"sources": Opt(("--source",))},
    extras=[
        Extra(
            "out",
            str,
            typer.Option(..., "--out", "-o", help="Output file (.jsonl, .jsonl.gz or .parquet), pair schema."),
        )
    ],
)


def chat(config: Any, out: Path) -> None:
    """Read an instruction dataset (messages, sharegpt or column layout) into hala chat samples:
    OUT/samples.jsonl, bad rows in OUT/rejects.jsonl with their reason."""
    from hala.sources.chat import run

    m = run(config, out)["metrics"]
    typer.echo(f"{m['samples']} samples, {m['rejected']} rejected -> {out / 'samples.jsonl'}")


def mix(config: Any, out: Path) -> None:
    """Concatenate chat-sample files into one training set: at most --cap-per-input samples from each, a sample
    whose id was seen in an earlier input dropped. OUT/samples.jsonl, OUT/rejects.jsonl."""
    from hala.sources.mix import run

    m = run(config, out)["metrics"]
    for i, x in enumerate(m["per_input"], start=1):
        typer.echo(f"  {i}. {x['input']}: {x['kept']} kept, {x['duplicates']} duplicate ids, {x['rejected']} rejected")
    typer.echo(f"{m['samples']} samples, {m['rejected']} rejected -> {out / 'samples.jsonl'}")


stage_command(
    data_app,
    "chat",
    "data.chat",
    chat,
    fields={
        "input": Opt(argument=True),
    },
    extras=[out_dir(None)],
)
stage_command(
    data_app,
    "mix",
    "data.mix",
    mix,
    fields={"inputs": Opt(argument=True)},
    extras=[out_dir(None)],
)


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
        typer.echo(
            json.dumps(
                {
                    "path": path,
                    "good": good,
                    "rejected": log.total,
                    "reasons": log.counts,
                    "examples": [str(r) for r in log.examples],
                    "warnings": warnings,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
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
