"""Does a few minutes of `hala train` make the embedded Gemma-3-270M a better EN->AR translator? chrF++ on a
held-out Tatoeba slice, untrained vs trained, in one run.

    python bench/train_quality.py                          # 48 steps x 8 Tatoeba pairs, 60 held-out sentences
    python bench/train_quality.py --steps 100 --test 200

Data: Tatoeba's MSA (`ara`) pairs in a fixed shuffled order; the first `--test` are held out, the next
steps x batch are trained on once (no overlap). Both models translate through `hala.evaluate.evaluate_translation`
(the `ct2` engine by default, hala's translation prompt, greedy, the translate stage's guards), the way the pipeline
uses a translator. Training is LoRA with hala's defaults except the learning rate (a short run needs a larger one).
Prints the scores and writes bench/results/train_quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from train_throughput import ROOT, chat_samples, tatoeba_pairs, write_jsonl


def score(model: str, test: list[tuple[str, str]], batch: int, engine: str) -> dict:
    from hala.evaluate.translation import evaluate_translation

    result = evaluate_translation(
        model, test, src_lang="en", tgt_lang="ar", engine=engine, max_new_tokens=64, batch_size=batch
    )
    return {
        "chrf": round(result["chrf"], 2),
        "bleu": round(result["bleu"], 2),
        "rejected": result["rejected"],
        "translate_seconds": result["translate_seconds"],
        "examples": [{k: s[k] for k in ("src", "ref", "hyp")} for s in result["sentences"][:3]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--test", type=int, default=60, help="held-out sentences scored")
    parser.add_argument("--engine", default="ct2", help="translate engine for scoring (ct2: the CPU default)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_quality.json")
    args = parser.parse_args()

    from hala.models import resolve_model
    from hala.train import TrainConfig, run

    pairs = tatoeba_pairs()
    test, train = pairs[: args.test], pairs[args.test : args.test + args.steps * args.batch]
    base = str(resolve_model(args.model))
    before = score(base, test, args.batch, args.engine)
    print(f"untrained: chrF++ {before['chrf']:.2f}  BLEU {before['bleu']:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-train-quality-") as tmp:
        config = TrainConfig(
            model=args.model,
            train=str(write_jsonl(Path(tmp) / "train.jsonl", chat_samples(train))),
            max_steps=args.steps,
            batch_size=args.batch,
            learning_rate=args.lr,
            save_steps=10**6,
            logging_steps=8,
        )
        t0 = time.time()
        summary = run(config, Path(tmp) / "run")
        train_seconds = time.time() - t0
        after = score(str(Path(tmp) / "run" / summary["model_dir"]), test, args.batch, args.engine)
    print(
        f"trained:   chrF++ {after['chrf']:.2f}  BLEU {after['bleu']:.2f}  "
        f"({args.steps} steps, {len(train)} pairs, {summary['session']['seconds']:.0f} s of training, "
        f"{summary['session']['real_tokens_per_second']} real tokens/s)"
    )
    record = {
        "command": "python " + " ".join(["bench/train_quality.py", *sys.argv[1:]]),
        "model": args.model,
        "data": "tatoeba-ara-eng (ara), EN->AR; test = first held-out slice, train = the next pairs",
        "train_pairs": len(train),
        "test_sentences": len(test),
        "steps": args.steps,
        "batch": args.batch,
        "learning_rate": args.lr,
        "engine": args.engine,
        "untrained": before,
        "trained": after,
        "chrf_gain": round(after["chrf"] - before["chrf"], 2),
        "train": {
            "seconds_with_merge": round(train_seconds, 1),
            "loss_first": summary["losses"][0]["loss"] if summary["losses"] else None,
            "loss_last": summary["final_loss"],
            "session": summary["session"],
            "settings": summary["settings"],
        },
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"chrF++ gain {record['chrf_gain']:+.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
