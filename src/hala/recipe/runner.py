"""Run a recipe: the only place that knows stage order.

Each stage's output directory is `RUN_DIR/<stage>-<key12>`, where the key hashes the stage type and version, its
config (with `@STAGE/PATH` references replaced by the referenced stage's key) — so a finished stage is skipped on
rerun, and a changed setting re-keys that stage and everything downstream of it, nothing else. A stage runs in
`<dir>.tmp` and is renamed into place when it succeeds; an interrupted stage finds its `.tmp` again on the next
run and resumes inside it (stages are written to resume from what they already finished).

`RUN_DIR/manifest.json` records versions, keys, timings, outputs and metrics of every stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from hala.atomic import read_json, write_json
from hala.errors import HalaError
from hala.recipe.registry import get_stage_type
from hala.recipe.schema import RUN_REF, Recipe, StageSpec, references, replace_references

STAGE_FILE = "stage.json"


@dataclass
class PlannedStage:
    spec: StageSpec
    key: str
    dir: Path
    deps: list[str]
    status: str  # done | resume | pending

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tmp_dir(self) -> Path:
        return self.dir.with_name(self.dir.name + ".tmp")


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    manifest: Path | None = None


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _dep_key(dep_keys: dict[str, str], dep: str) -> str:
    if dep == RUN_REF:  # the whole run so far: every earlier stage's key
        return hashlib.sha256(_canonical(dep_keys).encode()).hexdigest()
    return dep_keys[dep]


def stage_key(spec: StageSpec, dep_keys: dict[str, str]) -> str:
    stage_type = get_stage_type(spec.type)
    config = replace_references(spec.with_, lambda dep, rel: f"@{_dep_key(dep_keys, dep)}/{rel}")
    payload = _canonical({"type": spec.type, "version": stage_type.version, "config": config})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_run_dir(recipe: Recipe, recipe_path: Path | None) -> Path:
    if recipe.run_dir:
        base = recipe_path.parent if recipe_path else Path.cwd()
        return (base / recipe.run_dir).resolve() if not Path(recipe.run_dir).is_absolute() else Path(recipe.run_dir)
    return Path.cwd() / "runs" / recipe.name


def plan(recipe: Recipe, run_dir: Path) -> list[PlannedStage]:
    keys: dict[str, str] = {}
    planned = []
    for spec in recipe.stages:
        deps = sorted({d for d, _ in references(spec.with_)})
        if RUN_REF in deps:
            deps = [p.name for p in planned]
        key = stage_key(spec, keys)
        keys[spec.name] = key
        stage_dir = run_dir / f"{spec.name}-{key[:12]}"
        if _is_done(stage_dir):
            status = "done"
        elif stage_dir.with_name(stage_dir.name + ".tmp").exists():
            status = "resume"
        else:
            status = "pending"
        planned.append(PlannedStage(spec, key, stage_dir, deps, status))
    return planned


def _is_done(stage_dir: Path) -> bool:
    f = stage_dir / STAGE_FILE
    return f.exists() and read_json(f).get("status") == "done"


def select(planned: list[PlannedStage], only: list[str] | None, from_stage: str | None) -> list[str]:
    names = [p.name for p in planned]
    for n in (only or []) + ([from_stage] if from_stage else []):
        if n not in names:
            raise HalaError(f"no stage named '{n}' (stages: {', '.join(names)})")
    if only:
        return [n for n in names if n in only]
    if from_stage:
        return names[names.index(from_stage):]
    return names


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("hala", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "sacrebleu",
                "compressed-tensors", "llmcompressor", "mergekit", "ctranslate2", "vllm", "ray"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _resolve_ref(by_name: dict[str, PlannedStage], run_dir: Path, stage: str, rel: str) -> str:
    if stage == RUN_REF:
        return str(run_dir / rel) if rel else str(run_dir)
    dep = by_name[stage]
    if not _is_done(dep.dir):
        raise HalaError(f"stage '{stage}' has not finished (needed by a later stage); run it first "
                        f"(e.g. without --only)")
    target = dep.dir / rel if rel else dep.dir
    if not target.exists():
        raise HalaError(f"'@{stage}/{rel}': stage '{stage}' did not produce '{rel}' (in {dep.dir})")
    return str(target)


def _write_manifest(path: Path, recipe: Recipe, recipe_file: Path | None, planned: list[PlannedStage]) -> None:
    stages = {}
    for p in planned:
        entry = {"type": p.spec.type, "key": p.key, "dir": p.dir.name, "deps": p.deps, "status": "pending"}
        for d in (p.dir, p.tmp_dir):
            f = d / STAGE_FILE
            if f.exists():
                info = read_json(f)
                entry.update({k: info[k] for k in ("status", "seconds", "finished", "metrics", "outputs", "error")
                              if k in info})
                if d == p.tmp_dir:
                    entry["dir"] = p.tmp_dir.name
                break
        stages[p.name] = entry
    write_json(path, {"recipe": recipe.name, "recipe_file": str(recipe_file) if recipe_file else None,
                      "recipe_sha256": hashlib.sha256(recipe_file.read_bytes()).hexdigest() if recipe_file else None,
                      "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(), "stages": stages})


def stage_metrics(summary: dict) -> dict:
    """The stage's own `metrics`, or else the numbers its summary reports (counts, losses, rates), so the
    manifest shows every stage's figures without each stage having to pick them."""
    if "metrics" in summary:
        return summary["metrics"]

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return {k: v for k, v in summary.items()
            if number(v) or (isinstance(v, dict) and v and all(number(x) for x in v.values()))}


