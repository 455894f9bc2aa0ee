"""Engine calls: the unit the runner plans (runner.Run.plan), an executor runs (runner.LocalExecutor in this
process, distributed.RayExecutor on Ray actors) and the runner commits to the dedup cache (runner.Run.record).

Both executors run a call with `run_call` and build their engine and translator with `build_engine` and
`make_translator`, so a call gives the same output wherever it runs. A call is a fixed list of model-facing
segments of one shard (`Translator.run` on it: one generate, then its retries); its composition is decided by
the plan alone, never by timing, because batch composition can change greedy output in the last bits.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field, replace

from hala.prompts import get_template
from hala.translate.cache import Entry
from hala.translate.config import TranslateConfig
from hala.translate.engines import Engine, GenSettings, Prompt, make_engine
from hala.translate.guards import Guards
from hala.translate.translator import Translator


@dataclass
class Call:
    """One planned engine call: `sources` (distinct model-facing segments) of shard `shard`; `index` numbers the
    calls of a run in plan order."""

    index: int
    shard: int
    sources: list[str]


@dataclass
class CallResult:
    index: int
    entries: list[tuple[str, str | None, int]]  # per source, in order: (output, reject reason, tokens)
    tokens: int = 0
    retried: int = 0
    fixed: int = 0
    seconds: float = 0.0
    ladder: dict = field(default_factory=dict)  # the retry ladder's counters (Translator.ladder_stats)
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def to_json(self) -> dict:
        return self.__dict__.copy()


class NullCache:
    """The cache a call's translator writes to: nothing is kept there; the runner commits the results (one
    transaction per call) in the process that owns out_dir/cache.sqlite, whatever executor ran the call."""

    fingerprint = ""

    def get_many(self, sources: list[str]) -> dict[str, Entry]:
        return {}

    def put_many(self, entries: dict[str, Entry]) -> None:
        pass


class SourcedTranslator(Translator):
    """A Translator whose prompts carry their segment (`Prompt.source`), for length-aware token limits and for
    the echo engine. Prompt text and messages are exactly the Translator's."""

    def prompt(self, text: str) -> Prompt:
        return replace(super().prompt(text), source=text)


class Serialized:
    """An engine that is not safe to call from several threads, called one call at a time (the next call waits
    ready on the lock, so the engine never idles between calls)."""

    def __init__(self, engine: Engine):
        self.engine, self.name, self.lock = engine, engine.name, threading.Lock()

    def generate(self, prompts, settings):
        with self.lock:
            return self.engine.generate(prompts, settings)


def gen_settings(config: TranslateConfig) -> GenSettings:
    cap = config.length_cap
    return GenSettings(
        max_new_tokens=config.max_new_tokens,
        stop=get_template(config.template).stop,
        length_ratio=cap.ratio if cap else None,
        length_extra=cap.extra if cap else 0,
    )


def build_engine(config: TranslateConfig, **overrides) -> Engine:
    """The configured engine (`overrides` on top of engine_options: an actor's thread count); engines that take
    concurrent calls expose `prompts_in_flight`, the others are wrapped in `Serialized`."""
    engine = make_engine(
        config.engine, config.model, batch_size=config.batch_size, **{**config.engine_options, **overrides}
    )
    return engine if getattr(engine, "prompts_in_flight", None) else Serialized(engine)


def calls_in_flight(config: TranslateConfig, engine: Engine) -> int:
    """How many calls to keep in flight on `engine`: the configured number, else enough calls to hold the
    engine's wanted prompts in flight, and at least 2 so the next call fills in while one finishes its slowest
    sequence (1 for engines that take one call at a time)."""
    if config.calls_in_flight:
        return config.calls_in_flight
    wanted = getattr(engine, "prompts_in_flight", None)
    return max(2, -(-wanted // config.call_size)) if wanted else 1


def build_fallback(config: TranslateConfig, **overrides) -> Engine | None:
    """The retry ladder's second engine (`config.fallback`), or None."""
    fb = config.fallback
    if fb is None:
        return None
    engine = make_engine(fb.engine, fb.model, batch_size=config.batch_size, **{**fb.engine_options, **overrides})
    return engine if getattr(engine, "prompts_in_flight", None) else Serialized(engine)


def make_translator(config: TranslateConfig, engine: Engine, fallback: Engine | None = None) -> Translator:
    """A translator for one call (its counters are that call's); the engines are shared between calls."""
    guards = Guards(config.tgt_lang, config.guards)
    tr = SourcedTranslator(
        engine, config.template, config.src_lang, config.tgt_lang, gen_settings(config), guards, NullCache()
    )
    if fallback is not None:
        fb = config.fallback
        settings = gen_settings(config)
        settings = replace(
            settings, max_new_tokens=fb.max_new_tokens or settings.max_new_tokens, stop=get_template(fb.template).stop
        )
        tr.fallback = SourcedTranslator(
            fallback, fb.template, config.src_lang, config.tgt_lang, settings, guards, NullCache()
        )
    return tr


def run_call(config: TranslateConfig, engine: Engine, call: Call, fallback: Engine | None = None) -> CallResult:
    """Translate one call's segments (guards and the retry ladder included)."""
    t0 = time.perf_counter()
    tr = make_translator(config, engine, fallback)
    entries = tr.run(call.sources, shard=call.shard)
    ladder = tr.ladder_stats() if hasattr(tr, "ladder_stats") else {}
    return CallResult(
        call.index,
        [(entries[s].output, entries[s].reason, entries[s].tokens) for s in call.sources],
        tr.tokens,
        tr.retried,
        tr.fixed,
        time.perf_counter() - t0,
        ladder,
    )
