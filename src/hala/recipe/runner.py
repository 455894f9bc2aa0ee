"""Run a recipe: the only place that knows stage order.

Each stage's output directory is `RUN_DIR/<stage>-<key12>`, where the key hashes the stage type and version, its
config (with `@STAGE/PATH` references replaced by the referenced stage's key), the code version of the stage and
a fingerprint of every external file, directory and model its config names (recipe/fingerprint.py) — so a
finished stage is skipped on rerun, and a changed setting, input or stage code re-keys that stage and everything
downstream of it, nothing else. The plan says why a stage reruns, by comparing with the stage's last finished
directory. A stage runs in
`<dir>.tmp` and is renamed into place when it succeeds; an interrupted stage finds its `.tmp` again on the next
run and resumes inside it (stages are written to resume from what they already finished).

`RUN_DIR/manifest.json` records versions, keys, timings, outputs and metrics of every stage.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import signal
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from hala import stop
from hala.atomic import read_json, replace_dir, write_json
from hala.errors import HalaError
from hala.recipe.fingerprint import code_version, external_inputs, not_inputs
from hala.recipe.lock import run_dir_lock
from hala.recipe.registry import get_stage_type
from hala.recipe.schema import RUN_REF, Recipe, StageSpec, references, replace_references

STAGE_FILE = "stage.json"


def work_dir(stage_dir: Path) -> Path:
    """Where a stage runs until it succeeds (then it is renamed to `stage_dir`): `<dir>.tmp`."""
    return stage_dir.with_name(stage_dir.name + ".tmp")


@dataclass
class PlannedStage:
    spec: StageSpec
    key: str
    dir: Path
    deps: list[str]
    status: str  # done | resume | pending
    reason: str = ""  # why a stage that is not done (re)runs: "input p.tsv changed", "new stage", ...
    fingerprint: dict = field(default_factory=dict)  # the parts of the key, recorded in stage.json

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tmp_dir(self) -> Path:
        return work_dir(self.dir)


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


def stage_fingerprint(
    spec: StageSpec, dep_keys: dict[str, str], run_dir: Path | None = None, resolve_models: bool = False
) -> tuple[dict, list[str]]:
    """The parts of a stage's key, and notes on parts that could not be fingerprinted (a model not cached)."""
    stage_type = get_stage_type(spec.type)
    config = replace_references(spec.with_, lambda dep, rel: f"@{_dep_key(dep_keys, dep)}/{rel}")
    inputs = external_inputs(
        spec.with_, run_dir or Path.cwd() / "runs", resolve_models, not_inputs(stage_type.config_class())
    )
    code = code_version(*(ref.partition(":")[0] for ref in (stage_type.config, stage_type.run)))
    deps = {d: _dep_key(dep_keys, d) for d, _ in references(spec.with_)}
    return {
        "type": spec.type,
        "version": stage_type.version,
        "config": config,
        "code": code,
        "inputs": inputs.fingerprints,
        "deps": deps,
    }, inputs.notes


def _key_of(fingerprint: dict) -> str:
    parts = {k: fingerprint[k] for k in ("type", "version", "config", "code", "inputs")}
    return hashlib.sha256(_canonical(parts).encode("utf-8")).hexdigest()


def stage_key(spec: StageSpec, dep_keys: dict[str, str], run_dir: Path | None = None) -> str:
    return _key_of(stage_fingerprint(spec, dep_keys, run_dir)[0])


def _short(label: str) -> str:
    return Path(label).name if "/" in label and not label.startswith("@") else label


