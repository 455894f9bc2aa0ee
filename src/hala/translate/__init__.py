"""The translate stage: structure-safe, resumable, batched translation of datasets (see docs/TRANSLATE.md).

translate_texts(texts, model, ...) -> list[str]   in memory, for other stages
run(TranslateConfig(...), out_dir) -> dict        files in, sharded + resumable files out
"""

from hala.translate.api import load_engine, translate_texts, translate_with_reasons
from hala.translate.config import TranslateConfig
from hala.translate.runner import run

__all__ = ["TranslateConfig", "load_engine", "run", "translate_texts", "translate_with_reasons"]
