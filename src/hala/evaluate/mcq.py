"""Multiple-choice evaluation by log-likelihood: `acc` and `acc_norm`, per task, subset and question.

For each question every choice's continuation is scored as the sum of its tokens' log-probabilities given the
prompt (hala.evaluate.loglik). Then, as lm-evaluation-harness and lighteval do:
* `acc`: the argmax of the summed log-probabilities is the gold choice;
* `acc_norm`: the argmax of log-probability divided by the continuation's length in characters (Unicode code
  points of the continuation string, not counting one leading space) is the gold choice. This is lighteval's
  `LogProbCharNorm` (the OALL-v2 `loglikelihood_acc_norm` metric; its continuations have no leading space) and
  lm-evaluation-harness's `acc_norm` (`len(choice)`, its " " target delimiter not counted; its byte-length
  variant is the separate `acc_bytes`).
Ties go to the first choice (numpy argmax), as in both.
"""

from __future__ import annotations

import time
from pathlib import Path

from hala.evaluate.formats import Doc, context, render
from hala.evaluate.loglik import LoglikScorer
from hala.evaluate.subset import spread
from hala.evaluate.tasks import Registry, TaskData, resolve_task
from hala.progress import progress_bar


def char_length(continuation: str) -> int:
    return max(1, len(continuation[1:] if continuation.startswith(" ") else continuation))


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def shots_for(doc: Doc, pool: list[Doc], k: int) -> list[Doc]:
    """The first k pool examples of the same subset (all of the pool if the subset has none), never the doc."""
    if k <= 0:
        return []
    same = [d for d in pool if d.item.subset == doc.item.subset] or pool
    return [d for d in same if d.item is not doc.item and d.item.question != doc.item.question][:k]


def _judge(doc: Doc, logprobs: list[float]) -> dict:
    lengths = [char_length(c) for c in doc.continuations]
    pred, pred_norm = argmax(logprobs), argmax([lp / n for lp, n in zip(logprobs, lengths)])
    return {
        "id": doc.item.id,
        "subset": doc.item.subset,
        "gold": doc.gold,
        "pred": pred,
        "pred_norm": pred_norm,
        "acc": int(pred == doc.gold),
        "acc_norm": int(pred_norm == doc.gold),
        "logprobs": [round(x, 6) for x in logprobs],
        "lengths": lengths,
    }


def _aggregate(details: list[dict]) -> dict:
    n = len(details)
    return {
        "n": n,
        "acc": round(sum(d["acc"] for d in details) / n, 6),
        "acc_norm": round(sum(d["acc_norm"] for d in details) / n, 6),
    }


def macro_over_subsets(details: list[dict]) -> dict:
    """The task's headline `acc` / `acc_norm`: the mean of its subsets' scores, as lighteval aggregates a task with
    subsets (each subset is one lighteval task; `task:_average` is their plain mean, src/lighteval/logging/
    info_loggers.py) and so as the OALL-v2 leaderboard and the Hala report compare models. The pooled
    (question-weighted) figures are kept as `acc_micro` / `acc_norm_micro`. One subset: both are the same."""
    subsets = sorted({d["subset"] for d in details})
    per = {s: _aggregate([d for d in details if d["subset"] == s]) for s in subsets}
    pooled = _aggregate(details)
    out = {
        "acc_micro": pooled["acc"],
        "acc_norm_micro": pooled["acc_norm"],
        "average": "macro over subsets",
        "n_subsets": len(subsets),
    }
    for m in ("acc", "acc_norm"):
        out[m] = round(sum(v[m] for v in per.values()) / len(per), 6)
    out["acc_norm_macro"] = out["acc_norm"]
    if len(subsets) > 1:
        out["subsets"] = per
    return out


def evaluate_task(scorer: LoglikScorer, data: TaskData, few_shot: int = 0, limit: int | None = None) -> dict:
    """Run one loaded task with a loaded scorer (a suite loads the model once and calls this per task)."""
    t0 = time.time()
    docs = [render(data.prompt, item) for item in spread(data.items, limit)]
    pool = [render(data.prompt, item) for item in data.fewshot] if data.fewshot else docs
    contexts = [context(doc, shots_for(doc, pool, few_shot)) for doc in docs]
    requests = [(ctx, cont) for ctx, doc in zip(contexts, docs) for cont in doc.continuations]
    with progress_bar(len(requests), f"mcq {data.name}", "choices") as bar:
        scores = scorer.loglikelihoods(requests, progress=bar.advance)
    details, pos = [], 0
    for doc in docs:
        details.append(_judge(doc, scores[pos : pos + len(doc.continuations)]))
        pos += len(doc.continuations)
    seconds = time.time() - t0
    result = {
        "task": data.name,
        "source": data.source,
        "prompt": data.prompt.name,
        "few_shot": few_shot,
        **_aggregate(details),
        "seconds": round(seconds, 2),
        "questions_per_second": round(len(docs) / seconds, 3) if seconds > 0 else None,
        "example_prompt": contexts[0] + docs[0].continuations[docs[0].gold],
    }
    # Answer keys read only after Arabic normalisation (e.g. a bare alif ا for أ): counted, so a user sees them.
    noted = [item for item in data.items if item.answer_note]
    result["answer_keys_normalised"] = len(noted)
    if noted:
        result["answer_key_notes"] = [f"{item.id}: {item.answer_note}" for item in noted[:20]]
    result.update(macro_over_subsets(details))
    result.update(prediction_spread(details))
    result["details"] = details
    return result


