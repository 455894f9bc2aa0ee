"""`run(config, out_dir)`: translate a record file into sharded, resumable output.

Layout of `out_dir`:

    run.json                   the configuration (a resume must use the same one; only `limit` may change)
    cache.sqlite               dedup cache: segment -> translation or reject reason (see cache.py)
    shards/part-00000.jsonl    translated records of input records 0..shard_size-1, written atomically
    shards/part-00000.rejects.jsonl
    shards/part-00000.json     shard stats, written last: its presence marks the shard done (its `fingerprint`
                               must match the run's, so a shard made from other model files is redone)
    translated.jsonl           all shards joined, once every shard is done
    rejects.jsonl              unreadable input lines and rejected records, each with its reason
    report.json                counts (rejects per reason), throughput, provenance

Resume: a `kill -9` at any moment loses at most the shard in progress, and its finished batches are in the
cache. On rerun, done shards are skipped and the interrupted one is rebuilt from the same batches (batches are
formed from the shard's segments minus those an earlier shard produced, so they are the same as in an
uninterrupted run: batch composition can change greedy output in the last bits of floating point).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from hala.atomic import read_json, write_json
from hala.errors import HalaError
from hala.models import resolve_model
from hala.prompts import get_template
from hala.records import (Reject, RejectLog, RecordWriter, describe_validation_error, detect_kind, iter_rows,
                          validate)
from hala.translate.cache import Cache, Entry, fingerprint
from hala.translate.config import TranslateConfig
from hala.translate.engines import GenSettings, make_engine
from hala.translate.engines.base import model_stamp
from hala.translate.guards import Guards
from hala.translate.segment import Document, split
from hala.translate.translator import Translator, assemble, build_prompt, prompt_identity


@dataclass
class Item:
    line: int
    kind: str   # chat, pair or table
    row: dict


# ------------------------------------------------------------------------------------------ record fields
def texts_of(item: Item, config: TranslateConfig) -> list[str]:
    """The strings of a record that get translated, in a fixed order (`put_texts` puts them back)."""
    if item.kind == "chat":
        return [m["content"] for m in item.row["messages"] if m["role"] not in config.skip_roles]
    if item.kind == "pair":
        return [item.row["src"]]
    out: list[str] = []
    for f in config.fields:
        v = item.row[f]
        out.extend(v if isinstance(v, list) else [v])
    return out


def put_texts(item: Item, translated: list[str], config: TranslateConfig, provenance: dict) -> dict:
    """The output record: translated strings in place, originals and provenance in `meta`."""
    row = copy.deepcopy(item.row)
    it = iter(translated)
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    if item.kind == "chat":
        meta["original"] = {"messages": copy.deepcopy(item.row["messages"])}
        for m in row["messages"]:
            if m["role"] not in config.skip_roles:
                m["content"] = next(it)
    elif item.kind == "pair":
        meta["original"] = {"tgt": item.row["tgt"], "tgt_lang": item.row["tgt_lang"]}
        row["tgt"], row["tgt_lang"] = next(it), config.tgt_lang
    else:
        meta["original"] = {f: item.row[f] for f in config.fields}
        for f in config.fields:
            row[f] = [next(it) for _ in row[f]] if isinstance(row[f], list) else next(it)
    meta["translation"] = provenance
    row["meta"] = meta
    return row


def read_items(config: TranslateConfig, rejects: RejectLog) -> Iterator[Item]:
    """Valid input records; unreadable or invalid ones go to `rejects` with file:line and reason."""
    source = config.input
    for line, obj in iter_rows(source, rejects):
        kind = config.kind if config.kind != "auto" else ("table" if config.fields else detect_kind(obj))
        try:
            if kind in ("chat", "pair"):
                obj = validate(obj, kind).model_dump(mode="json")
                if kind == "pair" and obj["src_lang"] != config.src_lang:
                    raise ValueError(f"pair src_lang '{obj['src_lang']}' is not the configured "
                                     f"'{config.src_lang}'")
            elif kind == "table":
                _check_fields(obj, config.fields)
            else:
                raise ValueError("missing field: expected 'messages' (chat sample) or 'src'/'tgt' (pair); "
                                 "for other tables name the columns with --fields")
        except ValidationError as e:
            rejects.add(Reject(source, line, f"invalid record: {describe_validation_error(e)}", obj))
            continue
        except ValueError as e:
            rejects.add(Reject(source, line, f"invalid record: {e}", obj))
            continue
        yield Item(line, kind, obj)


def _check_fields(obj: dict, fields: list[str]) -> None:
    if not fields:
        raise ValueError("a table needs --fields naming the columns to translate")
    for f in fields:
        if f not in obj:
            raise ValueError(f"missing field '{f}'")
        v = obj[f]
        if not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            raise ValueError(f"field '{f}' is not a string or a list of strings")


def count_rows(ref: str) -> int | None:
    """Rows in a JSONL input (cheap line count) for the progress bar's ETA; None for other formats."""
    path = Path(ref)
    if path.is_file() and path.suffix in {".jsonl", ".ndjson", ".json"}:
        with open(path, "rb") as fh:
            return sum(1 for raw in fh if raw.strip())
    return None


