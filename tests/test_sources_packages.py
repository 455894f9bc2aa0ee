"""Human-translated EN→AR pairs from installed PyPI packages, and gettext catalog parsing."""

from __future__ import annotations

import polib

from hala.records import read_records
from hala.sources.catalogs import pairs_from_catalog
from hala.sources.packages import package_pairs


def test_package_pairs_are_many_unique_and_licensed():
    counts: dict[str, int] = {}
    pairs = list(package_pairs("ar", counts=counts))
    assert len(pairs) >= 1500
    assert len({(p.src, p.tgt) for p in pairs}) == len(pairs)
    assert set(counts) == {"django", "pycountry", "babel"} and all(c > 100 for c in counts.values())
    assert sum(counts.values()) == len(pairs)
    assert all(p.meta["license"] and p.meta["source"] for p in pairs)
    arabic = sum(any("\u0600" <= ch <= "\u06ff" for ch in p.tgt) for p in pairs)
    assert arabic / len(pairs) > 0.95
    by_src = {p.src: p.tgt for p in pairs if p.meta["source"] == "pycountry"}
    assert by_src.get("Egypt") == "مصر"


def test_catalog_skips_fuzzy_plural_obsolete_and_untranslated(tmp_path):
    po = polib.POFile()
    po.append(polib.POEntry(msgid="Save", msgstr="حفظ", msgctxt="button"))
    po.append(polib.POEntry(msgid="Old", msgstr="قديم", flags=["fuzzy"]))
    po.append(polib.POEntry(msgid="Empty", msgstr=""))
    po.append(polib.POEntry(msgid="%d file", msgid_plural="%d files", msgstr_plural={0: "ملف", 1: "ملفات"}))
    po.append(polib.POEntry(msgid="Gone", msgstr="ذهب", obsolete=True))
    path = tmp_path / "t.po"
    po.save(str(path))
    po.save_as_mofile(str(tmp_path / "t.mo"))
    for p in (path, tmp_path / "t.mo"):
        pairs = list(pairs_from_catalog(p, meta={"source": "test"}))
        assert [(x.src, x.tgt) for x in pairs] == [("Save", "حفظ")]
    assert list(pairs_from_catalog(path))[0].meta["msgctxt"] == "button"


def test_cli_data_packages_writes_pair_jsonl(tmp_path):
    from typer.testing import CliRunner

    from hala.cli import app

    out = tmp_path / "pairs.jsonl"
    result = CliRunner().invoke(app, ["data", "packages", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "django:" in result.output and "total:" in result.output
    assert sum(1 for _ in read_records(out, "pair")) >= 1500


def test_stage_and_cli_write_the_same_pairs_and_count_what_they_wrote(tmp_path):
    """`hala data packages --out` and the `data.packages` stage are one path (`write_pairs`); with a limit the
    per-source counts are of the pairs written (the source being read when the limit is reached included)."""
    from typer.testing import CliRunner

    from hala.cli import app
    from hala.sources.packages import PackagePairsConfig, run

    summary = run(PackagePairsConfig(sources=["pycountry", "babel"], limit=300), tmp_path / "stage")
    assert summary["metrics"]["pairs"] == 300
    assert sum(summary["metrics"]["per_source"].values()) == 300
    out = tmp_path / "cli.jsonl"
    result = CliRunner().invoke(
        app, ["data", "packages", "--source", "pycountry", "--source", "babel", "--limit", "300", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (tmp_path / "stage" / "pairs.jsonl").read_bytes()


def test_unknown_package_source_is_a_config_error(tmp_path):
    import pytest

    from hala.errors import ConfigError
    from hala.sources.packages import PackagePairsConfig, run

    with pytest.raises(ConfigError, match="sources: unknown package source 'nope'"):
        run(PackagePairsConfig(sources=["nope"]), tmp_path)
    assert not (tmp_path / "pairs.jsonl").exists()
