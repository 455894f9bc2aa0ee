"""The merge stage's configuration, and how a t setting resolves to one number per tensor.

A t setting has mergekit's syntax and meaning, so a schedule written for mergekit means the same here:

    t: 0.5                                         one value everywhere
    t: [0, 0.5, 1]                                 a gradient: anchors spread evenly over depth, interpolated
    t: [{filter: self_attn, value: [0, 1]},        the first entry whose filter is a substring of the tensor
        {filter: mlp, value: 0.7},                 name applies; an entry without a filter matches everything
        {value: 0.5}]

t = 0 gives the base model and t = 1 the tuned one. Depth is `layer / (layers - 1)` for tensors inside
`...layers.N.`; every other tensor (embeddings, final norm, LM head) sits at depth 0 and so takes a gradient's
first anchor, exactly as mergekit plans them.
"""

from __future__ import annotations

import re
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hala.errors import ConfigError

Gradient = list[float]
Value = Union[float, Gradient]


class TFilter(BaseModel):
    """One conditional entry of a t schedule (mergekit's `{filter, value}`)."""

    model_config = ConfigDict(extra="forbid")
    filter: str | None = Field(default=None, description="substring of the tensor name; none or '*' = any")
    value: Value


TSetting = Union[float, Gradient, list[TFilter]]


class MergeConfig(BaseModel):
    """`hala merge`: merge a fine-tuned model back into its base, optionally choosing t by a dev-set sweep."""

    model_config = ConfigDict(extra="forbid")
    base: str = Field(description="base model reference (t = 0)")
    tuned: str = Field(description="fine-tuned model reference (t = 1), same architecture and vocabulary")
    method: Literal["slerp", "linear"] = "slerp"
    t: TSetting = Field(default=0.5, description="interpolation factor, gradient or filtered schedule")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="output dtype; auto keeps the inputs' (promoted) dtype, as mergekit does"
    )
    tokenizer_source: Literal["tuned", "base"] = Field(
        default="tuned", description="model whose tokenizer, chat template and generation config are copied"
    )
    shard_size_gb: float = Field(default=5.0, gt=0, description="largest output shard, in GB (1e9 bytes)")
    sweep: list[float] | None = Field(default=None, description="uniform t values to try; the best is kept")
    select_on: str | None = Field(
        default=None, description="scorer for the sweep: mcq:PATH, chrf:PATH, ppl:PATH, instruct:PATH"
    )
    select_limit: int | None = Field(default=None, ge=1, description="score each candidate on at most N items")
    report_on: list[str] = Field(
        default_factory=list,
        description="more scorers (NAME:ARG, e.g. instruct:PATH) run on every candidate and "
        "reported per t in sweep.json; they never change which t is chosen",
    )
    keep_candidates: bool = False

    @model_validator(mode="after")
    def _sweep_fields(self) -> "MergeConfig":
        if self.sweep is not None:
            if not self.sweep:
                raise ValueError("sweep: give at least one t value")
            if len(set(self.sweep)) != len(self.sweep):
                raise ValueError(f"sweep: repeated t values in {self.sweep}")
            if not self.select_on:
                raise ValueError("sweep needs select_on (mcq:PATH, chrf:PATH or ppl:PATH) to choose the best t")
            if "t" in self.model_fields_set:
                raise ValueError("give either t or sweep: each sweep value is used as a uniform t")
        elif self.select_on or self.report_on:
            raise ValueError("select_on and report_on are only used with sweep (the list of t values to try)")
        return self


# ------------------------------------------------------------------------------------------- t resolution
_LAYER = re.compile(r"^(.*?\blayers)\.(\d+)\.")


def layer_depths(names: list[str]) -> dict[str, int]:
    """Number of layers under each `...layers` prefix (a vision tower and a text stack are counted apart)."""
    depths: dict[str, int] = {}
    for name in names:
        if m := _LAYER.match(name):
            depths[m.group(1)] = max(depths.get(m.group(1), 0), int(m.group(2)) + 1)
    return depths


