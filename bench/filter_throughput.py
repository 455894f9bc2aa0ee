"""Throughput (pairs/s) and peak RSS of the default filter chain, on one CPU core.

    python bench/filter_throughput.py                 # 1M generated pairs + the real ../shared/data sets
    python bench/filter_throughput.py --pairs 200000  # smaller

Variants, each in its own process pinned to one core (so peak RSS and timings do not mix):
  stage        `hala.filters.run` end to end: read JSONL -> default chain -> write kept/rejects/report
  chain        the default chain alone on in-memory pair dicts (no JSON, no files)
  no-langid    the chain without language ID (what the cheap rules cost)
  langid-naive language ID with py3langid's own per-text `classify` (the baseline BatchLangId replaces),
               on a slice of the pairs; compared with the `langid` rule's time in `chain`
Generated pairs are concatenations of 1-3 real sentence pairs (Tatoeba when ../shared/data is present, else a
small built-in list), with ~12% defects injected (empty, untranslated, wrong script, number mismatch, duplicate)
so every rule's reject path runs. RSS is sampled every 100k pairs to show it stays flat (the duplicate rule's
8-byte digests are the only state that grows). Prints a table and writes bench/results/filter_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FALLBACK = [
    ("The weather is nice today.", "الطقس جميل اليوم."),
    ("Where is the nearest hospital?", "أين أقرب مستشفى؟"),
    ("Please save your work before closing the program.", "يرجى حفظ عملك قبل إغلاق البرنامج."),
    ("I have been learning Arabic for two years.", "أتعلم العربية منذ سنتين."),
    ("The meeting starts at ten in the morning.", "يبدأ الاجتماع في العاشرة صباحاً."),
    ("She reads a book every week.", "تقرأ كتاباً كل أسبوع."),
    ("We need more time to finish the project.", "نحتاج إلى مزيد من الوقت لإنهاء المشروع."),
    ("The children are playing in the garden.", "الأطفال يلعبون في الحديقة."),
]


def seed_pairs() -> list[tuple[str, str]]:
    eng, ara = (
        SHARED / "tatoeba-ara-eng" / "tatoeba-test-v2021-08-07.eng",
        SHARED / "tatoeba-ara-eng" / "tatoeba-test-v2021-08-07.ara",
    )
    if eng.is_file() and ara.is_file():
        with open(eng, encoding="utf-8") as fe, open(ara, encoding="utf-8") as fa:
            return [(e.rstrip("\n"), a.rstrip("\n")) for e, a in zip(fe, fa)]
    return FALLBACK


def generate(n: int, seed: int = 0):
    """`n` pair dicts, deterministic; ~88% plausible pairs, ~12% defects of the kinds the chain rejects."""
    rng = random.Random(seed)
    seeds = seed_pairs()
    recent: list[dict] = []
    for i in range(n):
        parts = rng.sample(seeds, rng.choice((1, 2, 2, 3)))
        src, tgt = " ".join(p[0] for p in parts), " ".join(p[1] for p in parts)
        roll = rng.random()
        if roll < 0.02:
            tgt = ""
        elif roll < 0.04:
            tgt = src
        elif roll < 0.06:
            tgt = parts[0][0].upper() + " " + src  # English on the Arabic side
        elif roll < 0.08:
            src, tgt = f"{src} ({i})", f"{tgt} ({i + 1})"
        elif roll < 0.12 and recent:
            yield dict(rng.choice(recent), id=f"gen-{i}")
            continue
        pair = {
            "id": f"gen-{i}",
            "src": src,
            "tgt": tgt,
            "src_lang": "en",
            "tgt_lang": "ar",
            "meta": {"source": "generated"},
        }
        if len(recent) < 1000:
            recent.append(pair)
        yield pair


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------------ workers
def worker(variant: str, n: int, data_file: str | None) -> dict:
    import itertools

    from hala.filters import FilterConfig, default_rules, run
    from hala.filters.chain import Chain

    base_rss = rss_mb()
    c0 = time.process_time()
    if variant == "stage":
        t0 = time.perf_counter()
        report = run(FilterConfig(inputs=[data_file], progress=False), Path(data_file).parent / "out-stage")
        return {
            "pairs": report["input_pairs"],
            "kept": report["kept"],
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,
            "rejected_by_rule": report["rejected_by_rule"],
            "rss_start_mb": base_rss,
            "rule_seconds": {r["name"]: r["seconds"] for r in report["rules"]},
        }
    if variant == "real":
        inputs = [str(SHARED / "l10n-en-ar"), str(SHARED / "tatoeba-ara-eng")]
        t0 = time.perf_counter()
        report = run(FilterConfig(inputs=inputs, progress=False), Path(data_file).parent / "out-real")
        return {
            "pairs": report["input_pairs"],
            "kept": report["kept"],
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,
            "rejected_by_rule": report["rejected_by_rule"],
            "rss_start_mb": base_rss,
            "rule_seconds": {r["name"]: r["seconds"] for r in report["rules"]},
        }
    rules = default_rules()
    if variant == "no-langid":
        rules = [r for r in rules if (r if isinstance(r, str) else next(iter(r))) != "langid"]
    if variant == "langid-naive":
        return naive_langid(n)
    chain = Chain.from_specs(rules)
    pairs = generate(n)
    kept, samples, done, filter_cpu = 0, [], 0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    while batch := [(p, "gen", None) for p in itertools.islice(pairs, 2048)]:
        c1 = time.process_time()
        survivors, _ = chain.apply(batch)
        filter_cpu += time.process_time() - c1
        kept += len(survivors)
        done += len(batch)
        if done % 100_000 < 2048:
            samples.append((done, round(rss_mb(), 1)))
    return {
        "pairs": done,
        "kept": kept,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": filter_cpu,
        "rss_start_mb": base_rss,
        "rss_samples": samples,
        "rule_seconds": {s.name: round(s.seconds, 2) for s in chain.stats},
        "rejected_by_rule": {s.name: s.rejected for s in chain.stats},
        "note": "seconds include generating the pairs; cpu_seconds count only chain.apply",
    }


def naive_langid(n: int) -> dict:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    texts = [t for p in generate(n) for t in (p["src"], p["tgt"]) if len(t.strip()) >= 20]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in texts:
        ident.classify(t)
    naive, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
    from hala.filters.langid import BatchLangId

    batch = BatchLangId()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), 2048):
        batch.classify(texts[i : i + 2048])
    return {
        "pairs": n,
        "texts": len(texts),
        "seconds": naive,
        "cpu_seconds": naive_cpu,
        "batch_seconds": time.perf_counter() - t0,
        "batch_cpu_seconds": time.process_time() - c0,
    }


def run_worker(variant: str, n: int, data_file: str | None) -> dict:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, __file__, "--worker", variant, "--pairs", str(n)] + (
        ["--data", data_file] if data_file else []
    )
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--naive-pairs", type=int, default=20_000, help="pairs for the slow langid-naive variant")
    ap.add_argument("--workdir", default="/tmp/hala-bench-filter")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
        import torch

        torch.set_num_threads(1)
        result = worker(args.worker, args.pairs, args.data)
        result.update(variant=args.worker, peak_rss_mb=round(peak_rss_mb(), 1))
        print(json.dumps(result))
        return

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "generated.jsonl"
    print(f"writing {args.pairs} generated pairs to {data} ...", flush=True)
    with open(data, "w", encoding="utf-8") as fh:
        for p in generate(args.pairs):
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    plan = [("stage", args.pairs), ("chain", args.pairs), ("no-langid", args.pairs), ("langid-naive", args.naive_pairs)]
    if SHARED.is_dir():
        plan.append(("real", 0))
    results = []
    for variant, n in plan:
        print(f"running {variant} ...", flush=True)
        r = run_worker(variant, n, str(data))
        r["pairs_per_second"] = round(r["pairs"] / r["seconds"], 1)
        r["pairs_per_cpu_second"] = round(r["pairs"] / r["cpu_seconds"], 1)
        results.append(r)
    print(
        f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time suffers when it "
        f"exceeds the core count; CPU time is what one free core would take)"
    )
    print(
        f"{'variant':<13} {'pairs':>9} {'kept':>9} {'wall s':>7} {'pairs/s':>8} {'cpu s':>7} {'pairs/cpu-s':>11} "
        f"{'peak RSS MB':>11}"
    )
    for r in results:
        print(
            f"{r['variant']:<13} {r['pairs']:>9} {r.get('kept', '-'):>9} {r['seconds']:>7.1f} "
            f"{r['pairs_per_second']:>8.0f} {r['cpu_seconds']:>7.1f} {r['pairs_per_cpu_second']:>11.0f} "
            f"{r['peak_rss_mb']:>11.0f}"
        )
    chain = next(r for r in results if r["variant"] == "chain")
    naive = next(r for r in results if r["variant"] == "langid-naive")
    print(
        f"\nlangid on {naive['texts']} texts (CPU s): py3langid.classify {naive['cpu_seconds']:.2f}, BatchLangId "
        f"{naive['batch_cpu_seconds']:.2f} -> {naive['cpu_seconds'] / naive['batch_cpu_seconds']:.1f}x"
    )
    print(f"RSS over the chain run (pairs, MB): {chain['rss_samples']}")
    print(f"seconds per rule in the chain run: {chain['rule_seconds']}")
    out = ROOT / "bench" / "results" / "filter_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pairs": args.pairs, "cpu_cores": 1, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
