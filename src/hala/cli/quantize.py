"""`hala quantize`: FP8-compress a teacher with llm-compressor and verify it against the original.

Options generated from `QuantizeConfig` (hala.cli.generate); the drift thresholds are also options of their own
(`--max-kl` for `thresholds.max_kl`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hala.cli.generate import Extra, Opt, stage_command


def quantize(config: Any, out: Path) -> None:
    """Quantise a model to FP8 (llm-compressor; a compressed-tensors checkpoint that transformers and vLLM load),
    then verify it: perplexity per language, next-token KL and top-1 agreement, and chrF++ of a translation dev
    set, original vs quantised. Writes OUT/model and OUT/verification.json, and exits non-zero naming the metric
    when the drift exceeds a threshold. Rerunning on the same OUT reuses a finished conversion."""
    import json

    from hala.quantize import run

    summary = run(config, out)
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    typer.echo(f"verification passed; quantized model: {out / summary['model_dir']}")


FIELDS = {
    "model": Opt(("-m",), help="Model to quantise: embedded:NAME, local dir or hub id."),
    "scheme": Opt(
        help="fp8-dynamic (per-channel FP8 weights, per-token dynamic FP8 activations; data-free) or fp8 "
        "(per-tensor, static activation scales; needs --calibration)."
    ),
    "ignore": Opt(help="Module to leave unquantised (name or 're:REGEX')."),
    "calibration": Opt(help="Records file (chat or pair) with calibration text (scheme fp8)."),
    "calibration_samples": Opt(help="Calibration texts to use (scheme fp8)."),
    "calibration_max_length": Opt(help="Tokens per calibration text (scheme fp8)."),
    "device_map": Opt(
        help="auto: spread each model over every visible GPU for verification (models larger than one GPU)."
    ),
    "trust_remote_code": Opt(help="Allow model repositories' own code."),
    "thresholds": Opt(
        flatten=True,
        help="Drift limits (max_ppl_ratio, max_kl, min_top1, max_chrf_drop); each is also an option of its own.",
    ),
}

EXTRAS = [Extra("out", Path, typer.Option(..., "--out", "-o", help="Output directory (model/ and verification.json)."))]


def register(app: typer.Typer) -> None:
    stage_command(app, "quantize", "quantize", quantize, fields=FIELDS, extras=EXTRAS)
