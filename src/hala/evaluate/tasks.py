"""Benchmark tasks and suites, declared in YAML (`hala/evaluate/tasks/*.yaml`, plus any file a user passes).

    tasks:
      mcq-ar:                          # a task name
        data: package:mcq_ar.jsonl     # a file/dir, `package:FILE` (shipped with hala), or omitted (bind at run time)
        format: mcq                    # row layout (hala.evaluate.loaders), or auto
        prompt: arabic_mmlu_mt         # prompt format (hala.evaluate.formats)
        split: test                    # inside a data directory: the entry whose name ends with the split
        fewshot_split: dev             # where few-shot examples come from (default: the evaluated items)
        hub: {repo: OALL/ACVA, subsets: [...], split: test, fewshot_split: validation}   # online source
    suites:
      quickstart: [mcq-ar]

A declared task is bound to local data with `NAME=PATH` (e.g. `mmlu-ar-mt=../shared/data/mmlu-ar-mt`); a path
alone is an ad-hoc task whose format is detected and whose prompt format follows from it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hala.atomic import read_json
from hala.errors import HalaError, InputError
from hala.evaluate.formats import DEFAULT_FORMAT, FALLBACK_FORMAT, get_format
from hala.evaluate.loaders import MCQItem, detect_format, items_from_dicts, read_items, sniff_format


class HubSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str
    subsets: list[str] = Field(default_factory=list)
    split: str = "test"
    fewshot_split: str | None = None


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    data: str | None = None
    format: str = "auto"
    prompt: str | None = None
    split: str = "test"
    fewshot_split: str | None = None
    hub: HubSource | None = None


class TaskFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: dict[str, dict] = Field(default_factory=dict)
    suites: dict[str, list[str]] = Field(default_factory=dict)


class Registry:
    def __init__(self, extra_files: list[str | Path] = ()):
        self.tasks: dict[str, TaskSpec] = {}
        self.suites: dict[str, list[str]] = {}
        # The YAML directory `tasks/` sits beside this module `tasks.py` (no __init__.py, so imports find the module).
        builtin = resources.files("hala.evaluate").joinpath("tasks")
        for f in sorted(builtin.iterdir(), key=lambda p: p.name):
            if f.name.endswith(".yaml"):
                self._add(f.read_text(encoding="utf-8"), f"hala/evaluate/tasks/{f.name}")
        for f in extra_files:
            self._add(Path(f).read_text(encoding="utf-8"), str(f), base=Path(f).parent)

    def _add(self, text: str, where: str, base: Path | None = None) -> None:
        try:
            doc = TaskFile.model_validate(yaml.safe_load(text) or {})
            for name, spec in doc.tasks.items():
                task = TaskSpec.model_validate({"name": name, **spec})
                if base and task.data and not task.data.startswith("package:") and not Path(task.data).is_absolute():
                    task.data = str(base / task.data)  # a user file's relative paths are relative to that file
                self.tasks[name] = task
        except (ValidationError, yaml.YAMLError) as e:
            raise HalaError(f"{where}: invalid task file: {e}") from None
        for suite, names in doc.suites.items():
            unknown = [n for n in names if n not in self.tasks]
            if unknown:
                raise HalaError(f"{where}: suite '{suite}' names unknown task(s): {', '.join(unknown)}")
            self.suites[suite] = names

    def expand(self, names: list[str]) -> list[str]:
        """Suite names become their tasks; other entries are kept as they are."""
        out: list[str] = []
        for n in names:
            out.extend(self.suites.get(n, [n]))
        return out


def _resolve_data(data: str) -> str:
    if data.startswith("package:"):
        return str(resources.files("hala").joinpath("data").joinpath(data[len("package:") :]))
    return data


def _split_entry(directory: Path, split: str) -> Path | None:
    """The file or directory inside `directory` for `split` (`test/`, `x_test.jsonl`, `x-test.csv`, ...)."""
    found = [
        p
        for p in sorted(directory.iterdir())
        if p.stem == split or p.stem.endswith((f"_{split}", f"-{split}", f".{split}"))
    ]
    if len(found) > 1:
        raise InputError(f"{directory}: several entries match split '{split}': {', '.join(p.name for p in found)}")
    return found[0] if found else None


def _dataset_splits(path: Path) -> list[str] | None:
    """Split names of a `save_to_disk` DatasetDict, None for a single Dataset, [] when `path` is no dataset."""
    if (path / "dataset_dict.json").exists():
        return read_json(path / "dataset_dict.json")["splits"]
    return None if (path / "dataset_info.json").exists() or (path / "state.json").exists() else []


Source = tuple[Path, str | None]  # a file / CSV directory, or a saved dataset and its split


def _locate(path: Path, split: str | None) -> Source | None:
    """Where `split` lives in a data directory (a DatasetDict split, or a `NAME_split.*` entry); None: nowhere."""
    if split is None or not path.is_dir():
        return None
    splits = _dataset_splits(path)
    if splits is None or (not splits and list(path.glob("*.csv"))):
        return None  # a single saved Dataset, or a directory of per-subject CSVs: one split, the whole thing
    if splits:
        return (path, split) if split in splits else None
    entry = _split_entry(path, split)
    return (entry, None) if entry else None


class TaskData:
    """A task ready to run: its items, few-shot pool and prompt format."""

    def __init__(self, name: str, items: list[MCQItem], fewshot: list[MCQItem] | None, prompt: str, source: str):
        self.name, self.items, self.fewshot, self.source = name, items, fewshot, source
        self.prompt = get_format(prompt)


def load_task(spec: TaskSpec, data: str | None = None) -> TaskData:
    source = data or spec.data
    if source:
        return _load_local(spec, Path(_resolve_data(source)))
    if spec.hub:
        return _load_hub(spec)
    raise HalaError(f"task '{spec.name}' has no data: bind it to a local copy with {spec.name}=PATH")


def _load_local(spec: TaskSpec, path: Path) -> TaskData:
    if not path.exists():
        raise HalaError(f"task '{spec.name}': {path}: no such file or directory")
    if spec.hub and spec.hub.subsets and path.is_dir() and all((path / s).is_dir() for s in spec.hub.subsets):
        return _load_mirror(spec, path)
    # A hub task bound to a local copy keeps the hub's split names (e.g. AraTrust's `train`, AlGhafa's `validation`).
    split, fewshot_split = (spec.hub.split, spec.hub.fewshot_split) if spec.hub else (spec.split, spec.fewshot_split)
    evaluated, shots = _locate(path, split), None
    if evaluated is None:
        if path.is_dir() and _dataset_splits(path):
            raise InputError(f"task '{spec.name}': {path} has no '{split}' split")
        evaluated = (path, None)  # the file (or CSV directory, or single dataset) is the evaluated set
    else:
        shots = _locate(path, fewshot_split)
    fmt = spec.format if spec.format != "auto" else sniff_format(*evaluated)
    return TaskData(
        spec.name,
        read_items(evaluated[0], fmt, evaluated[1]),
        read_items(shots[0], fmt, shots[1]) if shots else None,
        spec.prompt or DEFAULT_FORMAT.get(fmt, FALLBACK_FORMAT),
        str(evaluated[0]),
    )


def _load_mirror(spec: TaskSpec, path: Path) -> TaskData:
    """A local mirror of a per-subset hub task: `PATH/<SUBSET>/` per subset (a saved DatasetDict, or a directory
    with `<split>` entries). Items are labelled with their subset as on the hub, so scores stay per subset."""
    hub = spec.hub

    def read(split: str | None) -> list[MCQItem] | None:
        if split is None:
            return None
        items = []
        for subset in hub.subsets:
            where = _locate(path / subset, split)
            if where is None:
                raise InputError(f"task '{spec.name}': {path / subset} has no '{split}' split")
            fmt = spec.format if spec.format != "auto" else sniff_format(*where)
            for item in read_items(where[0], fmt, where[1]):
                item.subset = subset
                items.append(item)
        return items

    fmt = spec.format if spec.format != "auto" else "mcq"
    return TaskData(
        spec.name,
        read(hub.split),
        read(hub.fewshot_split),
        spec.prompt or DEFAULT_FORMAT.get(fmt, FALLBACK_FORMAT),
        str(path),
    )


def _load_hub(spec: TaskSpec) -> TaskData:
    hub = spec.hub
    if any(os.environ.get(v, "0").lower() in {"1", "true", "yes"} for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        raise HalaError(
            f"task '{spec.name}' reads {hub.repo} from the Hugging Face Hub, but this session is "
            f"offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE); bind a local copy with "
            f"{spec.name}=PATH (a save_to_disk dataset or a file)"
        )

    def read(split: str | None) -> list[MCQItem] | None:
        if split is None:
            return None
        items = []
        for subset in hub.subsets or [""]:
            ref = f"hf:{hub.repo}" + (f":{subset}" if subset else "") + f"@{split}"
            for item in read_items(ref, spec.format):
                # the hub subset (one lighteval task each) rather than a row's own subject column
                item.subset = subset or item.subset
                items.append(item)
        return items

    fmt = spec.format if spec.format != "auto" else "mcq"
    return TaskData(
        spec.name,
        read(hub.split),
        read(hub.fewshot_split),
        spec.prompt or DEFAULT_FORMAT.get(fmt, FALLBACK_FORMAT),
        f"hf:{hub.repo}",
    )


def resolve_task(
    task: str | Path | list[dict], registry: Registry | None = None, prompt: str | None = None, fmt: str = "auto"
) -> TaskData:
    """A declared task name, `NAME=PATH`, a path (ad-hoc task), or a list of item dicts."""
    if isinstance(task, list):
        items = items_from_dicts(task, fmt)
        first_fmt = fmt if fmt != "auto" else detect_format(task[0])
        return TaskData("items", items, None, prompt or DEFAULT_FORMAT.get(first_fmt, FALLBACK_FORMAT), "items")
    registry = registry or Registry()
    name, _, bound = str(task).partition("=")
    if name in registry.tasks:
        spec = registry.tasks[name]
        if prompt:
            spec = spec.model_copy(update={"prompt": prompt})
        return load_task(spec, bound or None)
    if bound:
        raise HalaError(f"unknown task '{name}' (declared: {', '.join(sorted(registry.tasks))})")
    path = Path(str(task))
    if not path.exists():
        raise HalaError(
            f"'{task}' is neither a declared task ({', '.join(sorted(registry.tasks))}), "
            f"a suite ({', '.join(sorted(registry.suites))}) nor an existing file"
        )
    spec = TaskSpec(name=path.stem if path.is_file() else path.name, format=fmt, prompt=prompt)
    return load_task(spec, str(path))
