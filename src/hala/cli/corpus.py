"""`hala corpus`: build the bidirectional translation-instruction corpus with train/dev/test splits."""

from __future__ import annotations

from pathlib import Path

import typer


def _per_source(values: list[str] | None, option: str, cast: type) -> dict[str, object]:
    out: dict[str, object] = {}
    for v in values or []:
        name, sep, value = v.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected NAME=VALUE, got '{v}'", param_hint=option)
        try:
            out[name] = cast(value)
        except ValueError:
            raise typer.BadParameter(f"'{value}' is not a valid {cast.__name__}", param_hint=option) from None
    return out


def corpus_cmd(
    sources: list[str] = typer.Argument(None, help="Sources in priority order: filtered pairs (any input "
                                                   "`hala filter` reads) or translated chat samples (JSONL); "
                                                   "NAME=REF names a source."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: train/dev/test.jsonl (chat), "
                                                      "pairs_{train,dev,test}.jsonl, corpus_report.json."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML with any CorpusConfig field (sources with "
                                                             "ratio/cap, templates, fractions, ...)."),
    cap: list[str] = typer.Option(None, "--cap", help="NAME=N: at most N pairs from source NAME."),
    ratio: list[str] = typer.Option(None, "--ratio", help="NAME=F: keep fraction F of source NAME (by hash)."),
    src_lang: str = typer.Option(None, help="Pivot language (default en)."),
    tgt_lang: str = typer.Option(None, help="Other language (default ar)."),
    directions: str = typer.Option(None, help="both (default), forward (src→tgt) or reverse."),
    template: list[str] = typer.Option(None, "--template", help="Prompt template id(s) from hala.prompts."),
    dev_fraction: float = typer.Option(None, "--dev", help="Share of pairs for dev (default 0.02)."),
    test_fraction: float = typer.Option(None, "--test", help="Share of pairs for test (default 0.02)."),
    tokenizer: str = typer.Option(None, help="Model reference whose tokenizer counts --max-tokens."),
    max_tokens: int = typer.Option(None, help="Drop pairs whose longer example has more tokens."),
    seed: int = typer.Option(None, help="Salt of the split/sampling hashes (default 0)."),
) -> None:
    """Build translation-instruction chat examples in both directions (EN→AR and AR→EN) from pairs and translated
    chat samples: mixed per source, deduplicated across sources, split train/dev/test so that no text is in two
    splits in either direction, optionally capped in tokens."""
    import yaml

    from hala.corpus import CorpusConfig, run
    from hala.sources.pairs import default_name, split_name

    data: dict = {}
    if config is not None:
        if not config.is_file():
            raise FileNotFoundError(f"{config}: corpus config not found")
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    if sources:
        data["sources"] = [{"ref": s} for s in sources]
    data["sources"] = [{"ref": s} if isinstance(s, str) else s for s in data.get("sources") or []]
    caps, ratios = _per_source(cap, "--cap", int), _per_source(ratio, "--ratio", float)
    for s in data["sources"]:
        named, ref = split_name(str(s.get("ref", "")))
        name = s.get("name") or named or default_name(ref)
        s.update({k: v for k, v in (("cap", caps.pop(name, None)), ("ratio", ratios.pop(name, None)))
                  if v is not None})
    if caps or ratios:
        raise typer.BadParameter(f"no source named {', '.join(list(caps) + list(ratios))}")
    overrides = dict(src_lang=src_lang, tgt_lang=tgt_lang, directions=directions, templates=template or None,
                     dev_fraction=dev_fraction, test_fraction=test_fraction, tokenizer=tokenizer,
                     max_tokens=max_tokens, seed=seed)
    data.update({k: v for k, v in overrides.items() if v is not None})
    report = run(CorpusConfig.model_validate(data), out)
    for name, c in report["sources"].items():
        typer.echo(f"  {name}: read {c.get('read', 0)}, kept {c.get('kept', 0)}, duplicates "
                   f"{c.get('duplicates', 0)}, sampled out {c.get('sampled_out', 0)}, too long "
                   f"{c.get('too_long', 0)}{', cap reached' if c.get('cap_reached') else ''}")
    for split, c in report["splits"].items():
        per_dir = ", ".join(f"{k} {v}" for k, v in c.items() if k != "pairs")
        typer.echo(f"  {split}: {c.get('pairs', 0)} pairs ({per_dir})")
    typer.echo(f"{report['examples']} examples from {report['pairs']} pairs in {report['seconds']} s -> {out}; "
               f"{sum(report['rejects'].values())} rejects in {out}/rejects.jsonl")


def register(app: typer.Typer) -> None:
    app.command("corpus")(corpus_cmd)
