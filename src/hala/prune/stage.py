"""`prune.layers`: write a copy of a model without its `drop` least influential decoder layers.

    out_dir/model/             the shorter model (safetensors), tokenizer and chat template: load it like any model
    out_dir/prune_report.json  each layer's Block Influence, the layers dropped, parameters and the calibration
                               texts' perplexity before/after (what the fine-tuning that follows has to heal)

Calibration texts are the given record files' texts (both sides of pairs, every chat message): the student's
training data, never an evaluation set.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala.atomic import atomic_dir, write_json
from hala.errors import HalaError


class PruneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="model reference to prune (embedded:NAME, directory, hub id)")
    texts: list[str] = Field(description="record files (pairs or chat samples) whose texts calibrate the choice")
    drop: int = Field(ge=0, description="how many decoder layers to remove (the first and last are always kept)")
    calibration_texts: int = Field(256, ge=1, description="texts used, spread evenly over `texts`")
    max_tokens: int = Field(128, ge=8, description="each calibration text is cut to this many tokens")
    batch_size: int = Field(16, ge=1)
    trust_remote_code: bool = False


def run(config: PruneConfig, out_dir: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.models import resolve_model
    from hala.prune.layers import block_influence, decoder_layers, drop_layers, layers_to_drop
    from hala.scoring import perplexity, text_batches, texts_nll
    from hala.vocab.stage import record_texts

    out_dir = Path(out_dir)
    source = resolve_model(config.model)
    texts = [t for t in record_texts(config.texts) if t]
    if not texts:
        raise HalaError(f"prune.layers: no text in {', '.join(config.texts)}")
    step = max(1, len(texts) // config.calibration_texts)
    texts = texts[::step][: config.calibration_texts]
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=torch.float32, use_safetensors=True, trust_remote_code=config.trust_remote_code
    )
    batches = text_batches(tokenizer, texts, config.batch_size, max_tokens=config.max_tokens)
    layers_before = len(decoder_layers(model))
    params_before = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        influence = block_influence(model, batches)
        nll_before = texts_nll(model, batches)
        drop = layers_to_drop(influence, config.drop)
        keep = drop_layers(model, drop)
        nll_after = texts_nll(model, batches)
    target = out_dir / "model"
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if (source / "chat_template.jinja").exists():
            shutil.copy2(source / "chat_template.jinja", tmp / "chat_template.jinja")
        reloaded = AutoModelForCausalLM.from_pretrained(
            tmp, use_safetensors=True, trust_remote_code=config.trust_remote_code
        )
        if len(decoder_layers(reloaded)) != len(keep):
            raise HalaError(f"prune.layers: the saved model reloads with {len(decoder_layers(reloaded))} layers")
    report = {
        "model": config.model,
        "layers_before": layers_before,
        "layers_after": len(keep),
        "dropped": drop,
        "kept": keep,
        "block_influence": [round(x, 6) for x in influence],
        "params_before": params_before,
        "params_after": sum(p.numel() for p in model.parameters()),
        "calibration": {"texts": len(texts), "batches": len(batches), "max_tokens": config.max_tokens},
        "calibration_ppl_before": round(perplexity(*nll_before), 4),
        "calibration_ppl_after": round(perplexity(*nll_after), 4),
    }
    write_json(out_dir / "prune_report.json", report)
    return {
        "outputs": {"model": "model", "report": "prune_report.json"},
        "metrics": {
            k: report[k]
            for k in (
                "layers_before",
                "layers_after",
                "params_before",
                "params_after",
                "calibration_ppl_before",
                "calibration_ppl_after",
            )
        },
    }
