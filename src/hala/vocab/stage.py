"""`vocab.trim`: write a copy of a model whose vocabulary keeps only the tokens of the given texts' languages.

    out_dir/model/            the trimmed model (safetensors), tokenizer and chat template: load it like any model
    out_dir/trim_report.json  vocabulary and parameter counts before/after, and the tokenization check

The check re-encodes every text with both tokenizers; a text whose tokens changed fails the stage (the
trimmed tokenizer must encode the kept vocabulary exactly as the original did).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field

from hala.atomic import atomic_dir, write_json, write_text
from hala.errors import HalaError


class TrimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="model reference to trim (embedded:NAME, directory, hub id)")
    texts: list[str] = Field(
        description="record files (pairs or chat samples) whose tokens are kept: the "
        "training data and what the model will translate"
    )
    min_count: int = Field(1, ge=1, description="keep a token seen at least this many times in `texts`")
    scripts: list[str] = Field(
        default_factory=lambda: ["latin", "arabic", "digits", "punctuation"],
        description="scripts whose single characters are always kept (any word of them "
        "still encodes, as shorter pieces)",
    )
    trust_remote_code: bool = False


def record_texts(paths: list[str]) -> Iterator[str]:
    """Every text of the records in `paths`: both sides of pairs, every message of chat samples."""
    from hala.records import ChatSample, RejectLog, read_records

    for path in paths:
        log = RejectLog(None)
        for record in read_records(path, None, log):
            if isinstance(record, ChatSample):
                yield from (m.content for m in record.messages)
            else:
                yield from (record.src, record.tgt)
        if log.total:
            raise HalaError(
                f"{path}: {log.total} unreadable records (first: {log.examples[0]}); "
                f"check it with `hala data check {path}`"
            )


def run(config: TrimConfig, out_dir: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.models import resolve_model
    from hala.vocab.trim import kept_token_ids, trim_model, trimmed_tokenizer_json, verify

    out_dir = Path(out_dir)
    source = resolve_model(config.model)
    tokenizer_file = source / "tokenizer.json"
    if not tokenizer_file.exists():
        raise HalaError(f"{source}: no tokenizer.json (vocabulary trimming needs a fast BPE tokenizer)")
    old_tok = AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
    texts = [t for t in record_texts(config.texts) if t]
    if not texts:
        raise HalaError(f"vocab.trim: no text in {', '.join(config.texts)}")
    counts: Counter = Counter()
    for start in range(0, len(texts), 1024):
        for ids in old_tok(texts[start : start + 1024], add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    tokenizer_json = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    kept = kept_token_ids(tokenizer_json, counts, config.min_count, config.scripts)
    new_json, old_to_new = trimmed_tokenizer_json(tokenizer_json, kept)

    model = AutoModelForCausalLM.from_pretrained(
        source, dtype="auto", use_safetensors=True, trust_remote_code=config.trust_remote_code
    )
    params_before = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        trim_model(model, kept, old_to_new)
    params_after = sum(p.numel() for p in model.parameters())
    target = out_dir / "model"
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        for name in ("tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
            if (source / name).exists():
                shutil.copy2(source / name, tmp / name)
        write_text(tmp / "tokenizer.json", json.dumps(new_json, ensure_ascii=False))
        new_tok = AutoTokenizer.from_pretrained(tmp)
        check = verify(old_tok, new_tok, old_to_new, texts if len(texts) <= 20000 else texts[:: len(texts) // 20000])
        if check["identical"] != check["texts"]:
            raise HalaError(
                f"vocab.trim: the trimmed tokenizer encodes {check['texts'] - check['identical']} of "
                f"{check['texts']} texts differently (e.g. {check['examples_different'][:2]}); "
                f"this is a bug in hala's trimming, please report it"
            )
    report = {
        "model": config.model,
        "vocab_before": len(tokenizer_json["model"]["vocab"]),
        "vocab_after": len(kept),
        "params_before": params_before,
        "params_after": params_after,
        "texts": len(texts),
        "distinct_tokens_seen": len(counts),
        "min_count": config.min_count,
        "scripts": config.scripts,
        "tokenization_check": check,
    }
    write_json(out_dir / "trim_report.json", report)
    return {
        "outputs": {"model": "model", "report": "trim_report.json"},
        "metrics": {k: report[k] for k in ("vocab_before", "vocab_after", "params_before", "params_after")},
    }
