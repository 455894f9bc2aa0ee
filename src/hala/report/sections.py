"""One function per report section. Each reads what it needs from the run and returns a `Section`; when its
input is missing the section still appears, holding a note that says what was looked for and not found."""

from __future__ import annotations

from hala.report import plots
from hala.report.render import Figure, Note, Section, Table, Text
from hala.report.rundir import Run, Stage


def _label(stage: Stage, data: dict) -> str:
    return str(data.get("label") or stage.name)


def _short(run: Run, value) -> str:
    """A path inside the run directory shown relative to it (stage dirs carry long keys already)."""
    text = str(value) if value is not None else "–"
    root = str(run.path.resolve()) + "/"
    return text[len(root) :] if text.startswith(root) else text


def _skipped(title: str, what: str) -> Section:
    return Section(title, [Note(f"Skipped: {what}")])


def overview(run: Run) -> Section:
    if not run.stages:
        return _skipped("Stages", "no manifest.json and no stage directories in the run directory.")
    rows = []
    for s in run.stages:
        shown = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in list(s.metrics.items())[:4]
            if isinstance(v, (int, float, str))
        )
        rows.append([s.name, s.type, s.status or "–", s.seconds, shown or "–"])
    blocks = [Table(["stage", "type", "status", "seconds", "metrics (first 4)"], rows)]
    if run.manifest is None:
        blocks.insert(0, Note("No manifest.json: every subdirectory is listed as a stage."))
    return Section("Stages", blocks)


def translation(run: Run, worst: int = 5) -> Section:
    title = "Translator quality"
    evals = run.with_file("eval_translation.json")
    if not evals:
        return _skipped(title, "no stage wrote eval_translation.json.")
    rows, by_direction, signatures = [], {}, set()
    for stage, data in evals:
        for direction, r in (data.get("directions") or {}).items():
            comet = r.get("comet") or {}
            rows.append(
                [
                    _label(stage, data),
                    _short(run, data.get("model")),
                    direction,
                    r.get("n"),
                    r.get("rejected"),
                    r.get("bleu"),
                    r.get("chrf"),
                    comet.get("score", "skipped" if comet else None),
                ]
            )
            by_direction.setdefault(direction, {})[_label(stage, data)] = r.get("chrf")
            signatures.update(f"{k}: {v}" for k, v in (r.get("signature") or {}).items())
    blocks = [Table(["translator", "model", "direction", "n", "rejected by guards", "BLEU", "chrF++", "COMET"], rows)]
    labels = list(dict.fromkeys(_label(s, d) for s, d in evals))
    directions = list(by_direction)
    blocks.append(
        Figure(
            "translation_chrf",
            plots.grouped_bars(
                directions,
                {lab: [by_direction[d].get(lab) for d in directions] for lab in labels},
                "chrF++",
                "chrF++ per direction (higher is better)",
                (0, None),
            ),
            "chrF++ by direction, one bar per evaluated translator",
        )
    )
    blocks += [Text("sacrebleu signatures: " + "; ".join(sorted(signatures)))] if signatures else []
    stage, data = evals[-1]
    for direction, r in (data.get("directions") or {}).items():
        examples = (r.get("worst") or [])[:worst]
        if examples:
            blocks.append(Text(f"Lowest chrF++ sentences, {_label(stage, data)} {direction}:"))
            blocks.append(
                Table(
                    ["chrF++", "source", "reference", "hypothesis"],
                    [[e.get("chrf"), e.get("src", ""), e.get("ref", ""), _hyp(e)] for e in examples],
                )
            )
    return Section(title, blocks)


def _hyp(example: dict) -> str:
    if example.get("rejected"):  # the translate guards rejected it: it was scored as ""
        return f"[rejected: {example['rejected']}]"
    return example.get("hyp", "")


