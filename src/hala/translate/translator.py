"""Translate segments: prompt, generate, check, and climb a retry ladder before giving up; cache the result.
Shared by `translate_texts` and the runner.

A segment is accepted when its output keeps every placeholder exactly once, is not one of the prompt's example
translations echoed back, and passes the quality guards (guards.py, numbers included). A segment that fails is
not rejected at once; it climbs a ladder, and the first rung that gives an accepted output wins:

1. **retry**: generate once more with other decoding: a repetition penalty (greedy decoding would repeat the same
   output unchanged), twice the token limit after a truncation, and a stop at the end of the line after a runaway
   (a segment never holds a newline, so whatever follows one is not its translation);
2. **split**: cut the segment into smaller parts (at sentence and clause breaks; failing that, around its
   placeholders, which then stay in place verbatim) and translate the parts, each with its own first try, retry and
   (one level deeper) split; the parts' outputs are joined back in order;
3. **fallback**: the configured second model (`fallback` in the translate config, e.g. the teacher) translates the
   segment, with its own retry and split;
4. otherwise the segment is rejected with the reason of its last whole-segment attempt, naming the rungs tried.

Counters per first-failure reason (`retries_by_reason`, `splits_by_reason`, `fallbacks_by_reason`) and per rung
that fixed it (`fixed_by_retry`, `fixed_by_split`, `fixed_by_fallback`) go to the shard stats and report.json.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Collection

from hala.prompts import few_shot_examples, get_template, placeholder_examples
from hala.translate.cache import Cache, Entry
from hala.translate.engines.base import Engine, Generation, GenSettings, Prompt
from hala.translate.guards import Guards, verify_text
from hala.translate.segment import (
    Document,
    SpanMismatch,
    SubSplit,
    check_placeholders,
    count_placeholders,
    split_segment,
)

# Reasons that mean the model ran on past the translation: the retry also stops at the end of the line.
_RUNAWAY = {"max_tokens", "repetition", "length_ratio"}


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
        return Prompt(messages=tuple(t.chat_messages(text, src_lang, tgt_lang)), source=text)
    return Prompt(
        text=t.completion(text, src_lang, tgt_lang, shots_for(template_id, text, src_lang, tgt_lang)), source=text
    )


def prompt_identity(template_id: str, src_lang: str, tgt_lang: str) -> dict:
    """Everything that shapes a prompt, for the cache fingerprint: editing a template invalidates the cache."""
    return {
        "template": repr(get_template(template_id)),
        "examples": few_shot_examples(src_lang, tgt_lang),
        "placeholder_examples": placeholder_examples(src_lang, tgt_lang),
    }


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0]


@dataclass
class _Outcome:
    output: str
    reason: str | None
    tokens: int
    tried: tuple[str, ...] = ()  # rungs tried after the first attempt
    first: str | None = None  # the first attempt's reject reason code (what the counters are keyed by)


LADDER_KEYS = ("retries_by_reason", "splits_by_reason", "fallbacks_by_reason")
LADDER_COUNTS = ("fixed_by_split", "fixed_by_fallback", "split_parts")


@dataclass
class Translator:
    engine: Engine
    template_id: str
    src_lang: str
    tgt_lang: str
    settings: GenSettings
    guards: Guards
    cache: Cache
    tokens: int = 0  # generated tokens, every rung included
    retried: int = 0  # segments generated a second time (whole segments, not split parts)
    fixed: int = 0  # ... whose second output was accepted
    fallback: "Translator | None" = None  # second model, tried after retry and split
    ladder: Counter = field(default_factory=Counter)  # (counter name, reason code) -> n; see ladder_stats

    def prompt(self, text: str) -> Prompt:
        return build_prompt(self.template_id, text, self.src_lang, self.tgt_lang)

    def review(self, source: str, gen: Generation) -> str | None:
        """The reason to reject `gen` as a translation of `source`, or None."""
        try:
            check_placeholders(gen.text, count_placeholders(source))
        except SpanMismatch as e:
            return f"protected_span: {e}"
        # A base model that cannot translate a segment often answers with one of the prompt's example
        # translations (measured: "Lower (about 30-50 mg)" -> "أين أقرب مستشفى؟"); that passes every other guard.
        if _is_prompt_echo(self.src_lang, self.tgt_lang, source, gen.text):
            return "prompt_echo"
        return self.guards.check(source, gen.text, gen.hit_max_tokens)

    # ------------------------------------------------------------------------------------------ the ladder
    def _generate(self, sources: list[str], settings: GenSettings) -> dict[str, _Outcome]:
        out = {}
        for s, g in zip(sources, self.engine.generate([self.prompt(s) for s in sources], settings)):
            self.tokens += g.tokens
            out[s] = _Outcome(g.text, self.review(s, g), g.tokens)
        return out

    def _retry_settings(self, reason: str) -> GenSettings:
        code = reason_code(reason)
        stop = self.settings.stop if code not in _RUNAWAY else tuple(dict.fromkeys(self.settings.stop + ("\n",)))
        return self.settings.adjusted(
            repetition_penalty=self.guards.config.retry_repetition_penalty,
            stop=stop,
            max_new_tokens=self.settings.max_new_tokens * (2 if code == "max_tokens" else 1),
        )

    def solve(self, sources: list[str], depth: int = 0, top: bool = True) -> dict[str, _Outcome]:
        """First try, retry and split for distinct `sources` (batched per rung). `top`: these are whole segments
        (counted in the stats); parts of a split segment are solved with `top=False` one level deeper."""
        results = self._generate(sources, self.settings)
        failed = {s: o.reason for s, o in results.items() if o.reason is not None}
        for s, reason in failed.items():
            results[s].first = reason_code(reason)
        # Retry, grouped by settings so each group is one engine call.
        groups: dict[GenSettings, list[str]] = {}
        for s, reason in failed.items():
            groups.setdefault(self._retry_settings(reason), []).append(s)
        for settings, group in groups.items():
            for s, o in self._generate(group, settings).items():
                o.tried, o.first = ("retry",), results[s].first
                o.tokens += results[s].tokens
                results[s] = o
                if top:
                    self.retried += 1
                    self.fixed += o.reason is None
                    self.ladder["retries_by_reason", reason_code(failed[s])] += 1
        # Split what still fails into smaller parts, and solve all parts of all segments together.
        if depth < self.guards.config.max_split_depth:
            splits: dict[str, SubSplit] = {}
            for s in failed:
                if results[s].reason is not None and (sub := split_segment(s)) is not None:
                    splits[s] = sub
            parts = list(dict.fromkeys(p for sub in splits.values() for p in sub.parts))
            solved = self.solve(parts, depth + 1, top=False) if parts else {}
            for s, sub in splits.items():
                o = results[s]
                bad = next((p for p in sub.parts if solved[p].reason is not None), None)
                if top:
                    self.ladder["splits_by_reason", reason_code(failed[s])] += 1
                    self.ladder["split_parts", ""] += len(sub.parts)
                if bad is None:
                    joined = sub.join([solved[p].output for p in sub.parts])
                    # The joined text is checked as a whole too (placeholders, numbers, script, length).
                    reason = self.review(s, Generation(joined, 0, False))
                    if reason is None:
                        results[s] = _Outcome(
                            joined, None, o.tokens + sum(solved[p].tokens for p in sub.parts), o.tried, o.first
                        )
                        if top:
                            self.ladder["fixed_by_split", ""] += 1
                        continue
                    o.tried += (f"split into {len(sub.parts)}: joined {reason_code(reason)}",)
                else:
                    o.tried += (f"split into {len(sub.parts)}: part {bad[:40]!r} {reason_code(solved[bad].reason)}",)
        return results

    def run(self, sources: list[str], shard: int = 0) -> dict[str, Entry]:
        """Translate distinct model-facing `sources` (no cache lookup) and store the results in the cache."""
        results = self.solve(sources)
        failed = [s for s, o in results.items() if o.reason is not None]
        if failed and self.fallback is not None:
            fb = self.fallback
            before = fb.tokens
            for s, o in fb.solve(failed).items():
                self.ladder["fallbacks_by_reason", results[s].first] += 1
                results[s].tried += ("fallback" if o.reason is None else f"fallback: {reason_code(o.reason)}",)
                if o.reason is None:
                    results[s] = _Outcome(
                        o.output, None, results[s].tokens + o.tokens, results[s].tried, results[s].first
                    )
                    self.ladder["fixed_by_fallback", ""] += 1
            self.tokens += fb.tokens - before
        entries = {s: Entry(o.output, _with_tried(o), o.tokens, shard) for s, o in results.items()}
        self.cache.put_many(entries)
        return entries

    def translate(self, sources: list[str], chunk: int = 64) -> dict[str, Entry]:
        """Cached lookups plus generation of the rest, `chunk` segments per engine call and cache commit."""
        unique = list(dict.fromkeys(sources))
        found = self.cache.get_many(unique)
        todo = [s for s in unique if s not in found]
        for i in range(0, len(todo), chunk):
            found.update(self.run(todo[i : i + chunk]))
        return found

    def ladder_stats(self) -> dict:
        """The ladder's counters as plain JSON (what the runner adds to shard stats and report.json)."""
        out: dict = {k: {} for k in LADDER_KEYS} | {k: 0 for k in LADDER_COUNTS}
        for (name, code), n in sorted(self.ladder.items()):
            if name in LADDER_KEYS:
                out[name][code] = n
            else:
                out[name] += n
        return out


