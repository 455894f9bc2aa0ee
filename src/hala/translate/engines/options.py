"""Each engine's own options as a typed model (`extra="forbid"`), kept free of heavy imports so a recipe's
`engine_options: {...}` is checked when the recipe loads (`hala run --dry-run` names a misspelt key), long
before a model is loaded. The engines validate the same models again when they are built.

A stage config keeps `engine_options` as the mapping the user wrote (so its dump, the run's resume key and the
provenance show what was asked, not every default) and checks it with `validate_options` in a field validator:
a bad key is then a pydantic error located at `engine_options.KEY`, naming the keys the engine knows.
`eval.translation` also takes the settings of the translate call itself there (`CallOptions`: `length_cap`,
`guards`, ...), which the translate stage has as top-level fields: `validate_options(..., call=True)`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from hala.errors import ConfigError
from hala.translate.guards import GuardConfig

EngineName = Literal["ct2", "hf", "vllm", "openai", "echo"]


class CT2Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    compute_type: str = Field("int8", description="int8, int8_float32, float32 (bf16 is refused on most CPUs)")
    threads: int = Field(0, ge=0, description="0: CTranslate2's default (all cores)")
    shared_prefix: int = Field(
        32,
        ge=0,
        description="a prefix of at least this many tokens that every prompt of a call shares (a few-shot prompt's "
        "examples, a system preamble) is computed once and its state reused (0: off)",
    )
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


class LengthCap(BaseModel):
    """A segment of n source tokens generates at most min(max_new_tokens, ceil(ratio * n) + extra) tokens."""

    model_config = ConfigDict(extra="forbid")
    ratio: float = Field(
        4.0,
        gt=0,
        description="output tokens per source token (the length_ratio guard rejects "
        "outputs over 3x the source's characters anyway)",
    )
    extra: int = Field(32, ge=0, description="tokens added to every segment's limit (short segments, names)")

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        # `[ratio, extra]`: the short spelling eval recipes use (`length_cap: [2.0, 8]`)
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ValueError(f"length_cap is [ratio, extra] or {{ratio, extra}}, got {list(v)}")
            return {"ratio": v[0], "extra": v[1]}
        return v


class CallOptions(BaseModel):
    """Settings of one translate call (`hala.translate.translate_with_reasons`) that `eval.translation` takes
    inside `engine_options`, beside the engine's own (the translate stage has them as top-level fields)."""

    model_config = ConfigDict(extra="forbid")
    segment: Literal["sentence", "line"] = "sentence"
    max_segment_chars: int = Field(400, ge=20)
    guards: GuardConfig = Field(default_factory=GuardConfig)
    length_cap: LengthCap | None = Field(None, description="[ratio, extra] or {ratio, extra}; None: no length cap")


# eval.translation's options per engine: the engine's and the call's in one flat mapping (no name is in both)
EVAL_ENGINE_OPTIONS: dict[str, type[BaseModel]] = {
    name: create_model(f"Eval{model.__name__}", __base__=(CallOptions, model)) for name, model in ENGINE_OPTIONS.items()
}


def _located(e: ValidationError, engine: str, model: type[BaseModel]) -> ValidationError:
    """`e` with an unknown key reported as such, naming the keys `engine` knows (pydantic says only "Extra inputs
    are not permitted"); every error keeps its location, so inside a config it reads `engine_options.KEY`."""
    known = ", ".join(model.model_fields)
    details: list[InitErrorDetails] = []
    for err in e.errors():
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            kind = PydanticCustomError(
                "unknown_option",
                "unknown {engine} engine option '{key}' (known: {known})",
                {"engine": engine, "key": str(err["loc"][0]), "known": known},
            )
            details.append({"type": kind, "loc": err["loc"], "input": err["input"]})
        else:
            details.append({"type": err["type"], "loc": err["loc"], "input": err["input"], "ctx": err.get("ctx", {})})
    return ValidationError.from_exception_data(model.__name__, details)


def validate_options(engine: str, options: dict, call: bool = False) -> BaseModel:
    """`options` as `engine`'s typed model (`call`: with the translate call's settings, as eval.translation takes
    them). Raises a ValidationError located at the bad key; used in a config's field validator, pydantic puts the
    field's name in front (`engine_options.compute_typ`)."""
    models = EVAL_ENGINE_OPTIONS if call else ENGINE_OPTIONS
    model = models.get(engine)
    if model is None:
        raise ConfigError(f"unknown engine '{engine}'; known: {', '.join(models)}")
    try:
        return model.model_validate(options)
    except ValidationError as e:
        raise _located(e, engine, model) from None
