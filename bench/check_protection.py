"""Check a `hala translate` output: every protected span of every translated record intact, no record lost or
duplicated. Prints counts; exits 1 on any broken span or lost/duplicated record.

    python bench/check_protection.py INPUT.jsonl OUT_DIR [--json bench/results/protection.json]

Spans are found twice: with hala's own extractor (counts per kind: code, math, calculator annotations, answer
lines, equations, URLs, ...) and with the independent simple rules of the stage's own post-check
(`hala.translate.guards.INDEPENDENT`: fenced code blocks, URLs, $-math, `<<..>>` annotations, `####` answer lines),
so a bug in the extractor cannot hide a broken span. Every number of a source text must be in its translation
too (`guards.missing_numbers`; Eastern Arabic digits count as the same number).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from hala.translate.guards import INDEPENDENT, missing_numbers, numbers
from hala.translate.segment import protected_spans


def texts(record: dict) -> list[str]:
    if "messages" in record:
        return [m["content"] for m in record["messages"]]
    return [record["src"]] if "src" in record else []


def translated_texts(record: dict) -> list[str]:
    if "messages" in record:
        return [m["content"] for m in record["messages"]]
    return [record["tgt"]]


def check(inp: Path, out_dir: Path) -> dict:
    src = {r["id"]: r for r in map(json.loads, inp.read_text(encoding="utf-8").splitlines()) if r}
    out_lines = (out_dir / "translated.jsonl").read_text(encoding="utf-8").splitlines()
    out = [json.loads(x) for x in out_lines]
    rejected = [json.loads(x) for x in (out_dir / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in out] + [r["raw"]["id"] for r in rejected if isinstance(r.get("raw"), dict)]
    counts = Counter(ids)
    spans, intact, independent, independent_ok = Counter(), Counter(), Counter(), Counter()
    broken, changed, unchanged, nums, nums_ok = [], 0, 0, 0, 0
    for rec in out:
        for before, after in zip(texts(src[rec["id"]]), translated_texts(rec)):
            changed += before != after
            unchanged += before == after
            for sp in protected_spans(before):
                spans[sp.kind] += 1
                ok = after.count(sp.text) >= before.count(sp.text)
                intact[sp.kind] += ok
                if not ok:
                    broken.append({"id": rec["id"], "kind": sp.kind, "span": sp.text})
            for kind, rx in INDEPENDENT.items():
                for m in rx.findall(before):
                    independent[kind] += 1
                    ok = after.count(m) >= before.count(m)
                    independent_ok[kind] += ok
                    if not ok:
                        broken.append({"id": rec["id"], "kind": f"independent:{kind}", "span": m})
            lost = missing_numbers(before, after)
            nums += sum(numbers(before).values())
            nums_ok += sum(numbers(before).values()) - len(lost)
            broken += [{"id": rec["id"], "kind": "number", "span": n} for n in lost]
    reasons = Counter(r["reason"].split(":", 1)[0] for r in rejected)
    clean = len({r["id"] for r in out} - {b["id"] for b in broken})
    return {
        "input_records": len(src),
        "translated_records": len(out),
        "rejected_records": len(rejected),
        "rejects_by_reason": dict(reasons),
        "lost_records": sorted(set(src) - set(counts)),
        "duplicated_records": sorted(k for k, v in counts.items() if v > 1),
        "texts_changed": changed,
        "texts_unchanged": unchanged,
        "spans_checked": dict(spans),
        "spans_intact": dict(intact),
        "independent_checked": dict(independent),
        "independent_intact": dict(independent_ok),
        "numbers_checked": nums,
        "numbers_intact": nums_ok,
        "kept_clean": clean,
        "kept_clean_share": round(clean / len(src), 4) if src else None,
        "broken": broken,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    res = check(args.input, args.out_dir)
    print(
        f"records: {res['input_records']} in, {res['translated_records']} translated, "
        f"{res['rejected_records']} rejected {res['rejects_by_reason']}; lost {len(res['lost_records'])}, "
        f"duplicated {len(res['duplicated_records'])}"
    )
    print(f"translated texts changed: {res['texts_changed']}, unchanged: {res['texts_unchanged']}")
    for kind, n in sorted(res["spans_checked"].items()):
        print(f"  {kind:<12} {res['spans_intact'].get(kind, 0):>4}/{n} intact")
    for kind, n in sorted(res["independent_checked"].items()):
        print(f"  independent {kind:<12} {res['independent_intact'].get(kind, 0):>4}/{n} intact")
    print(f"  numbers      {res['numbers_intact']:>4}/{res['numbers_checked']} intact")
    print(
        f"broken spans: {len(res['broken'])}; records kept with every span and number intact: "
        f"{res['kept_clean']}/{res['input_records']} ({res['kept_clean_share']:.1%})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if res["broken"] or res["lost_records"] or res["duplicated_records"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
