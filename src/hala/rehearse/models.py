"""Tiny random-weight stand-ins for the hub models the paper recipes use, built from their real architecture classes.

Each shipped `configs/<name>.json` names the hub id, the transformers architecture, the real config values (and
where they were read), the shrunk values the rehearsal builds, the model's chat template and its special tokens.
The model is `AutoModelForCausalLM.from_config` of the real config class (Cohere2, Lfm2, Gemma2, ...) with the
shrunk sizes, so every stage meets the same modelling code, attention implementation rules, cache classes and chat
template as with the real checkpoint; only the sizes and the vocabulary differ.

Built once into `HALA_HOME/rehearse/models/<name>-<hash>` (atomic, under a file lock); the hash covers the config
file and the tokenizer text, so editing either rebuilds.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from filelock import FileLock

from hala.atomic import atomic_dir, write_json
from hala.errors import HalaError
from hala.models import hala_home
from hala.rehearse.specs import shipped_specs

SEED = 0
BUILD = 3  # bump when _build's output changes: cached stand-ins are rebuilt


@lru_cache(maxsize=1)
def model_specs() -> dict[str, dict]:
    """hub id -> shipped rehearsal config (with its file name under `file`)."""
    return shipped_specs("configs")


def is_rehearsed_model(ref: str) -> bool:
    return ref in model_specs()


def _chat_template(spec: dict) -> str:
    ref = spec["chat_template"]
    if ref.startswith("trl:"):  # TRL ships the original templates of the model families it knows
        return resources.files("trl").joinpath("chat_templates").joinpath(ref[4:]).read_text(encoding="utf-8")
    return resources.files("hala.rehearse").joinpath("configs").joinpath(ref).read_text(encoding="utf-8")


def _tokenizer_text() -> list[str]:
    """English and Arabic text the tiny BPE is trained on: the test models' seed text plus every fixture's strings,
    so the rehearsal data encodes into real subwords rather than bytes."""
    from hala.rehearse.datasets import fixture_strings
    from hala.testing import SEED_TEXT

    return list(SEED_TEXT) + fixture_strings()


def build_tokenizer(spec: dict, text: list[str], vocab_size: int = 2000):
    """A byte-level BPE (any Arabic or English text encodes, no unknown tokens) with the model's special tokens and
    its real chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    t = spec["tokens"]
    specials = [t["pad"], t["bos"], t["eos"], *t.get("extra", [])]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(text * 2, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token=t["bos"],
        eos_token=t["eos"],
        pad_token=t["pad"],
        unk_token=t["pad"],
        additional_special_tokens=t.get("extra", []),
    )
    tok.chat_template = _chat_template(spec)
    return tok


def _fingerprint(spec: dict, text: list[str]) -> str:
    payload = json.dumps({"spec": spec, "text": text, "seed": SEED, "build": BUILD}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def tiny_model_dir(hub_id: str) -> Path:
    """The built stand-in for `hub_id` (building it on first use: a couple of seconds)."""
    specs = model_specs()
    if hub_id not in specs:
        raise HalaError(
            f"no rehearsal stand-in for model '{hub_id}': add src/hala/rehearse/configs/<name>.json "
            f"(known: {', '.join(sorted(specs))})"
        )
    spec = specs[hub_id]
    # The chat template's own text too: Cohere2's template carries a ~300-word default preamble, which a BPE that
    # never saw it would spell out in ~1000 byte-level tokens per prompt.
    text = _tokenizer_text() + [_chat_template(spec)]
    target = hala_home() / "rehearse" / "models" / f"{Path(spec['file']).stem}-{_fingerprint(spec, text)}"
    if (target / "hala_model.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "hala_model.json").exists():
            return target
        with atomic_dir(target) as tmp:
            _build(spec, text, tmp)
    return target


def _build(spec: dict, text: list[str], out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = build_tokenizer(spec, text)
    ids = {k: tok.convert_tokens_to_ids(spec["tokens"][k]) for k in ("bos", "eos", "pad")}
    config = AutoConfig.for_model(
        spec["model_type"],
        **spec["rehearsal"],
        vocab_size=len(tok),
        bos_token_id=ids["bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["pad"],
    )
    config.architectures = [spec["architecture"]]
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config)
    # Random tied embeddings make greedy decoding repeat the prompt's last token, a special one or a newline (the
    # assistant header): decoded without special tokens and stripped, every translation would be empty and
    # nothing would reach the later stages. Shrunk rows for special, whitespace-only and partial-UTF-8 tokens
    # score ~0 against any hidden state, so the random model's output is visible text (it still never stops
    # before its token limit).
    with torch.no_grad():
        blank = [i for i in range(len(tok)) if not tok.decode([i]).strip() or "\ufffd" in tok.decode([i])]
        special = sorted(set(tok.all_special_ids) | set(blank))
        for emb in {id(e): e for e in (model.get_input_embeddings(), model.get_output_embeddings())}.values():
            emb.weight[special] *= 0.01
    if type(model).__name__ != spec["architecture"]:
        raise HalaError(f"{spec['file']}: built {type(model).__name__}, expected {spec['architecture']}")
    gen_eos = [tok.convert_tokens_to_ids(t) for t in spec["tokens"].get("generation_eos", [spec["tokens"]["eos"]])]
    model.generation_config.eos_token_id = gen_eos if len(gen_eos) > 1 else gen_eos[0]
    model.generation_config.pad_token_id = ids["pad"]
    model.generation_config.bos_token_id = ids["bos"]
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    write_json(
        out / "hala_model.json",
        {
            "rehearsal_stand_in_for": spec["hub_id"],
            "config_file": spec["file"],
            "architecture": spec["architecture"],
            "seed": SEED,
            "note": "random weights: exercises code paths, not quality",
        },
    )
