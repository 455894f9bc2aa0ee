"""`hala quantize`: FP8-compress a teacher with llm-compressor and verify it against the original."""

from __future__ import annotations

from pathlib import Path

import typer

from hala.quantize.config import DriftThresholds, QuantizeConfig  # pydantic only: keeps `hala --help` instant


def _default(name: str, model=QuantizeConfig):
    """The config's own default, so the CLI and recipes cannot disagree."""
    return model.model_fields[name].get_default(call_default_factory=True)


def quantize_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model to quantise: embedded:NAME, local dir or hub id."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (model/ and verification.json)."),
    scheme: str = typer.Option(_default("scheme"), help="fp8-dynamic (per-channel FP8 weights, per-token dynamic "
                                                        "FP8 activations; data-free) or fp8 (per-tensor, static "
                                                        "activation scales; needs --calibration)."),
    ignore: list[str] = typer.Option(None, "--ignore", help="Module to leave unquantised (repeatable; name or "
                                                            "'re:REGEX'). Default: lm_head."),
    dtype: str = typer.Option(_default("dtype"), help="Precision of the original before quantisation (and of the "
                                                      "reference it is verified against): bfloat16, float16, "
                                                      "float32."),
    calibration: str = typer.Option(None, help="Records file (chat or pair) with calibration text (scheme fp8)."),
    calibration_samples: int = typer.Option(_default("calibration_samples"),
                                            help="Calibration texts to use (scheme fp8)."),
    calibration_max_length: int = typer.Option(_default("calibration_max_length"),
                                               help="Tokens per calibration text (scheme fp8)."),
    verify_texts: str = typer.Option(None, help="JSONL of {id, lang, text} for the perplexity/KL check "
                                                "(default: the shipped English+Arabic set)."),
    verify_texts_per_lang: int = typer.Option(_default("verify_texts_per_lang"),
                                              help="Use the first N verification texts of each language."),
    verify_pairs: str = typer.Option(None, help="Pair records for the chrF++ check (default: shipped en->ar)."),
    verify_dtype: str = typer.Option(_default("verify_dtype"), help="Precision each model is loaded at for "
                                                                    "the verification, one at a time (auto: the "
                                                                    "checkpoint's dtype on GPUs and for 2B+ "
                                                                    "models, float32 for small ones on CPU)."),
    device: str = typer.Option(None, help="Torch device for verification, e.g. cuda (default: CPU)."),
    device_map: str = typer.Option(None, "--device-map", help="auto: spread each model over every visible GPU "
                                                              "for verification (models larger than one GPU)."),
    template: str = typer.Option(_default("template"), help="Prompt template for the translation check "
                                                            "(hala.prompts: few-shot, zero-shot, hala)."),
    translation_check: str = typer.Option(_default("translation_check"),
                                          help="enforce the chrF++ threshold, only report chrF++, or skip "
                                               "translating (for models that cannot translate)."),
    translation_pairs: int = typer.Option(_default("translation_pairs"),
                                          help="Translate the first N dev pairs (translation check)."),
    translation_max_new_tokens: int = typer.Option(None, help="Generation cap per dev sentence (translation "
                                                              "check). Default: 1.5x the longest reference."),
    max_ppl_ratio: float = typer.Option(_default("max_ppl_ratio", DriftThresholds),
                                        help="Fail if quantised/original perplexity exceeds this (per language)."),
    max_kl: float = typer.Option(_default("max_kl", DriftThresholds),
                                 help="Fail if mean next-token KL(original||quantised) exceeds this (nats)."),
    min_top1: float = typer.Option(_default("min_top1", DriftThresholds),
                                   help="Fail if next-token top-1 agreement falls below this (0-1)."),
    max_chrf_drop: float = typer.Option(_default("max_chrf_drop", DriftThresholds),
                                        help="Fail if chrF++ drops by more than this many points."),
    batch_size: int = typer.Option(_default("batch_size"), help="Texts per forward pass (next-token check) and "
                                                                "sentences per generate call (translation check)."),
    trust_remote_code: bool = typer.Option(False, help="Allow model repositories' own code (off by default)."),
) -> None:
    """Quantise a model to FP8 (llm-compressor; a compressed-tensors checkpoint that transformers and vLLM load),
    then verify it: perplexity per language, next-token KL and top-1 agreement, and chrF++ of a translation dev
    set, original vs quantised. Writes OUT/model and OUT/verification.json, and exits non-zero naming the metric
    when the drift exceeds a threshold. Rerunning on the same OUT reuses a finished conversion."""
    import json

    from pydantic import ValidationError

    from hala.errors import HalaError
    from hala.quantize import run

    try:
        config = QuantizeConfig(
            model=model, scheme=scheme, ignore=ignore or _default("ignore"), dtype=dtype,
            trust_remote_code=trust_remote_code, calibration=calibration, calibration_samples=calibration_samples,
            calibration_max_length=calibration_max_length, verify_texts=verify_texts,
            verify_texts_per_lang=verify_texts_per_lang, verify_pairs=verify_pairs,
            verify_dtype=verify_dtype, device=device, device_map=device_map, template=template,
            translation_check=translation_check,
            translation_pairs=translation_pairs, translation_max_new_tokens=translation_max_new_tokens,
            batch_size=batch_size,
            thresholds=DriftThresholds(max_ppl_ratio=max_ppl_ratio, max_kl=max_kl, min_top1=min_top1,
                                       max_chrf_drop=max_chrf_drop))
    except ValidationError as e:
        raise HalaError("; ".join(_option_error(err) for err in e.errors())) from e
    summary = run(config, out)
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    typer.echo(f"verification passed; quantized model: {out / summary['model_dir']}")


def _option_error(err: dict) -> str:
    """A pydantic error as the option it came from: `--scheme: Input should be 'fp8-dynamic' or 'fp8'`."""
    message = err["msg"].removeprefix("Value error, ")
    return f"--{str(err['loc'][-1]).replace('_', '-')}: {message}" if err["loc"] else message


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_cmd)