# ------------------------------------------------------------------------------------------ the run
class Run:
    def __init__(self, config: TranslateConfig, out_dir: Path):
        self.config, self.out_dir = config, out_dir
        self.shard_dir = out_dir / "shards"
        tpl = get_template(config.template)
        self.settings = GenSettings(max_new_tokens=config.max_new_tokens, stop=tpl.stop)
        self.provenance = {"engine": config.engine, "model": config.model, "template": config.template,
                           "src_lang": config.src_lang, "tgt_lang": config.tgt_lang,
                           "settings": self.settings.to_json(), "engine_options": config.engine_options,
                           "segment": config.segment}
        self._translator: Translator | None = None
        self._cache: Cache | None = None

    @cached_property
    def fingerprint(self) -> str:
        """Everything that shapes a segment's output: provenance, guards, the prompt templates and examples, and
        the model's files (so a retrained model in the same directory is not served old translations).
        Computed on first need: it resolves the model reference, which a dry run must not do."""
        c = self.config
        return fingerprint(**self.provenance, guards=c.guards.model_dump(),
                           prompt=prompt_identity(c.template, c.src_lang, c.tgt_lang),
                           model_files=model_identity(c.engine, c.model))

    def is_done(self, k: int) -> bool:
        """Shard `k` is written and was produced with the current fingerprint (else it is redone)."""
        path = self.shard_path(k, ".json")
        return path.exists() and read_json(path).get("fingerprint") == self.fingerprint

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache(self.out_dir / "cache.sqlite", self.fingerprint)
        return self._cache

    @property
    def translator(self) -> Translator:
        """Built on first need, so a finished or fully cached run never loads the model."""
        if self._translator is None:
            c = self.config
            engine = make_engine(c.engine, c.model, batch_size=c.batch_size, **c.engine_options)
            self._translator = Translator(engine, c.template, c.src_lang, c.tgt_lang, self.settings,
                                          Guards(c.tgt_lang, c.guards), self.cache)
        return self._translator

    def shard_path(self, k: int, suffix: str) -> Path:
        return self.shard_dir / f"part-{k:05d}{suffix}"

    def docs(self, items: list[Item]) -> list[list[Document]]:
        c = self.config
        return [[split(t, c.segment, c.max_segment_chars) for t in texts_of(it, c)] for it in items]

    def shard(self, k: int, items: list[Item], on_progress=lambda tokens, records: None) -> dict:
        """Translate one shard and write it; returns its stats (also written, last, as the done marker).
        `on_progress(tokens, records)` is called after each batch with the tokens it generated and the share of
        the shard's records it stands for (a fraction: records are written when the shard is), so the progress
        bar moves and has an ETA inside a shard too."""
        t0 = time.time()
        docs = self.docs(items)
        sources = list(dict.fromkeys(s.text for ds in docs for d in ds for s in d.segments))
        found = self.cache.get_many(sources)
        # Batches exclude what earlier shards produced, so a resumed shard rebuilds exactly the batches an
        # uninterrupted run would have sent (finished ones are all in the cache and skipped).
        todo = [s for s in sources if s not in found or found[s].shard >= k]
        tokens = generated = retried = fixed = 0
        chunk = self.config.batch_size * 4
        shown = 0.0
        for i in range(0, len(todo), chunk):
            batch = todo[i:i + chunk]
            share = len(items) * len(batch) / len(todo)
            shown += share
            if all(s in found for s in batch):
                on_progress(0, share)
                continue
            tr = self.translator
            before = tr.tokens, tr.retried, tr.fixed
            found.update(tr.run(batch, shard=k))
            tokens += tr.tokens - before[0]
            retried += tr.retried - before[1]
            fixed += tr.fixed - before[2]
            generated += len(batch)
            on_progress(tr.tokens - before[0], share)
        stats = self._write_shard(k, items, docs, found)
        on_progress(0, len(items) - shown)  # a shard with nothing left to generate
        stats.update(segments=sum(len(d.segments) for ds in docs for d in ds), unique_segments=len(sources),
                     generated_segments=generated, retried_segments=retried, fixed_by_retry=fixed, tokens=tokens,
                     seconds=round(time.time() - t0, 3))
        write_json(self.shard_path(k, ".json"), stats)
        return stats

    def _write_shard(self, k: int, items: list[Item], docs: list[list[Document]], found: dict[str, Entry]) -> dict:
        rejects = RejectLog(self.shard_path(k, ".rejects.jsonl"))
        with RecordWriter(self.shard_path(k, ".jsonl")) as out, rejects:
            for item, ds in zip(items, docs):
                results = [assemble(d, found) for d in ds]
                reason = next((r for _, r in results if r is not None), None)
                if reason is None:
                    out.write(put_texts(item, [t for t, _ in results], self.config, self.provenance))
                else:
                    rejects.add(Reject(self.config.input, item.line, reason, item.row))
            if rejects.total == 0:  # an empty rejects file still marks the shard as written
                self.shard_path(k, ".rejects.jsonl").write_text("")
        return {"shard": k, "records": len(items), "written": out.count, "rejected": dict(rejects.counts),
                "fingerprint": self.fingerprint}

    def dry_run(self, items: Iterator[Item], examples: int = 3) -> dict:
        """Segments and prompts, no model: what a run would send."""
        c = self.config
        n = segs = 0
        unique: set[str] = set()
        shown = []
        for item in items:
            docs = self.docs([item])[0]
            n += 1
            segs += sum(len(d.segments) for d in docs)
            unique.update(s.text for d in docs for s in d.segments)
            if len(shown) < examples:
                shown.append({"line": item.line, "segments": [
                    {"text": s.text, "protected": s.spans,
                     "prompt": _prompt_json(build_prompt(c.template, s.text, c.src_lang, c.tgt_lang))}
                    for d in docs for s in d.segments]})
        return {"dry_run": True, "records": n, "segments": segs, "unique_segments": len(unique),
                "examples": shown}


