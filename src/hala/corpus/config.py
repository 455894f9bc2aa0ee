"""The corpus stage's config: sources with a mix (ratio / cap), directions, templates, splits, token limit."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CorpusSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(
        description="pairs (any input hala.sources.pairs reads) or translated chat samples (JSONL/"
        "Parquet with `messages` and the originals in `meta.original`)"
    )
    name: str | None = Field(None, description="name in meta.source and the report (default: from ref)")
    kind: Literal["auto", "pairs", "chat"] = Field(
        "auto", description="auto: chat if the first record has `messages`, else pairs"
    )
    ratio: float = Field(1.0, gt=0, le=1, description="keep this fraction of the source (chosen by content hash)")
    cap: int | None = Field(None, ge=0, description="keep at most this many pairs from the source")


class CorpusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[CorpusSource] = Field(
        min_length=1, description="in priority order: on a duplicate across sources, the earlier source keeps the pair"
    )
    src_lang: str = Field("en", description="the pivot language: split keys and the forward direction start here")
    tgt_lang: str = "ar"
    directions: Literal["both", "forward", "reverse"] = Field(
        "both", description="both: src→tgt and tgt→src examples for every pair"
    )
    templates: list[str] = Field(
        default_factory=lambda: ["hala"],
        min_length=1,
        description="hala.prompts chat template ids; several = one per example by hash",
    )
    dev_fraction: float = Field(0.02, ge=0, lt=1)
    test_fraction: float = Field(0.02, ge=0, lt=1)
    seed: int = Field(0, description="salt of the split and sampling hashes")
    dedup: bool = Field(True, description="drop pairs whose normalised text repeats an earlier pair (any source)")
    tokenizer: str | None = Field(None, description="model reference whose tokenizer counts max_tokens")
    max_tokens: int | None = Field(
        None,
        ge=8,
        description="drop pairs whose longer example exceeds this many "
        "tokens (chat template applied when the tokenizer has one)",
    )
    concat_every: int = Field(
        0,
        ge=0,
        description="also make a multi-sentence TRAIN example every N train pairs "
        "of a source, joining its last k pairs (k cycles 2..concat_max): "
        "a translator trained on single short sentences drops content "
        "and stops early on longer inputs. 0: off",
    )
    concat_max: int = Field(3, ge=2, le=8, description="most sentences joined into one concatenated example")
    trust_remote_code: bool = False

    @field_validator("sources", mode="before")
    @classmethod
    def _plain_refs(cls, v: Any) -> Any:
        if isinstance(v, (str, dict)):
            v = [v]
        return [{"ref": s} if isinstance(s, str) else s for s in v]

    @field_validator("templates")
    @classmethod
    def _chat_templates(cls, v: list[str]) -> list[str]:
        from hala.prompts import get_template

        for tid in v:
            if get_template(tid).kind != "chat":
                raise ValueError(
                    f"template '{tid}' is a {get_template(tid).kind} template; training examples need a chat template"
                )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "CorpusConfig":
        if self.max_tokens is not None and self.tokenizer is None:
            raise ValueError("max_tokens needs a tokenizer (a model reference, e.g. embedded:gemma-3-270m)")
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("dev_fraction + test_fraction must leave something for train")
        if self.src_lang == self.tgt_lang:
            raise ValueError("src_lang and tgt_lang must differ")
        return self
