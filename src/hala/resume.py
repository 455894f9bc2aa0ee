"""Resume only with the same settings: the one rule behind every resumable output of hala.

An interrupted job leaves partial output (translate shards, cached eval translations, finished MCQ tasks, a
quantised model, a merge sweep's scores, training checkpoints) next to a marker: the settings it was made with.
A rerun reuses that output only when the marker holds exactly the current settings; otherwise it starts afresh
or refuses, and never mixes output made with two different settings.

    if resumable(out / "run.json", key, field=None, refuse="a translate run"):  # equal: reuse
        ...
    # missing or unreadable marker: start fresh (False); different: start fresh, or with `refuse` raise
    # SettingsChanged naming the file and the first differing key

Each caller still writes its own marker, where its output needs it (a JSON file of its own, a field of a result
file, the first line of a JSONL cache): only the reading, comparing and deciding is shared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hala.errors import HalaError


class SettingsChanged(HalaError):
    """An output directory holds partial work made with other settings, and the stage will not overwrite it."""


def _plain(value: Any) -> Any:
    """`value` as JSON gives it back (tuples become lists, keys strings): a marker is compared as it was saved."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def read_marker(path: str | Path, field: str | None = "settings") -> Any | None:
    """The settings saved in `path`: the whole JSON file (`field=None`) or its `field`; for a `.jsonl` file the
    first line's. None when there is no marker or it cannot be read (cut short, not JSON, not a mapping): then
    nothing there can be trusted and the caller starts fresh."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.loads(fh.readline() if path.suffix == ".jsonl" else fh.read())
    except (OSError, ValueError):  # missing, a directory, unreadable, cut short or not UTF-8/JSON
        return None
    if field is None:
        return data
    return data.get(field) if isinstance(data, dict) else None


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def first_difference(old: Any, new: Any, where: str = "") -> str | None:
    """Where two JSON values first differ, keys in sorted order, as `a.b[2]: OLD -> NEW` (`<absent>` for a key
    only one has); None when they are equal."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            at = f"{where}.{key}" if where else str(key)
            if key not in old or key not in new:
                return f"{at}: {_short(old[key]) if key in old else '<absent>'} -> " + (
                    _short(new[key]) if key in new else "<absent>"
                )
            found = first_difference(old[key], new[key], at)
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if old == new else f"{where or '<settings>'}: {_short(old)} -> {_short(new)}"


def resumable(path: str | Path, settings: Any, *, field: str | None = "settings", refuse: str | None = None) -> bool:
    """True when the marker at `path` (see `read_marker`) holds exactly `settings`: reuse what is there. False when
    there is no usable marker, or it holds other settings: start fresh (the caller overwrites the old output).
    With `refuse` (what the output is, e.g. "a translate run"), other settings raise SettingsChanged instead,
    naming the file and the first differing key: for output too costly to drop silently."""
    saved = read_marker(path, field)
    if saved is None:
        return False
    current = _plain(settings)
    if saved == current:
        return True
    if refuse:
        changed = ""
        if isinstance(saved, dict) and isinstance(current, dict):
            keys = sorted((k for k in set(saved) | set(current) if saved.get(k) != current.get(k)), key=str)
            changed = f"; changed: {', '.join(map(str, keys))}"
        raise SettingsChanged(
            f"{path}: holds {refuse} made with other settings (first difference: "
            f"{first_difference(saved, current)}{changed}); use a new output directory, or the same settings to resume"
        )
    return False
