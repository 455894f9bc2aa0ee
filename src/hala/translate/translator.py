"""Translate segments: prompt, generate, check, retry once, cache. Shared by `translate_texts` and the runner.

A segment is accepted when its output keeps every placeholder exactly once and passes the quality guards.
Otherwise it is generated once more with adjusted settings (a repetition penalty; twice the token limit if it
hit the limit), and if that fails too it is rejected with the reason. Greedy decoding means an unchanged retry
would repeat the same output, hence the adjustment.
"""

from __future__ import annotations

from dataclasses import dataclass

from hala.prompts import few_shot_examples, get_template, placeholder_examples
from hala.translate.cache import Cache, Entry
from hala.translate.engines.base import Engine, GenSettings, Generation, Prompt
from hala.translate.guards import Guards
from hala.translate.segment import Document, SpanMismatch, check_placeholders, count_placeholders


def shots_for(template_id: str, text: str, src_lang: str, tgt_lang: str) -> list[tuple[str, str]]:
    """Few-shot examples for a completion prompt: when `text` holds placeholders, the last example is one
    that shows placeholders being kept, with as many placeholders as `text` where there is such an example
    (a base model copies the pattern it is shown, including how many placeholders it has)."""
    t = get_template(template_id)
    plain = few_shot_examples(src_lang, tgt_lang)
    marked = placeholder_examples(src_lang, tgt_lang)
    n = count_placeholders(text)
    if t.shots and marked and n:
        closest = min(marked, key=lambda ex: abs(count_placeholders(ex[0]) - n))
        return plain[: t.shots - 1] + [closest]
    return plain


def build_prompt(template_id: str, text: str, src_lang: str, tgt_lang: str) -> Prompt:
    t = get_template(template_id)
    if t.kind == "chat":
        return Prompt(messages=tuple(t.chat_messages(text, src_lang, tgt_lang)))
    return Prompt(text=t.completion(text, src_lang, tgt_lang, shots_for(template_id, text, src_lang, tgt_lang)))


def prompt_identity(template_id: str, src_lang: str, tgt_lang: str) -> dict:
    """Everything that shapes a prompt, for the cache fingerprint: editing a template invalidates the cache."""
    return {"template": repr(get_template(template_id)), "examples": few_shot_examples(src_lang, tgt_lang),
            "placeholder_examples": placeholder_examples(src_lang, tgt_lang)}


@dataclass
class Translator:
    engine: Engine
    template_id: str
    src_lang: str
    tgt_lang: str
    settings: GenSettings
    guards: Guards
    cache: Cache
    tokens: int = 0     # generated tokens, retries included
    retried: int = 0    # segments generated a second time
    fixed: int = 0      # ... whose second output was accepted

    def prompt(self, text: str) -> Prompt:
        return build_prompt(self.template_id, text, self.src_lang, self.tgt_lang)

    def review(self, source: str, gen: Generation) -> str | None:
        """The reason to reject `gen` as a translation of `source`, or None."""
        try:
            check_placeholders(gen.text, count_placeholders(source))
        except SpanMismatch as e:
            return f"protected_span: {e}"
        return self.guards.check(source, gen.text, gen.hit_max_tokens)

    def run(self, sources: list[str], shard: int = 0) -> dict[str, Entry]:
        """Translate distinct model-facing `sources` (no cache lookup) and store the results in the cache."""
        gens = self.engine.generate([self.prompt(s) for s in sources], self.settings)
        results: dict[str, Entry] = {}
        retry: dict[str, str] = {}
        for s, g in zip(sources, gens):
            self.tokens += g.tokens
            reason = self.review(s, g)
            if reason is None:
                results[s] = Entry(g.text, None, g.tokens, shard)
            else:
                retry[s] = reason
        for long_limit in (False, True):
            group = [s for s, r in retry.items() if (r == "max_tokens") == long_limit]
            if not group:
                continue
            settings = self.settings.adjusted(
                repetition_penalty=self.guards.config.retry_repetition_penalty,
                max_new_tokens=self.settings.max_new_tokens * (2 if long_limit else 1))
            for s, g in zip(group, self.engine.generate([self.prompt(s) for s in group], settings)):
                self.tokens += g.tokens
                results[s] = Entry(g.text, self.review(s, g), g.tokens, shard)
                self.retried += 1
                self.fixed += results[s].reason is None
        self.cache.put_many(results)
        return results

    def translate(self, sources: list[str], chunk: int = 64) -> dict[str, Entry]:
        """Cached lookups plus generation of the rest, `chunk` segments per engine call and cache commit."""
        unique = list(dict.fromkeys(sources))
        found = self.cache.get_many(unique)
        todo = [s for s in unique if s not in found]
        for i in range(0, len(todo), chunk):
            found.update(self.run(todo[i:i + chunk]))
        return found


def assemble(doc: Document, entries: dict[str, Entry]) -> tuple[str | None, str | None]:
    """(translated text, None) or (None, reason) for a document whose segments were translated."""
    restored = []
    for seg in doc.segments:
        e = entries[seg.text]
        if e.reason is not None:
            code, _, detail = e.reason.partition(": ")
            return None, f"{code}: {detail + '; ' if detail else ''}segment {seg.text[:80]!r} -> {e.output[:80]!r}"
        restored.append(seg.restore(e.output))
    text = doc.assemble(restored)
    lost = [sp.text for sp in doc.spans if text.count(sp.text) < sum(t.text == sp.text for t in doc.spans)]
    if lost:
        return None, f"protected_span: lost after reassembly: {lost[0][:80]!r}"
    return text, None
