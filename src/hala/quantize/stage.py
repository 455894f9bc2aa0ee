"""The quantize stage: convert a teacher to FP8, then verify it against the original before anyone uses it.

    out_dir/model/              compressed-tensors checkpoint (+ tokenizer); reused when rerun with the same settings
    out_dir/verification.json   drift report: perplexity per language, KL, top-1 agreement, chrF++, sizes, checks
    out_dir/calibration_rejects.jsonl   (static FP8 only, when some calibration records were unreadable)

The verification always runs (it is cheap next to the work it protects) and the stage raises `DriftError` after
writing the report when a threshold is exceeded.
"""

from __future__ import annotations

import time
from pathlib import Path

from hala.atomic import read_json, write_json
from hala.quantize.checks import DriftError, drift_checks, failure_message
from hala.quantize.config import QuantizeConfig
from hala.quantize.convert import MARKER, conversion_settings, convert, is_converted

MODEL_DIR = "model"
REPORT = "verification.json"


def weights_bytes(model_dir: Path) -> int:
    return sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))


def linear_layers(model) -> dict:
    """Which Linear layers hold FP8 weights and which stayed in high precision (e.g. the ignored lm_head).

    Call before the first forward: compressed-tensors then decompresses the FP8 weights in place (to the load
    dtype, keeping the FP8 rounding) and quantises activations on the fly, which is how FP8 runs on a CPU."""
    import torch

    fp8, kept = 0, []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            if module.weight.dtype == torch.float8_e4m3fn:
                fp8 += 1
            else:
                kept.append(name)
    return {"fp8": fp8, "unquantized": kept}


def sample_generation(models: dict, tokenizer, prompt: str, max_new_tokens: int = 8) -> dict:
    """A greedy continuation from each model: shows at a glance that the reloaded checkpoint generates."""
    import torch

    enc = tokenizer(prompt, return_tensors="pt").to(next(iter(models.values())).device)
    out = {"prompt": prompt}
    with torch.no_grad():
        for name, model in models.items():
            ids = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
            out[name] = tokenizer.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return out


