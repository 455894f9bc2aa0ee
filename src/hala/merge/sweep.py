"""Choose t by measurement: merge at each sweep value, score every candidate on a dev task, keep the best.

Each candidate is merged into `candidates/t<value>/`, scored, and its score saved in `sweep_state.json` at once,
so an interrupted sweep resumes where it stopped (reusing a merged but unscored candidate). Unless candidates are
kept, only the best-so-far model stays on disk (at most two models at any time). The result is `model/` (the
best), `sweep.json` (t, score, metric per candidate) and `sweep.png` (score against t, best marked).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from hala.atomic import atomic_dir, atomic_path, read_json, replace_dir, write_json
from hala.merge.config import MergeConfig
from hala.merge.merge import merge_models
from hala.merge.scorers import parse_select_on
from hala.resume import resumable


def _label(t: float) -> str:
    return f"t{t:g}"


def _rank(row: dict) -> tuple:
    # Highest score; ties go to the t nearest the paper's 0.5, then the smaller t. NaN ranks last.
    score = row["score"] if not math.isnan(row["score"]) else -math.inf
    return score, -abs(row["t"] - 0.5), -row["t"]


def _best(rows: list[dict]) -> dict:
    return max(rows, key=_rank)


def _prune(candidates: Path, keep_label: str) -> None:
    if candidates.is_dir():
        for d in candidates.iterdir():
            if d.name != keep_label:
                shutil.rmtree(d, ignore_errors=True)


def _install(src: Path, target: Path, copy: bool) -> None:
    """Make `src` the directory `target` atomically; copy it when candidates are kept, else move it there."""
    if not copy:  # `src` is complete (written atomically): one rename moves it
        replace_dir(src, target)
        return
    with atomic_dir(target) as tmp:
        for item in src.iterdir():
            shutil.copy2(item, tmp / item.name)


def plot_sweep(rows: list[dict], best: dict, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["t"])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot([r["t"] for r in rows], [r["score"] for r in rows], "o-", color="tab:blue", label="candidates")
    ax.plot([best["t"]], [best["score"]], "*", markersize=18, color="tab:red", label=f"best t = {best['t']:g}")
    ax.annotate(f"{best['score']:.4g}", (best["t"], best["score"]), textcoords="offset points", xytext=(8, -14))
    ax.set_xlabel("t  (0 = base, 1 = tuned)")
    ax.set_ylabel(f"{best['metric']}  (higher is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def run_sweep(config: MergeConfig, out_dir: Path) -> dict:
    scorer, arg = parse_select_on(config.select_on)
    reported = [(spec, *parse_select_on(spec)) for spec in config.report_on]  # checked before any merging
    candidates = out_dir / "candidates"
    state_path = out_dir / "sweep_state.json"
    key = config.model_dump(mode="json", exclude={"keep_candidates"})
    if resumable(state_path, key, field="config"):
        state = read_json(state_path)
    else:  # a new sweep: candidates left by another config are stale
        state = {"config": key, "scores": {}}
        shutil.rmtree(candidates, ignore_errors=True)
    for t in config.sweep:
        label = _label(t)
        if label not in state["scores"]:
            if not (candidates / label).is_dir():  # a directory there is complete (written atomically)
                merge_models(config, candidates / label, t=t)
            score = scorer.fn(candidates / label, arg, config.select_limit)
            state["scores"][label] = {"t": t, "score": score.value, "metric": score.metric, "details": score.details}
            # Reported only: the choice of t stays on select_on, as the recipe says.
            state["scores"][label]["reported"] = {
                spec: {"value": s.value, "metric": s.metric, "details": s.details}
                for spec, s in ((spec, fn.fn(candidates / label, a, config.select_limit)) for spec, fn, a in reported)
            }
            write_json(state_path, state)
        if not config.keep_candidates:
            _prune(candidates, _label(_best(list(state["scores"].values()))["t"]))

    rows = [state["scores"][_label(t)] for t in config.sweep]
    best = _best(rows)
    best_dir = candidates / _label(best["t"])
    if not best_dir.is_dir():  # pruned or lost in an interrupted earlier run: merging is deterministic
        merge_models(config, best_dir, t=best["t"])
    _install(best_dir, out_dir / "model", copy=config.keep_candidates)
    if not config.keep_candidates:
        shutil.rmtree(candidates, ignore_errors=True)

    table = {
        "select_on": config.select_on,
        "report_on": config.report_on,
        "method": config.method,
        "metric": best["metric"],
        "best_t": best["t"],
        "best_score": best["score"],
        "rows": rows,
    }
    write_json(out_dir / "sweep.json", table)
    plot_sweep(rows, best, f"{config.method} t sweep: {best['metric']} on {Path(arg).name}", out_dir / "sweep.png")
    return {
        "model": "model",
        "method": config.method,
        "t": best["t"],
        "score": best["score"],
        "metric": best["metric"],
        "sweep": [{k: r[k] for k in ("t", "score", "metric")} for r in rows],
        "outputs": ["model", "sweep.json", "sweep.png", "merge.json"]
        + (["candidates"] if config.keep_candidates else []),
    }
