"""Translation engines behind one interface (`base.Engine`): hf, ct2 (CTranslate2), vllm, openai, and echo (an
instant stand-in for tests and benchmarks). Each engine's options are a typed model in `options.py`."""

from __future__ import annotations

import importlib

from hala.errors import ConfigError
from hala.translate.engines.base import Engine, Generation, GenSettings, Prompt

ENGINES = {
    "hf": "hf:HFEngine",
    "ct2": "ct2:CT2Engine",
    "vllm": "vllm:VLLMEngine",
    "openai": "openai:OpenAIEngine",
    "echo": "echo:EchoEngine",
}


def make_engine(name: str, model: str, batch_size: int = 8, **options) -> Engine:
    """Build engine `name` for `model`; `options` are that engine's own settings (unknown keys are errors)."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine '{name}'; known: {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    engine_cls = getattr(importlib.import_module(f"hala.translate.engines.{module}"), cls)
    return engine_cls(model, batch_size=batch_size, **options)


__all__ = ["Engine", "GenSettings", "Generation", "Prompt", "ENGINES", "make_engine"]
