"""`run(FilterConfig, out_dir)`: stream every input through the rule chain into kept / rejects / report files.

Outputs (all atomic):
    kept.jsonl      pairs that passed every rule (pair schema, unchanged)
    rejects.jsonl   one line per rejected pair: {"source", "line", "reason": "RULE: detail", "raw": pair};
                    unreadable input lines are there too ("invalid JSON: ...", "not UTF-8: ...")
    filter_report.json  counts per rule (they sum to input_pairs − kept), timings, notes, examples
    filter_report.md    the same for people
(named for the stage: a translate stage's report.json and the report stage's report.md are other reports)
The stage is not resumable: at tens of thousands of pairs per second a rerun is cheaper than a checkpoint.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

from hala.atomic import write_json, write_text
from hala.filters.chain import Chain
from hala.filters.config import FilterConfig
from hala.filters.report import build_report, render_markdown
from hala.records import PairRow, RecordWriter, Reject, RejectLog
from hala.sources.pairs import iter_pairs

REPORT_JSON, REPORT_MD = "filter_report.json", "filter_report.md"


def _batches(items: Iterator[PairRow], size: int) -> Iterator[list[PairRow]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _all_inputs(config: FilterConfig, rejects: RejectLog, files: Counter) -> Iterator[PairRow]:
    for ref in config.inputs:
        yield from iter_pairs(ref, config.src_lang, config.tgt_lang, rejects, files)


def run(config: FilterConfig, out_dir: Path) -> dict:
    from hala.progress import progress_bar

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chain = Chain.from_specs(config.rules, config.examples_per_rule)
    kept_path = out_dir / f"kept.{config.output_format}"
    rejects = RejectLog(out_dir / "rejects.jsonl", max_examples=0, keep_empty=True)
    files: Counter = Counter()
    pairs_in = kept = 0
    t0 = time.perf_counter()
    bar_ctx = progress_bar(None, "filter", "pairs") if config.progress else contextlib.nullcontext()
    with RecordWriter(kept_path) as writer, rejects, bar_ctx as bar:
        for batch in _batches(_all_inputs(config, rejects, files), config.batch_size):
            pairs_in += len(batch)
            survivors, failed = chain.apply(batch)
            for pair, _, _ in survivors:
                writer.write(pair)
            kept += len(survivors)
            for (pair, where, line), rule, detail in failed:
                rejects.add(Reject(where, line, f"{rule}: {detail}", pair))
            if bar is not None:
                bar.advance(len(batch), info=f"kept {kept}")
    seconds = time.perf_counter() - t0
    read_errors = rejects.total - chain.rejected
    outputs = {
        "kept": kept_path.name,
        "rejects": "rejects.jsonl",
        "report": REPORT_JSON,
        "report_md": REPORT_MD,
    }
    report = build_report(chain, config.inputs, pairs_in, kept, read_errors, dict(files), seconds, outputs)
    write_json(out_dir / REPORT_JSON, report)
    write_text(out_dir / REPORT_MD, render_markdown(report))
    return report
