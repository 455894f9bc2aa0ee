"""Translation-instruction chat examples from pairs, and pairs from translated chat samples.

A pair becomes one example per direction: the user turn is `hala.prompts.translation_messages` (the same prompt
the translate and eval stages send, so the model is trained on exactly what it will be asked) and the assistant
turn is the translation.

Translated chat samples (the translate stage's output) keep their original in `meta`:
    meta.original    = {"messages": [{"role", "content"}, ...]}   (the untranslated messages, same order)
    meta.translation = {"src_lang": "en", "tgt_lang": "ar", ...}  (provenance)
Each message whose content was translated (original != translation) is one pair original -> translation.
"""

from __future__ import annotations

import hashlib

from hala.prompts import translation_messages
from hala.sources.files import make_pair


def pick(options: list[str], *key: str) -> str:
    """A deterministic choice among `options` by hash of `key` (same input -> same template, run after run)."""
    if len(options) == 1:
        return options[0]
    h = int.from_bytes(hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest(), "little")
    return options[h % len(options)]


def chat_example(
    pair_id: str, text: str, translation: str, src_lang: str, tgt_lang: str, template: str, meta: dict
) -> dict:
    messages = translation_messages(text, src_lang, tgt_lang, template)
    messages.append({"role": "assistant", "content": translation})
    direction = f"{src_lang}-{tgt_lang}"
    return {
        "id": f"{pair_id}:{direction}",
        "messages": messages,
        "meta": {
            **meta,
            "direction": direction,
            "src_lang": src_lang,
            "tgt_lang": tgt_lang,
            "pair_id": pair_id,
            "template": template,
        },
    }


def pairs_from_chat(sample: dict, name: str) -> tuple[list[dict], str | None]:
    """(pairs, None) from one translated chat sample, or ([], why it cannot give pairs)."""
    meta = sample.get("meta") or {}
    original, provenance = meta.get("original"), meta.get("translation")
    messages = sample.get("messages")
    before = original.get("messages") if isinstance(original, dict) else None
    if not isinstance(before, list) or not isinstance(messages, list):
        return [], "not a translated chat sample: meta.original.messages missing"
    if len(before) != len(messages):
        return [], f"meta.original has {len(before)} messages, the sample {len(messages)}"
    if not isinstance(provenance, dict) or not provenance.get("src_lang") or not provenance.get("tgt_lang"):
        return [], "meta.translation.src_lang/tgt_lang missing"
    src_lang, tgt_lang = str(provenance["src_lang"]).lower(), str(provenance["tgt_lang"]).lower()
    pairs = []
    for i, (a, b) in enumerate(zip(before, messages)):
        src, tgt = str(a.get("content", "")), str(b.get("content", ""))
        if src.strip() and tgt.strip() and src != tgt:
            pairs.append(
                make_pair(
                    f"{sample['id']}:{i}",
                    src,
                    tgt,
                    src_lang,
                    tgt_lang,
                    {"source": name, "chat_id": sample["id"], "message": i, "role": b.get("role")},
                )
            )
    return pairs, None
