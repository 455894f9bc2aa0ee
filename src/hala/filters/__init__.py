"""The filter stage: named, configurable rules over parallel pairs, streamed, counted and reported.

    from hala.filters import FilterConfig, run
    summary = run(FilterConfig(inputs=["pairs.jsonl"]), Path("out/filter"))

Rules live in `rules.py` (cheap string checks), `langid.py` and `semantic.py`; `default.yaml` is the default chain;
docs/FILTER.md documents every rule and default.
"""

from hala.filters.config import FilterConfig, default_rules, load_config
from hala.filters.registry import RULES, Rule, build_rule
from hala.filters.stage import run

__all__ = ["FilterConfig", "RULES", "Rule", "build_rule", "default_rules", "load_config", "run"]
