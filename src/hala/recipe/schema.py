"""The recipe file: YAML validated with pydantic; every error names its key path and what was expected.

    name: quickstart
    models: {teacher: "embedded:gemma-3-270m"}
    stages:
      - name: pairs
        type: data.packages
        with: {tgt_lang: ar}
      - name: filter
        type: filter
        with: {input: "@pairs/pairs.jsonl"}

Inside `with`, `${models.X}` / `${vars.X}` / `${hala.data}` are substituted when the recipe loads, and `@STAGE/PATH`
names a file or directory inside an earlier stage's output: it makes that stage a dependency (and part of this
stage's key).
`@run/` names the run directory itself and depends on every earlier stage (used by the report stage).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hala.errors import HalaError
from hala.recipe.registry import get_stage_type

REF = re.compile(r"^@([A-Za-z0-9_.-]+)/(.*)$")
RUN_REF = "run"  # reserved: `@run/` is the run directory
VAR = re.compile(r"\$\{(models|vars|hala)\.([A-Za-z0-9_.-]+)\}")


def hala_paths() -> dict[str, str]:
    """`${hala.data}`: the data files shipped inside the installed package (instruction set, MCQ set, ...)."""
    from importlib import resources

    return {"data": str(resources.files("hala").joinpath("data"))}


class Estimate(BaseModel):
    """Inputs for `--dry-run` cost estimates: sizes and a throughput with its basis (measured or stated)."""

    model_config = ConfigDict(extra="forbid")
    items: int = Field(ge=0, description="records processed (samples, pairs, questions)")
    tokens_per_item: float = Field(gt=0)
    epochs: float = 1.0
    tokens_per_second_per_gpu: float = Field(gt=0)
    gpus: int = Field(default=1, ge=1)
    basis: str = Field(description="where the throughput comes from (measurement or stated figure)")

    def tokens(self) -> float:
        return self.items * self.tokens_per_item * self.epochs

    def gpu_hours(self) -> float:
        return self.tokens() / self.tokens_per_second_per_gpu / 3600

    def wall_hours(self) -> float:
        return self.gpu_hours() / self.gpus


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    description: str = ""
    estimate: Estimate | None = None
    # run in a child process (all memory returned when it ends); default: GPU stages (hala/recipe/isolate.py)
    isolate: bool | None = None
    min_kept: float = Field(
        0.2,
        ge=0,
        le=1,
        description="fail the stage when its summary's records_out is below "
        "this share of records_in (an empty output always fails unless 0)",
    )


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    run_dir: str | None = None
    models: dict[str, str] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    stages: list[StageSpec] = Field(min_length=1)

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise HalaError(
            f"no stage named '{name}' in recipe '{self.name}' (stages: {', '.join(s.name for s in self.stages)})"
        )


def _format_errors(source: str, e: ValidationError, prefix: str = "") -> str:
    lines = []
    for err in e.errors():
        loc = ".".join(str(x) for x in (prefix.split(".") if prefix else []) + list(err["loc"]))
        loc = loc.replace("with_", "with")
        lines.append(
            f"{source}: {loc}: {err['msg']}"
            + (f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err["input"], dict) else "")
        )
    return "\n".join(lines)


def substitute(value: Any, recipe: Recipe, where: str) -> Any:
    """Replace `${models.X}` / `${vars.X}` in strings, recursively; a whole-string match keeps the value's type."""
    if isinstance(value, dict):
        return {k: substitute(v, recipe, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, recipe, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def lookup(m: re.Match) -> Any:
        table = {"models": recipe.models, "vars": recipe.vars, "hala": None}[m.group(1)]
        table = hala_paths() if table is None else table
        if m.group(2) not in table:
            raise HalaError(
                f"{where}: ${{{m.group(1)}.{m.group(2)}}} is not defined in the recipe's '{m.group(1)}' section"
            )
        return table[m.group(2)]

    whole = VAR.fullmatch(value)
    if whole:
        return lookup(whole)
    return VAR.sub(lambda m: str(lookup(m)), value)


def references(value: Any) -> list[tuple[str, str]]:
    """All `@STAGE/PATH` references inside a config value."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    if isinstance(value, str):
        m = REF.match(value)
        return [(m.group(1), m.group(2))] if m else []
    return []


def replace_references(value: Any, resolve) -> Any:
    if isinstance(value, dict):
        return {k: replace_references(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_references(v, resolve) for v in value]
    if isinstance(value, str):
        m = REF.match(value)
        return resolve(m.group(1), m.group(2)) if m else value
    return value


def load_recipe(path: str | Path) -> Recipe:
    """Parse and validate a recipe: structure, variables, references (earlier stages only), stage configs."""
    path = Path(path)
    if not path.exists():
        raise HalaError(f"{path}: recipe not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise HalaError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
    except (ValueError, TypeError, RecursionError) as e:  # a scalar YAML cannot build, e.g. the date 2021-13-45
        raise HalaError(f"{path}: invalid YAML value: {e}") from None
    if not isinstance(raw, dict):
        raise HalaError(f"{path}: a recipe is a YAML mapping with 'name' and 'stages'")
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as e:
        raise HalaError(_format_errors(str(path), e)) from None
    seen: set[str] = set()
    for i, stage in enumerate(recipe.stages):
        where = f"{path}: stages[{i}] ({stage.name})"
        if stage.name in seen:
            raise HalaError(f"{where}: duplicate stage name")
        try:
            stage_type = get_stage_type(stage.type)
        except ValueError as e:
            raise HalaError(f"{where}.type: {e}") from None
        stage.with_ = substitute(stage.with_, recipe, f"{where}.with")
        if stage.name == RUN_REF:
            raise HalaError(f"{where}: '{RUN_REF}' is reserved (it names the run directory in '@run/')")
        for dep, _ in references(stage.with_):
            if dep != RUN_REF and dep not in seen:
                raise HalaError(
                    f"{where}.with: '@{dep}/...' must name an earlier stage "
                    f"(earlier: {', '.join(sorted(seen)) or 'none'})"
                )
        try:
            stage_type.config_class().model_validate(stage.with_)
        except ValidationError as e:
            raise HalaError(_format_errors(str(path), e, prefix=f"stages.{stage.name}.with")) from None
        except (TypeError, KeyError, AttributeError, RecursionError) as e:  # a config validator that met a value
            # of a shape it did not expect (pydantic wraps only ValueError/AssertionError): still one line
            raise HalaError(f"{where}.with: invalid value ({type(e).__name__}: {e})") from None
        seen.add(stage.name)
    return recipe
