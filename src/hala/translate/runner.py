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

One runner, two executors. `Run` does everything but generate: it reads the input in shards, plans each
shard's engine calls (`plan`), commits each call's results to the cache (`record`), writes a shard once its
calls and those of every earlier shard are in (`write`), and joins the shards (`finish`). An executor only runs
calls: `LocalExecutor` in this process, `distributed.RayExecutor` on the actors of a Ray cluster. `Run.execute`
drives either one with the same loop, so the files they produce are the same by construction.

Continuous feeding: the loop keeps up to `executor.capacity` calls in flight, across shard boundaries (the
next shard is planned while the previous one's calls run), so an engine that takes concurrent calls (vllm,
openai) always has work queued; shards are still written in order. Engines that take one call at a time
(ct2, hf) get a window of one: exactly the sequence of calls of a plain loop.

Resume: a `kill -9` at any moment loses at most the shards in progress, and their finished calls are in the
cache. On rerun, done shards are skipped and the others are planned again from the same segments: a call is the
list of a shard's segments minus those an earlier shard produces, cut every `call_size` segments, so the calls
are the same as in an uninterrupted run (batch composition can change greedy output in the last bits of
floating point); a call whose segments are all cached is not run again.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Protocol

from pydantic import ValidationError

from hala.atomic import atomic_path, read_json, write_json
from hala.errors import HalaError
from hala.models import resolve_model
from hala.records import RecordWriter, Reject, RejectLog, describe_validation_error, detect_kind, iter_rows, validate
from hala.resume import resumable
from hala.translate.cache import Cache, Entry, fingerprint
from hala.translate.calls import Call, CallResult, build_engine, build_fallback, calls_in_flight, gen_settings, run_call
from hala.translate.config import TranslateConfig
from hala.translate.engines.base import model_stamp
from hala.translate.segment import Document, split
from hala.translate.translator import assemble, build_prompt, prompt_identity

# The shard stats that are summed into the report (the retry ladder's nested counters are summed too).
SUMMED = ("segments", "unique_segments", "generated_segments", "retried_segments", "fixed_by_retry", "tokens")


@dataclass
class Item:
    line: int
    kind: str  # chat, pair or table
    row: dict


@dataclass
class ShardPlan:
    """A shard being translated: its records, their segmented texts, and its calls still to run."""

    k: int
    items: list[Item]
    docs: list[list[Document]]
    sources: list[str]  # distinct model-facing segments of the shard
    owned: list[str]  # ... that this shard's calls generate (not an earlier shard's)
    calls: list[Call]
    outstanding: int = 0
    started: float = field(default_factory=time.perf_counter)
    stats: Counter = field(default_factory=Counter)
    ladder: dict = field(default_factory=dict)
    shown: float = 0.0  # records of progress already reported


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
        meta["original"] = {"messages": item.row["messages"]}  # item.row is not used again: no copy needed
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
                    raise ValueError(f"pair src_lang '{obj['src_lang']}' is not the configured '{config.src_lang}'")
            elif kind == "table":
                _check_fields(obj, config.fields)
            else:
                raise ValueError(
                    "missing field: expected 'messages' (chat sample) or 'src'/'tgt' (pair); "
                    "for other tables name the columns with --fields"
                )
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


def add_counts(total: dict, part: dict) -> dict:
    """Add `part`'s numbers into `total`, nested dicts of numbers too (the retry ladder's counters)."""
    for k, v in part.items():
        if isinstance(v, dict):
            add_counts(total.setdefault(k, {}), v)
        elif isinstance(v, (int, float)):
            total[k] = total.get(k, 0) + v
    return total


