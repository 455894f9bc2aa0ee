"""hala quantize: FP8 conversion with llm-compressor, the reloaded checkpoint, and the drift verification."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("llmcompressor", reason="llm-compressor not installed (scripts/install-quantize.sh)")

from hala.atomic import read_json  # noqa: E402
from hala.quantize import DriftError, DriftThresholds, QuantizeConfig, run  # noqa: E402
from hala.quantize.checks import drift_checks, failure_message  # noqa: E402
from hala.quantize.texts import load_pairs, load_texts  # noqa: E402

REPORT_KEYS = {
    "model",
    "source",
    "quantized_model",
    "scheme",
    "ignore",
    "dtype",
    "verify_dtype",
    "resumed_conversion",
    "quantize_seconds",
    "calibration_texts",
    "perplexity",
    "next_token",
    "sizes",
    "linear_layers",
    "seconds",
    "cpu_seconds",
    "translation",
    "thresholds",
    "checks",
    "passed",
}
SECONDS_KEYS = {"load", "next_token", "translation", "verify"}
PPL_KEYS = {"original", "quantized", "ratio", "tokens", "kl_mean", "top1_agreement"}
TRANSLATION_KEYS = {
    "status",
    "pairs",
    "src_lang",
    "tgt_lang",
    "template",
    "max_new_tokens",
    "chrf_original",
    "chrf_quantized",
    "chrf_drop",
    "rejected_original",
    "rejected_quantized",
    "examples",
}


def _write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def dev_pairs(tmp_path_factory) -> Path:
    """Three shipped pairs: enough to exercise the translation check; a tiny model translates nothing anyway."""
    pairs = [p.model_dump() for p in load_pairs(None)[:3]]
    return _write_jsonl(tmp_path_factory.mktemp("pairs") / "dev.jsonl", pairs)


@pytest.fixture(scope="module")
def quantized(tiny_model, dev_pairs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("q-dynamic")
    config = QuantizeConfig(
        model=str(tiny_model),
        verify_pairs=str(dev_pairs),
        translation_check="report",
        translation_pairs=2,
        translation_max_new_tokens=8,
        batch_size=3,
    )
    return out, run(config, out)


def test_report_has_every_field(quantized, dev_pairs):
    out, summary = quantized
    report = read_json(out / "verification.json")
    assert REPORT_KEYS <= set(report)
    assert set(report["perplexity"]) == {"en", "ar"}
    for lang in ("en", "ar"):
        p = report["perplexity"][lang]
        assert set(p) == PPL_KEYS and p["tokens"] > 100 and p["original"] > 1 and p["quantized"] > 1
    nt = report["next_token"]
    assert nt["positions"] == sum(report["perplexity"][lang]["tokens"] for lang in ("en", "ar"))
    assert nt["kl_mean"] >= 0 and 0 <= nt["top1_agreement"] <= 1
    assert set(report["translation"]) == TRANSLATION_KEYS
    assert report["translation"]["status"] == "reported" and report["translation"]["pairs"] == 2
    assert report["translation"]["max_new_tokens"] == 8
    assert [e["src"] for e in report["translation"]["examples"]] == [p["src"] for p in _read_jsonl(dev_pairs)[:2]]
    assert set(report["seconds"]) == set(report["cpu_seconds"]) == SECONDS_KEYS
    assert report["cpu_seconds"]["verify"] >= report["cpu_seconds"]["next_token"] > 0
    # 'report' mode computes chrF++ but does not enforce it
    assert [c["metric"] for c in report["checks"]] == ["ppl_ratio_en", "ppl_ratio_ar", "kl_mean", "top1_agreement"]
    assert report["passed"] is True and summary["passed"] is True
    assert summary["chrf"]["chrf_drop"] == report["translation"]["chrf_drop"]
    # what the recipe runner records in its manifest
    assert summary["outputs"] == {"model": "model", "verification": "verification.json"}
    assert summary["metrics"]["kl_mean"] == nt["kl_mean"] and summary["metrics"]["passed"] is True
    # FP8 weights + scales are smaller than the bf16 original (the tied embedding stays bf16)
    sizes = report["sizes"]
    assert sizes["quantized_on_disk_bytes"] < sizes["original_at_dtype_bytes"]
    assert report["linear_layers"] == {"fp8": 14, "unquantized": ["lm_head"]}  # 2 layers x 7 projections


def test_checkpoint_is_compressed_tensors_fp8_dynamic(quantized):
    from safetensors import safe_open

    model_dir = quantized[0] / "model"
    qc = read_json(model_dir / "config.json")["quantization_config"]
    assert qc["quant_method"] == "compressed-tensors" and qc["format"] == "float-quantized"
    assert qc["ignore"] == ["lm_head"]
    group = qc["config_groups"]["group_0"]
    assert group["targets"] == ["Linear"]
    assert group["weights"]["strategy"] == "channel" and group["weights"]["type"] == "float"
    assert group["input_activations"]["dynamic"] is True and group["input_activations"]["strategy"] == "token"
    with safe_open(model_dir / "model.safetensors", "pt") as f:
        dtypes = {name: str(f.get_slice(name).get_dtype()) for name in f.keys()}
    assert dtypes["model.layers.0.mlp.down_proj.weight"] == "F8_E4M3"
    assert "model.layers.0.mlp.down_proj.weight_scale" in dtypes
    assert dtypes["model.embed_tokens.weight"] == "BF16"


def test_quantized_model_reloads_and_generates(quantized):
    from hala.models import generate_text, load_model

    model_dir = quantized[0] / "model"
    model = load_model(model_dir, dtype="float32")
    q_proj = model.model.layers[0].self_attn.q_proj
    assert q_proj.quantization_scheme.input_activations.dynamic is True  # compressed-tensors forward, FP8 emulated
    text = generate_text(model_dir, "Hello", max_new_tokens=6)
    assert isinstance(text, str) and text


def test_cli_fails_on_tight_thresholds_and_resumes_conversion(quantized, tiny_model, monkeypatch, capsys):
    from hala.cli import main

    out = quantized[0]
    weights = out / "model" / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "hala",
            "quantize",
            "--model",
            str(tiny_model),
            "--out",
            str(out),
            "--translation-check",
            "skip",
            "--max-ppl-ratio",
            "1e-6",
            "--max-kl",
            "0",
        ],
    )
    monkeypatch.delenv("HALA_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2  # DriftError is a HalaError: one line, status 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("hala: error: quantized model drifted too far: ppl_ratio_en ")
    assert "exceeds max 1e-06" in err and "ppl_ratio_ar" in err and "kl_mean" in err and "exceeds max 0" in err
    assert "verification.json" in err
    report = read_json(out / "verification.json")  # written before failing, so the numbers can be inspected
    assert report["passed"] is False and report["resumed_conversion"] is True
    assert report["translation"] == {"status": "skipped"}
    # without translations, a greedy sample from each model shows the reloaded checkpoint generates
    assert set(report["sample"]) == {"prompt", "original", "quantized"} and "sample" in report["cpu_seconds"]
    assert weights.stat().st_mtime_ns == mtime  # same settings: the finished conversion was reused


def test_static_fp8_calibrates_on_records(tiny_model, tmp_path):
    pairs = [p.model_dump() for p in load_pairs(None)[:3]]
    calib = _write_jsonl(tmp_path / "calib.jsonl", pairs[:2] + ["{not json"] + pairs[2:])
    out = tmp_path / "q-static"
    summary = run(
        QuantizeConfig(
            model=str(tiny_model),
            scheme="fp8",
            calibration=str(calib),
            calibration_samples=5,
            calibration_max_length=32,
            translation_check="skip",
        ),
        out,
    )
    assert summary["passed"] and "chrf" not in summary
    report = read_json(out / "verification.json")
    assert report["calibration_texts"] == 5  # both sides of each pair; the bad line is rejected, not fatal
    rejects = [json.loads(line) for line in (out / "calibration_rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and rejects[0]["line"] == 3 and rejects[0]["reason"].startswith("invalid JSON")
    group = read_json(out / "model" / "config.json")["quantization_config"]["config_groups"]["group_0"]
    assert group["input_activations"]["dynamic"] is False and group["input_activations"]["strategy"] == "tensor"
    assert group["weights"]["strategy"] == "tensor"


def test_translation_token_cap_follows_the_references(tiny_model):
    from hala.models import load_tokenizer
    from hala.quantize.translation import token_cap

    tok = load_tokenizer(tiny_model)
    long_ref = "تم تأجيل الاجتماع إلى يوم الاثنين المقبل بسبب الطقس."
    longest = len(tok(long_ref, add_special_tokens=False)["input_ids"])
    assert longest > 16
    assert token_cap(tok, ["نعم", long_ref]) == -(-3 * longest // 2)  # 1.5x, rounded up
    assert token_cap(tok, ["نعم"]) == 16


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="needs calibration text"):
        QuantizeConfig(model="x", scheme="fp8")
    with pytest.raises(ValueError, match="threshold\n  Extra inputs are not permitted"):
        QuantizeConfig(model="x", threshold={"max_kl": 1})
    with pytest.raises(ValueError, match="scheme"):
        QuantizeConfig(model="x", scheme="int4")


def test_drift_checks_and_message():
    report = {
        "perplexity": {"en": {"ratio": 1.02}, "ar": {"ratio": 1.5}},
        "next_token": {"kl_mean": 0.02, "top1_agreement": 0.7},
        "translation": {"chrf_drop": 4.0},
    }
    checks = drift_checks(report, DriftThresholds(), enforce_translation=True)
    assert [c["passed"] for c in checks] == [True, False, True, False, False]
    msg = failure_message(checks, "out/verification.json")
    assert msg == (
        "quantized model drifted too far: ppl_ratio_ar 1.5 exceeds max 1.15; top1_agreement 0.7 is "
        "below min 0.8; chrf_drop 4 exceeds max 3 (report: out/verification.json)"
    )
    assert "\n" not in msg
    assert (
        failure_message(
            drift_checks(report, DriftThresholds(max_ppl_ratio=2, min_top1=0.5), enforce_translation=False), "r"
        )
        is None
    )
    assert issubclass(DriftError, Exception)


def test_shipped_verification_sets():
    texts = load_texts(None)
    assert set(texts) == {"en", "ar"} and len(texts["en"]) == len(texts["ar"]) == 20
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in t) for t in texts["ar"])
    assert all(t.isascii() for t in texts["en"])
    pairs = load_pairs(None)
    assert len(pairs) == 20 and {(p.src_lang, p.tgt_lang) for p in pairs} == {("en", "ar")}
    assert all(p.src.isascii() and any("\u0600" <= ch <= "\u06ff" for ch in p.tgt) for p in pairs)
    from hala.prompts import few_shot_examples

    shots = {a for a, _ in few_shot_examples("en", "ar")}
    assert not shots & {p.src for p in pairs}  # the dev set is not also a prompt example


def test_bad_verification_text_is_an_error_naming_the_line(tmp_path):
    path = _write_jsonl(
        tmp_path / "v.jsonl", [{"id": "a", "lang": "en", "text": "Hello there."}, {"id": "b", "lang": "en"}]
    )
    with pytest.raises(Exception, match=r"v\.jsonl:2: invalid verification text: missing field 'text'"):
        load_texts(str(path))


@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_gemma_quantizes_and_translates_within_default_thresholds(embedded_gemma, tmp_path):
    texts = load_texts(None)
    rows = [{"id": f"{lang}-{i}", "lang": lang, "text": t} for lang, ts in texts.items() for i, t in enumerate(ts[:4])]
    verify = _write_jsonl(tmp_path / "verify.jsonl", rows)
    out = tmp_path / "gemma-fp8"
    summary = run(
        QuantizeConfig(
            model=str(embedded_gemma), verify_texts=str(verify), translation_check="report", translation_pairs=3
        ),
        out,
    )
    report = read_json(out / "verification.json")
    assert summary["passed"] and report["linear_layers"]["unquantized"] == ["lm_head"]
    assert report["next_token"]["top1_agreement"] > 0.8 and report["next_token"]["kl_mean"] < 0.1
    assert report["sizes"]["quantized_on_disk_bytes"] < report["sizes"]["original_at_dtype_bytes"]
    assert os.path.getsize(out / "model" / "model.safetensors") == report["sizes"]["quantized_on_disk_bytes"]
    # the FP8 teacher translates through hala.translate's hf engine: Arabic out, nothing rejected by the guards
    translation = report["translation"]
    assert translation["rejected_quantized"] == 0 and translation["chrf_quantized"] > 10
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in e["quantized"]) for e in translation["examples"])


def test_verification_holds_one_model_at_a_time_and_matches_the_joint_comparison(
    quantized, tiny_model, monkeypatch, tmp_path
):
    """Defect 2: the original is freed before the quantised model loads (a weak reference to it is dead by then),
    device_map placement works (accelerate, here on CPU), and the streamed comparison equals the old one that
    held both models."""
    import gc
    import weakref

    import hala.quantize.stage as stage
    from hala.models import load_model, load_tokenizer
    from hala.quantize.metrics import compare_models
    from hala.quantize.texts import load_texts

    loaded, alive_at_load = [], []
    real = stage.load_for_verify

    def tracking(model_dir, config, dtype):
        gc.collect()
        alive_at_load.append(sum(r() is not None for r in loaded))
        model = real(model_dir, config, dtype)
        loaded.append(weakref.ref(model))
        return model

    monkeypatch.setattr(stage, "load_for_verify", tracking)
    out = quantized[0]
    config = QuantizeConfig(
        model=str(tiny_model), translation_check="skip", batch_size=3, device_map="auto", verify_spill_bytes=0
    )
    report = stage.verify(config, Path(tiny_model), out / "model", tmp_path)
    assert alive_at_load == [0, 0] and len(loaded) == 2
    assert report["placement"] == {"dtype": "float32", "where": "gpus", "copies_at_once": 1}
    assert report["logprobs_spilled_bytes"] > 0 and not (tmp_path / ".verify-logprobs").exists()

    texts = {lang: t[: config.verify_texts_per_lang] for lang, t in load_texts(None).items()}
    joint = compare_models(load_model(tiny_model), load_model(out / "model"), load_tokenizer(tiny_model), texts, 3)
    assert report["next_token"]["positions"] == joint["next_token"]["positions"]
    assert report["next_token"]["kl_mean"] == pytest.approx(joint["next_token"]["kl_mean"], rel=1e-5)
    assert report["next_token"]["top1_agreement"] == joint["next_token"]["top1_agreement"]


def test_verify_dtype_auto_follows_the_checkpoint_on_gpus_and_for_big_models():
    from hala.quantize.placement import verify_placement

    big, small = 111_000_000_000, 135_000_000
    gpus = QuantizeConfig(model="m", device_map="auto")
    assert verify_placement(gpus, big, "bfloat16") == {"dtype": "bfloat16", "where": "gpus", "copies_at_once": 1}
    assert verify_placement(QuantizeConfig(model="m"), big, "bfloat16")["dtype"] == "bfloat16"  # host, one copy
    assert verify_placement(QuantizeConfig(model="m"), small, "bfloat16")["dtype"] == "float32"  # small, CPU
    assert verify_placement(QuantizeConfig(model="m", device="cuda"), small, "bfloat16")["where"] == "one-gpu"
    with pytest.raises(ValueError, match="not both"):
        QuantizeConfig(model="m", device="cuda", device_map="auto")
