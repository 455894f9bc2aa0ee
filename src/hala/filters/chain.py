"""A chain of rules applied batch by batch: survivors go on, each reject stops at its first failing rule.

Memory is constant in the number of pairs (one batch at a time) except for the duplicate rule's 8-byte digests.
Per rule the chain counts pairs checked and rejected, time spent, and keeps the first few rejected examples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from hala.filters.registry import Rule, build_rule
from hala.records import PairRow


@dataclass
class RuleStats:
    name: str
    summary: str
    params: dict
    checked: int = 0
    rejected: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)


class Chain:
    def __init__(self, rules: list[Rule], examples_per_rule: int = 5):
        self.rules = rules
        self.examples_per_rule = examples_per_rule
        self.stats: list[RuleStats] = []
        names: set[str] = set()
        for rule in rules:
            label = rule.name
            n = 2
            while label in names:  # the same rule twice (different params) gets its own counter
                label, n = f"{rule.name}#{n}", n + 1
            names.add(label)
            self.stats.append(RuleStats(label, rule.summary, rule.params.model_dump(), skipped=rule.skipped))

    @classmethod
    def from_specs(cls, specs: Iterable, examples_per_rule: int = 5) -> "Chain":
        return cls([build_rule(s, f"rules[{i}]") for i, s in enumerate(specs)], examples_per_rule)

    def apply(self, items: list[PairRow]) -> tuple[list[PairRow], list[tuple[PairRow, str, str]]]:
        """Split a batch of pairs (as the readers stream them) into (kept, [(pair row, rule label, detail)])."""
        rejected: list[tuple[PairRow, str, str]] = []
        for rule, stats in zip(self.rules, self.stats):
            if rule.skipped or not items:
                continue
            t0 = time.perf_counter()
            verdicts = rule.check_batch([it[0] for it in items])
            stats.seconds += time.perf_counter() - t0
            stats.checked += len(items)
            survivors = []
            for item, detail in zip(items, verdicts):
                if detail is None:
                    survivors.append(item)
                    continue
                stats.rejected += 1
                rejected.append((item, stats.name, detail))
                if len(stats.examples) < self.examples_per_rule:
                    pair = item[0]
                    stats.examples.append({"id": pair["id"], "src": pair["src"], "tgt": pair["tgt"], "detail": detail})
            items = survivors
        for rule, stats in zip(self.rules, self.stats):
            stats.notes = list(rule.notes)
        return items, rejected

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.stats)