def headline(run: Run) -> Section:
    """Student vs teacher on the same data, per direction, sign as measured, with the speed ratio
    (hala.report.headline decides what is compared and whether the data is held out)."""
    from hala.report.headline import HEADLINE, comparisons

    found = comparisons(run)
    if not found:
        return _skipped(
            HEADLINE,
            "no pair of eval.translation stages with `role: teacher` and `role: student`; "
            "no before/after comparison is claimed.",
        )
    blocks: list = []
    for c in found:
        if c.get("problem"):
            blocks.append(Note(c["problem"]))
            continue
        blocks += [
            Text(
                f"{c['student']} ({_short(run, c['student_model'])}, {c['student_prompt']}) vs teacher "
                f"{c['teacher']} ({_short(run, c['teacher_model'])}, {c['teacher_prompt']}) on "
                f"{_short(run, c['data'])} — {c['data_kind']}."
            ),
            Text("; ".join(d["line"] for d in c["directions"])),
            Table(
                [
                    "direction",
                    "n",
                    "teacher chrF++",
                    "student chrF++",
                    "Δ chrF++",
                    "teacher BLEU",
                    "student BLEU",
                    f"teacher {c['speed_unit']}",
                    f"student {c['speed_unit']}",
                    "speed ratio",
                ],
                [
                    [
                        d["direction"],
                        d["n"],
                        d["teacher_chrf"],
                        d["student_chrf"],
                        d["delta_chrf"],
                        d["teacher_bleu"],
                        d["student_bleu"],
                        d["teacher_speed"],
                        d["student_speed"],
                        d["speed_ratio"],
                    ]
                    for d in c["directions"]
                ],
            ),
        ]
    return Section(HEADLINE, blocks)


def benchmarks(run: Run) -> Section:
    title = "Benchmarks (multiple choice, log-likelihood)"
    evals = run.with_file("eval_mcq.json")
    if not evals:
        return _skipped(title, "no stage wrote eval_mcq.json.")
    labels = [_label(s, d) for s, d in evals]
    tasks = list(dict.fromkeys(t for _, d in evals for t in (d.get("tasks") or {})))

    def value(data: dict, task: str, metric: str):
        return ((data.get("tasks") or {}).get(task) or {}).get(metric)

    rows = []
    for t in tasks:
        n = next((value(d, t, "n") for _, d in evals if value(d, t, "n")), None)
        rows.append([t, n] + [value(d, t, "acc_norm") for _, d in evals] + [value(d, t, "acc") for _, d in evals])
    rows.append(
        ["average", None]
        + [(d.get("average") or {}).get("acc_norm") for _, d in evals]
        + [(d.get("average") or {}).get("acc") for _, d in evals]
    )
    headers = ["task", "n"] + [f"{lab} acc_norm" for lab in labels] + [f"{lab} acc" for lab in labels]
    shots = {d.get("few_shot") for _, d in evals}
    blocks = [
        Text(
            "Models: "
            + ", ".join(f"{lab} = {_short(run, d.get('model', '?'))}" for lab, (_, d) in zip(labels, evals))
            + f". Few-shot: {', '.join(str(s) for s in shots)}."
        ),
        Table(headers, rows),
    ]
    groups = tasks + ["average"]
    series = {
        lab: [value(d, t, "acc_norm") for t in tasks] + [(d.get("average") or {}).get("acc_norm")]
        for lab, (_, d) in zip(labels, evals)
    }
    blocks.append(
        Figure(
            "benchmarks_acc_norm",
            plots.grouped_bars(groups, series, "acc_norm", "acc_norm per task and model", (0, 1)),
            "acc_norm per task, one bar per model (e.g. base / tuned / merged)",
        )
    )
    return Section(title, blocks)


