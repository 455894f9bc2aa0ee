"""The merge stage: slerp or linear merge of a fine-tuned model with its base, and a t sweep that picks t.

    from hala.merge import MergeConfig, run
    run(MergeConfig(base="embedded:gemma-3-270m", tuned="runs/x/train/model", t=0.5), Path("out/merge"))

Outputs under `out_dir`: `model/` (the merged model), `merge.json` (this summary) and, for a sweep, `sweep.json`
and `sweep.png`. Rerunning with the same config on the same `out_dir` returns the finished result; a sweep resumes
from its last scored candidate. The arithmetic equals mergekit's (see `kernels.py`); docs/MERGE.md has the details.
"""

from __future__ import annotations

from pathlib import Path

from hala.atomic import read_json, write_json
from hala.merge.config import MergeConfig, TFilter, TSetting, parse_schedule, to_mergekit
from hala.merge.scorers import SCORERS, Score, register_scorer
from hala.resume import resumable

# torch is imported only when a merge runs (hala.merge.merge), so importing the config stays instant.
__all__ = [
    "MergeConfig",
    "TFilter",
    "TSetting",
    "run",
    "parse_schedule",
    "to_mergekit",
    "register_scorer",
    "Score",
    "SCORERS",
]


def run(config: MergeConfig, out_dir: Path) -> dict:
    """Merge (or sweep t and keep the best) into `out_dir`; return a JSON-able summary."""
    out_dir = Path(out_dir)
    summary_path = out_dir / "merge.json"
    key = config.model_dump(mode="json")
    if (out_dir / "model").is_dir() and resumable(summary_path, key, field="config"):
        return {**read_json(summary_path), "resumed": True}
    if config.sweep:
        from hala.merge.sweep import run_sweep

        result = run_sweep(config, out_dir)
    else:
        from hala.merge.merge import merge_models

        result = {**merge_models(config, out_dir / "model"), "model": "model", "outputs": ["model", "merge.json"]}
    summary = {**result, "config": key}
    write_json(summary_path, summary)
    return summary
