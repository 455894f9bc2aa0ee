"""Rebuild the human-translated data files hala ships, from the public sets in ../shared/data (developers only).

    python scripts/build_shipped_data.py [--shared ../shared/data]

Writes, into src/hala/data/:
* tico19_heldout_en_ar.jsonl — the quickstart's held-out test set: 200 TICO-19 test pairs (professional
  translation, COVID/medical domain, CC0), evenly spaced over the set after keeping pairs whose English side is
  30-200 characters (so one quickstart evaluation fits its time budget). No stage trains, filters or selects on it.
* tatoeba_en_ar.jsonl — human sentence pairs for training the quickstart's student translator: the Tatoeba
  ara-eng pairs labelled `ara` (MSA), deduplicated by English side (CC BY 2.0 FR: attribution in each record).

Deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
    meta = {"source": "Tatoeba (tatoeba.org) via the Tatoeba Translation Challenge test v2021-08-07",
            "license": "CC-BY-2.0-FR", "attribution": "Tatoeba contributors, https://tatoeba.org"}
    seen, out = set(), []
    for e, a, lab in zip(en, ar, labels):
        e, a = e.strip(), a.strip()
        if lab != "ara" or not e or not a or e.lower() in seen:
            continue
        seen.add(e.lower())
        out.append(_pair("tatoeba", e, a, meta))
    return out


def write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"{path}: {len(records)} records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    write(DATA / "tico19_heldout_en_ar.jsonl", tico(args.shared))
    write(DATA / "tatoeba_en_ar.jsonl", tatoeba(args.shared))


if __name__ == "__main__":
    main()
