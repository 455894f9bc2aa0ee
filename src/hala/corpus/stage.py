"""`run(CorpusConfig, out_dir)`: mixed, deduplicated, split, bidirectional translation-instruction corpus.

Two streaming passes with a spool file in between (memory: one 8-byte digest per distinct text, for dedup and
the split graph):
1. read each source in order -> orient every pair pivot->other (src_lang->tgt_lang) -> sample (`ratio`) ->
   dedup across sources -> `cap` -> spool, and join the pair's two texts in the split graph (see split.py);
2. read the spool -> split of the pair's component -> one chat example per direction -> token limit -> write.

Outputs in out_dir (atomic):
    train.jsonl dev.jsonl test.jsonl                   chat samples; meta: direction, src_lang, tgt_lang, source,
                                                       pair_id, template, split
    pairs_train.jsonl pairs_dev.jsonl pairs_test.jsonl the pairs as given (one direction), for evaluation
    rejects.jsonl                                      unreadable rows, wrong language pair, empty, duplicate,
                                                       too long — each with its reason
    corpus_report.json                                 counts per source / split / direction
Not resumable: it runs at I/O speed, a rerun rebuilds everything.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

from hala.atomic import write_json
from hala.corpus.config import CorpusConfig, CorpusSource
from hala.corpus.examples import chat_example, pairs_from_chat, pick
from hala.corpus.split import SPLITS, Components, assign, text_nodes
from hala.normalize import digest, normalize_text
from hala.records import LICENCE_FIELDS, PairRow, RecordWriter, Reject, RejectLog, iter_rows
from hala.sources.files import RECORD_SUFFIXES
from hala.sources.pairs import default_name, iter_pairs, split_name


# ------------------------------------------------------------------------------------------------ reading
def source_name(source: CorpusSource) -> str:
    named, ref = split_name(source.ref)
    return source.name or named or default_name(ref)


def limit_sources(sources: list, caps: dict[str, int], ratios: dict[str, float]) -> list[dict]:
    """`sources` (refs or mappings) with `cap` / `ratio` set by the name each has in the report (`hala corpus
    --cap NAME=N --ratio NAME=F`); a name no source has is an error."""
    from hala.errors import HalaError

    caps, ratios, out = dict(caps), dict(ratios), []
    for s in sources:
        s = {"ref": s} if isinstance(s, str) else dict(s)
        name = source_name(CorpusSource.model_validate(s))
        s.update({k: v for k, v in (("cap", caps.pop(name, None)), ("ratio", ratios.pop(name, None))) if v is not None})
        out.append(s)
    if caps or ratios:
        raise HalaError(f"--cap/--ratio: no source named {', '.join(list(caps) + list(ratios))}")
    return out


def detect_kind(source: CorpusSource) -> str:
    if source.kind != "auto":
        return source.kind
    path = Path(split_name(source.ref)[1])
    record_file = path.is_file() and any(s in RECORD_SUFFIXES for s in path.suffixes)
    if not record_file:
        return "pairs"
    first = next(iter_rows(path, RejectLog()), None)
    return "chat" if first is not None and "messages" in first[1] else "pairs"


def chat_pairs(ref: str, name: str, rejects: RejectLog) -> Iterator[PairRow]:
    for line, obj in iter_rows(ref, rejects):
        if not isinstance(obj.get("id"), str) or not obj["id"]:
            rejects.add(Reject(ref, line, "invalid record: missing field 'id'", obj))
            continue
        pairs, why = pairs_from_chat(obj, name)
        if why:
            rejects.add(Reject(ref, line, f"invalid chat sample: {why}", {"id": obj["id"]}))
        for pair in pairs:
            yield pair, ref, line


def source_rows(source: CorpusSource, config: CorpusConfig, rejects: RejectLog) -> Iterator[PairRow]:
    name, ref = source_name(source), split_name(source.ref)[1]
    if detect_kind(source) == "chat":
        return chat_pairs(ref, name, rejects)
    return iter_pairs(f"{name}={ref}", config.src_lang, config.tgt_lang, rejects)


# ------------------------------------------------------------------------------------------------ pass 1
class Stats:
    def __init__(self) -> None:
        self.sources: dict[str, Counter] = defaultdict(Counter)
        self.splits: dict[str, Counter] = {s: Counter() for s in SPLITS}


def orient(pair: dict, config: CorpusConfig) -> tuple[str, str] | None:
    """(pivot-language text, other-language text), or None for a pair of other languages."""
    langs = (pair["src_lang"], pair["tgt_lang"])
    if langs == (config.src_lang, config.tgt_lang):
        return pair["src"], pair["tgt"]
    if langs == (config.tgt_lang, config.src_lang):
        return pair["tgt"], pair["src"]
    return None


def collect(config: CorpusConfig, spool, comps: Components, rejects: RejectLog, stats: Stats) -> None:
    seen: set[int] = set()
    for source in config.sources:
        name = source_name(source)
        count = stats.sources[name]
        for pair, where, line in source_rows(source, config, rejects):
            if source.cap is not None and count["kept"] >= source.cap:
                count["cap_reached"] = 1  # the rest of the source is not read
                break
            count["read"] += 1
            texts = orient(pair, config)
            if texts is None:
                count["rejected"] += 1
                rejects.add(
                    Reject(
                        where,
                        line,
                        f"language pair: {pair['src_lang']}-{pair['tgt_lang']} is not "
                        f"{config.src_lang}-{config.tgt_lang} in either direction",
                        pair,
                    )
                )
                continue
            if not texts[0].strip() or not texts[1].strip():
                count["rejected"] += 1
                rejects.add(Reject(where, line, "empty: a side is empty (run `hala filter` first)", pair))
                continue
            norm = (normalize_text(texts[0]), normalize_text(texts[1]))
            if source.ratio < 1 and digest(str(config.seed), "sample", *norm) / 2**64 >= source.ratio:
                count["sampled_out"] += 1
                continue
            key = digest(*norm)
            if config.dedup and key in seen:
                count["duplicates"] += 1
                rejects.add(Reject(where, line, "duplicate: same normalised pair as an earlier one", pair))
                continue
            seen.add(key)
            pivot, other = text_nodes(*texts)
            comps.union(pivot, other)
            spool.write(json.dumps([name, pair, texts[0], texts[1], pivot, where, line], ensure_ascii=False) + "\n")
            count["kept"] += 1


# ------------------------------------------------------------------------------------------------ pass 2
def examples_for(name: str, pair: dict, pivot: str, other: str, split: str, config: CorpusConfig) -> list[dict]:
    meta = {"source": name, "split": split}
    for key in (*LICENCE_FIELDS, "concat"):
        if key in pair["meta"]:
            meta[key] = pair["meta"][key]
    directions = {
        "both": [(pivot, other, config.src_lang, config.tgt_lang), (other, pivot, config.tgt_lang, config.src_lang)]
    }
    directions["forward"], directions["reverse"] = directions["both"][:1], directions["both"][1:]
    return [
        chat_example(pair["id"], text, translation, sl, tl, pick(config.templates, pair["id"], sl), meta)
        for text, translation, sl, tl in directions[config.directions]
    ]


class TokenCounter:
    def __init__(self, config: CorpusConfig):
        from hala.models import load_tokenizer

        self.tok = load_tokenizer(config.tokenizer, trust_remote_code=config.trust_remote_code)
        self.templated = bool(getattr(self.tok, "chat_template", None))

    def __call__(self, examples: list[dict]) -> list[int]:
        if self.templated:
            texts = [self.tok.apply_chat_template(e["messages"], tokenize=False) for e in examples]
        else:
            texts = ["\n".join(m["content"] for m in e["messages"]) for e in examples]
        return [len(ids) for ids in self.tok(texts, add_special_tokens=False)["input_ids"]]


class Concatenator:
    """Multi-sentence train examples from consecutive train pairs of one source (`concat_every`, `concat_max`).

    Only train-split pairs are joined, so no dev/test sentence reaches training; the joined pair keeps the
    licence of its parts (they come from one source) and records how many sentences it holds."""

    def __init__(self, config: CorpusConfig):
        self.every, self.most = config.concat_every, config.concat_max
        self.recent: dict[str, list[tuple[dict, str, str]]] = defaultdict(list)
        self.seen: Counter = Counter()

    def add(self, name: str, pair: dict, pivot: str, other: str) -> tuple[dict, str, str] | None:
        if not self.every:
            return None
        recent = self.recent[name]
        recent.append((pair, pivot, other))
        del recent[: -self.most]
        self.seen[name] += 1
        if self.seen[name] % self.every:
            return None
        k = 2 + (self.seen[name] // self.every) % (self.most - 1)
        if len(recent) < k:
            return None
        parts = recent[-k:]
        joined = {
            **parts[-1][0],
            "id": "+".join(p["id"] for p, _, _ in parts),
            "meta": {**parts[-1][0]["meta"], "concat": k},
        }
        return joined, " ".join(p for _, p, _ in parts), " ".join(o for _, _, o in parts)


def emit(
    config: CorpusConfig, spool_path: Path, comps: Components, out_dir: Path, rejects: RejectLog, stats: Stats
) -> dict:
    counter = TokenCounter(config) if config.max_tokens else None
    concat = Concatenator(config)
    sizes: Counter = Counter()
    longest = 0
    with contextlib.ExitStack() as stack:
        chats = {s: stack.enter_context(RecordWriter(out_dir / f"{s}.jsonl")) for s in SPLITS}
        pairs = {s: stack.enter_context(RecordWriter(out_dir / f"pairs_{s}.jsonl")) for s in SPLITS}
        with open(spool_path, encoding="utf-8") as fh:
            while chunk := [json.loads(line) for line in itertools.islice(fh, 1000)]:
                built = []
                for name, pair, pivot, other, node, where, line in chunk:
                    root = comps.find(node)
                    sizes[root] += 1
                    split = assign(root, config.seed, config.dev_fraction, config.test_fraction)
                    built.append(
                        (name, pair, split, examples_for(name, pair, pivot, other, split, config), where, line)
                    )
                    joined = concat.add(name, pair, pivot, other) if split == "train" else None
                    if joined is not None:
                        built.append(
                            (
                                name,
                                joined[0],
                                "train",
                                examples_for(name, joined[0], joined[1], joined[2], "train", config),
                                where,
                                line,
                            )
                        )
                lengths = iter(counter([e for b in built for e in b[3]])) if counter else None
                for name, pair, split, examples, where, line in built:
                    if lengths is not None:
                        n = max(next(lengths) for _ in examples)
                        longest = max(longest, n)
                        if n > config.max_tokens and "concat" in pair["meta"]:
                            stats.sources[name]["concatenated_too_long"] += 1  # synthetic: nothing lost
                            continue
                        if n > config.max_tokens:
                            stats.sources[name]["too_long"] += 1
                            rejects.add(Reject(where, line, f"too long: {n} tokens > {config.max_tokens}", pair))
                            continue
                    for e in examples:
                        chats[split].write(e)
                        stats.splits[split][e["meta"]["direction"]] += 1
                    if "concat" in pair["meta"]:  # a training example only: not a pair of the corpus
                        stats.sources[name]["concatenated_examples"] += 1
                        continue
                    pairs[split].write({**pair, "meta": {**pair["meta"], "corpus_source": name, "split": split}})
                    stats.splits[split]["pairs"] += 1
                    stats.sources[name][split] += 1
    return {
        "components": len(sizes),
        "largest_component_pairs": max(sizes.values(), default=0),
        "longest_example_tokens": longest if counter else None,
    }


# ------------------------------------------------------------------------------------------------ run
def run(config: CorpusConfig, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stats, comps = Stats(), Components()
    rejects = RejectLog(out_dir / "rejects.jsonl", max_examples=0, keep_empty=True)
    spool_path = out_dir / ".corpus-spool.jsonl.tmp"
    try:
        with rejects:
            with open(spool_path, "w", encoding="utf-8") as spool:
                collect(config, spool, comps, rejects, stats)
            graph = emit(config, spool_path, comps, out_dir, rejects, stats)
    finally:
        spool_path.unlink(missing_ok=True)
    total_pairs = sum(c["pairs"] for c in stats.splits.values())
    report = {
        "pairs": total_pairs,
        "examples": sum(v for c in stats.splits.values() for k, v in c.items() if k != "pairs"),
        "splits": {s: dict(c) for s, c in stats.splits.items()},
        "split_shares": {
            s: round(c["pairs"] / total_pairs, 4) if total_pairs else 0.0 for s, c in stats.splits.items()
        },
        "sources": {name: dict(c) for name, c in stats.sources.items()},
        "rejects": dict(rejects.counts),
        **graph,
        "directions": config.directions,
        "templates": config.templates,
        "seconds": round(time.perf_counter() - t0, 2),
        "outputs": {
            **{s: f"{s}.jsonl" for s in SPLITS},
            **{f"pairs_{s}": f"pairs_{s}.jsonl" for s in SPLITS},
            "rejects": "rejects.jsonl",
            "report": "corpus_report.json",
        },
    }
    write_json(out_dir / "corpus_report.json", report)
    return report
