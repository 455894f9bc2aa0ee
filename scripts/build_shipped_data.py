"""Rebuild the parallel data files hala ships, from the public sets in ../shared/data (developers only).

    python scripts/build_shipped_data.py [--shared ../shared/data]

Writes, into src/hala/data/:
* tico19_heldout_en_ar.jsonl — the quickstart's held-out test set: 200 TICO-19 test pairs (professional
  translation, COVID/medical domain, CC0), evenly spaced over the set after keeping pairs whose English side is
  30-200 characters (so one quickstart evaluation fits its time budget). No stage trains, filters or selects on it.
* tatoeba_en_ar.jsonl — human sentence pairs for training the quickstart's student translator: the Tatoeba
  ara-eng pairs labelled `ara` (MSA), deduplicated by English side (CC BY 2.0 FR: attribution in each record).
* mmlu_en_ar_mt.jsonl — 6,000 longer, academic sentence pairs for the same student: English MMLU test questions
  and answer options (Hendrycks et al., MIT) beside AceGPT's Arabic machine translation of them (Apache-2.0),
  row- and column-aligned; segments of 25-300 English characters (sentence level), deduplicated, a seeded
  sample. Machine translation, not human: a stand-in for the MT-derived part of an OPUS-100-style corpus
  (docs/STUDENT.md). A model trained on it must not be evaluated on MMLU.

Deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "hala" / "data"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]  # strip only the newline (see shared/README.md)


def _pair(prefix: str, src: str, tgt: str, meta: dict) -> dict:
    digest = hashlib.sha1(f"{src}\x1f{tgt}".encode()).hexdigest()[:12]
    return {"id": f"{prefix}-{digest}", "src": src, "tgt": tgt, "src_lang": "en", "tgt_lang": "ar", "meta": meta}


def tico(shared: Path, n: int = 200) -> list[dict]:
    d = shared / "tico19-en-ar"
    en, ar = _lines(d / "tico19-test.en"), _lines(d / "tico19-test.ar")
    assert len(en) == len(ar), "TICO-19 sides differ in length"
    ok = [i for i in range(len(en)) if 30 <= len(en[i].strip()) <= 200 and ar[i].strip()]
    step = len(ok) / n
    picked = [ok[int(k * step)] for k in range(n)]
    meta = {"source": "TICO-19 test (tico19-test.en/.ar)", "license": "CC0-1.0", "split": "heldout"}
    return [_pair("tico19", en[i].strip(), ar[i].strip(), {**meta, "line": i + 1}) for i in picked]


def tatoeba(shared: Path) -> list[dict]:
    d = shared / "tatoeba-ara-eng"
    stem = "tatoeba-test-v2021-08-07"
    en, ar = _lines(d / f"{stem}.eng"), _lines(d / f"{stem}.ara")
    labels = _lines(d / f"{stem}.ara.labels")
    meta = {
        "source": "Tatoeba (tatoeba.org) via the Tatoeba Translation Challenge test v2021-08-07",
        "license": "CC-BY-2.0-FR",
        "attribution": "Tatoeba contributors, https://tatoeba.org",
    }
    seen, out = set(), []
    for e, a, lab in zip(en, ar, labels):
        e, a = e.strip(), a.strip()
        if lab != "ara" or not e or not a or e.lower() in seen:
            continue
        seen.add(e.lower())
        out.append(_pair("tatoeba", e, a, meta))
    return out


def _csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[1:] if rows and rows[0] and rows[0][0] in ("question", "السؤال") else rows


def mmlu(shared: Path, n: int = 6000) -> list[dict]:
    en_dir, ar_dir = shared / "mmlu-en" / "test", shared / "mmlu-ar-mt" / "test"
    meta = {
        "source": "MMLU test (Hendrycks et al. 2021) with AceGPT's Arabic machine translation (mmlu-ar-mt)",
        "license": "Apache-2.0",
        "license_src": "MIT",
        "attribution": "English: Dan Hendrycks et al., MIT licence, https://github.com/hendrycks/test; Arabic: "
        "AceGPT (FreedomIntelligence), Apache-2.0; machine translation",
    }
    seen, out = set(), []
    for en_file in sorted(en_dir.glob("*.csv")):
        ar_file = ar_dir / en_file.name
        en_rows, ar_rows = _csv_rows(en_file), _csv_rows(ar_file)
        assert len(en_rows) == len(ar_rows), f"{en_file.name}: the two sides differ in rows"
        for i, (e_row, a_row) in enumerate(zip(en_rows, ar_rows)):
            for j in range(5):  # the question, then the four options; the answer column is not text
                e, a = e_row[j].strip(), a_row[j].strip()
                if not 25 <= len(e) <= 300 or len(a) < 15 or "___" in e or e.lower() in seen:
                    continue
                seen.add(e.lower())
                out.append(_pair("mmlu", e, a, {**meta, "file": en_file.name, "row": i + 2, "column": j}))
    random.Random(0).shuffle(out)
    return out[:n]


def write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"{path}: {len(records)} records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    write(DATA / "tico19_heldout_en_ar.jsonl", tico(args.shared))
    write(DATA / "tatoeba_en_ar.jsonl", tatoeba(args.shared))
    write(DATA / "mmlu_en_ar_mt.jsonl", mmlu(args.shared))


if __name__ == "__main__":
    main()