def depth_position(name: str, depths: dict[str, int]) -> float:
    """Where a tensor sits in depth, in [0, 1]: mergekit's `idx / (n - 1)` (1 for a single layer, 0 outside)."""
    m = _LAYER.match(name)
    if not m:
        return 0.0
    n = depths[m.group(1)]
    return int(m.group(2)) / (n - 1) if n > 1 else 1.0


def interpolate(anchors: Gradient, position: float) -> float:
    """mergekit's gradient: anchors evenly spaced over [0, 1], linear in between (same float operations)."""
    scaled = position * (len(anchors) - 1)
    i0 = int(scaled)
    i1 = min(len(anchors) - 1, i0 + 1)
    frac = scaled - i0
    return float((1 - frac) * anchors[i0] + frac * anchors[i1])


def resolve_t(setting: TSetting, name: str, position: float) -> float | None:
    """t for tensor `name` at depth `position`; None when no filter matches (and there is no fallback)."""
    if isinstance(setting, (int, float)):
        return float(setting)
    if not setting:
        return None
    if all(isinstance(v, (int, float)) for v in setting):
        return interpolate([float(v) for v in setting], position)
    for entry in setting:
        if entry.filter in (None, "*") or entry.filter in name:
            return resolve_t(entry.value, name, position)
    return None


# ------------------------------------------------------------------------------------------- CLI parsing
def parse_value(text: str) -> Value:
    """'0.5' -> 0.5; '0,0.5,1' -> a gradient [0.0, 0.5, 1.0]."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"t: expected a number or comma-separated numbers, got '{text}'") from None
    if not values:
        raise ConfigError("t: empty value")
    return values[0] if len(values) == 1 and "," not in text else values


def parse_schedule(t: str, filters: list[str]) -> TSetting:
    """`--t` plus `--t-filter MODULE=VALUES` options -> a t setting; `--t` is the fallback after the filters."""
    fallback = parse_value(t)
    if not filters:
        return fallback
    entries = []
    for spec in filters:
        module, sep, value = spec.partition("=")
        if not sep or not module.strip():
            raise ConfigError(f"--t-filter: expected MODULE=VALUES (e.g. self_attn=0,0.5,1), got '{spec}'")
        entries.append(TFilter(filter=module.strip(), value=parse_value(value)))
    return entries + [TFilter(value=fallback)]


# ------------------------------------------------------------------------------------------- mergekit YAML
def _complement(setting: TSetting) -> TSetting:
    if isinstance(setting, (int, float)):
        return 1 - float(setting)
    if all(isinstance(v, (int, float)) for v in setting):
        return [1 - float(v) for v in setting]
    return [TFilter(filter=e.filter, value=_complement(e.value)) for e in setting]


def plain(setting: TSetting) -> float | list:
    """A t setting as plain JSON/YAML values."""
    if isinstance(setting, (int, float)):
        return float(setting)
    return [e.model_dump(exclude_none=True) if isinstance(e, TFilter) else float(e) for e in setting]


def to_mergekit(config: MergeConfig, base: str, tuned: str, t: TSetting | None = None) -> dict:
    """The equivalent mergekit configuration (written beside each merge so `mergekit-yaml` can reproduce it).

    slerp maps to `parameters: {t}` with the base as `base_model`; linear to per-model weights 1 - t and t.
    """
    t = config.t if t is None else t
    out: dict = {"merge_method": config.method, "base_model": base}
    if config.method == "slerp":
        out["models"] = [{"model": base}, {"model": tuned}]
        out["parameters"] = {"t": plain(t)}
    else:
        out["models"] = [
            {"model": base, "parameters": {"weight": plain(_complement(t))}},
            {"model": tuned, "parameters": {"weight": plain(t)}},
        ]
    if config.dtype != "auto":
        out["out_dtype"] = config.dtype
    return out