def rerun_reason(spec: StageSpec, fingerprint: dict, run_dir: Path) -> str:
    """Why stage `spec` has no finished directory for this key: what differs from its last finished run."""
    name, previous = spec.name, []
    for d in run_dir.glob(f"{name}-*"):
        f = d / STAGE_FILE
        if d.suffix != ".tmp" and f.exists():
            info = read_json(f)
            if info.get("status") == "done" and info.get("name") == name:
                previous.append((info.get("finished", ""), info))
    if not previous:
        return "not run before"
    last = max(previous, key=lambda x: x[0])[1]
    old = last.get("fingerprint")
    if not old:
        return "finished by an older hala (stage keys now include inputs and code)"
    old_config = last.get("config") or {}
    changed = [
        k
        for k in sorted(set(spec.with_) | set(old_config))
        if _canonical(spec.with_.get(k)) != _canonical(old_config.get(k))
    ]
    reasons = [f"config changed ({', '.join(changed)})"] if changed else []
    for dep in sorted(set(fingerprint["deps"]) | set(old.get("deps", {}))):
        if fingerprint["deps"].get(dep) != old.get("deps", {}).get(dep):
            reasons.append(f"upstream stage '{dep}' changed" if dep != RUN_REF else "an earlier stage changed")
    new_in, old_in = fingerprint["inputs"], old.get("inputs", {})
    for label in sorted(set(new_in) | set(old_in)):
        if label not in old_in:
            reasons.append(f"new input {_short(label)}")
        elif label not in new_in:
            reasons.append(f"input {_short(label)} no longer read")
        elif new_in[label] != old_in[label]:
            reasons.append(f"input {_short(label)} changed")
    if fingerprint["version"] != old.get("version"):
        reasons.append(f"stage type version {old.get('version')} -> {fingerprint['version']}")
    if fingerprint["code"] != old.get("code"):
        reasons.append(f"code of the {fingerprint['type']} stage changed")
    return "; ".join(reasons) or "key changed"


def default_run_dir(recipe: Recipe, recipe_path: Path | None) -> Path:
    if recipe.run_dir:
        base = recipe_path.parent if recipe_path else Path.cwd()
        return (base / recipe.run_dir).resolve() if not Path(recipe.run_dir).is_absolute() else Path(recipe.run_dir)
    return Path.cwd() / "runs" / recipe.name


