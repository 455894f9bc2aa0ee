"""The translate stage's configuration (what a recipe's `translate:` block and `hala translate` fill in)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hala.translate.engines.options import EngineName, LengthCap, validate_options
from hala.translate.guards import GuardConfig


class FallbackConfig(BaseModel):
    """The second model of the retry ladder (e.g. the teacher): it translates a segment that the main model failed
    on even after a retry and a split, before the record is rejected."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="model reference (as `model`)")
    engine: EngineName = "ct2"
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="the fallback engine's own options (as `engine_options`)"
    )
    template: str = Field("few-shot", description="its prompt template (few-shot for a base model)")
    max_new_tokens: int | None = Field(None, ge=1, description="None: the main model's")

    @field_validator("template")
    @classmethod
    def _known_template(cls, v: str) -> str:
        from hala.prompts import get_template

        get_template(v)
        return v

    @field_validator("engine_options")
    @classmethod
    def _known_options(cls, v: dict, info: ValidationInfo) -> dict:
        if "engine" in info.data:  # else the engine itself is invalid, and reported
            validate_options(info.data["engine"], v)
        return v  # as written: the resume key and the provenance show what was asked, not every default


class RayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(
        None,
        description="cluster to join ('auto', 'ray://head:10001'); None: the running ray.init, else a local cluster",
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="engine actors (replicas), each with its own copy of the "
        "model; None: as many as the cluster's GPUs allow for a GPU engine, else 2",
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs per actor (also its ct2/torch thread count)")
    gpus_per_worker: float | None = Field(
        None, ge=0, description="GPUs per actor; None: the vllm engine's tensor_parallel_size, else 0"
    )
    calls_per_worker: int | None = Field(
        None,
        ge=1,
        description="engine calls in flight per actor; None: 2 for "
        "vllm/openai (fed to one continuous batch), 1 for ct2/hf (run on the "
        "actor's main thread, one at a time)",
    )


class TranslateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(description="JSONL(.gz)/Parquet file, saved dataset directory, or hf:NAME[:CONFIG][@SPLIT]")
    model: str = Field(description="model reference (embedded:NAME, directory, hub id; the served name for openai)")
    kind: Literal["auto", "chat", "pair", "table"] = "auto"
    fields: list[str] = Field(default_factory=list, description="columns to translate in a generic table")
    skip_roles: list[str] = Field(default_factory=lambda: ["tool"], description="chat roles left untranslated")
    engine: EngineName = Field("ct2", description="echo: an instant stand-in translator for tests and benchmarks")
    engine_options: dict[str, Any] = Field(
        default_factory=dict,
        description="the engine's own options, checked against its option model when the config is built "
        "(hala.translate.engines.options: a misspelt key is an error naming the known ones)",
    )
    template: str = "hala"
    src_lang: str = "en"
    tgt_lang: str = "ar"
    max_new_tokens: int = Field(256, ge=1, description="token limit per segment (the cap of length_cap)")
    length_cap: LengthCap | None = Field(
        default_factory=LengthCap,
        description="length-aware token limit per segment; null: every segment may use max_new_tokens",
    )
    segments_per_call: int | None = Field(
        None,
        ge=1,
        description="segments per engine call and cache commit (the resume unit inside a shard); None: 4 x batch_size",
    )
    calls_in_flight: int | None = Field(
        None,
        ge=1,
        description="engine calls kept in flight, across shards; "
        "None: as the engine asks (vllm, openai: enough to keep it busy; ct2, "
        "hf: 1)",
    )
    batch_size: int = Field(16, ge=1)
    segment: Literal["sentence", "line"] = "sentence"
    max_segment_chars: int = Field(400, ge=20)
    guards: GuardConfig = Field(default_factory=GuardConfig)
    fallback: FallbackConfig | None = Field(
        None,
        description="second model for segments the main one fails on "
        "after a retry and a split (the retry ladder: docs/TRANSLATE.md)",
    )
    shard_size: int = Field(256, ge=1, description="records per output shard (the resume unit)")
    limit: int | None = Field(None, ge=1, description="translate only the first N records")
    output: str = Field("translated.jsonl", description="final output file name inside out_dir")
    dry_run: bool = False
    distributed: Literal["none", "ray"] = Field(
        "none",
        description="ray: spread the engine over the workers of a Ray cluster (same output; see docs/SCALING.md)",
    )
    ray: RayOptions = Field(
        default_factory=RayOptions,
        description="Ray options: address, workers, cpus_per_worker, gpus_per_worker, calls_per_worker",
    )

    @field_validator("src_lang", "tgt_lang")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()

    @field_validator("engine_options")
    @classmethod
    def _known_options(cls, v: dict, info: ValidationInfo) -> dict:
        if "engine" in info.data:  # else the engine itself is invalid, and reported
            validate_options(info.data["engine"], v)
        return v  # as written: the resume key and the provenance show what was asked, not every default

    @property
    def call_size(self) -> int:
        return self.segments_per_call or 4 * self.batch_size

    @field_validator("template")
    @classmethod
    def _known_template(cls, v: str) -> str:
        from hala.prompts import get_template

        get_template(v)
        return v

    def resume_key(self) -> dict:
        """What must not change between a run and its resume (the limit, dry-run flag and where the work runs
        may: a single-machine run can be resumed on Ray and back, the output is the same)."""
        return self.model_dump(mode="json", exclude={"limit", "dry_run", "distributed", "ray", "calls_in_flight"})
