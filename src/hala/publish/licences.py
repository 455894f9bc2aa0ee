"""Licences of everything a published artifact was made from, and whether they allow publishing it.

Where each licence comes from:
* models: embedded models from the table below (Gemma licence for Gemma 3, Apache-2.0 for SmolLM2); a local model
  directory or a hub model from its model card's `license` (the local copy or the Hugging Face cache: never the
  network); otherwise "unknown";
* data: each record's `meta.license` (package-derived pairs and hala's own files carry one); records without it
  take the file's licence: hala's shipped data is Apache-2.0, a `license` set in the stage's config, the dataset
  card next to the file or of the hub dataset in the local cache; otherwise "unknown".

Policy: an unknown or unrecognised licence, or one that forbids derivatives, refuses the publish with the
reason, unless the user overrides it (`--allow-licence`; the card records the override). Share-alike,
non-commercial and custom terms (Gemma) are allowed and stated on the card.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hala.publish.rundir import Lineage, Reference, Run, is_shipped
from hala.records import LICENCE_FIELDS

# embedded model -> (licence, the Hub model it was made from)
EMBEDDED = {
    "gemma-3-270m": ("gemma", "google/gemma-3-270m"),
    "smollm2-135m-instruct": ("apache-2.0", "HuggingFaceTB/SmolLM2-135M-Instruct"),
}

# Licence ids the Hub's `license:` metadata accepts (the common ones); anything else is written as "other" with
# `license_name`. https://huggingface.co/docs/hub/repositories-licenses
HUB_IDS = {
    "apache-2.0",
    "mit",
    "bsd",
    "bsd-2-clause",
    "bsd-3-clause",
    "bsd-3-clause-clear",
    "isc",
    "zlib",
    "bsl-1.0",
    "unlicense",
    "cc0-1.0",
    "cc-by-2.0",
    "cc-by-2.5",
    "cc-by-3.0",
    "cc-by-4.0",
    "cc-by-sa-3.0",
    "cc-by-sa-4.0",
    "cc-by-nc-2.0",
    "cc-by-nc-3.0",
    "cc-by-nc-4.0",
    "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0",
    "cc-by-nc-sa-2.0",
    "cc-by-nc-sa-3.0",
    "cc-by-nc-sa-4.0",
    "odc-by",
    "odbl",
    "pddl",
    "mpl-2.0",
    "lgpl-2.1",
    "lgpl-3.0",
    "lgpl-lr",
    "gpl-2.0",
    "gpl-3.0",
    "agpl-3.0",
    "epl-2.0",
    "eupl-1.1",
    "postgresql",
    "ofl-1.1",
    "gemma",
    "llama2",
    "llama3",
    "llama3.1",
    "llama3.2",
    "llama3.3",
    "openrail",
    "creativeml-openrail-m",
    "bigscience-openrail-m",
    "bigcode-openrail-m",
    "unknown",
    "other",
}
PERMISSIVE = {
    "apache-2.0",
    "mit",
    "bsd",
    "bsd-2-clause",
    "bsd-3-clause",
    "bsd-3-clause-clear",
    "isc",
    "zlib",
    "bsl-1.0",
    "unlicense",
    "cc0-1.0",
    "odc-by",
    "pddl",
    "postgresql",
    "unicode-3.0",
    "unicode-dfs-2016",
    "python-2.0",
    "psf-2.0",
    "0bsd",
}
CUSTOM_TERMS = {
    "gemma": "https://ai.google.dev/gemma/terms",
    "llama2": None,
    "llama3": None,
    "llama3.1": None,
    "llama3.2": None,
    "llama3.3": None,
    "openrail": None,
    "creativeml-openrail-m": None,
    "bigscience-openrail-m": None,
    "bigcode-openrail-m": None,
}
FORBIDDING = {"proprietary", "all-rights-reserved", "no-redistribution", "none"}
ALIASES = {
    "apache 2.0": "apache-2.0",
    "apache-2": "apache-2.0",
    "apache license 2.0": "apache-2.0",
    "gemma terms of use": "gemma",
    "cc-by-2.0-fr": "cc-by-2.0",
    "cc by 2.0 fr": "cc-by-2.0",
    "cc0": "cc0-1.0",
    "public domain": "pddl",
}


@dataclass(frozen=True)
class Licence:
    name: str  # canonical, lower-case (SPDX where there is one)
    policy: str  # permissive | share-alike | non-commercial | custom-terms | no-derivatives | forbidden | unknown

    @property
    def hub_id(self) -> str:
        if self.name in HUB_IDS:
            return self.name
        base = re.sub(r"-(only|or-later)$", "", self.name)
        return base if base in HUB_IDS else "other"

    @property
    def allows_publishing(self) -> bool:
        return self.policy not in {"no-derivatives", "forbidden", "unknown"}


def parse(text: str | None) -> Licence:
    if not text or not str(text).strip():
        return Licence("unknown", "unknown")
    name = ALIASES.get(str(text).strip().lower(), str(text).strip().lower().replace(" ", "-"))
    if name in ("unknown", "other"):
        return Licence(name, "unknown")
    if name in FORBIDDING:
        return Licence(name, "forbidden")
    if name in CUSTOM_TERMS:
        return Licence(name, "custom-terms")
    if m := re.fullmatch(r"cc-by(-nc)?(-sa|-nd)?-\d\.\d(-[a-z]+)?", name):
        nc, variant = m.group(1), m.group(2)
        policy = (
            "no-derivatives"
            if variant == "-nd"
            else "non-commercial"
            if nc
            else "share-alike"
            if variant == "-sa"
            else "permissive"
        )
        return Licence(name, policy)
    base = re.sub(r"-(only|or-later)$", "", name)
    if name in PERMISSIVE or base in PERMISSIVE:
        return Licence(name, "permissive")
    if re.fullmatch(r"(a|l)?gpl-[23]\.[01]|mpl-[12]\.[01]|epl-[12]\.0|eupl-1\.[12]|odbl|lgpl-lr", base):
        return Licence(name, "share-alike")
    return Licence(name, "unknown")  # unrecognised: nobody checked that it allows publishing


@dataclass
class Finding:
    """The licences of one input of the published artifact."""

    what: str  # how the input is shown (its reference, machine prefixes removed)
    stage: str
    kind: str  # model | data
    role: str  # input | selection | published
    licences: Counter = field(default_factory=Counter)  # licence name -> records (1 for a model)
    source: str = ""  # where the licence was read
    records: int | None = None
    sources: Counter = field(default_factory=Counter)  # meta.source -> records
    languages: set[str] = field(default_factory=set)
    hub_id: str | None = None  # the Hub model it is (or was converted from), for `base_model`
    fields: dict[str, set[str]] = field(default_factory=dict)  # licence name -> record meta keys that named it

    def where(self, name: str) -> str:
        """Where licence `name` of this input was read: the record fields that carry it, else `source`."""
        keys = self.fields.get(name)
        return "records' " + ", ".join(f"meta.{k}" for k in sorted(keys)) if keys else self.source


def _card_licence(readme: Path, repo_type: str) -> str | None:
    from huggingface_hub import DatasetCard, ModelCard

    try:
        card = (DatasetCard if repo_type == "dataset" else ModelCard).load(readme)
    except Exception:  # an unreadable card says nothing about the licence
        return None
    lic = card.data.license
    if isinstance(lic, list):
        lic = lic[0] if len(lic) == 1 else "+".join(lic) if lic else None
    if lic == "other" and card.data.get("license_name"):
        lic = card.data.get("license_name")
    return lic


def _cached_card(repo_id: str, repo_type: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "README.md", repo_type=repo_type)
    except Exception:
        return None
    return Path(found) if isinstance(found, str) else None


def model_finding(run: Run, ref: Reference) -> Finding:
    from hala.atomic import read_json
    from hala.publish.rundir import short

    f = Finding(short(run, ref.value), ref.stage, "model", ref.role, records=None)
    name, where, hub = None, "", None
    value = ref.value
    if value.startswith("embedded:") or (ref.path and (ref.path / "hala_model.json").is_file()):
        emb = (
            value[len("embedded:") :]
            if value.startswith("embedded:")
            else read_json(ref.path / "hala_model.json").get("embedded")
        )
        if emb in EMBEDDED:
            name, hub = EMBEDDED[emb]
            where = f"hala's table of embedded models (converted from {hub})"
    if name is None and ref.path is not None and (ref.path / "README.md").is_file():
        name, where = _card_licence(ref.path / "README.md", "model"), f"model card {short(run, ref.path)}/README.md"
    if name is None and ref.path is None and "/" in value and not value.startswith("embedded:"):
        hub = value
        card = _cached_card(value, "model")
        if card is not None:
            name, where = _card_licence(card, "model"), "its model card in the local Hugging Face cache"
        else:
            where = "no model card in the local Hugging Face cache"
    f.licences[name or "unknown"] = 1
    missing = ref.path is not None and not ref.path.is_dir()
    f.source = where or ("the model directory no longer exists" if missing else "no model card in the model directory")
    f.hub_id = hub
    return f


def scan_records(path: str | Path, f: Finding) -> int:
    """Count the licences (every LICENCE_FIELDS key), meta.source and languages over the records of a file;
    returns the number of records without a `meta.license` of their own."""
    import json

    from hala.records import iter_rows

    missing = n = 0
    for _, row in iter_rows(path):
        n += 1
        meta = row.get("meta")
        if isinstance(meta, str):  # Parquet stores meta as a JSON string
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        meta = meta if isinstance(meta, dict) else {}
        for key in LICENCE_FIELDS:
            if meta.get(key):
                f.licences[str(meta[key])] += 1
                f.fields.setdefault(str(meta[key]), set()).add(key)
        if not meta.get("license"):
            missing += 1
        if meta.get("source"):
            f.sources[str(meta["source"])] += 1
        for k in ("src_lang", "tgt_lang"):
            if isinstance(row.get(k), str) and row[k]:
                f.languages.add(row[k])
    f.records = (f.records or 0) + n
    return missing


def _fields_text(f: Finding) -> str:
    used = {k for keys in f.fields.values() for k in keys} or {"license"}
    return ", ".join(f"meta.{k}" for k in LICENCE_FIELDS if k in used)


def data_finding(run: Run, ref: Reference, stage_config: dict) -> Finding:
    from hala.publish.rundir import short

    f = Finding(short(run, ref.value), ref.stage, "data", ref.role)
    declared = stage_config.get("license") if isinstance(stage_config.get("license"), str) else None
    if ref.value.startswith("hf:"):
        repo = ref.value[3:].split(":")[0].split("@")[0]
        card = _cached_card(repo, "dataset")
        lic = declared or (_card_licence(card, "dataset") if card else None)
        f.licences[lic or "unknown"] = 1
        f.source = (
            "the stage's `license` setting"
            if declared
            else "its dataset card in the local Hugging Face cache"
            if card
            else "no dataset card in the local cache"
        )
        return f
    path = ref.path if ref.path is not None else Path(ref.value)
    if not path.exists():
        f.licences["unknown"] = 1
        f.source = f"{short(run, path)} no longer exists"
        return f
    missing = scan_records(path, f)
    f.source = "each record's " + _fields_text(f)
    if missing and not ref.internal:
        readme = (path if path.is_dir() else path.parent) / "README.md"
        if is_shipped(path):
            lic, where = "apache-2.0", "data shipped with hala (Apache-2.0)"
        elif declared:
            lic, where = declared, "the stage's `license` setting"
        elif readme.is_file() and (card_lic := _card_licence(readme, "dataset")):
            lic, where = card_lic, f"dataset card {short(run, readme)}"
        else:
            lic, where = "unknown", "records without meta.license and no dataset card beside the file"
        f.licences[lic] += missing
        f.source = where if missing == f.records else f"{f.source}; the rest: {where}"
    # Records of a run's own file without meta.license inherit the licences of that stage's own inputs, which are
    # checked where the lineage reads them.
    return f


def findings(run: Run, lineage: Lineage) -> list[Finding]:
    configs = {s.name: s.config for s in lineage.stages}
    out, seen = [], set()
    for ref in lineage.references:
        if ref.internal and ref.kind == "model":
            continue  # a model made by the run: its own lineage is walked
        key = (ref.kind, str(ref.path or ref.value))
        if key in seen:
            continue
        seen.add(key)
        out.append(model_finding(run, ref) if ref.kind == "model" else data_finding(run, ref, configs[ref.stage]))
    return out


def published_finding(run: Run, lineage: Lineage, stage, splits: dict, found: list[Finding]) -> Finding:
    """The licences of the records being published: their own meta.license; records without one take the
    licences of the external data their stages read (hala keeps `meta` through translate, filter and corpus, so
    a record without a licence came from an input without one)."""
    from hala.publish.rundir import data_lineage

    f = Finding(f"@{stage.name} records", stage.name, "data", "published")
    missing = sum(scan_records(path, f) for path in splits.values())
    f.source = "each published record's " + _fields_text(f)
    if missing:
        upstream = {s.name for s in data_lineage(run, lineage, stage.name)}
        inherited = [
            x
            for x in found
            if x.kind == "data" and x.role == "input" and x.stage in upstream and not x.what.startswith("@")
        ]  # external files, not the run's own
        for n in sorted({n for x in inherited for n in x.licences}) or ["unknown"]:
            f.licences[n] += missing  # each of them may hold any of these records
        f.source += (
            f"; {missing} records without one take the licences of the data they came from "
            f"({', '.join(x.what for x in inherited) or 'none found'})"
        )
    return f


def problems(found: list[Finding]) -> list[str]:
    out = []
    for f in found:
        for name in f.licences:
            lic = parse(name)
            if lic.allows_publishing:
                continue
            unknown = "unknown" if lic.name in ("unknown", "other") else f"{name!r} not recognised"
            why = {
                "unknown": f"licence {unknown} ({f.source})",
                "no-derivatives": f"licence {name} forbids derivatives",
                "forbidden": f"licence {name} forbids redistribution",
            }[lic.policy]
            out.append(f"{f.what} ({f.kind} read by stage '{f.stage}'): {why}")
    return out


def model_licence(models: list[Finding]) -> tuple[str, str | None]:
    """(Hub licence id, licence_name for "other") of a model: its base models' licence."""
    names = sorted({n for f in models for n in f.licences})
    if len(names) == 1:
        lic = parse(names[0])
        return lic.hub_id, (lic.name if lic.hub_id == "other" else None)
    return "other", " + ".join(names) if names else "unknown"
