"""Student vs teacher on held-out human data, from a recipe run (issue 13): the table, the goals, JSON.

    python bench/quality_laptop.py                          # run recipes/laptop.yaml, then report
    python bench/quality_laptop.py --recipe recipes/quickstart.yaml
    python bench/quality_laptop.py --no-run --run-dir runs/laptop   # report on a finished run only

The comparison is the report's headline (hala.report.headline): each `role: student` eval against the
`role: teacher` eval on the same data, chrF++ delta with its sign as measured, and the speed ratio in sentences
per CPU-second (both evals time generation only, model loading excluded). Goals (recipes/laptop.yaml): EN→AR
≥ +5 chrF++ over the teacher, AR→EN not worse, ≥ 3× the teacher's sentences per CPU-second. Writes
bench/results/quality_<recipe>.json. Not a timed test: run it on a quiet machine for meaningful minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"en-ar": 5.0, "ar-en": 0.0, "speed_ratio": 3.0}


def run_recipe(recipe: Path, run_dir: Path | None) -> float:
    cmd = [sys.executable, "-m", "hala.cli", "run", str(recipe)] + (["--run-dir", str(run_dir)] if run_dir else [])
    t0 = time.time()
    subprocess.run(cmd, check=True)
    return time.time() - t0


def stage_minutes(run) -> float:
    return round(sum(s.seconds for s in run.stages if isinstance(s.seconds, (int, float))) / 60, 2)


def main() -> None:
    from hala.recipe.runner import default_run_dir
    from hala.recipe.schema import load_recipe
    from hala.report.headline import comparisons
    from hala.report.rundir import read_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "laptop.yaml")
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--no-run", action="store_true", help="only read a finished run")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--student", default=None, help="the student eval stage the goals are judged on (needed if several)"
    )
    args = parser.parse_args()

    recipe = load_recipe(args.recipe)
    run_dir = args.run_dir or default_run_dir(recipe, args.recipe)
    wall = None if args.no_run else run_recipe(args.recipe, args.run_dir)
    run = read_run(run_dir)
    found = [c for c in comparisons(run) if not c.get("problem")]
    if not found:
        sys.exit(f"{run_dir}: no student/teacher eval pair found (set role: teacher / role: student in the recipe)")
    heldout_students = sorted({c["student_stage"] for c in found if c["heldout"]})
    judged = args.student or (heldout_students[0] if len(heldout_students) == 1 else None)
    if args.student and args.student not in heldout_students:
        sys.exit(f"{run_dir}: no held-out comparison for student stage '{args.student}' (found: {heldout_students})")
    rows, goals_met = [], {}
    print(
        f"{'student stage':<22} {'data':<30} {'direction':<9} "
        f"{'teacher':>8} {'student':>8} {'Δ chrF++':>9} {'speed ×':>8}"
    )
    for c in found:
        data = Path(str(c["data"])).name
        for d in c["directions"]:
            rows.append(
                {
                    "data": data,
                    "data_kind": c["data_kind"],
                    "student_stage": c["student_stage"],
                    **{k: v for k, v in d.items() if k != "line"},
                }
            )
            print(
                f"{c['student_stage']:<22} {data:<30} {d['direction']:<9} "
                f"{d['teacher_chrf']:>8.2f} {d['student_chrf']:>8.2f} "
                f"{d['delta_chrf']:>+9.2f} {d['speed_ratio'] if d['speed_ratio'] is not None else '–':>8}"
            )
            if c["heldout"] and c["student_stage"] == judged and d["direction"] in GOALS:
                goals_met[f"{d['direction']} Δ chrF++ ≥ {GOALS[d['direction']]:+g}"] = (
                    d["delta_chrf"] >= GOALS[d["direction"]]
                )
                if d["speed_ratio"] is not None:
                    goals_met[f"{d['direction']} speed ≥ {GOALS['speed_ratio']}×"] = (
                        d["speed_ratio"] >= GOALS["speed_ratio"]
                    )
    minutes = stage_minutes(run)
    print(f"stage time (sum): {minutes} min" + (f"; this call's wall time {wall / 60:.1f} min" if wall else ""))
    if judged is None:
        print(f"  goals not judged: {len(heldout_students)} held-out student evals; name one with --student")
    for goal, ok in goals_met.items():
        print(f"  {'met' if ok else 'NOT met'}: {goal}")
    environment = (run.manifest or {}).get("environment", {})
    out = args.out or ROOT / "bench" / "results" / f"quality_{recipe.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "recipe": str(args.recipe),
                "run_dir": str(run_dir),
                "stage_minutes": minutes,
                "wall_minutes": None if wall is None else round(wall / 60, 2),
                "rows": rows,
                "goals": goals_met,
                "environment": environment,
                "stages": {s.name: s.seconds for s in run.stages},
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
