"""FP8 conversion with llm-compressor: `oneshot` + `QuantizationModifier` -> a compressed-tensors checkpoint.

The checkpoint (config.json carries `quantization_config`, weights are float8_e4m3fn with their scales) loads in
transformers through compressed-tensors (CPU: FP8 matmuls are emulated) and in vLLM (GPU FP8 kernels).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from hala.atomic import atomic_dir, write_json
from hala.errors import HalaError
from hala.quantize.calibration import calibration_dataset, calibration_texts
from hala.quantize.config import SCHEMES, QuantizeConfig
from hala.resume import resumable

MARKER = "hala_quantize.json"  # written last inside the model dir: its settings say what the dir holds


def conversion_settings(config: QuantizeConfig, source: Path) -> dict:
    """Everything that changes the quantised weights; a finished dir with the same settings is reused."""
    settings = {
        "model": config.model,
        "source": str(source),
        "scheme": config.scheme,
        "llmcompressor_scheme": SCHEMES[config.scheme],
        "ignore": config.ignore,
        "dtype": config.dtype,
    }
    if config.scheme == "fp8":
        settings.update(
            calibration=config.calibration,
            calibration_samples=config.calibration_samples,
            calibration_max_length=config.calibration_max_length,
        )
    return settings


def is_converted(model_dir: Path, settings: dict) -> bool:
    """`model_dir` holds a finished conversion with these settings (else `convert` replaces it)."""
    return resumable(model_dir / MARKER, settings)


def _import_llmcompressor():
    # llm-compressor logs every lifecycle step at INFO through loguru; hala reports its own progress.
    os.environ.setdefault("LLM_COMPRESSOR_LOG_LEVEL", "WARNING")
    try:
        from llmcompressor import oneshot
        from llmcompressor.modifiers.quantization import QuantizationModifier
    except ImportError as e:
        raise HalaError(
            f"hala quantize needs llm-compressor ({e}); install it with scripts/install-quantize.sh "
            f"(see docs/QUANTIZE.md)"
        ) from e
    return oneshot, QuantizationModifier


def convert(config: QuantizeConfig, source: Path, model_dir: Path, rejects_path: Path) -> dict:
    """Quantise `source` into `model_dir` (atomically); returns the conversion record also stored in MARKER."""
    oneshot, QuantizationModifier = _import_llmcompressor()
    from transformers import AutoTokenizer

    from hala.models import load_model

    settings = conversion_settings(config, source)
    # Not hala's load_tokenizer: it sets a pad token, and the checkpoint must keep the original tokenizer files.
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
    model = load_model(source, dtype=config.dtype, trust_remote_code=config.trust_remote_code)
    recipe = QuantizationModifier(targets="Linear", scheme=SCHEMES[config.scheme], ignore=config.ignore)
    data: dict = {}
    if config.scheme == "fp8":
        texts = calibration_texts(config.calibration, tokenizer, config.calibration_samples, rejects_path)
        data = dict(
            dataset=calibration_dataset(texts, tokenizer, config.calibration_max_length),
            num_calibration_samples=len(texts),
            max_seq_length=config.calibration_max_length,
        )
    t0 = time.time()
    oneshot(model=model, recipe=recipe, **data)
    record = {
        "settings": settings,
        "quantize_seconds": round(time.time() - t0, 2),
        "calibration_texts": len(data["dataset"]) if data else 0,
    }
    with atomic_dir(model_dir) as tmp, warnings.catch_warnings():
        # llm-compressor's CPU dispatch makes transformers warn about "offloaded modules"; nothing is offloaded.
        warnings.filterwarnings("ignore", message="Attempting to save a model with offloaded modules")
        # oneshot wraps save_pretrained: save_compressed writes FP8 weights + scales and the quantization_config.
        model.save_pretrained(tmp, save_compressed=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / MARKER, record)
    return record