# ------------------------------------------------------------------------------------------ executors
class Executor(Protocol):
    """Runs planned calls; `Run.execute` keeps at most `capacity` of them submitted and not yet returned."""

    capacity: int

    def submit(self, call: Call) -> None: ...

    def wait(self) -> list[CallResult]:
        """Block until at least one submitted call is done; return every finished one."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Runs calls in this process. The engine is built on the first call (a finished or fully cached run never
    loads the model). With a window of one, a call runs in `wait`, in this thread; with more (engines that take
    concurrent calls), each call runs in a thread of its own and they share the engine."""

    def __init__(self, config: TranslateConfig):
        self.config = config
        self.queued: deque[Call] = deque()
        self.futures: set[Future] = set()
        self.pool: ThreadPoolExecutor | None = None

    @cached_property
    def engine(self):
        return build_engine(self.config)

    @cached_property
    def fallback(self):
        return build_fallback(self.config)

    @property
    def capacity(self) -> int:
        # Known once the engine exists: the first call runs alone, then the window opens.
        return calls_in_flight(self.config, self.engine) if "engine" in self.__dict__ else 1

    def submit(self, call: Call) -> None:
        if self.capacity == 1:
            self.queued.append(call)
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.capacity, thread_name_prefix="translate-call")
        self.futures.add(self.pool.submit(run_call, self.config, self.engine, call, self.fallback))

    def wait(self) -> list[CallResult]:
        if self.queued:
            return [run_call(self.config, self.engine, self.queued.popleft(), self.fallback)]
        done, self.futures = wait(self.futures, return_when=FIRST_COMPLETED)
        return [f.result() for f in done]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------ the runner
