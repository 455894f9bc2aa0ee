"""Student vs teacher speed, measured side by side: a finished run's held-out teacher and student evals run
again, alternately (teacher, student, teacher, student, ...), with the run's own settings, so load on a shared
machine hits both alike. chrF++ is recomputed too (greedy and pinned dtypes: it must equal the run's figures
on the same sentences).

    python bench/student_speed.py RUN_DIR [--limit 100] [--rounds 2] [--batch-size N] [--json OUT.json]

Speed is sentences per CPU-second of generation (model loading excluded), as in the run's evals; the ratio is
the student's over the teacher's, per round and direction, and its median over the rounds. `--batch-size` reruns
both evals at another batch size than the run's (the same for both, so the comparison stays like for like).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def heldout_evals(run_dir: Path, chosen: dict[str, str | None]) -> dict[str, dict]:
    """{role: settings} of the run's held-out teacher and student evals, models resolved to directories.
    `chosen`: {role: stage name or None}; a role with several held-out evals (an experiment recipe) must be chosen
    by name, rather than one of them being taken silently."""
    found: dict[str, dict[str, dict]] = {"teacher": {}, "student": {}}
    for stage in sorted(run_dir.glob("*/stage.json")):
        info = json.loads(stage.read_text())
        cfg = info.get("config") or {}
        if info.get("type") != "eval.translation" or not cfg.get("heldout") or cfg.get("role") not in found:
            continue
        result = json.loads((stage.parent / "eval_translation.json").read_text())
        name = info["name"]
        found[cfg["role"]][name] = {**cfg, "model": result["model"], "_result": result}
    out = {}
    for role, stages in found.items():
        if chosen[role] is not None:
            if chosen[role] not in stages:
                sys.exit(
                    f"{run_dir}: no finished held-out {role} eval named '{chosen[role]}' (found: {sorted(stages)})"
                )
            out[role] = stages[chosen[role]]
        elif len(stages) == 1:
            out[role] = next(iter(stages.values()))
        else:
            sys.exit(
                f"{run_dir}: {len(stages)} held-out evals with role {role} ({', '.join(sorted(stages)) or 'none'}); "
                f"name one with --{role}"
            )
    return out


def measure(settings: dict, limit: int, out: Path, batch_size: int | None = None) -> dict:
    cfg = {k: v for k, v in settings.items() if not k.startswith("_")} | {"limit": limit}
    if batch_size is not None:
        cfg["batch_size"] = batch_size
    config = out.with_suffix(".json")
    config.write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "hala.cli", "eval", "translation", "--config", str(config), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "eval_translation.json").read_text())["directions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="both evals at this batch size (default: the run's)"
    )
    parser.add_argument("--teacher", default=None, help="stage name of the teacher's held-out eval (if several)")
    parser.add_argument("--student", default=None, help="stage name of the student's held-out eval (if several)")
    args = parser.parse_args()

    evals = heldout_evals(args.run_dir, {"teacher": args.teacher, "student": args.student})
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            got = {
                role: measure(evals[role], args.limit, Path(tmp) / f"{role}{r}", args.batch_size)
                for role in ("teacher", "student")
            }
            rounds.append(got)
            for d in got["teacher"]:
                t, s = got["teacher"][d], got["student"][d]
                ratio = s["sentences_per_cpu_second"] / t["sentences_per_cpu_second"]
                print(
                    f"round {r + 1} {d}: teacher {t['sentences_per_cpu_second']:.3f} sent/CPU-s "
                    f"(chrF++ {t['chrf']:.2f}), student {s['sentences_per_cpu_second']:.3f} "
                    f"(chrF++ {s['chrf']:.2f}): {ratio:.2f}x",
                    flush=True,
                )
    summary = {}
    for d in rounds[0]["teacher"]:
        ratios = [
            g["student"][d]["sentences_per_cpu_second"] / g["teacher"][d]["sentences_per_cpu_second"] for g in rounds
        ]
        summary[d] = {
            "speed_ratio_median": round(statistics.median(ratios), 3),
            "speed_ratios": [round(x, 3) for x in ratios],
            "chrf_teacher": rounds[0]["teacher"][d]["chrf"],
            "chrf_student": rounds[0]["student"][d]["chrf"],
            "n": rounds[0]["teacher"][d]["n"],
        }
        print(f"{d}: median speed ratio {summary[d]['speed_ratio_median']:.2f}x over {len(ratios)} rounds")
    result = {
        "run_dir": str(args.run_dir),
        "limit": args.limit,
        "batch_size": args.batch_size or {role: evals[role].get("batch_size") for role in evals},
        "rounds": rounds,
        "summary": summary,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