ONE_POSITION = 0.9  # share of questions answered with one choice position above which a score measures a prior


def prediction_spread(details: list[dict]) -> dict:
    """Which choice positions the model picks (acc_norm's prediction), beside where the gold answers are.

    A model that picks one position for (nearly) every question scores that position's share of gold answers,
    whatever else differs between models. Measured (docs/EVAL.md): the embedded Gemma-3-270M answers أ on all
    150 shipped questions with letter labels, so its acc is 43/150 = 0.2867, the share of questions whose answer
    is أ — and a lightly tuned or merged copy scores the same. `one_position` flags it in the result."""
    from collections import Counter

    pred, gold = Counter(d["pred_norm"] for d in details), Counter(d["gold"] for d in details)
    top, count = pred.most_common(1)[0]
    return {
        "pred_positions": {str(k): pred[k] for k in sorted(pred)},
        "gold_positions": {str(k): gold[k] for k in sorted(gold)},
        "top_position": top,
        "top_position_share": round(count / len(details), 4),
        "top_position_gold_share": round(gold[top] / len(details), 4),
        "one_position": count / len(details) >= ONE_POSITION,
    }


def paired_test(a: list[dict], b: list[dict], metric: str = "acc_norm") -> dict:
    """Can these two models be told apart on this set? McNemar's exact test on the questions both answered.

    Only discordant questions count (a right and b wrong: `a_only`; the reverse: `b_only`); under "no
    difference" each is a fair coin, so the two-sided p-value is a binomial tail. Written out because it is three
    lines of `math.comb` and scipy is not a hala dependency. `separable` is p < 0.05; `same_predictions` counts
    questions where both picked the same choice (all of them: the scores cannot differ)."""
    import math

    by_id = {d["id"]: d for d in b}
    pairs = [(d, by_id[d["id"]]) for d in a if d["id"] in by_id]
    a_only = sum(1 for x, y in pairs if x[metric] and not y[metric])
    b_only = sum(1 for x, y in pairs if y[metric] and not x[metric])
    n, k = a_only + b_only, min(a_only, b_only)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    key = "pred_norm" if metric == "acc_norm" else "pred"
    return {
        "n": len(pairs),
        "metric": metric,
        "a_only": a_only,
        "b_only": b_only,
        "p_value": round(p, 6),
        "separable": p < 0.05,
        "same_predictions": sum(1 for x, y in pairs if x[key] == y[key]),
    }


def evaluate_mcq(
    model: str,
    task: str | Path | list[dict],
    *,
    few_shot: int = 0,
    batch_size: int = 8,
    limit: int | None = None,
    prompt: str | None = None,
    dtype: str = "float32",
    registry: Registry | None = None,
    device: str = "auto",
) -> dict:
    """Evaluate `model` on one task: a declared task name (or `NAME=PATH`), a file or directory of questions,
    or a list of `{"question", "choices", "answer"}` dicts. Returns `acc`, `acc_norm`, `n`, per-subset scores
    (`subsets`), per-question `details`, the first rendered prompt and timing. A suite name evaluates each of
    its tasks (model loaded once) and returns their mean `acc` / `acc_norm`, total `n` and per-task `tasks`."""
    registry = registry or Registry()
    from hala.devices import resolve_device

    scorer = LoglikScorer.load(str(model), dtype=dtype, batch_size=batch_size, device=resolve_device(device))
    if isinstance(task, str) and task in registry.suites:
        tasks = {
            name: evaluate_task(scorer, resolve_task(name, registry, prompt), few_shot, limit)
            for name in registry.suites[task]
        }
        mean = {m: round(sum(r[m] for r in tasks.values()) / len(tasks), 6) for m in ("acc", "acc_norm")}
        return {"model": str(model), "suite": task, **mean, "n": sum(r["n"] for r in tasks.values()), "tasks": tasks}
    return {"model": str(model), **evaluate_task(scorer, resolve_task(task, registry, prompt), few_shot, limit)}
