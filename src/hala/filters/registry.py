"""Filter rules by name: the base class, the registry, and building a chain from `[{name: {params}}]` specs.

A rule looks at one pair (a plain dict in the pair schema: pydantic per pair would cost more than most rules)
and returns `None` to keep it or a short detail string saying why it fails. Rules that are cheaper on many pairs
at once (language ID, embeddings) override `check_batch`. A rule that cannot run here (no embedding model) sets
`skipped` to the reason: it then keeps everything and the report says why it did not run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hala.errors import HalaError


class RuleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rule:
    name: ClassVar[str]
    summary: ClassVar[str]  # one line for reports and `hala filter --list-rules`
    Params: ClassVar[type[RuleParams]] = RuleParams

    def __init__(self, params: RuleParams):
        self.params = params
        self.skipped: str | None = None
        self.notes: list[str] = []

    def check(self, pair: dict) -> str | None:
        raise NotImplementedError

    def check_batch(self, pairs: list[dict]) -> list[str | None]:
        return [self.check(p) for p in pairs]

    def note(self, message: str) -> None:
        """Record a one-off remark for the report (e.g. a language the rule cannot check), once."""
        if message not in self.notes:
            self.notes.append(message)


RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    RULES[cls.name] = cls
    return cls


def parse_spec(spec: Any, where: str) -> tuple[str, dict]:
    """`"empty"` or `{"length": {"max_chars": 500}}` -> (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and len(spec) == 1:
        name, params = next(iter(spec.items()))
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise HalaError(f"{where}: parameters of rule '{name}' must be a mapping, got {params!r}")
        return name, params
    raise HalaError(f"{where}: a rule is a name or a one-key mapping {{name: {{params}}}}, got {spec!r}")


def check_spec(spec: Any, where: str = "rules") -> tuple[type[Rule], RuleParams]:
    """Validate a rule spec (name known, parameters valid) without building the rule (no model loading)."""
    load_rules()
    name, params = parse_spec(spec, where)
    if name not in RULES:
        raise HalaError(f"{where}: unknown filter rule '{name}'; known: {', '.join(RULES)}")
    cls = RULES[name]
    try:
        return cls, cls.Params.model_validate(params)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())
        raise HalaError(f"{where}: rule '{name}': {problems}") from None


def build_rule(spec: Any, where: str = "rules") -> Rule:
    cls, params = check_spec(spec, where)
    return cls(params)


def load_rules() -> dict[str, type[Rule]]:
    """Every built-in rule by name (importing the rule modules runs their @register decorators)."""
    from hala.filters import langid, rules, semantic  # noqa: F401

    return RULES
