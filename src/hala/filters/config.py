"""The filter stage's config: inputs, languages, and the rule chain (default: the shipped `default.yaml`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hala.errors import HalaError

RuleSpec = str | dict[str, Any]


def default_rules() -> list[RuleSpec]:
    text = resources.files("hala.filters").joinpath("default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["rules"]


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str] = Field(
        min_length=1, description="input references (files, directories, hf:, packages:); see hala.sources.pairs"
    )
    src_lang: str = Field("en", description="source language for inputs that carry none (TSV, text, catalogs)")
    tgt_lang: str = Field("ar", description="target language for inputs that carry none")
    rules: list[RuleSpec] = Field(
        default_factory=default_rules, description="the chain: rule names or {name: {params}}, in order"
    )
    examples_per_rule: int = Field(5, ge=0, description="rejected examples kept per rule in the report")
    batch_size: int = Field(2048, ge=1, description="pairs per batch (language ID and embeddings score a batch)")
    output_format: Literal["jsonl", "jsonl.gz", "parquet"] = "jsonl"
    progress: bool = Field(True, description="show a progress bar on stderr")

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: list[RuleSpec]) -> list[RuleSpec]:
        from hala.filters.registry import check_spec

        for i, spec in enumerate(rules):
            check_spec(spec, f"rules[{i}]")
        return rules


def load_config(path: str | Path | None, **overrides: Any) -> FilterConfig:
    """A FilterConfig from a YAML file (any of its fields; `rules:` alone is fine) plus overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise HalaError(f"{path}: filter config not found")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise HalaError(f"{path}: a filter config is a YAML mapping (e.g. `rules: [...]`)")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return FilterConfig.model_validate(data)
    except HalaError as e:
        raise HalaError(f"{path or 'filter config'}: {e}") from None