@lru_cache(maxsize=64)
def _example_sources_by_target(src_lang: str, tgt_lang: str) -> dict[str, frozenset[str]]:
    """Stripped target side of each prompt example -> the stripped sources it translates. Built once per
    language pair: rebuilding the example set for every reviewed segment took ~6 % of the stage in the first
    profile of issue 14."""
    table: dict[str, set[str]] = {}
    for a, b in few_shot_examples(src_lang, tgt_lang) + placeholder_examples(src_lang, tgt_lang):
        table.setdefault(b.strip(), set()).add(a.strip())
    return {b: frozenset(a) for b, a in table.items()}


def _is_prompt_echo(src_lang: str, tgt_lang: str, source: str, output: str) -> bool:
    """`output` is the target side of a prompt example, other than an example whose source is `source` itself
    (translating an example's own source into its target is right)."""
    sources = _example_sources_by_target(src_lang, tgt_lang).get(output.strip())
    return sources is not None and any(a != source.strip() for a in sources)


def _with_tried(o: _Outcome) -> str | None:
    """The reject reason with the rungs tried after the retry (which every failure gets) added to its detail; the
    code still leads."""
    tried = [t for t in o.tried if t != "retry"]
    if o.reason is None or not tried:
        return o.reason
    code, _, detail = o.reason.partition(": ")
    return f"{code}: {detail + '; ' if detail else ''}tried {', '.join(tried)}"


