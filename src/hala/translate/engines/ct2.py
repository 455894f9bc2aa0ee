"""CTranslate2: the fast CPU engine. A HF model is converted once (cached under HALA_HOME/ct2), then run
int8 by default. Measured here on Gemma-3-270M, batch 16: int8 ~176 tok/s vs HF bf16 ~121 tok/s.

With `compute_type="float32"` its greedy output equals the hf engine's in float32 (same token ids in, see
base.prompt_ids). Prompts are sorted by length and cut into `batch_size` batches here, as in the hf engine (same
batches, and each batch runs only to its own longest length-aware limit).

A long prefix that all prompts of a call share (the few-shot prompt's examples: 65 tokens on Gemma-3, a system
preamble) is given to CTranslate2 as its `static_prompt`, so it is prefilled once and its state reused, from the
second call on from a cache, instead of once per sentence (the 3-shot teacher decodes 16-27 % more sentences per
CPU-second here: docs/BENCHMARKS.md). The split is made on the token lists, so prefix + rest is each prompt's own
tokenisation; in float32 the outputs are the full prompts' (tests); in int8 some move, as they do with any change
of batch size (measured: docs/BENCHMARKS.md).
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from hala.atomic import atomic_dir
from hala.errors import require
from hala.models import hala_home, load_tokenizer, resolve_model
from hala.translate.engines.base import (
    Generation,
    GenSettings,
    Prompt,
    finish,
    model_eos_ids,
    model_stamp,
    prompt_ids,
    prompt_limits,
    stop_token_ids,
)
from hala.translate.engines.options import CT2Options

__all__ = ["CT2Engine", "CT2Options", "converted"]


def converted(model: str, quantization: str, trust_remote_code: bool = False) -> Path:
    """The CTranslate2 copy of `model` for `quantization`, converted once (atomic, under a file lock)."""
    ctranslate2 = require("ctranslate2", "the ct2 engine needs CTranslate2: pip install 'hala[ct2]'")

    src = resolve_model(model)
    target = hala_home() / "ct2" / f"{src.name}-{model_stamp(src)}-{quantization}"
    if (target / "model.bin").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "model.bin").exists():
            with atomic_dir(target) as tmp:
                conv = ctranslate2.converters.TransformersConverter(
                    str(src), load_as_float16=False, trust_remote_code=trust_remote_code
                )
                conv.convert(str(tmp), quantization=quantization, force=True)
    return target


MAX_CACHED = 8  # shared prefixes whose state CTranslate2 keeps (each ~2.4 MB for 65 tokens of Gemma-3-270M)


def shared_prefix(tokens: list[list[str]]) -> list[str]:
    """The longest prefix all token lists share, one token short of the shortest (every prompt keeps a token of
    its own: CTranslate2 needs a non-empty prompt after the static one)."""
    if not tokens:
        return []
    first, n = tokens[0], min(len(t) for t in tokens) - 1
    for t in tokens[1:]:
        n = next((i for i in range(n) if t[i] != first[i]), n)
    return first[: max(n, 0)]


class CT2Engine:
    name = "ct2"

    def __init__(self, model: str, batch_size: int = 16, **options):
        ctranslate2 = require("ctranslate2", "the ct2 engine needs CTranslate2: pip install 'hala[ct2]'")

        self.options = CT2Options(**options)
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(model, trust_remote_code=self.options.trust_remote_code)
        self.eos = model_eos_ids(model, self.tokenizer)
        path = converted(model, self.options.compute_type, self.options.trust_remote_code)
        self._seen: set[tuple[str, ...]] = set()
        self._cached: set[tuple[str, ...]] = set()
        self.generator = ctranslate2.Generator(
            str(path), device="cpu", compute_type=self.options.compute_type, intra_threads=self.options.threads
        )

    def _static_prompt(self, tokens: list[list[str]]) -> dict:
        """generate_batch's static-prompt arguments for the prefix all `tokens` share ({} when it is too short).
        The state is cached only for a prefix seen in an earlier call too, and for at most MAX_CACHED prefixes: a
        prefix two prompts share by chance would otherwise hold a cache entry for the engine's lifetime."""
        if not self.options.shared_prefix or len(tokens) < 2:
            return {}
        prefix = shared_prefix(tokens)
        if len(prefix) < self.options.shared_prefix:
            return {}
        key = tuple(prefix)
        cache = key in self._cached or (key in self._seen and len(self._cached) < MAX_CACHED)
        (self._cached if cache else self._seen).add(key)
        return {"static_prompt": prefix, "cache_static_prompt": cache}

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        tok = self.tokenizer
        tokens = [tok.convert_ids_to_tokens(prompt_ids(tok, p)) for p in prompts]
        limits = prompt_limits(tok, prompts, settings)
        ends = self.eos | stop_token_ids(tok, settings.stop)
        static = self._static_prompt(tokens)
        skip = len(static.get("static_prompt", ()))
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        out: list[Generation | None] = [None] * len(tokens)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            results = self.generator.generate_batch(
                [tokens[i][skip:] for i in batch],
                **static,
                max_batch_size=self.batch_size,
                max_length=max(limits[i] for i in batch),
                sampling_topk=1,
                repetition_penalty=settings.repetition_penalty,
                include_prompt_in_result=False,
                end_token=sorted(ends),
                return_end_token=True,
            )
            for i, r in zip(batch, results):
                out[i] = finish(tok, r.sequences_ids[0][: limits[i]], ends, limits[i], settings.stop)
        return out  # type: ignore[return-value]