def plan(recipe: Recipe, run_dir: Path, resolve_models: bool = False) -> list[PlannedStage]:
    """Every stage's key, directory and status. `resolve_models`: fetch a hub model that is not cached to key it
    by its commit (a real run; the stage would fetch it anyway); a dry run keys it by name and says so."""
    keys: dict[str, str] = {}
    planned = []
    for spec in recipe.stages:
        deps = sorted({d for d, _ in references(spec.with_)})
        if RUN_REF in deps:
            deps = [p.name for p in planned]
        fingerprint, notes = stage_fingerprint(spec, keys, run_dir, resolve_models)
        key = _key_of(fingerprint)
        keys[spec.name] = key
        stage_dir = run_dir / f"{spec.name}-{key[:12]}"
        reason = ""
        if _is_done(stage_dir):
            status = "done"
        elif work_dir(stage_dir).exists():
            status, reason = "resume", "interrupted earlier"
        else:
            status, reason = "pending", rerun_reason(spec, fingerprint, run_dir)
        if notes:
            reason = "; ".join(([reason] if reason else []) + notes)
        planned.append(PlannedStage(spec, key, stage_dir, deps, status, reason, fingerprint))
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
        return names[names.index(from_stage) :]
    return names


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in (
        "hala",
        "torch",
        "transformers",
        "trl",
        "peft",
        "accelerate",
        "datasets",
        "sacrebleu",
        "compressed-tensors",
        "llmcompressor",
        "mergekit",
        "ctranslate2",
        "vllm",
        "ray",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """What decides the numbers besides the recipe (issue 13: two runs must be comparable): CPU features that pick
    the dtype, thread counts, and the seed-relevant settings of the process."""
    import torch

    from hala.devices import accelerator_device, cpu_has_native_bf16

    threads = {
        k: os.environ[k]
        for k in (
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "CT2_INTER_THREADS",
            "PYTHONHASHSEED",
            "CUBLAS_WORKSPACE_CONFIG",
        )
        if k in os.environ
    }
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "thread_env": threads,
        "device": accelerator_device(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "note": "seeds are per stage, in each stage's config (train.seed, corpus.seed); dtypes follow "
        "cpu_native_bf16 where a stage's dtype is left to the hardware",
    }


def _resolve_ref(by_name: dict[str, PlannedStage], run_dir: Path, stage: str, rel: str) -> str:
    if stage == RUN_REF:
        return str(run_dir / rel) if rel else str(run_dir)
    dep = by_name[stage]
    if not _is_done(dep.dir):
        raise HalaError(
            f"stage '{stage}' has not finished (needed by a later stage); run it first (e.g. without --only)"
        )
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
                entry.update(
                    {k: info[k] for k in ("status", "seconds", "finished", "metrics", "outputs", "error") if k in info}
                )
                if d == p.tmp_dir:
                    entry["dir"] = p.tmp_dir.name
                break
        stages[p.name] = entry
    write_json(
        path,
        {
            "recipe": recipe.name,
            "recipe_file": str(recipe_file) if recipe_file else None,
            "recipe_sha256": hashlib.sha256(recipe_file.read_bytes()).hexdigest() if recipe_file else None,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": versions(),
            "environment": environment(),
            "stages": stages,
        },
    )


def stage_metrics(summary: dict) -> dict:
    """The stage's own `metrics`, or else the numbers its summary reports (counts, losses, rates), so the
    manifest shows every stage's figures without each stage having to pick them."""
    if "metrics" in summary:
        return summary["metrics"]

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    return {
        k: v
        for k, v in summary.items()
        if number(v) or (isinstance(v, dict) and v and all(number(x) for x in v.values()))
    }


def _count(summary: dict, key: str) -> int | None:
    for where in (summary, summary.get("metrics") or {}):
        if isinstance(where.get(key), int) and not isinstance(where.get(key), bool):
            return where[key]
    return None


def check_kept(spec: StageSpec, summary: dict) -> None:
    """A stage that reports `records_in` / `records_out` (top level or in `metrics`) fails loudly when its output is
    empty or keeps less than the stage's `min_kept` share (default 0.2): a mapping that matches no row, a filter
    that drops everything or a translation that rejects most records is a broken run, not a result."""
    n_in, n_out = _count(summary, "records_in"), _count(summary, "records_out")
    if n_out is None or spec.min_kept == 0:
        return
    if n_out == 0:
        read = n_in if n_in is not None else "?"
        raise HalaError(
            f"stage '{spec.name}' ({spec.type}) produced no records (read {read}; see its rejects file "
            f"for why); set `min_kept: 0` on the stage if empty is expected"
        )
    if n_in and n_out < spec.min_kept * n_in:
        raise HalaError(
            f"stage '{spec.name}' ({spec.type}) kept {n_out} of {n_in} records ({n_out / n_in:.1%}), "
            f"below its min_kept {spec.min_kept:.0%}; see its rejects file, or lower `min_kept`"
        )


def run_stage(p: PlannedStage, by_name: dict[str, PlannedStage], run_dir: Path) -> dict:
    stage_type = get_stage_type(p.spec.type)
    config_dict = replace_references(p.spec.with_, lambda s, rel: _resolve_ref(by_name, run_dir, s, rel))
    config = stage_type.config_class().model_validate(config_dict)
    tmp = p.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    record = {
        "name": p.name,
        "type": p.spec.type,
        "key": p.key,
        "config": p.spec.with_,
        "deps": p.deps,
        "status": "running",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "fingerprint": p.fingerprint,
    }
    main = process_rank()[0] == 0
    if main:
        write_json(tmp / STAGE_FILE, record)
    t0 = time.time()
    try:
        result = _call_stage(p, stage_type, config, config_dict, tmp)
    except BaseException as e:
        if main:
            write_json(
                tmp / STAGE_FILE,
                {
                    **record,
                    "status": "failed",
                    "seconds": round(time.time() - t0, 2),
                    "error": f"{type(e).__name__}: {e}",
                },
            )
        raise
    try:
        check_kept(p.spec, result)
    except HalaError as e:
        if main:
            write_json(
                tmp / STAGE_FILE, {**record, "status": "failed", "seconds": round(time.time() - t0, 2), "error": str(e)}
            )
        raise
    wait_for_other_processes()
    if not main:  # under `accelerate launch` only the main process records and publishes the result
        return {**record, "status": "done", "seconds": round(time.time() - t0, 2)}
    record.update(
        status="done",
        seconds=round(time.time() - t0, 2),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        metrics=stage_metrics(result),
        outputs=result.get("outputs", {}),
    )
    write_json(tmp / STAGE_FILE, record)
    replace_dir(tmp, p.dir)  # over a stale, unfinished directory with the same key, if any
    return record


def _call_stage(p: PlannedStage, stage_type, config, config_dict: dict, tmp: Path) -> dict:
    """The stage's `run`, here or in a child process (GPU stages, or `isolate: true`: hala/recipe/isolate.py)."""
    from hala.recipe.isolate import run_in_child, should_isolate

    if stage_type.multi_process and process_rank()[1] == 1:  # several GPUs, one process: not DataParallel
        from hala.train.hardware import refuse_data_parallel

        refuse_data_parallel(only=p.name)
    if should_isolate(p.spec, stage_type, config):
        return run_in_child(p.name, stage_type, config_dict, tmp) or {}
    return stage_type.run_function()(config, tmp) or {}


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
            raise HalaError(
                f"stage '{p.name}' ({p.spec.type}) cannot run in {world} processes: run it with plain "
                f"`hala run`, and launch only training stages with --only"
            )


def run_recipe(
    recipe: Recipe,
    run_dir: Path,
    recipe_file: Path | None = None,
    only: list[str] | None = None,
    from_stage: str | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    run_dir.mkdir(parents=True, exist_ok=True)
    # One writer per run directory (a second `hala run` is refused, naming the holder); under accelerate launch
    # the main process holds it for all ranks.
    with run_dir_lock(run_dir, enabled=process_rank()[0] == 0, log=log), _sigterm_as_interrupt():
        return _run_locked(recipe, run_dir, recipe_file, only, from_stage, log)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler's stop, `kill`) ends the run the way Ctrl-C does: the running stage records that it
    stopped, keeps its partial work in `<dir>.tmp` and the lock is released, instead of dying mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        why = f"signal {signal.Signals(signum).name}"
        stop.request(why)  # sticky: raised again at the next safe point if a library swallows this one
        raise KeyboardInterrupt(why)

    stop.clear()
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _run_locked(
    recipe: Recipe,
    run_dir: Path,
    recipe_file: Path | None,
    only: list[str] | None,
    from_stage: str | None,
    log: Callable[[str], None],
) -> RunResult:
    planned = plan(recipe, run_dir, resolve_models=True)
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
        why = f": {p.reason}" if p.reason else ""
        log(f"[{'resume' if p.tmp_dir.exists() else 'run'}] {p.name} ({p.spec.type}) -> {p.dir.name}{why}")
        try:
            record = run_stage(p, by_name, run_dir)
        except KeyboardInterrupt:
            log(
                f"[stopped] {p.name}: interrupted; its finished work is kept in {p.tmp_dir.name} and the next "
                f"`hala run` resumes it"
            )
            raise
        finally:
            write_manifest(result.manifest, recipe, recipe_file, planned)
        wait_for_other_processes()  # the next stage may read what the main process just published
        log(f"[done] {p.name} in {record['seconds']:.1f} s")
        result.ran.append(p.name)
        if stop.requested():  # the stage finished although a stop was asked for (its interrupt was swallowed)
            log(f"[stopped] after {p.name}: a stop was requested; the next `hala run` resumes from the next stage")
            stop.check()
    return result
