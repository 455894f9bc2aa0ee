"""The JSON specs shipped with the rehearsal: `configs/` (tiny stand-in models) and `fixtures/` (dataset rows).

Read here, once, for both models.py and datasets.py (each of which also needs the other's specs: the tokenizer is
trained on the fixtures' text), so that neither imports the other for them.
"""

from __future__ import annotations

import json
from importlib import resources


def shipped_specs(folder: str) -> dict[str, dict]:
    """hub id -> each JSON spec shipped in hala/rehearse/FOLDER (configs, fixtures), with its file name."""
    out = {}
    for f in sorted(resources.files("hala.rehearse").joinpath(folder).iterdir(), key=lambda p: p.name):
        if f.name.endswith(".json"):
            spec = json.loads(f.read_text(encoding="utf-8"))
            out[spec["hub_id"]] = {**spec, "file": f.name}
    return out
