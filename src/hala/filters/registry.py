"""Filter rules by name: validating and building rules from `[{name: {params}}]` specs (the Rule class: base.py)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hala.errors import HalaError
from hala.filters.base import RULES, Rule, RuleParams, register

__all__ = ["RULES", "Rule", "RuleParams", "build_rule", "check_spec", "load_rules", "parse_spec", "register"]


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
