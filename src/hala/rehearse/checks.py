"""Checks a rehearsal makes on its finished run, beyond every stage exiting cleanly.

* OALL-v2 headline (defect 9 of issue 14): each `eval.mcq` stage's `acc_norm_avg` must be the figure lighteval and
  the OALL-v2 leaderboard report: per task the mean over its subsets (lighteval's `task:_average`), then the mean
  over tasks. It is recomputed here from the per-question details the stage wrote, independently of its code.
* Training-data preparation (defect 8): each `train` stage must have trained from an on-disk, memory-mapped cache
  of its tokenised data (`train_summary.json` -> `data.cache_dir` with `meta.json` and the saved dataset), the
  cache every rank and every rerun reuses instead of rendering and tokenising all samples in memory again.
"""

from __future__ import annotations

import json
from pathlib import Path

from hala.atomic import read_json
from hala.errors import HalaError
from hala.train.data import TEMPLATE_REFUSED


def lighteval_macro(details: list[dict]) -> float:
    by_subset: dict[str, list[int]] = {}
    for d in details:
        by_subset.setdefault(d["subset"], []).append(d["acc_norm"])
    return sum(sum(v) / len(v) for v in by_subset.values()) / len(by_subset)


def check_mcq_headline(stage_dir: Path, name: str) -> str:
    summary = read_json(stage_dir / "eval_mcq.json")
    per_task = []
    for key in summary["tasks"]:
        lines = (stage_dir / f"mcq_{key}.jsonl").read_text(encoding="utf-8").splitlines()
        per_task.append(lighteval_macro([json.loads(x) for x in lines if x.strip()]))
    expected = sum(per_task) / len(per_task)
    got = summary["metrics"]["acc_norm_avg"]
    if abs(got - expected) > 1e-5:
        raise HalaError(
            f"rehearsal check: stage '{name}' reports acc_norm_avg {got:.6f}, but the lighteval/OALL-v2 "
            f"figure (mean over tasks of each task's mean over subsets) from its details is "
            f"{expected:.6f}"
        )
    return f"{name}: acc_norm_avg {got:.4f} = lighteval macro over {len(per_task)} tasks"


def check_train_data(stage_dir: Path, name: str) -> str:
    summary = read_json(stage_dir / "train_summary.json")
    data = summary.get("data") or {}
    cache = Path(data["cache_dir"]) if data.get("cache_dir") else None
    if cache is None or not (cache / "meta.json").exists() or not (cache / "dataset").is_dir():
        raise HalaError(
            f"rehearsal check: stage '{name}' did not train from an on-disk cache of its prepared data "
            f"(train_summary.json data.cache_dir: {data.get('cache_dir')!r}); at 4.5M samples every rank "
            f"would render and tokenise everything in memory"
        )
    refused = _template_refusals(stage_dir, summary)
    if refused:
        raise HalaError(
            f"rehearsal check: stage '{name}' lost {len(refused)} of {data.get('records')} records to its chat "
            f"template ({refused[0]}); the fixtures are in the hub datasets' real schema, so the same share of the "
            f"real data would be lost (system turns under a template without a system role: train.system_turns)"
        )
    return f"{name}: {data.get('examples')} examples from the data cache {cache.name}"


def _template_refusals(stage_dir: Path, summary: dict) -> list[str]:
    """Rejects whose reason is the chat template refusing to render the record (`file:line: message`)."""
    rejects = stage_dir / (summary.get("rejects_file") or "")
    if not summary.get("rejects_file") or not rejects.is_file():
        return []
    out = []
    for line in rejects.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if str(r.get("reason", "")).startswith(TEMPLATE_REFUSED):
            out.append(f"{r.get('source')}:{r.get('line')}: {r['reason']}")
    return out


def run_checks(run_dir: Path, log=print) -> list[str]:
    manifest = read_json(Path(run_dir) / "manifest.json")
    done = []
    for name, entry in manifest["stages"].items():
        if entry.get("type") == "eval.mcq" and entry.get("status") == "done":
            done.append(check_mcq_headline(Path(run_dir) / entry["dir"], name))
        if entry.get("type") == "train" and entry.get("status") == "done":
            done.append(check_train_data(Path(run_dir) / entry["dir"], name))
    for line in done:
        log(f"[rehearse check] {line}")
    return done
