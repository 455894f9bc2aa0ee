"""Drift thresholds applied to the verification report: each check names its metric, value and limit."""

from __future__ import annotations

from hala.errors import HalaError
from hala.quantize.config import DriftThresholds


class DriftError(HalaError):
    """The quantised model drifted further from the original than the thresholds allow."""


def check(metric: str, value: float, op: str, threshold: float) -> dict:
    passed = value <= threshold if op == "<=" else value >= threshold
    return {"metric": metric, "value": value, "op": op, "threshold": threshold, "passed": passed}


def drift_checks(report: dict, limits: DriftThresholds, enforce_translation: bool) -> list[dict]:
    checks = [
        check(f"ppl_ratio_{lang}", p["ratio"], "<=", limits.max_ppl_ratio) for lang, p in report["perplexity"].items()
    ]
    checks.append(check("kl_mean", report["next_token"]["kl_mean"], "<=", limits.max_kl))
    checks.append(check("top1_agreement", report["next_token"]["top1_agreement"], ">=", limits.min_top1))
    if enforce_translation:
        checks.append(check("chrf_drop", report["translation"]["chrf_drop"], "<=", limits.max_chrf_drop))
    return checks


def failure_message(checks: list[dict], report_path: str) -> str | None:
    """One line naming every failed check, e.g. `kl_mean 0.0412 exceeds max 0.0001`, or None if all passed."""
    failed = [c for c in checks if not c["passed"]]
    if not failed:
        return None
    words = {"<=": "exceeds max", ">=": "is below min"}
    parts = [f"{c['metric']} {c['value']:.4g} {words[c['op']]} {c['threshold']:.4g}" for c in failed]
    return f"quantized model drifted too far: {'; '.join(parts)} (report: {report_path})"
