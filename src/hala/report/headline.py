"""The report's headline: the trained translator against its teacher on the same data (issue 13's baseline rule).

A translator's "before" is the teacher as the pipeline used it (its best prompt — few-shot for a base model), not
the student's base model with a prompt it cannot follow. Recipes mark evals with `role: teacher` / `role: student`
(and `heldout: true` when no stage trains, filters or selects on the data); this module pairs them by data and
reports each direction's delta with its sign as measured, and the speed ratio (sentences per CPU-second where
both evals measured it, else per wall-clock second). The data is called held-out only when both evals declare it
and no other (non-eval) stage of the run names the file in its settings.
"""

from __future__ import annotations

import json

from hala.report.rundir import Run, Stage

HEADLINE = "Headline: student vs teacher"


def _label(stage: Stage, data: dict) -> str:
    return str(data.get("label") or stage.name)


def readers(run: Run, data: str, exclude: set[str]) -> list[str]:
    """Non-eval stages whose settings name the data file (by file name): then it is not held out."""
    name = str(data).rstrip("/").rsplit("/", 1)[-1]
    return [
        s.name
        for s in run.stages
        if s.name not in exclude
        and s.type != "report"
        and not s.type.startswith("eval.")
        and name
        and name in json.dumps(s.config, default=str)
    ]


def _speed(r: dict) -> tuple[float | None, str]:
    if isinstance(r.get("sentences_per_cpu_second"), (int, float)):
        return r["sentences_per_cpu_second"], "sentences/CPU-s"
    return r.get("sentences_per_second"), "sentences/s"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sentences(stage: Stage, direction: str) -> list[dict] | None:
    path = stage.dir / f"sentences_{direction}.jsonl" if stage.dir is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return None


def significance(teacher: list[dict], student: list[dict]) -> dict | None:
    """Paired bootstrap resampling (sacrebleu's, 1,000 samples) of chrF++ on the same sentences: the student's
    p-value against the teacher and each system's 95% confidence half-width — the noise a rerun on other
    sentences of the same kind would show. None when the two evals did not score the same sentences."""
    if (
        not teacher
        or len(teacher) != len(student)
        or any(a.get("ref") != b.get("ref") for a, b in zip(teacher, student))
    ):
        return None
    from sacrebleu.metrics import CHRF
    from sacrebleu.significance import PairedTest

    refs = [[r["ref"] for r in teacher]]
    test = PairedTest(
        [("teacher", [r.get("hyp", "") for r in teacher]), ("student", [r.get("hyp", "") for r in student])],
        {"chrf": CHRF(word_order=2)},
        references=refs,
        test_type="bs",
        n_samples=1000,
    )
    signatures, scores = test()
    ((name, results),) = [(k, v) for k, v in scores.items() if k != "System"]
    t, s = results
    return {
        "p_value": round(float(s.p_value), 4),
        "teacher_ci95": round(float(t.ci), 2),
        "student_ci95": round(float(s.ci), 2),
        "signature": str(signatures[name]),
    }


def _setting(result: dict) -> str:
    """How an eval decoded, as the headline names it: prompt, engine and (it decides the speed) batch size."""
    batch = f", batch {result['batch_size']}" if result.get("batch_size") else ""
    return f"{result.get('template')} prompt, {result.get('engine')}{batch}"


def compare(run: Run, teacher: tuple[Stage, dict], student: tuple[Stage, dict]) -> dict:
    (t_stage, t), (s_stage, s) = teacher, student
    found = readers(run, str(s.get("data")), {t_stage.name, s_stage.name})
    if found:
        kind = f"NOT held-out: stage(s) {', '.join(found)} read this data"
    elif t.get("heldout") and s.get("heldout"):
        kind = "held-out (no stage of this run reads it)"
    else:
        kind = "not declared held-out"
    out = {
        "teacher": _label(t_stage, t),
        "student": _label(s_stage, s),
        "teacher_stage": t_stage.name,
        "student_stage": s_stage.name,
        "teacher_model": t.get("model"),
        "student_model": s.get("model"),
        "teacher_prompt": _setting(t),
        "student_prompt": _setting(s),
        "data": s.get("data"),
        "heldout": kind.startswith("held-out"),
        "data_kind": kind,
        "directions": [],
    }
    units = set()
    for direction, sr in (s.get("directions") or {}).items():
        tr = (t.get("directions") or {}).get(direction)
        if not tr or not _number(sr.get("chrf")) or not _number(tr.get("chrf")):
            continue
        delta = round(sr["chrf"] - tr["chrf"], 2)
        (ts, t_unit), (ss, s_unit) = _speed(tr), _speed(sr)
        unit = t_unit if t_unit == s_unit else "sentences/s"
        if t_unit != s_unit:
            ts, ss = tr.get("sentences_per_second"), sr.get("sentences_per_second")
        ratio = round(ss / ts, 2) if _number(ss) and _number(ts) and ts > 0 else None
        units.add(unit)
        verdict = "student better" if delta > 0 else "teacher better" if delta < 0 else "equal"
        sig = significance(_sentences(t_stage, direction) or [], _sentences(s_stage, direction) or [])
        noise = f", p = {sig['p_value']:.3g}, 95% CI ±{sig['student_ci95']:.1f}" if sig else ""
        line = (
            f"{direction}: teacher {tr['chrf']:.2f} → student {sr['chrf']:.2f} chrF++ ({delta:+.2f}, {verdict}"
            f"{noise})" + (f", {ratio:.2f}× the teacher's {unit}" if ratio is not None else "")
        )
        out["directions"].append(
            {
                "direction": direction,
                "n": sr.get("n"),
                "teacher_chrf": tr["chrf"],
                "student_chrf": sr["chrf"],
                "delta_chrf": delta,
                "teacher_bleu": tr.get("bleu"),
                "student_bleu": sr.get("bleu"),
                "teacher_speed": ts,
                "student_speed": ss,
                "speed_ratio": ratio,
                "verdict": verdict,
                "significance": sig,
                "line": line,
            }
        )
    out["speed_unit"] = units.pop() if len(units) == 1 else "sentences/s"
    if not out["directions"]:
        out["problem"] = f"{s_stage.name} and {t_stage.name} share no scored direction."
    return out


def comparisons(run: Run) -> list[dict]:
    """One comparison per student eval, against the teacher eval on the same data (a note when there is none)."""
    evals = run.with_file("eval_translation.json")
    teachers = [(s, d) for s, d in evals if d.get("role") == "teacher"]
    students = [(s, d) for s, d in evals if d.get("role") == "student"]
    if not teachers or not students:
        return []
    out = []
    for stage, data in students:
        match = next(((t, d) for t, d in teachers if d.get("data") == data.get("data")), None)
        if match is None:
            out.append({"problem": f"{stage.name}: no teacher eval on the same data ({data.get('data')})."})
        else:
            out.append(compare(run, match, (stage, data)))
    return out
