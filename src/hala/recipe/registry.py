"""Stage types the recipe runner can execute, by name.

Each entry points at a stage's pydantic config class and its `run(config, out_dir) -> dict` function. They are
imported lazily (`module:attr`) so validating a recipe does not import torch for stages it does not use.
`VERSION` is part of every stage key: bump it when a stage's outputs change for the same config.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class StageType:
    name: str
    config: str  # "module:Class"
    run: str  # "module:function"
    version: int = 1
    description: str = ""

    def config_class(self) -> type:
        return _load(self.config)

    def run_function(self) -> Callable[..., dict]:
        return _load(self.run)


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


STAGE_TYPES: dict[str, StageType] = {}


def register(stage: StageType) -> StageType:
    STAGE_TYPES[stage.name] = stage
    return stage


def get_stage_type(name: str) -> StageType:
    if name not in STAGE_TYPES:
        raise ValueError(f"unknown stage type '{name}'; known: {', '.join(sorted(STAGE_TYPES))}")
    return STAGE_TYPES[name]


for _stage in [
    StageType("data.packages", "hala.sources.stage:PackagePairsConfig", "hala.sources.stage:run",
              description="human-translated pairs from installed PyPI packages"),
]:
    register(_stage)
