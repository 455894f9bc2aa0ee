"""What a filter rule is: the base class, its parameters and the table rules register themselves in.

A rule looks at one pair (a plain dict in the pair schema: pydantic per pair would cost more than most rules)
and returns `None` to keep it or a short detail string saying why it fails. Rules that are cheaper on many pairs
at once (language ID, embeddings) override `check_batch`. A rule that cannot run here (no embedding model) sets
`skipped` to the reason: it then keeps everything and the report says why it did not run.

The rule modules (rules.py, langid.py, semantic.py) import this module only; registry.py, which builds rules from
specs, imports them. Kept apart so that no rule module and the registry import each other.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


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