def run_stage(p: PlannedStage, by_name: dict[str, PlannedStage], run_dir: Path) -> dict:
    stage_type = get_stage_type(p.spec.type)
    config_dict = replace_references(p.spec.with_, lambda s, rel: _resolve_ref(by_name, run_dir, s, rel))
    config = stage_type.config_class().model_validate(config_dict)
    tmp = p.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    record = {"name": p.name, "type": p.spec.type, "key": p.key, "config": p.spec.with_, "deps": p.deps,
              "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    main = process_rank()[0] == 0
    if main:
        write_json(tmp / STAGE_FILE, record)
    t0 = time.time()
    try:
        result = stage_type.run_function()(config, tmp) or {}
    except BaseException as e:
        if main:
            write_json(tmp / STAGE_FILE, {**record, "status": "failed", "seconds": round(time.time() - t0, 2),
                                          "error": f"{type(e).__name__}: {e}"})
        raise
    wait_for_other_processes()
    if not main:  # under `accelerate launch` only the main process records and publishes the result
        return {**record, "status": "done", "seconds": round(time.time() - t0, 2)}
    record.update(status="done", seconds=round(time.time() - t0, 2), finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  metrics=stage_metrics(result), outputs=result.get("outputs", {}))
    write_json(tmp / STAGE_FILE, record)
    if p.dir.exists():  # a stale, unfinished directory with the same key
        shutil.rmtree(p.dir)
    os.replace(tmp, p.dir)
    return record


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process under `accelerate launch` / torchrun; (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def wait_for_other_processes() -> None:
    if process_rank()[1] > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _check_multi_process(planned: list[PlannedStage], selected: list[str]) -> None:
    """Several processes may only run stages built for it (training); anything else would run N times over."""
    world = process_rank()[1]
    if world == 1:
        return
    for p in planned:
        if p.name in selected and not _is_done(p.dir) and not get_stage_type(p.spec.type).multi_process:
            raise HalaError(f"stage '{p.name}' ({p.spec.type}) cannot run in {world} processes: run it with plain "
                            f"`hala run`, and launch only training stages with --only")


def run_recipe(recipe: Recipe, run_dir: Path, recipe_file: Path | None = None, only: list[str] | None = None,
               from_stage: str | None = None, log: Callable[[str], None] = print) -> RunResult:
    run_dir.mkdir(parents=True, exist_ok=True)
    planned = plan(recipe, run_dir)
    by_name = {p.name: p for p in planned}
    selected = select(planned, only, from_stage)
    _check_multi_process(planned, selected)
    main = process_rank()[0] == 0
    result = RunResult(manifest=run_dir / "manifest.json")
    write_manifest = _write_manifest if main else (lambda *args: None)
    write_manifest(result.manifest, recipe, recipe_file, planned)
    for p in planned:
        if p.name not in selected:
            continue
        if _is_done(p.dir):
            log(f"[skip] {p.name} ({p.spec.type}) — done in {p.dir.name}")
            result.skipped.append(p.name)
            continue
        log(f"[{'resume' if p.tmp_dir.exists() else 'run'}] {p.name} ({p.spec.type}) -> {p.dir.name}")
        try:
            record = run_stage(p, by_name, run_dir)
        finally:
            write_manifest(result.manifest, recipe, recipe_file, planned)
        wait_for_other_processes()  # the next stage may read what the main process just published
        log(f"[done] {p.name} in {record['seconds']:.1f} s")
        result.ran.append(p.name)
    return result
