"""The default chain on the real shared data (l10n catalogs + Tatoeba): the bookkeeping invariant holds and every
rejected pair is in the rejects file with its rule. Skipped where ../shared/data is absent."""

from __future__ import annotations

import json
from collections import Counter

from typer.testing import CliRunner

from hala.cli import app


def test_default_chain_on_shared_l10n_and_tatoeba(shared_data, tmp_path):
    out = tmp_path / "filtered"
    inputs = [f"l10n={shared_data / 'l10n-en-ar'}", f"tatoeba={shared_data / 'tatoeba-ara-eng'}"]
    result = CliRunner().invoke(app, ["filter", *inputs, "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "filter_report.json").read_text(encoding="utf-8"))
    n_in, kept = report["input_pairs"], report["kept"]
    assert n_in > 40_000 and 0.5 * n_in < kept < n_in  # 31.7k catalog entries + 10,305 Tatoeba lines
    by_rule = report["rejected_by_rule"]
    assert sum(by_rule.values()) == n_in - kept
    assert f"= {n_in} in − {kept} kept" in result.output  # the printed counts carry the same invariant
    assert by_rule["duplicate"] > 5_000  # the Debian and pycountry ISO catalogs repeat each other
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").open(encoding="utf-8")]
    assert len(rejects) == n_in - kept + report["read_errors"]
    logged = Counter(r["reason"].split(":", 1)[0] for r in rejects if isinstance(r["raw"], dict) and "id" in r["raw"])
    assert logged == Counter({k: v for k, v in by_rule.items() if v})
    kept_ids = sum(1 for _ in (out / "kept.jsonl").open(encoding="utf-8"))
    assert kept_ids == kept
