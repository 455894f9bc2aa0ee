"""Read a run directory: the manifest and the JSON files each stage left in its directory.

    RUN_DIR/manifest.json        {"recipe": ..., "stages": {"<name>": {"type", "key", "dir", "status", "seconds",
                                                                         "metrics", "outputs"}}}
    RUN_DIR/<dir>/eval_translation.json   eval stage, translation (hala.evaluate)
    RUN_DIR/<dir>/eval_mcq.json           eval stage, multiple choice
    RUN_DIR/<dir>/sweep.json              merge stage, t sweep
    RUN_DIR/<dir>/filter_report.json      filter stage (per-rule counts; `report.json` in older runs)
    RUN_DIR/<dir>/report.json             translate stage (rejects_by_reason)
    RUN_DIR/<dir>/train_summary.json      train stage
    RUN_DIR/<dir>/verification.json       quantize stage (drift checks)

Everything is optional: a missing manifest means "every subdirectory is a stage", a missing or unreadable file
means that section is skipped with a note. Stages are kept in manifest (= pipeline) order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hala.errors import HalaError

KNOWN_FILES = (
    "eval_translation.json",
    "eval_mcq.json",
    "eval_instruct.json",
    "sweep.json",
    "filter_report.json",
    "report.json",
    "train_summary.json",
    "verification.json",
)


@dataclass
class Stage:
    name: str
    dir: Path | None
    type: str = ""
    status: str = ""
    seconds: float | None = None
    metrics: dict = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
    config: dict = field(default_factory=dict)  # the stage's settings as the recipe gave them (stage.json)


@dataclass
class Run:
    path: Path
    recipe: str
    manifest: dict | None
    stages: list[Stage]
    problems: list[str]  # files that exist but could not be read

    def with_file(self, name: str) -> list[tuple[Stage, dict]]:
        return [(s, s.files[name]) for s in self.stages if name in s.files]

    def filter_reports(self) -> list[tuple[Stage, dict]]:
        """Each filter stage's report: `filter_report.json`, or in a run written before the filter stage named it
        so, its `report.json` with per-rule counts (a translate or decontam stage's report.json has none)."""
        found = []
        for s in self.stages:
            old = s.files.get("report.json") or {}
            data = s.files.get("filter_report.json") or (old if isinstance(old.get("rules"), list) else None)
            if data is not None:
                found.append((s, data))
        return found


def _load(path: Path, problems: list[str]) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(f"{path}: unreadable ({type(e).__name__}: {e})")
        return None
    if not isinstance(obj, dict):
        problems.append(f"{path}: expected a JSON object")
        return None
    return obj


def _files(directory: Path | None, problems: list[str]) -> dict[str, dict]:
    found = {}
    if directory is None or not directory.is_dir():
        return found
    for name in KNOWN_FILES:
        if (directory / name).is_file():
            obj = _load(directory / name, problems)
            if obj is not None:
                found[name] = obj
    return found


def _stage_config(directory: Path | None, problems: list[str]) -> dict:
    if directory is None or not (directory / "stage.json").is_file():
        return {}
    config = (_load(directory / "stage.json", problems) or {}).get("config")
    return config if isinstance(config, dict) else {}


def read_run(path: str | Path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise HalaError(f"{path}: run directory not found")
    problems: list[str] = []
    manifest = _load(path / "manifest.json", problems) if (path / "manifest.json").exists() else None
    stages = []
    if manifest and isinstance(manifest.get("stages"), dict):
        for name, entry in manifest["stages"].items():
            entry = entry if isinstance(entry, dict) else {}
            d = path / entry["dir"] if entry.get("dir") else None
            stages.append(
                Stage(
                    name,
                    d,
                    str(entry.get("type", "")),
                    str(entry.get("status", "")),
                    entry.get("seconds"),
                    entry.get("metrics") or {},
                    _files(d, problems),
                    _stage_config(d, problems),
                )
            )
    else:
        for d in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            stage_json = _load(d / "stage.json", problems) if (d / "stage.json").exists() else {}
            stage_json = stage_json or {}
            stages.append(
                Stage(
                    stage_json.get("name", d.name),
                    d,
                    stage_json.get("type", ""),
                    stage_json.get("status", ""),
                    stage_json.get("seconds"),
                    stage_json.get("metrics") or {},
                    _files(d, problems),
                    stage_json.get("config") or {},
                )
            )
    recipe = str((manifest or {}).get("recipe") or path.name)
    return Run(path, recipe, manifest, stages, problems)
