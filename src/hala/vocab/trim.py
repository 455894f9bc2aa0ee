"""Vocabulary trimming: keep only the tokens a translator needs, so its output layer shrinks.

Gemma-3's 262,144-token vocabulary spans every script; an English↔Arabic translator uses a few tens of thousands
of them. The tied embedding / output matrix is 262,144 × hidden: for Gemma-3-270M that is 168M of its 268M
parameters, and the logits over it dominate both training and decoding on a CPU. Cutting the vocabulary to the
tokens the bilingual data uses (plus every piece needed to spell anything else) makes every step cheaper without
changing how the kept text is tokenized (as in vocabulary trimming for multilingual models, e.g. Abdaoui et al.
2020 "Load What You Need", Ushio et al. 2023 "An Efficient Multilingual Language Model Compression through
Vocabulary Trimming").

No library does this for BPE tokenizers (tokenizers can train, not prune; `resize_token_embeddings` only cuts the
end of the matrix), so it is written here, in three pure steps:

1. `kept_token_ids`: the tokens that encode the given texts, every intermediate token BPE builds on the way to
   them (so the merges that produce them stay usable), all special/added tokens except `<unusedN>`, the byte
   fallback tokens and single characters of the scripts asked for: any text still encodes (rarer words as
   shorter pieces, unknown characters as bytes).
2. `trimmed_tokenizer_json`: the tokenizer.json with that vocabulary renumbered in the original order and the
   merges whose parts and result survive, in the original rank order. A word whose merge path survives is
   tokenized exactly as before (BPE applies the lowest-ranked applicable merge; removing merges it never chose
   does not change its choices) — `verify` checks this on the texts.
3. `trim_model`: the embedding (and untied output) rows of the kept ids; token ids in the config remapped.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from typing import Iterable

from hala.errors import ConfigError

_BYTE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
_UNUSED = re.compile(r"^<unused\d+>$")


def _merge_pairs(model: dict) -> list[tuple[str, str]]:
    # tokenizers writes merges as ["a", "b"] (new) or "a b" (old format)
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]


def bpe_path(token: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Every token BPE creates while it merges the characters of `token` (the intermediates and the token).

    Within a word, a final token's characters are merged among themselves exactly as when the token's string is
    encoded alone (a merge across its boundary would have made a different final token), so this is its path."""
    symbols = list(token)
    made = []
    while len(symbols) > 1:
        best = min(
            ((ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:])) if (a, b) in ranks),
            default=None,
        )
        if best is None:
            break
        _, i = best
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
        made.append(symbols[i])
    return made


def script_characters(scripts: Iterable[str]) -> set[str]:
    """Characters of named scripts whose single-character tokens are always kept."""
    ranges = {
        "latin": [(0x20, 0x7E), (0xA0, 0x24F)],
        "arabic": [(0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF)],
        "digits": [(0x30, 0x39), (0x660, 0x669), (0x6F0, 0x6F9)],
        "punctuation": [(0x2000, 0x206F)],
    }
    out: set[str] = set()
    for name in scripts:
        if name not in ranges:
            raise ConfigError(f"unknown script '{name}' (known: {', '.join(ranges)})")
        for lo, hi in ranges[name]:
            out.update(chr(c) for c in range(lo, hi + 1))
    return out


def kept_token_ids(
    tokenizer_json: dict,
    token_counts: Counter,
    min_count: int = 1,
    scripts: Iterable[str] = ("latin", "arabic", "digits", "punctuation"),
) -> list[int]:
    """Sorted ids of the tokens to keep (see module docstring, step 1). `token_counts`: id -> occurrences."""
    model = tokenizer_json["model"]
    if model.get("type") != "BPE":
        raise ConfigError(f"vocabulary trimming supports BPE tokenizers; this one is {model.get('type')}")
    vocab: dict[str, int] = model["vocab"]
    by_id = {i: t for t, i in vocab.items()}
    ranks = {pair: r for r, pair in enumerate(_merge_pairs(model))}
    chars = script_characters(scripts)
    keep: set[int] = set()
    for tid, count in token_counts.items():
        if count >= min_count and tid in by_id:
            keep.add(tid)
            keep.update(vocab[t] for t in bpe_path(by_id[tid], ranks) if t in vocab)
            # ... and its characters, where BPE starts: without them a character outside `scripts` (Θ in
            # "Θ(n log n)") falls back to bytes and every merge built on it is lost
            keep.update(vocab[c] for c in by_id[tid] if c in vocab)
    for token, tid in vocab.items():
        # bytes: any character still encodes; single characters of the scripts asked for: any word of them does
        if _BYTE.match(token) or (len(token) == 1 and (token in chars or token.replace("▁", " ") in chars)):
            keep.add(tid)
        if len(token) == 1 and not model.get("byte_fallback"):
            keep.add(tid)  # no byte fallback (e.g. byte-level BPE): the single symbols are what spells anything
    if model.get("unk_token") in vocab:
        keep.add(vocab[model["unk_token"]])
    keep.update(a["id"] for a in tokenizer_json.get("added_tokens", []) if not _UNUSED.match(a["content"]))
    return sorted(keep)