class Clock:
    """Wall and CPU seconds per verification step: on a shared machine wall time depends on the neighbours, CPU
    seconds (all threads of this process) say what the step itself cost. A step run once per model (load,
    translation) adds up."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._start = self._last = (time.time(), time.process_time())

    def lap(self, step: str) -> None:
        now = (time.time(), time.process_time())
        self.wall[step] = round(self.wall.get(step, 0.0) + now[0] - self._last[0], 2)
        self.cpu[step] = round(self.cpu.get(step, 0.0) + now[1] - self._last[1], 2)
        self._last = now

    def report(self) -> dict:
        self.wall["verify"] = round(self._last[0] - self._start[0], 2)
        self.cpu["verify"] = round(self._last[1] - self._start[1], 2)
        return {"seconds": self.wall, "cpu_seconds": self.cpu}


def load_for_verify(model_dir: Path, config: QuantizeConfig, dtype: str):
    """One model at `dtype`: over every GPU with `device_map` (accelerate's placement), on `device`, or on CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": getattr(torch, dtype), "use_safetensors": True, "trust_remote_code": config.trust_remote_code}
    if config.device_map:
        kwargs["device_map"] = config.device_map
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if config.device and not config.device_map:
        model.to(config.device)
    return model.eval()


def release_memory() -> None:
    """After the caller dropped its last reference to a model: hand the memory back before the next one loads."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def verify(config: QuantizeConfig, source: Path, model_dir: Path, work_dir: Path | None = None) -> dict:
    """Every verification field of the report. The original runs first (its next-token log-probs kept, its
    translations and sample made), is freed, then the quantised model runs the same steps and is compared:
    one model in memory at a time (hala/quantize/placement.py)."""
    import torch

    from hala.models import count_parameters, load_tokenizer
    from hala.progress import progress_bar
    from hala.quantize.metrics import LogprobStore, candidate_pass, reference_pass
    from hala.quantize.placement import checkpoint_dtype, verify_placement
    from hala.quantize.texts import load_texts

    clock = Clock()
    texts = {lang: t[: config.verify_texts_per_lang] for lang, t in load_texts(config.verify_texts).items()}
    tokenizer = load_tokenizer(source, trust_remote_code=config.trust_remote_code)
    placement = verify_placement(config, count_parameters(source), checkpoint_dtype(source))
    n_texts = sum(len(t) for t in texts.values())
    store = LogprobStore((work_dir or model_dir.parent) / ".verify-logprobs", config.verify_spill_bytes)
    outputs: dict = {}
    report: dict = {"placement": placement}
    try:
        with progress_bar(2 * n_texts, "verify (next-token drift)", "texts") as bar:
            original = load_for_verify(source, config, placement["dtype"])
            clock.lap("load")
            n_params = sum(p.numel() for p in original.parameters())
            batches = reference_pass(original, tokenizer, texts, config.batch_size, store, bar.advance)
            clock.lap("next_token")
            outputs["original"] = translate_one(config, original, tokenizer)
            clock.lap("translation")
            first_text = next(iter(texts.values()))[0]
            sample_prompt = " ".join(first_text.split()[:4])
            samples = (
                {"original": sample_generation({"original": original}, tokenizer, sample_prompt)["original"]}
                if config.translation_check == "skip"
                else {}
            )
            del original
            release_memory()

            quantized = load_for_verify(model_dir, config, placement["dtype"])
            report["linear_layers"] = linear_layers(quantized)  # before the first forward decompresses
            clock.lap("load")
            report.update(candidate_pass(quantized, tokenizer, batches, store, bar.advance))
            report["logprobs_spilled_bytes"] = store.spilled
            clock.lap("next_token")
            outputs["quantized"] = translate_one(config, quantized, tokenizer)
            clock.lap("translation")
            if config.translation_check == "skip":  # otherwise the translation examples show both generating
                samples["quantized"] = sample_generation({"quantized": quantized}, tokenizer, sample_prompt)[
                    "quantized"
                ]
                report["sample"] = {"prompt": sample_prompt, **samples}
                clock.lap("sample")
            del quantized
            release_memory()
    finally:
        store.close()
    report["translation"] = score_translation(config, outputs, tokenizer)
    report["sizes"] = {
        "original_on_disk_bytes": weights_bytes(source),
        # what the original weighs at the dtype it was quantised from (the fair baseline for FP8)
        "original_at_dtype_bytes": n_params * torch.finfo(getattr(torch, config.dtype)).bits // 8,
        "quantized_on_disk_bytes": weights_bytes(model_dir),
    }
    report["sizes"]["ratio_vs_dtype"] = (
        report["sizes"]["quantized_on_disk_bytes"] / report["sizes"]["original_at_dtype_bytes"]
    )
    report.update(clock.report())
    return report


def _pairs(config: QuantizeConfig):
    from hala.quantize.texts import load_pairs

    return load_pairs(config.verify_pairs)[: config.translation_pairs]


def translate_one(config: QuantizeConfig, model, tokenizer) -> list[str] | None:
    if config.translation_check == "skip":
        return None
    from hala.quantize.translation import translate_with

    return translate_with(
        model, tokenizer, _pairs(config), config.template, config.translation_max_new_tokens, config.batch_size
    )


def score_translation(config: QuantizeConfig, outputs: dict, tokenizer) -> dict:
    if config.translation_check == "skip":
        return {"status": "skipped"}
    from hala.quantize.translation import compare_outputs

    result = compare_outputs(outputs, tokenizer, _pairs(config), config.template, config.translation_max_new_tokens)
    status = "enforced" if config.translation_check == "enforce" else "reported"
    return {"status": status, **result}


def run(config: QuantizeConfig, out_dir: Path) -> dict:
    from hala.models import resolve_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = resolve_model(config.model)
    model_dir = out_dir / MODEL_DIR
    settings = conversion_settings(config, source)
    resumed = is_converted(model_dir, settings)
    conversion = (
        read_json(model_dir / MARKER)
        if resumed
        else convert(config, source, model_dir, out_dir / "calibration_rejects.jsonl")
    )

    report = {
        "model": config.model,
        "source": str(source),
        "quantized_model": MODEL_DIR,
        "scheme": config.scheme,
        "ignore": config.ignore,
        "dtype": config.dtype,
        "verify_dtype": config.verify_dtype,
        "device_map": config.device_map,
        "resumed_conversion": resumed,
        "quantize_seconds": conversion["quantize_seconds"],
        "calibration_texts": conversion["calibration_texts"],
    }
    report.update(verify(config, source, model_dir, out_dir))
    report["thresholds"] = config.thresholds.model_dump()
    report["checks"] = drift_checks(report, config.thresholds, config.translation_check == "enforce")
    report["passed"] = all(c["passed"] for c in report["checks"])
    write_json(out_dir / REPORT, report)

    message = failure_message(report["checks"], str(out_dir / REPORT))
    if message:
        raise DriftError(message)
    return summary(report)


def summary(report: dict) -> dict:
    """The JSON-able result of `run`: output names and headline numbers (`metrics`/`outputs` go into the recipe
    run's manifest)."""
    metrics = {
        "passed": report["passed"],
        "kl_mean": report["next_token"]["kl_mean"],
        "top1_agreement": report["next_token"]["top1_agreement"],
        **{f"ppl_ratio_{lang}": p["ratio"] for lang, p in report["perplexity"].items()},
        "quantized_on_disk_bytes": report["sizes"]["quantized_on_disk_bytes"],
        "verify_seconds": report["seconds"]["verify"],
        "verify_cpu_seconds": report["cpu_seconds"]["verify"],
    }
    out = {
        "metrics": metrics,
        "outputs": {"model": MODEL_DIR, "verification": REPORT},
        "model_dir": MODEL_DIR,
        "verification": REPORT,
        "passed": report["passed"],
        "sizes": report["sizes"],
        "next_token": report["next_token"],
        "perplexity": {
            lang: {k: p[k] for k in ("original", "quantized", "ratio")} for lang, p in report["perplexity"].items()
        },
    }
    if report["translation"]["status"] != "skipped":
        out["chrf"] = {k: report["translation"][k] for k in ("chrf_original", "chrf_quantized", "chrf_drop")}
        metrics["chrf_drop"] = report["translation"]["chrf_drop"]
    return out