class Run:
    def __init__(self, config: TranslateConfig, out_dir: Path | str):
        self.config, self.out_dir = config, Path(out_dir)
        self.shard_dir = self.out_dir / "shards"
        self.settings = gen_settings(config)
        self.provenance = {
            "engine": config.engine,
            "model": config.model,
            "template": config.template,
            "src_lang": config.src_lang,
            "tgt_lang": config.tgt_lang,
            "settings": self.settings.to_json(),
            "engine_options": config.engine_options,
            "segment": config.segment,
        }
        if config.fallback is not None:
            self.provenance["fallback"] = config.fallback.model_dump(mode="json")
        self._cache: Cache | None = None
        self.owner: dict[str, int] = {}  # segment -> the pending shard whose call generates it
        self.calls = 0  # calls planned so far (their index)
        self.by_worker: Counter = Counter()  # calls run per worker (host:pid)

    # ------------------------------------------------------------------ identity and files
    @cached_property
    def fingerprint(self) -> str:
        """Everything that shapes a segment's output: provenance, guards, the prompt templates and examples, and
        the model's files (so a retrained model in the same directory is not served old translations).
        Computed on first need: it resolves the model reference, which a dry run must not do."""
        c = self.config
        fb = c.fallback
        return fingerprint(
            **self.provenance,
            guards=c.guards.model_dump(),
            prompt=prompt_identity(c.template, c.src_lang, c.tgt_lang),
            model_files=model_identity(c.engine, c.model),
            **(
                {
                    "fallback_files": model_identity(fb.engine, fb.model),
                    "fallback_prompt": prompt_identity(fb.template, c.src_lang, c.tgt_lang),
                }
                if fb
                else {}
            ),
        )

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = Cache(self.out_dir / "cache.sqlite", self.fingerprint)
        return self._cache

    def shard_path(self, k: int, suffix: str) -> Path:
        return self.shard_dir / f"part-{k:05d}{suffix}"

    def is_done(self, k: int) -> bool:
        """Shard `k` is written and was produced with the current fingerprint (else it is redone)."""
        return resumable(self.shard_path(k, ".json"), self.fingerprint, field="fingerprint")

    def check_resume(self) -> None:
        """Refuse an out_dir that holds a run with other settings; record this run's settings in a new one."""
        path, key = self.out_dir / "run.json", self.config.resume_key()
        if not resumable(path, key, field=None, refuse="a translate run"):  # other settings: SettingsChanged
            write_json(path, key)

    # ------------------------------------------------------------------ the steps
    def shards(self, rejects: RejectLog) -> Iterator[tuple[int, list[Item]]]:
        """The input's valid records (`limit` applied) in shards of `shard_size`; invalid ones go to `rejects`."""
        items = read_items(self.config, rejects)
        if self.config.limit:
            items = islice(items, self.config.limit)
        k = 0
        while batch := list(islice(items, self.config.shard_size)):
            yield k, batch
            k += 1

    def docs(self, items: list[Item]) -> list[list[Document]]:
        c = self.config
        return [[split(t, c.segment, c.max_segment_chars) for t in texts_of(it, c)] for it in items]

    def plan(self, k: int, items: list[Item]) -> ShardPlan:
        """Segment shard `k` and plan its engine calls. A segment is generated by the first shard that holds it
        (a later shard reads it from the cache once that shard is written); calls are cut from the shard's
        segments minus those, so they are the same in an uninterrupted and a resumed run, and a call whose
        segments are all cached already ran before an interruption and is left out."""
        t0 = time.perf_counter()
        docs = self.docs(items)
        sources = list(dict.fromkeys(s.text for ds in docs for d in ds for s in d.segments))
        found = self.cache.get_many(sources)
        owned = [s for s in sources if (s not in found or found[s].shard >= k) and self.owner.setdefault(s, k) == k]
        n = self.config.call_size
        calls = []
        for i in range(0, len(owned), n):
            batch = owned[i : i + n]
            if not all(s in found for s in batch):
                calls.append(Call(self.calls, k, batch))
                self.calls += 1
        plan = ShardPlan(k, items, docs, sources, owned, calls, outstanding=len(calls))
        plan.stats["seconds"] += time.perf_counter() - t0
        return plan

    def record(self, plan: ShardPlan, call: Call, result: CallResult) -> float:
        """Commit one call's results to the cache (one transaction) and count them; returns the share of the
        shard's records the call stands for (for the progress bar)."""
        self.cache.put_many(
            {s: Entry(o, reason, int(t), call.shard) for s, (o, reason, t) in zip(call.sources, result.entries)}
        )
        plan.outstanding -= 1
        st = plan.stats
        st["generated_segments"] += len(call.sources)
        st["tokens"] += result.tokens
        st["retried_segments"] += result.retried
        st["fixed_by_retry"] += result.fixed
        st["seconds"] += result.seconds
        add_counts(plan.ladder, result.ladder)
        self.by_worker[result.worker] += 1
        share = len(plan.items) * len(call.sources) / len(plan.owned)
        plan.shown += share
        return share

    def write(self, plan: ShardPlan) -> dict:
        """Write shard `plan.k` (records, rejects, then its stats as the done marker); every call it depends on
        must be in the cache. Returns the stats."""
        t0 = time.perf_counter()
        k, items = plan.k, plan.items
        found = self.cache.get_many(plan.sources)
        # keep_empty: an empty rejects file, too, marks the shard as written
        rejects = RejectLog(self.shard_path(k, ".rejects.jsonl"), keep_empty=True)
        with RecordWriter(self.shard_path(k, ".jsonl")) as out, rejects:
            for item, ds in zip(items, plan.docs):
                results = [assemble(d, found, self.config.guards.skip) for d in ds]
                reason = next((r for _, r in results if r is not None), None)
                if reason is None:
                    out.write(put_texts(item, [t for t, _ in results], self.config, self.provenance))
                else:
                    rejects.add(Reject(self.config.input, item.line, reason, item.row))
        for s in plan.owned:  # in the cache now: later shards find them there
            if self.owner.get(s) == k:
                del self.owner[s]
        st = plan.stats
        stats = {
            "shard": k,
            "records": len(items),
            "written": out.count,
            "rejected": dict(rejects.counts),
            "fingerprint": self.fingerprint,
            "segments": sum(len(d.segments) for ds in plan.docs for d in ds),
            "unique_segments": len(plan.sources),
            "generated_segments": st["generated_segments"],
            "retried_segments": st["retried_segments"],
            "fixed_by_retry": st["fixed_by_retry"],
            "tokens": st["tokens"],
            **plan.ladder,
            "seconds": round(st["seconds"] + time.perf_counter() - t0, 3),
        }
        write_json(self.shard_path(k, ".json"), stats)
        return stats

    def execute(
        self,
        executor: Executor,
        shards: Iterator[tuple[int, list[Item]]],
        on_progress: Callable[[int, float], None] = lambda tokens, records: None,
    ) -> list[dict]:
        """Plan, run and write every shard with `executor`, keeping up to `executor.capacity` calls in flight
        across shards; returns the shard stats in order. `on_progress(tokens, records)` is called after each
        call (records: the share of its shard it stands for) and after each shard."""
        from hala.progress import console

        pending: deque[ShardPlan | dict] = deque()  # in shard order; a dict is a shard done before this run
        by_index: dict[int, tuple[ShardPlan, Call]] = {}
        stats: list[dict] = []

        def collect() -> None:
            for result in executor.wait():
                plan, call = by_index.pop(result.index)
                on_progress(result.tokens, self.record(plan, call, result))

        def write_ready() -> None:
            while pending and (isinstance(pending[0], dict) or pending[0].outstanding == 0):
                head = pending.popleft()
                if isinstance(head, dict):
                    stats.append(head)
                    on_progress(0, head["records"])
                else:
                    stats.append(self.write(head))
                    on_progress(0, len(head.items) - head.shown)

        try:
            for k, items in shards:
                if self.is_done(k):
                    pending.append(read_json(self.shard_path(k, ".json")))
                else:
                    if self.shard_path(k, ".json").exists():
                        console.print(f"translate: shard {k} was made with other model files or prompts; redoing it")
                    plan = self.plan(k, items)
                    pending.append(plan)
                    for call in plan.calls:
                        while len(by_index) >= executor.capacity:
                            collect()
                            write_ready()
                        by_index[call.index] = (plan, call)
                        executor.submit(call)
                write_ready()
                # Shards waiting behind one in progress are held in memory: bound them by the window.
                while len(pending) > executor.capacity + 1 and by_index:
                    collect()
                    write_ready()
            while by_index:
                collect()
                write_ready()
            write_ready()
        finally:
            executor.close()
        return stats

    def finish(self, stats: list[dict], input_rejects: RejectLog, seconds: float) -> dict:
        """Join the shards into the final output and rejects files and write the report."""
        out_dir, c = self.out_dir, self.config
        translated = self._join([self.shard_path(s["shard"], ".jsonl") for s in stats], out_dir / c.output)
        rejects_path = out_dir / "rejects.jsonl"
        with RejectLog(rejects_path, keep_empty=True) as log:
            for rej in input_rejects.examples:
                log.add(rej)
            for s in stats:
                with open(self.shard_path(s["shard"], ".rejects.jsonl"), encoding="utf-8") as fh:
                    for line in fh:
                        d = json.loads(line)
                        log.add(Reject(d["source"], d["line"], d["reason"], d["raw"]))
            reasons = dict(log.counts)
        totals: dict = {}
        for s in stats:  # `.get`-style summing: shards written by older versions lack newer counters
            add_counts(
                totals,
                {
                    k: v
                    for k, v in s.items()
                    if k not in ("shard", "records", "written", "rejected", "seconds", "fingerprint")
                },
            )
        tokens = totals.get("tokens", 0)
        work = sum(s["seconds"] for s in stats)
        records = sum(s["records"] for s in stats)
        report = {
            "records": records,
            "translated": translated,
            "rejected": sum(reasons.values()) - input_rejects.total,
            "input_rejects": input_rejects.total,
            "rejects_by_reason": reasons,
            **{k: totals.get(k, 0) for k in SUMMED},
            **{k: v for k, v in totals.items() if k not in SUMMED},
            "seconds": round(work, 2),
            "wall_seconds_this_run": round(seconds, 2),
            "tokens_per_s": round(tokens / work, 2) if work else None,
            "records_per_s": round(records / work, 3) if work else None,
            "shards": len(stats),
            "output": str(out_dir / c.output),
            "rejects": str(rejects_path),
            "provenance": self.provenance,
        }
        write_json(out_dir / "report.json", report)
        return report

    @staticmethod
    def _join(parts: list[Path], target: Path) -> int:
        """Concatenate shard files into `target` (atomically); returns the records written. Plain JSONL is copied
        byte for byte (the shards are JSONL written by the same writer); other formats are re-encoded."""
        if target.suffix == ".jsonl":
            n = 0
            with atomic_path(target) as tmp, open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as fh:
                        for line in fh:
                            out.write(line)
                            n += 1
            return n
        with RecordWriter(target) as out:
            for part in parts:
                with open(part, encoding="utf-8") as fh:
                    for line in fh:
                        out.write(json.loads(line))
        return out.count

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
                shown.append(
                    {
                        "line": item.line,
                        "segments": [
                            {
                                "text": s.text,
                                "protected": s.spans,
                                "prompt": _prompt_json(build_prompt(c.template, s.text, c.src_lang, c.tgt_lang)),
                            }
                            for d in docs
                            for s in d.segments
                        ],
                    }
                )
        return {"dry_run": True, "records": n, "segments": segs, "unique_segments": len(unique), "examples": shown}


