"""The translate stage's configuration (what a recipe's `translate:` block and `hala translate` fill in)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hala.translate.guards import GuardConfig


class TranslateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(description="JSONL(.gz)/Parquet file, saved dataset directory, or hf:NAME[:CONFIG][@SPLIT]")
    model: str = Field(description="model reference (embedded:NAME, directory, hub id; the served name for openai)")
    kind: Literal["auto", "chat", "pair", "table"] = "auto"
    fields: list[str] = Field(default_factory=list, description="columns to translate in a generic table")
    skip_roles: list[str] = Field(default_factory=lambda: ["tool"], description="chat roles left untranslated")
    engine: Literal["ct2", "hf", "vllm", "openai"] = "ct2"
    engine_options: dict[str, Any] = Field(default_factory=dict, description="the engine's own options")
    template: str = "hala"
    src_lang: str = "en"
    tgt_lang: str = "ar"
    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(16, ge=1)
    segment: Literal["sentence", "line"] = "sentence"
    max_segment_chars: int = Field(400, ge=20)
    guards: GuardConfig = Field(default_factory=GuardConfig)
    shard_size: int = Field(256, ge=1, description="records per output shard (the resume unit)")
    limit: int | None = Field(None, ge=1, description="translate only the first N records")
    output: str = Field("translated.jsonl", description="final output file name inside out_dir")
    dry_run: bool = False
    distributed: Literal["none", "ray"] = Field("none", description="ray: spread the engine over the workers "
                                                "of a Ray cluster (same output; see docs/SCALING.md)")
    ray: dict[str, Any] = Field(default_factory=dict, description="Ray options (hala.translate.distributed."
                                "RayOptions): address, workers, cpus_per_worker, gpus_per_worker")

    @field_validator("src_lang", "tgt_lang")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @field_validator("template")
    @classmethod
    def _known_template(cls, v: str) -> str:
        from hala.prompts import get_template

        get_template(v)
        return v

    def resume_key(self) -> dict:
        """What must not change between a run and its resume (the limit, dry-run flag and where the work runs
        may: a single-machine run can be resumed on Ray and back, the output is the same)."""
        return self.model_dump(mode="json", exclude={"limit", "dry_run", "distributed", "ray"})
