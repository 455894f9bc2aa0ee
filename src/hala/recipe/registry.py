"""Stage types the recipe runner can execute, by name.

Each entry points at a stage's pydantic config class and its `run(config, out_dir) -> dict` function. They are
imported lazily (`module:attr`) so validating a recipe does not import torch for stages it does not use.
`VERSION` is part of every stage key: bump it when a stage's outputs change for the same config.

Where a stage lives follows its name and command: stage `X` / `X.Y` is run by `hala X [Y]` (hala/cli/X.py) and
lives in `hala.X`, except where that name is taken: `eval.*` lives in `hala.evaluate` (`eval` is a Python
builtin), `filter` in `hala.filters` (`filter` too), and `data.*` in `hala.sources` (hala/data/ holds the data
files shipped with hala, not code) with one module per stage, `data.Y` in `hala.sources.Y`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from hala.errors import ConfigError


@dataclass(frozen=True)
class StageType:
    name: str
    config: str  # "module:Class"
    run: str  # "module:function"
    version: int = 1
    description: str = ""
    # True: the stage itself runs under `accelerate launch` with several processes (every rank calls `run`)
    multi_process: bool = False

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
        raise ConfigError(f"unknown stage type '{name}'; known: {', '.join(sorted(STAGE_TYPES))}")
    return STAGE_TYPES[name]


for _stage in [
    StageType(
        "data.packages",
        "hala.sources.packages:PackagePairsConfig",
        "hala.sources.packages:run",
        description="human-translated pairs from installed PyPI packages",
    ),
    StageType(
        "data.chat",
        "hala.sources.chat:ChatDataConfig",
        "hala.sources.chat:run",
        description="instruction datasets (messages / sharegpt / columns layouts) as chat samples",
    ),
    StageType(
        "data.mix",
        "hala.sources.mix:ChatMixConfig",
        "hala.sources.mix:run",
        description="concatenate chat-sample files into one training set (cap per input, dedup by id)",
    ),
    StageType(
        "decontam",
        "hala.decontam:DecontamConfig",
        "hala.decontam:run",
        description="drop training records sharing word n-grams with the evaluation sets (Arabic-aware)",
    ),
    StageType(
        "quantize",
        "hala.quantize.config:QuantizeConfig",
        "hala.quantize.stage:run",
        version=2,
        description="FP8 compression with llm-compressor, verified against the original",
    ),
    StageType(
        "translate",
        "hala.translate.config:TranslateConfig",
        "hala.translate.runner:run",
        description="structure-safe, resumable translation of chat samples, pairs or tables",
    ),
    StageType(
        "filter",
        "hala.filters.config:FilterConfig",
        "hala.filters.stage:run",
        description="named filter rules over parallel pairs; kept, rejects, report",
    ),
    StageType(
        "corpus",
        "hala.corpus.config:CorpusConfig",
        "hala.corpus.stage:run",
        description="bidirectional translation-instruction examples with leak-free splits",
    ),
    StageType(
        "vocab.trim",
        "hala.vocab.stage:TrimConfig",
        "hala.vocab.stage:run",
        description="a copy of a model whose vocabulary keeps only the tokens its languages need",
    ),
    StageType(
        "prune.layers",
        "hala.prune.stage:PruneConfig",
        "hala.prune.stage:run",
        description="a copy of a model without its least influential decoder layers (Block Influence)",
    ),
    StageType(
        "train",
        "hala.train.config:TrainConfig",
        "hala.train.stage:run",
        multi_process=True,
        description="SFT (LoRA or full) with assistant-only loss; writes a plain merged model",
    ),
    StageType(
        "merge",
        "hala.merge.config:MergeConfig",
        "hala.merge:run",
        description="slerp/linear merge with its base, optional t sweep",
    ),
    StageType(
        "eval.translation",
        "hala.evaluate.stage:EvalTranslationConfig",
        "hala.evaluate.stage:run_translation",
        description="BLEU and chrF++ (sacrebleu) through the translate engines",
    ),
    StageType(
        "eval.mcq",
        "hala.evaluate.stage:EvalMCQConfig",
        "hala.evaluate.stage:run_mcq",
        description="multiple-choice log-likelihood accuracy (acc, acc_norm)",
    ),
    StageType(
        "eval.instruct",
        "hala.evaluate.instruct:EvalInstructConfig",
        "hala.evaluate.instruct:run",
        description="held-out Arabic prompts: share of answers in Arabic, reference-answer perplexity",
    ),
    StageType("report", "hala.report:ReportConfig", "hala.report:run", description="Markdown + HTML report of the run"),
    StageType(
        "publish",
        "hala.publish:PublishConfig",
        "hala.publish:run",
        description="a stage's model or dataset with its card, to the Hugging Face Hub (or --dry-run)",
    ),
]:
    register(_stage)
