"""The corpus stage: bidirectional translation-instruction chat examples from pairs and translated chat samples.

    from hala.corpus import CorpusConfig, run
    summary = run(CorpusConfig(sources=["out/filter/kept.jsonl"]), Path("out/corpus"))

See stage.py for the outputs, split.py for why the splits cannot leak in either direction, and docs/FILTER.md.
"""

from hala.corpus.config import CorpusConfig, CorpusSource
from hala.corpus.stage import run

__all__ = ["CorpusConfig", "CorpusSource", "run"]