def sweep(run: Run) -> Section:
    title = "Merge t sweep"
    found = run.with_file("sweep.json")
    if not found:
        return _skipped(title, "no stage wrote sweep.json.")
    blocks = []
    for stage, data in found:
        rows = sorted((r for r in data.get("rows") or [] if isinstance(r.get("t"), (int, float))), key=lambda r: r["t"])
        if not rows:
            blocks.append(Note(f"{stage.name}: sweep.json has no rows."))
            continue
        metric = data.get("metric") or rows[0].get("metric") or "score"
        best = (data.get("best_t"), data.get("best_score"))
        blocks.append(
            Text(
                f"{stage.name}: {data.get('method', 'merge')} scored on {data.get('select_on', '?')}; "
                f"best t = {fmt_num(best[0])} ({metric} {fmt_num(best[1])})."
            )
        )
        blocks.append(Table(["t", metric], [[r["t"], r.get("score")] for r in rows]))
        blocks.append(
            Figure(
                f"sweep_{stage.name}",
                plots.line(
                    [r["t"] for r in rows],
                    [r.get("score") for r in rows],
                    "t",
                    metric,
                    f"{stage.name}: {metric} against t (0 = base, 1 = tuned)",
                    best if None not in best else None,
                ),
                f"{metric} of the merged model against t",
            )
        )
    return Section(title, blocks)


def fmt_num(v) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else "?"


def quantization(run: Run) -> Section:
    title = "Quantization check"
    found = run.with_file("verification.json")
    if not found:
        return _skipped(title, "no stage wrote verification.json.")
    blocks = []
    for stage, data in found:
        blocks.append(
            Text(
                f"{stage.name}: {data.get('scheme', '?')} of {_short(run, data.get('model', '?'))} — "
                f"{'passed' if data.get('passed') else 'FAILED'} its drift checks."
            )
        )
        checks = data.get("checks") or []
        if checks:
            blocks.append(
                Table(
                    ["check", "value", "limit", "passed"],
                    [
                        [c.get("metric"), c.get("value"), f"{c.get('op', '')} {c.get('threshold')}", c.get("passed")]
                        for c in checks
                    ],
                )
            )
        tr, sizes = data.get("translation") or {}, data.get("sizes") or {}
        if tr.get("status") not in (None, "skipped"):
            blocks.append(
                Text(
                    f"Translation with both models ({tr.get('pairs', '?')} pairs, {tr.get('src_lang')}→"
                    f"{tr.get('tgt_lang')}, {tr.get('template')} prompt, {tr['status']}): chrF++ "
                    f"{fmt_num(tr.get('chrf_original'))} original, {fmt_num(tr.get('chrf_quantized'))} "
                    f"quantized."
                )
            )
        if sizes.get("quantized_on_disk_bytes"):
            blocks.append(
                Text(
                    f"On disk: {fmt_num(sizes.get('original_on_disk_bytes', 0) / 1e6)} MB original, "
                    f"{fmt_num(sizes['quantized_on_disk_bytes'] / 1e6)} MB quantized."
                )
            )
        ppl = data.get("perplexity") or {}
        if ppl:
            blocks.append(
                Table(
                    ["language", "ppl original", "ppl quantized", "ratio"],
                    [[lang, p.get("original"), p.get("quantized"), p.get("ratio")] for lang, p in ppl.items()],
                )
            )
    return Section(title, blocks)


def filtering(run: Run) -> Section:
    title = "Filter: rejections by rule"
    found = run.filter_reports()
    if not found:
        return _skipped(title, "no filter_report.json (per-rule counts) in any stage.")
    blocks = []
    for stage, data in found:
        rules = [r for r in data["rules"] if isinstance(r, dict) and "name" in r]
        blocks.append(
            Text(
                f"{stage.name}: {data.get('input_pairs', '?')} pairs in, {data.get('kept', '?')} kept, "
                f"{data.get('rejected', '?')} rejected, {data.get('read_errors', '?')} unreadable "
                f"(in the stage's rejects file too); {data.get('pairs_per_second', '?')} pairs/s."
            )
        )
        blocks.append(
            Table(
                ["rule", "what it rejects", "checked", "rejected", "% of input"],
                [
                    [
                        r["name"],
                        r.get("summary", ""),
                        r.get("checked"),
                        f"skipped: {r['skipped']}" if r.get("skipped") else r.get("rejected"),
                        None if r.get("skipped") else f"{100 * (r.get('share_of_input') or 0):.2f}%",
                    ]
                    for r in rules
                ],
            )
        )
        hits = [r for r in rules if not r.get("skipped") and (r.get("rejected") or 0) > 0]
        if hits:  # rules that rejected nothing stay in the table only: the plot shows where pairs went
            blocks.append(
                Figure(
                    f"filter_{stage.name}",
                    plots.horizontal_bars(
                        [r["name"] for r in hits],
                        [r["rejected"] for r in hits],
                        "pairs rejected",
                        f"{stage.name}: rejections per rule",
                    ),
                    "pairs rejected by each rule that rejected any",
                )
            )
    return Section(title, blocks)


