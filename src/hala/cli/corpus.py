"""`hala corpus`: build the bidirectional translation-instruction corpus with train/dev/test splits.

Options generated from `CorpusConfig` (hala.cli.generate); `--cap` / `--ratio` set one source's mix by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, key_values, refuse_empty_input, stage_command


def _prepare(data: dict, extras: dict) -> None:
    caps, ratios = key_values(extras["cap"], "--cap"), key_values(extras["ratio"], "--ratio")
    if caps or ratios:
        from hala.corpus.stage import limit_sources

        sources = data.get("sources") or []
        data["sources"] = limit_sources([sources] if isinstance(sources, (str, dict)) else sources, caps, ratios)


def corpus(config: Any, out: Path, cap: list[str], ratio: list[str]) -> None:
    """Build translation-instruction chat examples in both directions (EN→AR and AR→EN) from pairs and translated
    chat samples: mixed per source, deduplicated across sources, split train/dev/test so that no text is in two
    splits in either direction, optionally capped in tokens."""
    from hala.corpus import run

    report = run(config, out)
    for name, c in report["sources"].items():
        typer.echo(
            f"  {name}: read {c.get('read', 0)}, kept {c.get('kept', 0)}, duplicates "
            f"{c.get('duplicates', 0)}, sampled out {c.get('sampled_out', 0)}, too long "
            f"{c.get('too_long', 0)}{', cap reached' if c.get('cap_reached') else ''}"
        )
    for split, c in report["splits"].items():
        per_dir = ", ".join(f"{k} {v}" for k, v in c.items() if k != "pairs")
        typer.echo(f"  {split}: {c.get('pairs', 0)} pairs ({per_dir})")
    typer.echo(
        f"{report['examples']} examples from {report['pairs']} pairs in {report['seconds']} s -> {out}; "
        f"{sum(report['rejects'].values())} rejects in {out}/rejects.jsonl"
    )
    read = sum(c.get("read", 0) for c in report["sources"].values())
    refuse_empty_input("corpus", [s.ref for s in config.sources], read, sum(report["rejects"].values()))


FIELDS = {
    "sources": Opt(
        argument=True,
        metavar="[NAME=]REF...",
        help="Sources in priority order: filtered pairs (any "
        "input `hala filter` reads) or translated chat samples (JSONL); NAME=REF names a source. "
        "With ratio/cap/kind per source: `sources:` in --config.",
    ),
    "tgt_lang": Opt(help="The other language."),
    "templates": Opt(("--template",)),
    "dev_fraction": Opt(("--dev",), help="Share of pairs for dev."),
    "test_fraction": Opt(("--test",), help="Share of pairs for test."),
}

EXTRAS = [
    Extra(
        "out",
        Path,
        typer.Option(
            ...,
            "--out",
            "-o",
            help="Output directory: train/dev/test.jsonl (chat), pairs_{train,dev,test}.jsonl, corpus_report.json.",
        ),
    ),
    Extra(
        "cap",
        list[str],
        typer.Option(None, "--cap", metavar="NAME=N", help="At most N pairs from source NAME (repeatable)."),
    ),
    Extra(
        "ratio",
        list[str],
        typer.Option(None, "--ratio", metavar="NAME=F", help="Keep fraction F of source NAME (by hash; repeatable)."),
    ),
]


def register(app: typer.Typer) -> None:
    stage_command(app, "corpus", "corpus", corpus, fields=FIELDS, extras=EXTRAS, prepare=_prepare)
