"""Each engine's own options as a typed model (`extra="forbid"`), kept free of heavy imports so a recipe's
`engine_options: {...}` is checked when the recipe loads (`hala run --dry-run` names a misspelt key), long
before a model is loaded. The engines validate the same models again when they are built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hala.errors import ConfigError


class CT2Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    compute_type: str = Field("int8", description="int8, int8_float32, float32 (bf16 is refused on most CPUs)")
    threads: int = Field(0, ge=0, description="0: CTranslate2's default (all cores)")
    trust_remote_code: bool = False


class HFOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dtype: str | None = Field(None, description="None: the fastest exact-enough choice for the device")
    trust_remote_code: bool = False
    device: str | None = None


class VLLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dtype: str = "auto"
    trust_remote_code: bool = False
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs one vLLM instance spans (a Ray actor gets as many GPUs)"
    )
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = None
    max_num_seqs: int | None = Field(
        None,
        ge=1,
        description="sequences vLLM schedules at once (its default if unset); hala keeps about twice this in flight",
    )
    llm_kwargs: dict[str, Any] = Field(default_factory=dict, description="anything else for vllm.LLM(...)")


class OpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000/v1"],
        description="one or more servers (a list, or URLs separated by commas)",
    )
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="name of the variable holding the key (unset: no key sent)"
    )
    concurrency: int = Field(
        8, ge=1, description="requests in flight over all servers together, whatever the size of an engine call"
    )
    connect_timeout: float = Field(
        10.0, gt=0, description="seconds to open a connection (no connection: the server is down)"
    )
    read_timeout: float = Field(
        600.0,
        gt=0,
        description="seconds to wait for an answer (a slow answer is a busy "
        "server, not a dead one: retried on it with backoff)",
    )
    timeout: float | None = Field(None, gt=0, description="both timeouts at once (older setting)")
    max_retries: int = Field(5, ge=0)
    backoff: float = Field(1.0, ge=0, description="first retry delay in seconds, doubled each time (plus jitter)")
    max_backoff: float = Field(60.0, ge=0, description="longest delay between two attempts")
    health_timeout: float = Field(5.0, gt=0, description="seconds for a health check (GET {base_url}/models)")
    cooldown: float = Field(30.0, ge=0, description="seconds a failed server is left alone before a new check")

    @field_validator("base_url", mode="before")
    @classmethod
    def _split(cls, v):
        urls = [u.strip().rstrip("/") for u in (v.split(",") if isinstance(v, str) else v)]
        if not urls or not all(urls):
            raise ValueError("base_url needs at least one URL")
        return urls

    @model_validator(mode="after")
    def _one_timeout(self) -> "OpenAIOptions":
        if self.timeout is not None:
            self.connect_timeout = self.read_timeout = self.timeout
        return self


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    script: str = Field(
        "arabic",
        description="arabic: Latin letters become Arabic ones (passes the script "
        "guard); identity: the source unchanged",
    )


ENGINE_OPTIONS: dict[str, type[BaseModel]] = {
    "ct2": CT2Options,
    "hf": HFOptions,
    "vllm": VLLMOptions,
    "openai": OpenAIOptions,
    "echo": EchoOptions,
}


def check_options(engine: str, options: dict) -> BaseModel:
    """`options` validated for `engine`; a ConfigError (a ValueError) naming the bad key and the known ones."""
    from hala.records import describe_validation_error

    model = ENGINE_OPTIONS.get(engine)
    if model is None:
        raise ConfigError(f"unknown engine '{engine}'; known: {', '.join(ENGINE_OPTIONS)}")
    try:
        return model(**options)
    except ValidationError as e:
        raise ConfigError(
            f"{engine} engine options: {describe_validation_error(e)} (known: {', '.join(model.model_fields)})"
        ) from None