def translate_runs(run: Run) -> Section:
    title = "Translate: rejects and throughput"
    found = [(s, d) for s, d in run.with_file("report.json") if isinstance(d.get("rejects_by_reason"), dict)]
    if not found:
        return _skipped(title, "no translate report.json (with rejects_by_reason) in any stage.")

    def kept(d: dict) -> str | None:
        n, ok = d.get("records"), d.get("translated")
        return f"{100 * ok / n:.1f}%" if isinstance(n, int) and isinstance(ok, int) and n else None

    def ladder(d: dict) -> str:  # the retry ladder (hala.translate.translator): how segments were rescued
        parts = [
            f"{name} {d[key]}"
            for name, key in (
                ("retried", "retried_segments"),
                ("fixed by retry", "fixed_by_retry"),
                ("fixed by split", "fixed_by_split"),
                ("fixed by fallback", "fixed_by_fallback"),
            )
            if isinstance(d.get(key), int)
        ]
        return ", ".join(parts) or "–"

    rows = [
        [
            stage.name,
            d.get("records"),
            d.get("translated"),
            kept(d),
            d.get("rejected"),
            ladder(d),
            d.get("tokens"),
            d.get("tokens_per_s"),
            d.get("records_per_s"),
            ", ".join(f"{k} {v}" for k, v in d["rejects_by_reason"].items()) or "–",
        ]
        for stage, d in found
    ]
    return Section(
        title,
        [
            Table(
                [
                    "stage",
                    "records",
                    "translated",
                    "kept",
                    "rejected",
                    "segments rescued",
                    "tokens generated",
                    "tokens/s",
                    "records/s",
                    "rejects by reason",
                ],
                rows,
            ),
            Text(
                "A record is kept only when every segment passed the guards and the reassembled text still holds every "
                "protected span, calculator annotation, answer line and number of the source (the post-check): "
                "kept records have no broken span."
            ),
        ],
    )


TRAIN_FIELDS = (
    "mode",
    "steps",
    "epochs",
    "train_examples_used",
    "train_loss",
    "final_loss",
    "eval_loss",
    "real_tokens_seen",
    "session.seconds",
    "session.real_tokens_per_second",
)


def _field(data: dict, dotted: str):
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def training(run: Run) -> Section:
    title = "Training"
    found = run.with_file("train_summary.json")
    if not found:
        return _skipped(title, "no stage wrote train_summary.json.")
    rows = [["base model"] + [_short(run, d.get("base_model")) for _, d in found]]
    rows += [[f] + [_field(d, f) for _, d in found] for f in TRAIN_FIELDS]
    blocks: list = [Table(["field"] + [s.name for s, _ in found], rows)]
    curves = {}
    for stage, data in found:  # train_summary.json: losses [{step, loss}], eval_losses [{step, eval_loss}]
        for key, value, name in (("losses", "loss", stage.name), ("eval_losses", "eval_loss", f"{stage.name} (dev)")):
            points = [(h["step"], h[value]) for h in data.get(key) or [] if isinstance(h, dict) and value in h]
            if points:
                curves[name] = ([x for x, _ in points], [y for _, y in points])
    if any(len(xs) >= 2 for xs, _ in curves.values()):
        blocks.append(
            Figure(
                "training_loss",
                plots.curves(curves, "step", "loss", "training loss"),
                "training loss by step (dev loss as markers where a dev set was given)",
            )
        )
    return Section(title, blocks)


RATE_SUFFIXES = ("_per_second", "_per_s")