def trimmed_tokenizer_json(tokenizer_json: dict, kept: list[int]) -> tuple[dict, dict[int, int]]:
    """(new tokenizer.json, old id -> new id)."""
    old_to_new = {old: new for new, old in enumerate(kept)}
    out = copy.deepcopy(tokenizer_json)
    model = out["model"]
    vocab = {t: old_to_new[i] for t, i in model["vocab"].items() if i in old_to_new}
    pairs = _merge_pairs(model)
    model["vocab"] = vocab
    model["merges"] = [[a, b] for a, b in pairs if a in vocab and b in vocab and a + b in vocab]
    out["added_tokens"] = [
        {**a, "id": old_to_new[a["id"]]} for a in out.get("added_tokens", []) if a["id"] in old_to_new
    ]
    _remap_post_processor(out.get("post_processor"), old_to_new)
    return out, old_to_new


def _remap_post_processor(node, old_to_new: dict[int, int]) -> None:
    """TemplateProcessing (and Sequence of them) store special-token ids: renumber them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ids" and isinstance(value, list) and all(isinstance(v, int) for v in value):
                node[key] = [old_to_new[v] for v in value]
            else:
                _remap_post_processor(value, old_to_new)
    elif isinstance(node, list):
        for value in node:
            _remap_post_processor(value, old_to_new)


def verify(old_tokenizer, new_tokenizer, old_to_new: dict[int, int], texts: list[str]) -> dict:
    """Encode `texts` with both tokenizers: how many encode to the same tokens (renumbered), and examples that
    do not. Every text whose tokens were kept must match; a mismatch means the trimmed merges changed BPE."""
    same, diff = 0, []
    for text in texts:
        old = old_tokenizer(text, add_special_tokens=False)["input_ids"]
        new = new_tokenizer(text, add_special_tokens=False)["input_ids"]
        if all(i in old_to_new for i in old) and [old_to_new[i] for i in old] == new:
            same += 1
        elif len(diff) < 5:
            diff.append(text)
    return {"texts": len(texts), "identical": same, "examples_different": diff}


def trim_model(model, kept: list[int], old_to_new: dict[int, int]) -> None:
    """Keep the embedding (and, when untied, output) rows of `kept`, in place; remap special ids in the config."""
    import torch

    index = torch.tensor(kept, dtype=torch.long)
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    old_in = model.get_input_embeddings()
    new_in = torch.nn.Embedding(len(kept), old_in.weight.shape[1], padding_idx=None, dtype=old_in.weight.dtype)
    new_in.weight.data = old_in.weight.data[index].clone()
    if hasattr(old_in, "embed_scale"):  # Gemma's scaled embedding module: keep its class and scale
        old_in.weight = torch.nn.Parameter(new_in.weight.data)
        old_in.num_embeddings = len(kept)
        old_in.padding_idx = None
    else:
        model.set_input_embeddings(new_in)
    if not tied:
        old_out = model.get_output_embeddings()
        new_out = torch.nn.Linear(
            old_out.in_features, len(kept), bias=old_out.bias is not None, dtype=old_out.weight.dtype
        )
        new_out.weight.data = old_out.weight.data[index].clone()
        if old_out.bias is not None:
            new_out.bias.data = old_out.bias.data[index].clone()
        model.set_output_embeddings(new_out)
    model.config.vocab_size = len(kept)
    if hasattr(model.config, "get_text_config"):
        model.config.get_text_config().vocab_size = len(kept)
    if tied:
        model.tie_weights()
    for cfg in (model.config, model.generation_config):
        for name in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
            value = getattr(cfg, name, None)
            if value is None:
                continue
            if isinstance(value, list):
                setattr(cfg, name, [old_to_new[v] for v in value if v in old_to_new])
            elif value in old_to_new:
                setattr(cfg, name, old_to_new[value])
            else:
                setattr(cfg, name, None)