def assemble(doc: Document, entries: dict[str, Entry], skip: Collection[str] = ()) -> tuple[str | None, str | None]:
    """(translated text, None) or (None, reason) for a document whose segments were translated.

    After reassembly the text is verified once more, independently of the segments: every protected span of the
    source is there as often as in the source, and so is every fenced block, URL, $-math, calculator annotation,
    answer line and number found by simpler rules (guards.verify_text), so no broken record is written as clean.
    `skip`: the guards' switched-off checks (GuardConfig.skip); only "numbers" applies after reassembly.
    """
    restored = []
    for seg in doc.segments:
        e = entries[seg.text]
        if e.reason is not None:
            code, _, detail = e.reason.partition(": ")
            return None, f"{code}: {detail + '; ' if detail else ''}segment {seg.text[:80]!r} -> {e.output[:80]!r}"
        restored.append(seg.restore(e.output))
    text = doc.assemble(restored)
    # Each distinct span counted once: counting every span's copies among all spans was quadratic in the spans
    # of a record (issue 14). The first span in source order that is short is reported, as before.
    need = Counter(sp.text for sp in doc.spans)
    lost = next((t for t in need if text.count(t) < need[t]), None)
    if lost is not None:
        return None, f"protected_span: lost after reassembly: {lost[:80]!r}"
    if doc.source and (problem := verify_text(doc.source, text, skip)):
        return None, f"post_check: {problem}"
    return text, None
