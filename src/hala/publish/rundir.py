"""What a run directory says about one stage: its record, the stages it was made from, and the inputs they read.

Everything comes from `RUN_DIR/manifest.json` (stage order, keys, dependencies) and each stage directory's
`stage.json` (its config as written in the recipe — `@STAGE/PATH` references kept — plus metrics and outputs), so
a published card describes exactly the run on disk, not a recipe file that may have changed since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from hala.atomic import read_json
from hala.errors import HalaError

REF = re.compile(r"^@([A-Za-z0-9_.-]+)/(.*)$")
RUN_REF = "run"
# Config keys whose value names a model (a reference to resolve), not a data file.
MODEL_KEYS = {"model", "base", "tuned", "tokenizer", "teacher", "student"}
# merge `select_on: ppl:PATH` and similar scorer:PATH settings name a data file after the colon.
SCORER_PATH = re.compile(r"^(?:mcq|chrf|ppl):(.+)$")
# Config keys whose value names data a stage reads: such a value is an input even when the file is gone (so its
# licence cannot be checked and the publish is refused), not a setting to ignore.
DATA_KEYS = {"input", "inputs", "train", "dev", "data", "ref"}
SKIP_KEYS = {"chat_template", "task_files", "prompt", "run_dir"}
MODEL_STAGE_TYPES = {"train", "merge", "quantize"}


@dataclass
class StageInfo:
    name: str
    type: str
    key: str
    dir: Path
    status: str
    deps: list[str]
    config: dict
    metrics: dict
    outputs: Any
    finished: str | None = None
    seconds: float | None = None

    def file(self, name: str) -> dict | None:
        path = self.dir / name
        return read_json(path) if path.is_file() else None


@dataclass
class Run:
    path: Path
    manifest: dict
    stages: dict[str, StageInfo]  # pipeline order

    @property
    def recipe(self) -> str:
        return str(self.manifest.get("recipe") or self.path.name)

    @property
    def hala_version(self) -> str | None:
        return (self.manifest.get("versions") or {}).get("hala")

    def stage(self, name: str) -> StageInfo:
        if name not in self.stages:
            raise HalaError(
                f"{self.path / 'manifest.json'}: no stage named '{name}' (stages: {', '.join(self.stages)})"
            )
        return self.stages[name]

    def lineage(self, name: str) -> list[StageInfo]:
        """`name` and every stage it was made from, transitively, in pipeline order."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            n = todo.pop()
            if n in seen or n not in self.stages:
                continue
            seen.add(n)
            todo += self.stages[n].deps
        return [s for n, s in self.stages.items() if n in seen]

    def resolve(self, value: str) -> Path | None:
        """The path an `@STAGE/PATH` reference names in this run, or None when it is not a reference."""
        m = REF.match(value)
        if not m:
            return None
        stage, rel = m.groups()
        base = self.path if stage == RUN_REF else self.stage(stage).dir
        return base / rel if rel else base


def read_run(path: str | Path) -> Run:
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise HalaError(
            f"{manifest_path}: not found — `hala publish` needs the directory of a recipe run "
            f"(`hala run RECIPE` writes manifest.json there)"
        )
    manifest = read_json(manifest_path)
    stages = {}
    for name, entry in (manifest.get("stages") or {}).items():
        d = path / entry.get("dir", "")
        record = read_json(d / "stage.json") if (d / "stage.json").is_file() else {}
        stages[name] = StageInfo(
            name=name,
            type=str(entry.get("type", record.get("type", ""))),
            key=str(entry.get("key", "")),
            dir=d,
            status=str(record.get("status") or entry.get("status") or "pending"),
            deps=list(entry.get("deps") or record.get("deps") or []),
            config=record.get("config") or {},
            metrics=record.get("metrics") or entry.get("metrics") or {},
            outputs=record.get("outputs") or entry.get("outputs") or {},
            finished=record.get("finished"),
            seconds=record.get("seconds"),
        )
    return Run(path, manifest, stages)


def shipped_data_dir() -> Path:
    return Path(str(resources.files("hala").joinpath("data"))).resolve()


def is_shipped(path: Path) -> bool:
    """A data file hala ships (written for the project, Apache-2.0). Also true for a run made with another
    installation of hala: the same file name inside some `hala/data/` directory."""
    try:
        resolved = path.resolve()
    except OSError:
        return False
    if resolved.is_relative_to(shipped_data_dir()):
        return True
    return (
        resolved.parent.name == "data"
        and resolved.parent.parent.name == "hala"
        and (shipped_data_dir() / resolved.name).is_file()
    )


@dataclass
class Reference:
    """One string in a stage's config that names a model or data outside the stage."""

    stage: str
    key: str  # dotted config path, e.g. "sources.0.ref"
    value: str  # as written in the config
    kind: str  # "model" | "data"
    internal: bool  # made by a stage of this run (`@STAGE/PATH`)
    path: Path | None = None  # local path, when there is one
    role: str = "input"  # "input" | "selection" (data that only picked a setting, e.g. merge t)