def _rates(obj: dict, item: str = "", depth: int = 0) -> list[tuple[str, str, float]]:
    """(item, unit, value) for every number whose key names a rate (tokens_per_s, questions_per_second, ...),
    two levels deep at most. `item` is the key of a per-item mapping (a direction, a task), never a container."""
    out = []
    for k, v in obj.items():
        if isinstance(v, dict) and depth < 2:
            out += _rates(v, k if depth == 1 else item, depth + 1)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            unit = next((k[: -len(x)] for x in RATE_SUFFIXES if k.endswith(x)), None)
            if unit:
                out.append((item, unit.replace("_", " ") + "/s", v))
    return out


def throughput(run: Run) -> Section:
    title = "Throughput and wall time"
    timed = [s for s in run.stages if isinstance(s.seconds, (int, float))]
    if not timed:
        return _skipped(title, "no stage timings in manifest.json or stage.json.")
    rows, panels = [], {}
    for s in run.stages:
        rates = list(dict.fromkeys(r for data in [s.metrics, *s.files.values()] for r in _rates(data)))
        rows.append([s.name, s.seconds, ", ".join(f"{f'{i} ' if i else ''}{v:.4g} {u}" for i, u, v in rates) or "–"])
        for item, unit, value in rates:
            panels.setdefault(unit, ([], []))
            panels[unit][0].append(f"{s.name} {item}".strip())
            panels[unit][1].append(value)
    blocks: list = [
        Table(["stage", "seconds", "throughput (from its outputs)"], rows),
        Figure(
            "stage_seconds",
            plots.horizontal_bars(
                [s.name for s in timed], [s.seconds for s in timed], "seconds", "wall time per stage"
            ),
            "wall time per stage (from the manifest)",
        ),
    ]
    if panels:
        blocks.append(
            Figure(
                "throughput",
                plots.bar_panels(panels, "throughput"),
                "throughput per stage, one panel per unit (higher is faster)",
            )
        )
    return Section(title, blocks)


