"""The small interface every engine implements, and what engines that hold a local tokenizer share.

    engine.generate(prompts, settings) -> list[Generation]     (same order as `prompts`, greedy)

A `Prompt` is either chat messages (rendered with the model's chat template) or a plain completion string.
Local engines (hf, ct2, vllm) tokenize prompts the same way (`prompt_ids`), so for the same model and settings
they decode from identical token ids; stop strings become a set of stop token ids (`stop_token_ids`) so the
back-end stops at once instead of running on to the token limit, and `trim_at_stop` cuts the text exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Prompt:
    messages: tuple[dict, ...] | None = None  # chat prompt
    text: str | None = None                   # completion prompt

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = field(default_factory=tuple)

    def adjusted(self, **changes) -> "GenSettings":
        return replace(self, **changes)

    def to_json(self) -> dict:
        return {"greedy": True, "max_new_tokens": self.max_new_tokens,
                "repetition_penalty": self.repetition_penalty, "stop": list(self.stop)}


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int          # generated tokens (for throughput)
    hit_max_tokens: bool  # stopped by the token limit, not by EOS or a stop string


class Engine(Protocol):
    name: str

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]: ...


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


def eos_ids(tokenizer, generation_config=None) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    extra = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    if isinstance(extra, int):
        ids.add(extra)
    elif extra:
        ids.update(extra)
    return ids


def finish(tokenizer, ids: list[int], ends: set[int] | frozenset[int], max_new_tokens: int,
           stop: tuple[str, ...]) -> Generation:
    """Turn generated ids into a Generation: cut at the first end token, decode, trim at stop strings."""
    n = next((i + 1 for i, t in enumerate(ids) if t in ends), None)
    ended = n is not None
    ids = ids[:n] if ended else ids
    text, stopped = trim_at_stop(tokenizer.decode(ids, skip_special_tokens=True), stop)
    return Generation(text.strip(), len(ids), not ended and not stopped and len(ids) >= max_new_tokens)