@dataclass
class Lineage:
    stages: list[StageInfo]
    references: list[Reference] = field(default_factory=list)

    @property
    def external(self) -> list[Reference]:
        return [r for r in self.references if not r.internal]


def _strings(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, value) of every string in a config."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in SKIP_KEYS:
                yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{path}.{i}")
    elif isinstance(obj, str):
        yield path, obj


def _key_name(dotted: str) -> str:
    return next((part for part in reversed(dotted.split(".")) if not part.isdigit()), dotted)


def classify(run: Run, stage: str, dotted: str, value: str) -> Reference | None:
    key = _key_name(dotted)
    if (internal := run.resolve(value)) is not None:
        kind = "model" if (internal / "config.json").is_file() else "data"
        return Reference(stage, dotted, value, kind, True, internal)
    if value.startswith("embedded:"):
        return Reference(stage, dotted, value, "model", False)
    if value.startswith("hf:"):
        return Reference(stage, dotted, value, "data", False)
    if m := SCORER_PATH.match(value):
        return Reference(stage, dotted, value, "data", False, Path(m.group(1)), role="selection")
    path = Path(value).expanduser()
    path_like = value.startswith(("/", ".", "~"))
    if key in MODEL_KEYS:
        if path.is_dir() or path_like:  # a local model directory (a missing one is an input of unknown licence)
            return Reference(stage, dotted, value, "model", False, path)
        if re.fullmatch(r"[\w.-]+/[\w.-]+", value):
            return Reference(stage, dotted, value, "model", False)  # a hub id
        return None  # a served model's name (openai engine), "echo", ...
    if key in DATA_KEYS or (path_like and path.exists()):
        if path.is_dir() and (path / "config.json").is_file():
            return Reference(stage, dotted, value, "model", False, path)
        return Reference(stage, dotted, value, "data", False, path)
    return None


def lineage(run: Run, name: str) -> Lineage:
    stages = run.lineage(name)
    refs = []
    for s in stages:
        for dotted, value in _strings(s.config):
            ref = classify(run, s.name, dotted, value)
            if ref is not None:
                refs.append(ref)
    return Lineage(stages, refs)


def data_lineage(run: Run, lin: Lineage, name: str) -> list[StageInfo]:
    """The stages whose records flow into `name`'s records: followed through data references only (a translate
    stage's model, for one, is not where its records come from)."""
    refs: dict[str, set[str]] = {}
    for r in lin.references:
        if r.internal and r.kind == "data" and (m := REF.match(r.value)) and m.group(1) != RUN_REF:
            refs.setdefault(r.stage, set()).add(m.group(1))
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += refs.get(n, ())
    return [s for s in lin.stages if s.name in seen]


def model_dir(stage: StageInfo) -> Path | None:
    d = stage.dir / "model"
    return d if (d / "config.json").is_file() else None


def dataset_splits(stage: StageInfo) -> dict[str, Path]:
    """split name -> record file that a data-making stage wrote (empty for other stages)."""
    outputs = stage.outputs if isinstance(stage.outputs, dict) else {}
    by_type = {
        "translate": {"train": stage.config.get("output", "translated.jsonl")},
        "filter": {"train": outputs.get("kept", "kept.jsonl")},
        "corpus": {"train": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl"},
        "data.packages": {"train": "pairs.jsonl"},
        "data.chat": {"train": "samples.jsonl"},
        "data.mix": {"train": "samples.jsonl"},
    }
    # Any other stage (decontam, ...) that names its record file `samples`, `pairs` or `kept` in its outputs.
    files = by_type.get(stage.type) or {
        "train": next((outputs[k] for k in ("samples", "pairs", "kept") if isinstance(outputs.get(k), str)), "")
    }
    files = {split: f for split, f in files.items() if f}
    return {split: stage.dir / f for split, f in files.items() if (stage.dir / f).is_file()}


def short(run: Run, value: Any) -> str:
    """A path or config value with machine-specific prefixes replaced: the run directory by `RUN_DIR`, hala's
    shipped data by `${hala.data}`, the home directory by `~` (cards are public; local paths say nothing useful)."""
    text = str(value)
    for prefix, name in (
        (str(run.path.resolve()), "RUN_DIR"),
        (str(run.path), "RUN_DIR"),
        (str(shipped_data_dir()), "${hala.data}"),
        (str(Path.home()), "~"),
    ):
        text = text.replace(prefix, name)
    return _OTHER_ABSOLUTE.sub(lambda m: "…/" + m.group(1), text)


# Any other absolute path keeps its last two components (`/tmp/x/models/tiny` -> `…/models/tiny`); `://` in URLs
# is not matched (the lookbehind excludes ':' and '/').
_OTHER_ABSOLUTE = re.compile(r"(?<![\w$}.:/~])/(?:[\w.+-]+/)*([\w.+-]+/[\w.+-]+)")


def shorten(run: Run, obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: shorten(run, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [shorten(run, v) for v in obj]
    return short(run, obj) if isinstance(obj, str) else obj
