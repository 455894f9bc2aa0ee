"""Run one recipe stage in a child process, so that everything it allocated is returned when it ends.

Why: a recipe builds a new `vllm.LLM` (or a CUDA model) per stage, and vLLM does not reliably free GPU memory
when an instance is dropped inside a long-lived process (worker processes, NCCL groups and the CUDA caching
allocator outlive it); the next stage then starts with less memory or fails. The operating system returns all of
it when a process exits, so GPU stages run in a fresh `spawn` child (no CUDA state inherited from a fork).

The child re-validates the same resolved config and calls the same `run(config, out_dir)`; its summary comes back
as JSON through a file, and a failure comes back as the exception's type, message and traceback, re-raised in the
parent as the same `HalaError` subclass when it is one (so `hala run` prints the same one line), or as
`StageProcessError` naming the original type otherwise. A child killed by a signal (out of memory, segfault) is
reported with its exit code.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import traceback
from pathlib import Path

from hala.atomic import write_json
from hala.errors import HalaError

RESULT_FILE = ".stage-result.json"


class StageProcessError(RuntimeError):
    """A stage failed in its child process with an exception that is not a HalaError."""


def uses_gpu(stage_type_name: str, config) -> bool:
    """Does this stage put work on a GPU (vLLM, a cuda device or a device map)? Those run in a child process."""
    if getattr(config, "engine", None) == "vllm":
        return True
    device = str(getattr(config, "device", None) or "")
    if device.startswith("cuda") or getattr(config, "device_map", None):
        return True
    if stage_type_name == "train" and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        import torch

        return torch.cuda.is_available()
    return False


def should_isolate(spec, stage_type, config) -> bool:
    """`isolate: true/false` on the stage wins; otherwise GPU stages are isolated. Never under `accelerate
    launch`: there the launcher owns the processes."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return False
    explicit = getattr(spec, "isolate", None)
    return bool(explicit) if explicit is not None else uses_gpu(stage_type.name, config)


def _child(stage_type, config_dict: dict, out_dir: str, result_path: str) -> None:
    # The StageType (its "module:attr" references) travels, not its name: a stage type registered at run time
    # (a plugin, a test's toy stage) is then found in the child too.
    try:
        config = stage_type.config_class().model_validate(config_dict)
        result = stage_type.run_function()(config, Path(out_dir)) or {}
        write_json(Path(result_path), {"ok": True, "result": json.loads(json.dumps(result, default=str))})
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent, KeyboardInterrupt included
        cls = type(e)
        write_json(
            Path(result_path),
            {
                "ok": False,
                "module": cls.__module__,
                "type": cls.__qualname__,
                "message": str(e),
                "traceback": traceback.format_exc(),
            },
        )
        raise SystemExit(1) from None


def _reraise(info: dict, stage: str):
    try:
        cls = getattr(importlib.import_module(info["module"]), info["type"])
    except (ImportError, AttributeError):
        cls = None
    if isinstance(cls, type) and issubclass(cls, HalaError):
        try:
            raise cls(info["message"])
        except TypeError:  # a HalaError subclass with another constructor: keep the message and the base type
            raise HalaError(info["message"]) from None
    if cls is KeyboardInterrupt:
        raise KeyboardInterrupt
    error = StageProcessError(f"stage '{stage}' failed in its child process: {info['type']}: {info['message']}")
    error.child_traceback = info.get("traceback", "")
    if error.child_traceback:  # shown under the parent's traceback: where the bug really is
        error.add_note(f"traceback in the child process:\n{error.child_traceback.rstrip()}")
    raise error


def run_in_child(stage: str, stage_type, config_dict: dict, out_dir: Path) -> dict:
    """Run the stage in a spawned child process and return its summary (or re-raise its error)."""
    result_path = Path(out_dir) / RESULT_FILE
    result_path.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(
        target=_child, args=(stage_type, config_dict, str(out_dir), str(result_path)), name=f"hala-stage-{stage}"
    )
    child.start()
    try:
        child.join()
    except BaseException:  # Ctrl-C in the parent: do not leave the child holding the GPU
        child.terminate()
        child.join(30)
        raise
    try:
        info = json.loads(result_path.read_text(encoding="utf-8")) if result_path.exists() else None
    finally:
        result_path.unlink(missing_ok=True)
    if info is None:
        how = f"killed by signal {-child.exitcode}" if (child.exitcode or 0) < 0 else f"exit code {child.exitcode}"
        raise HalaError(f"stage '{stage}' child process ended without a result ({how}; out of memory?)")
    if info["ok"]:
        return info["result"]
    _reraise(info, stage)
