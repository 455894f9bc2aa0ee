"""What `hala quantize` does, as one validated config (a typo in a recipe is an error naming the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# hala's scheme names -> llm-compressor preset schemes.
SCHEMES = {
    # per-channel FP8 weights, per-token FP8 activations computed at run time: data-free
    "fp8-dynamic": "FP8_DYNAMIC",
    # per-tensor FP8 weights and per-tensor static activation scales: needs calibration text
    "fp8": "FP8",
}


class DriftThresholds(BaseModel):
    """Largest drift from the original model that still counts as "no quality loss".

    Defaults pass the FP8 Gemma-3-270M measured in docs/QUANTIZE.md with margin and catch a broken conversion.
    """

    model_config = ConfigDict(extra="forbid")
    max_ppl_ratio: float = Field(1.15, gt=0, description="quantized/original perplexity, per language")
    max_kl: float = Field(0.1, ge=0, description="mean KL(original || quantized) of next-token distributions, nats")
    min_top1: float = Field(0.8, ge=0, le=1, description="share of positions whose argmax token is unchanged")
    max_chrf_drop: float = Field(3.0, description="chrF++ points lost on the translation dev set")


class QuantizeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="model reference: embedded:NAME, a local directory or a hub id")
    scheme: Literal["fp8-dynamic", "fp8"] = "fp8-dynamic"
    ignore: list[str] = Field(
        default_factory=lambda: ["lm_head"],
        description="modules left unquantised (names or 're:' regexes, llm-compressor syntax)",
    )
    dtype: Literal["bfloat16", "float16", "float32"] = Field(
        "bfloat16",
        description="precision the original is cast to before quantisation; the checkpoint's "
        "unquantised tensors (embeddings, norms, lm_head) keep it",
    )
    trust_remote_code: bool = False

    # static FP8 only: activation scales are calibrated on these texts
    calibration: str | None = Field(None, description="records file (chat or pair) with calibration text")
    calibration_samples: int = Field(128, ge=1)
    calibration_max_length: int = Field(512, ge=8)

    # verification (always on)
    verify_texts: str | None = Field(None, description="JSONL of {id, lang, text}; default: the shipped EN+AR set")
    verify_texts_per_lang: int | None = Field(
        12, ge=1, description="use the first N texts of each language (None: all); the shipped set has 20 each"
    )
    verify_pairs: str | None = Field(None, description="pair records for the chrF++ check; default: shipped en->ar")
    verify_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="precision each model is loaded at for the verification (next-token drift and the "
        "translation check; one model in memory at a time). auto: the original checkpoint's "
        "dtype (bf16 for a bf16 release) on GPUs and for models of 2B+ parameters; float32 for "
        "small models on CPU, exact and faster on CPUs without bf16 instructions (measured "
        "4.6x faster than bfloat16 on the AVX2 CPU in docs/QUANTIZE.md)",
    )
    device: str | None = Field(
        None,
        description="torch device for verification, e.g. 'cuda' (the whole model on that one device; default: CPU)",
    )
    verify_spill_bytes: int = Field(
        2 << 30,
        ge=0,
        description="the original's next-token log-probs are kept in "
        "memory up to this size, the rest in temporary files next to the output",
    )
    device_map: str | None = Field(
        None,
        description="'auto': spread each model over all visible GPUs (then CPU "
        "RAM) with accelerate's placement; for models larger than one "
        "GPU, e.g. a 111B teacher on 8 GPUs",
    )
    template: str = Field("few-shot", description="prompt template id for the translation check (hala.prompts)")
    translation_check: Literal["enforce", "report", "skip"] = Field(
        "enforce",
        description="enforce the chrF++ threshold, only report chrF++, or skip translating "
        "(for models that cannot translate)",
    )
    translation_pairs: int = Field(
        8, ge=1, description="translate the first N dev pairs (the shipped set has 20); prompt prefill grows with N"
    )
    translation_max_new_tokens: int | None = Field(
        None, ge=1, description="generation cap per dev sentence; default: 1.5x the longest reference in tokens"
    )
    batch_size: int = Field(
        20,
        ge=1,
        description="texts per forward pass (next-token check) and sentences per generate call (translation check)",
    )
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)

    @model_validator(mode="after")
    def _one_placement(self) -> QuantizeConfig:
        if self.device and self.device_map:
            raise ValueError("set either 'device' (one device) or 'device_map' (spread over GPUs), not both")
        return self

    @model_validator(mode="after")
    def _static_needs_calibration(self) -> QuantizeConfig:
        if self.scheme == "fp8" and not self.calibration:
            raise ValueError(
                "scheme 'fp8' (static activation scales) needs calibration text: set 'calibration' "
                "to a records file (chat or pair), or use scheme 'fp8-dynamic' (data-free)"
            )
        return self