def model_identity(engine: str, model: str) -> str | None:
    """A stamp of the model's files for engines that load `model` locally; None for a served model (openai:
    `model` is a name and the server owns the weights)."""
    if engine == "openai":
        return None
    return model_stamp(resolve_model(model))


def _prompt_json(prompt) -> str | list:
    return list(prompt.messages) if prompt.is_chat else prompt.text


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while batch := list(islice(items, size)):
        yield batch


def _check_resume(config: TranslateConfig, out_dir: Path) -> None:
    path = out_dir / "run.json"
    if path.exists():
        old = read_json(path)
        if old != config.resume_key():
            changed = sorted(k for k in set(old) | set(config.resume_key())
                             if old.get(k) != config.resume_key().get(k))
            raise HalaError(f"{out_dir} holds a translate run with a different configuration "
                            f"(changed: {', '.join(changed)}); use a new output directory or the same settings")
    else:
        write_json(path, config.resume_key())


def run(config: TranslateConfig, out_dir: Path | str) -> dict:
    """Translate `config.input` into `out_dir` (resumable: rerun the same config to continue); returns the
    report (also written to out_dir/report.json). With `config.dry_run`, only segments and prompts."""
    if config.distributed == "ray" and not config.dry_run:  # on a Ray cluster (recipes and the CLI come here)
        from hala.translate.distributed import run_ray

        return run_ray(config, out_dir)
    from hala.progress import console, progress_bar

    out_dir = Path(out_dir)
    if not config.input.startswith("hf:") and not Path(config.input).exists():
        raise FileNotFoundError(f"{config.input}: no such file or directory")
    input_rejects = RejectLog(max_examples=10**9)  # kept in memory: written with the record rejects at the end
    items = read_items(config, input_rejects)
    if config.limit:
        items = islice(items, config.limit)
    r = Run(config, out_dir)
    if config.dry_run:
        return r.dry_run(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resume(config, out_dir)
    total = count_rows(config.input)
    if total is not None and config.limit:
        total = min(total, config.limit)
    t0 = time.time()
    stats: list[dict] = []
    tokens_now = 0
    with progress_bar(total, "translate", "records") as bar:

        def on_progress(tokens: int, records: float) -> None:
            nonlocal tokens_now
            tokens_now += tokens
            bar.advance(records, info=f"{tokens_now / max(time.time() - t0, 1e-9):.1f} tok/s")

        for k, batch in enumerate(_batches(items, config.shard_size)):
            if r.is_done(k):
                stats.append(read_json(r.shard_path(k, ".json")))
                on_progress(0, len(batch))
            else:
                if r.shard_path(k, ".json").exists():
                    console.print(f"translate: shard {k} was made with other model files or prompts; redoing it")
                stats.append(r.shard(k, batch, on_progress))
    return _finish(r, stats, input_rejects, time.time() - t0)


def _finish(r: Run, stats: list[dict], input_rejects: RejectLog, seconds: float) -> dict:
    """Join the shards into the final output and rejects files and write the report."""
    out_dir, c = r.out_dir, r.config
    with RecordWriter(out_dir / c.output) as out:
        for s in stats:
            with open(r.shard_path(s["shard"], ".jsonl"), encoding="utf-8") as fh:
                for line in fh:
                    out.write(json.loads(line))
    rejects_path = out_dir / "rejects.jsonl"
    reasons: dict[str, int] = {}
    with RejectLog(rejects_path) as log:
        for rej in input_rejects.examples:
            log.add(rej)
        for s in stats:
            with open(r.shard_path(s["shard"], ".rejects.jsonl"), encoding="utf-8") as fh:
                for line in fh:
                    d = json.loads(line)
                    log.add(Reject(d["source"], d["line"], d["reason"], d["raw"]))
        reasons = dict(log.counts)
        if log.total == 0:
            rejects_path.write_text("")
    tokens = sum(s["tokens"] for s in stats)
    work = sum(s["seconds"] for s in stats)
    records = sum(s["records"] for s in stats)
    report = {
        "records": records, "translated": out.count, "rejected": sum(reasons.values()) - input_rejects.total,
        "input_rejects": input_rejects.total, "rejects_by_reason": reasons,
        "segments": sum(s["segments"] for s in stats), "unique_segments": sum(s["unique_segments"] for s in stats),
        "generated_segments": sum(s["generated_segments"] for s in stats),
        # .get: shards written by the Ray path (distributed.py) do not count retries
        "retried_segments": sum(s.get("retried_segments", 0) for s in stats),
        "fixed_by_retry": sum(s.get("fixed_by_retry", 0) for s in stats), "tokens": tokens,
        "seconds": round(work, 2), "wall_seconds_this_run": round(seconds, 2),
        "tokens_per_s": round(tokens / work, 2) if work else None,
        "records_per_s": round(records / work, 3) if work else None,
        "shards": len(stats), "output": str(out_dir / c.output), "rejects": str(rejects_path),
        "provenance": r.provenance,
    }
    write_json(out_dir / "report.json", report)
    return report