def model_identity(engine: str, model: str) -> str | None:
    """A stamp of the model's files for engines that load `model` locally; None for a served model (openai:
    `model` is a name and the server owns the weights) and for the model-less echo engine."""
    if engine in ("openai", "echo"):
        return None
    return model_stamp(resolve_model(model))


def _prompt_json(prompt) -> str | list:
    return list(prompt.messages) if prompt.is_chat else prompt.text


# ------------------------------------------------------------------------------------------ the stage
def run(config: TranslateConfig, out_dir: Path | str) -> dict:
    """Translate `config.input` into `out_dir` (resumable: rerun the same config to continue); returns the
    report (also written to out_dir/report.json). With `config.dry_run`, only segments and prompts. With
    `config.distributed == "ray"` the engine calls run on a Ray cluster (distributed.RayExecutor)."""
    from hala.progress import progress_bar

    out_dir = Path(out_dir)
    if not config.input.startswith("hf:") and not Path(config.input).exists():
        raise HalaError(f"{config.input}: no such file or directory")
    r = Run(config, out_dir)
    if config.dry_run:
        return r.dry_run(item for _, shard in r.shards(RejectLog(max_examples=0)) for item in shard)
    out_dir.mkdir(parents=True, exist_ok=True)
    r.check_resume()
    if config.distributed == "ray":
        from hala.translate.distributed import RayExecutor

        executor: Executor = RayExecutor(config)
    else:
        executor = LocalExecutor(config)
    input_rejects = RejectLog(max_examples=10**9)  # kept in memory: written with the record rejects at the end
    total = count_rows(config.input)
    if total is not None and config.limit:
        total = min(total, config.limit)
    t0 = time.time()
    tokens_now = 0
    with progress_bar(total, "translate" + (" (ray)" if config.distributed == "ray" else ""), "records") as bar:

        def on_progress(tokens: int, records: float) -> None:
            nonlocal tokens_now
            tokens_now += tokens
            bar.advance(records, info=f"{tokens_now / max(time.time() - t0, 1e-9):.1f} tok/s")

        stats = r.execute(executor, r.shards(input_rejects), on_progress)
    wall = time.time() - t0
    report = r.finish(stats, input_rejects, wall)
    report["executor"] = {
        "kind": config.distributed if config.distributed == "ray" else "local",
        "calls": r.calls,
        "calls_by_worker": dict(r.by_worker),
        "tokens_this_run": tokens_now,
        "tokens_per_s_wall": round(tokens_now / wall, 2) if wall else None,
        **getattr(executor, "info", {}),
    }
    if config.distributed == "ray":
        report["ray"] = report["executor"]  # the name earlier reports used
    write_json(out_dir / "report.json", report)
    return report