def _stage_files(run: Run, name: str) -> list[tuple[Stage, dict]]:
    """(stage, JSON object) for every stage directory holding `name`, whether or not the run reader lists it."""
    import json

    found = []
    for s in run.stages:
        data = s.files.get(name)
        if data is None and s.dir is not None and (s.dir / name).is_file():
            try:
                data = json.loads((s.dir / name).read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                run.problems.append(f"{s.dir / name}: unreadable ({type(e).__name__}: {e})")
                continue
        if isinstance(data, dict):
            found.append((s, data))
    return found


def instruct_eval(run: Run) -> Section:
    """eval.instruct stages (hala.evaluate.instruct): Arabic-answer share and reference perplexity per model."""
    title = "Instruction model on held-out Arabic prompts"
    found = _stage_files(run, "eval_instruct.json")
    if not found:
        return _skipped(title, "no stage wrote eval_instruct.json.")
    rows = [
        [
            _label(s, d),
            _short(run, d.get("model")),
            d.get("n"),
            d.get("lang_share"),
            d.get("mean_script_share"),
            d.get("empty_answers"),
            d.get("hit_max_tokens"),
            d.get("ref_ppl"),
            d.get("ref_tokens"),
        ]
        for s, d in found
    ]
    sig = found[0][1].get("signature") or {}
    blocks: list = [
        Text(
            f"{sig.get('prompts', '?')} held-out prompts no stage trains on ({sig.get('data', '?')}). Answers: "
            f"greedy, at most {sig.get('max_new_tokens', '?')} new tokens, each model's chat template; an answer "
            f"is in Arabic when at least {sig.get('threshold', '?')} of its letters are {sig.get('script', '?')} "
            f"script. Reference perplexity: the shipped answers teacher-forced, assistant tokens only (lower is "
            f"better)."
        ),
        Table(
            [
                "model",
                "path",
                "prompts",
                "answers in Arabic",
                "mean Arabic-letter share",
                "empty answers",
                "hit token limit",
                "reference ppl",
                "reference tokens",
            ],
            rows,
        ),
    ]
    texts = {d.get("signature_text") for _, d in found}
    if len(texts) > 1:
        blocks.append(
            Note(
                "The models were not all scored the same way (signatures differ): "
                + " ≠ ".join(sorted(str(t) for t in texts))
            )
        )
    else:
        blocks.append(Text(f"signature: {texts.pop()}"))
    labels = [_label(s, d) for s, d in found]
    if any(isinstance(d.get("lang_share"), (int, float)) for _, d in found):
        blocks.append(
            Figure(
                "instruct_lang_share",
                plots.grouped_bars(
                    ["answers in Arabic", "mean Arabic-letter share"],
                    {lab: [d.get("lang_share"), d.get("mean_script_share")] for lab, (_, d) in zip(labels, found)},
                    "share",
                    "held-out prompts: answers written in Arabic",
                    (0, 1),
                ),
                "one bar per model",
            )
        )
    return Section(title, blocks)


def mcq_separability(run: Run) -> Section:
    """Can the multiple-choice scores tell the models apart? Predicted positions per model, and McNemar's exact
    test of each model against the first on the same questions (hala.evaluate.mcq.paired_test)."""
    import json

    from hala.evaluate.mcq import paired_test

    title = "Benchmarks: can they separate the models?"
    evals = run.with_file("eval_mcq.json")
    if not evals:
        return _skipped(title, "no stage wrote eval_mcq.json.")
    rows, pairs = [], []
    for task in dict.fromkeys(t for _, d in evals for t in (d.get("tasks") or {})):
        details = {}
        for s, d in evals:
            r = (d.get("tasks") or {}).get(task) or {}
            if r:
                rows.append(
                    [
                        task,
                        _label(s, d),
                        r.get("acc_norm"),
                        r.get("pred_positions"),
                        r.get("gold_positions"),
                        r.get("one_position"),
                    ]
                )
            path = s.dir / f"mcq_{task}.jsonl" if s.dir is not None else None
            if path is not None and path.is_file():
                try:
                    details[_label(s, d)] = [
                        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
                    ]
                except (OSError, ValueError) as e:
                    run.problems.append(f"{path}: unreadable ({type(e).__name__}: {e})")
        labels = list(details)
        for other in labels[1:]:
            t = paired_test(details[labels[0]], details[other])
            pairs.append(
                [
                    task,
                    f"{labels[0]} vs {other}",
                    t["n"],
                    t["same_predictions"],
                    t["a_only"],
                    t["b_only"],
                    t["p_value"],
                    t["separable"],
                ]
            )
    blocks: list = [
        Table(["task", "model", "acc_norm", "predicted positions", "gold positions", "one position (≥ 90%)"], rows)
    ]
    if pairs:
        blocks.append(
            Table(
                [
                    "task",
                    "models",
                    "questions",
                    "same prediction",
                    "only first right",
                    "only second right",
                    "McNemar p",
                    "separable (p < 0.05)",
                ],
                pairs,
            )
        )
        if not any(p[-1] for p in pairs):
            blocks.append(
                Note(
                    "No pair of models is separable on these questions (McNemar's exact test, p ≥ 0.05): "
                    "at this size the benchmark cannot tell them apart; see the instruction-model "
                    "section for metrics that can."
                )
            )
    if any(r[-1] for r in rows):
        blocks.append(
            Note(
                "A model that picks one answer position for ≥ 90% of questions scores that position's "
                "share of gold answers, whatever it knows."
            )
        )
    return Section(title, blocks)


def build(run: Run, worst_examples: int = 5) -> list[Section]:
    sections = [
        headline(run),
        overview(run),
        translation(run, worst_examples),
        benchmarks(run),
        mcq_separability(run),
        instruct_eval(run),
        sweep(run),
        quantization(run),
        filtering(run),
        translate_runs(run),
        training(run),
        throughput(run),
    ]
    if run.problems:
        sections.append(Section("Unreadable files", [Note(p) for p in run.problems]))
    return sections
