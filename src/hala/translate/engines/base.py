"""The small interface every engine implements, and what engines that hold a local tokenizer share.

    engine.generate(prompts, settings) -> list[Generation]     (same order as `prompts`, greedy)

A `Prompt` is either chat messages (rendered with the model's chat template) or a plain completion string.
Local engines (hf, ct2, vllm) tokenize prompts the same way (`prompt_ids`), so for the same model and settings
they decode from identical token ids; stop strings become a set of stop token ids (`stop_token_ids`) so the
back-end stops at once instead of running on to the token limit, and `trim_at_stop` cuts the text exactly.

Length-aware output caps: a segment of `n` source tokens may generate at most
`min(max_new_tokens, ceil(length_ratio * n) + length_extra)` tokens (`GenSettings.limit`), so a batch of short
segments is not held up by one that runs on to a 2048-token limit. The prompt carries its `source` (the
model-facing segment) for this; engines count its tokens with their own tokenizer. Cutting a greedy output at a
row's own limit gives the same tokens as stopping it there, so a batch may run to its longest row's limit.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict, ...] | None = None  # chat prompt
    text: str | None = None  # completion prompt
    source: str | None = None  # the segment being translated (for length-aware caps)

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    length_ratio: float | None = None  # None: every prompt may use max_new_tokens
    length_extra: int = 0

    def adjusted(self, **changes) -> "GenSettings":
        """A copy with `changes`. Raising `max_new_tokens` (a retry after a truncation) raises the length-aware
        limit by the same factor, so the retry really gets more room."""
        new = replace(self, **changes)
        if self.length_ratio is not None and "max_new_tokens" in changes and "length_ratio" not in changes:
            factor = new.max_new_tokens / self.max_new_tokens
            new = replace(
                new, length_ratio=self.length_ratio * factor, length_extra=int(math.ceil(self.length_extra * factor))
            )
        return new

    def limit(self, source_tokens: int | None) -> int:
        """The token limit for a prompt whose source segment has `source_tokens` tokens (None: unknown)."""
        if self.length_ratio is None or source_tokens is None:
            return self.max_new_tokens
        return max(1, min(self.max_new_tokens, int(math.ceil(self.length_ratio * source_tokens)) + self.length_extra))

    def to_json(self) -> dict:
        out = {
            "greedy": True,
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "stop": list(self.stop),
        }
        if self.length_ratio is not None:
            out["length_cap"] = {"ratio": self.length_ratio, "extra": self.length_extra}
        return out


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int  # generated tokens (for throughput)
    hit_max_tokens: bool  # stopped by the token limit, not by EOS or a stop string


class Engine(Protocol):
    """`generate` must be safe to call from several threads at once when the engine sets `prompts_in_flight`
    (the runner then keeps about that many prompts in flight, in concurrent calls: see runner.LocalExecutor);
    engines without it are called one call at a time."""

    name: str

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]: ...


def prompt_limits(tokenizer, prompts: list[Prompt], settings: GenSettings) -> list[int]:
    """Each prompt's token limit (`GenSettings.limit`), counting its source with `tokenizer`."""
    if settings.length_ratio is None:
        return [settings.max_new_tokens] * len(prompts)
    return [
        settings.limit(None if p.source is None else len(tokenizer(p.source, add_special_tokens=False)["input_ids"]))
        for p in prompts
    ]


def model_stamp(model_dir: Path) -> str:
    """Identify a model directory's content cheaply (path, file names, sizes, mtimes): retraining or replacing
    the weights changes it. Keys the ct2 conversion cache and the translation cache's fingerprint."""
    files = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in model_dir.iterdir() if p.is_file())
    return hashlib.sha1(json.dumps([str(model_dir.resolve()), files]).encode()).hexdigest()[:12]


def trim_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """Cut `text` at the first stop string; (text, whether one was found)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def prompt_ids(tokenizer, prompt: Prompt) -> list[int]:
    if prompt.is_chat:
        # The rendered template already holds BOS and other specials: do not add them twice.
        text = tokenizer.apply_chat_template(list(prompt.messages), tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt.text, add_special_tokens=True)["input_ids"]


@lru_cache(maxsize=8)
def _stop_ids(tokenizer, stop: tuple[str, ...]) -> frozenset[int]:
    if not stop:
        return frozenset()
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return frozenset(i for i, p in enumerate(pieces) if any(s in p for s in stop))


def stop_token_ids(tokenizer, stop: tuple[str, ...]) -> frozenset[int]:
    """Every token id whose text contains a stop string (e.g. all tokens holding a newline)."""
    return _stop_ids(tokenizer, tuple(stop))


def model_eos_ids(model: str, tokenizer) -> set[int]:
    """`eos_ids` of a model reference: its generation_config.json's end tokens, if it has one, and the tokenizer's."""
    from transformers import GenerationConfig

    from hala.models import resolve_model

    try:
        gen_config = GenerationConfig.from_pretrained(resolve_model(model))
    except OSError:  # no generation_config.json: the tokenizer's EOS is the only end token
        gen_config = None
    return eos_ids(tokenizer, gen_config)


def eos_ids(tokenizer, generation_config=None) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    extra = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    if isinstance(extra, int):
        ids.add(extra)
    elif extra:
        ids.update(extra)
    # A model directory whose generation_config lacks the chat template's end-of-turn token would otherwise run
    # past its answer to the token limit (the cause of the trained translator's stray tokens, issue 13).
    from hala.models import turn_end_token_ids

    ids.update(turn_end_token_ids(tokenizer))
    return ids


def finish(
    tokenizer, ids: list[int], ends: set[int] | frozenset[int], max_new_tokens: int, stop: tuple[str, ...]
) -> Generation:
    """Turn generated ids into a Generation: cut at the first end token, decode, trim at stop strings."""
    n = next((i + 1 for i, t in enumerate(ids) if t in ends), None)
    ended = n is not None
    ids = ids[:n] if ended else ids
    text, stopped = trim_at_stop(tokenizer.decode(ids, skip_special_tokens=True), stop)
    return Generation(text.strip(), len(ids), not ended and not stopped and len(ids) >= max_new_tokens)
