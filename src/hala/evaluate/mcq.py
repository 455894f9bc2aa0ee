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
    return {"id": doc.item.id, "subset": doc.item.subset, "gold": doc.gold, "pred": pred, "pred_norm": pred_norm,
            "acc": int(pred == doc.gold), "acc_norm": int(pred_norm == doc.gold),
            "logprobs": [round(x, 6) for x in logprobs], "lengths": lengths}


def _aggregate(details: list[dict]) -> dict:
    n = len(details)
    return {"n": n, "acc": round(sum(d["acc"] for d in details) / n, 6),
            "acc_norm": round(sum(d["acc_norm"] for d in details) / n, 6)}


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
        details.append(_judge(doc, scores[pos:pos + len(doc.continuations)]))
        pos += len(doc.continuations)
    seconds = time.time() - t0
    result = {"task": data.name, "source": data.source, "prompt": data.prompt.name, "few_shot": few_shot,
              **_aggregate(details), "seconds": round(seconds, 2),
              "questions_per_second": round(len(docs) / seconds, 3) if seconds > 0 else None,
              "example_prompt": contexts[0] + docs[0].continuations[docs[0].gold]}
    subsets = sorted({d["subset"] for d in details})
    if len(subsets) > 1:
        result["subsets"] = {s: _aggregate([d for d in details if d["subset"] == s]) for s in subsets}
        result["acc_norm_macro"] = round(sum(v["acc_norm"] for v in result["subsets"].values()) / len(subsets), 6)
    result["details"] = details
    return result


def evaluate_mcq(model: str, task: str | Path | list[dict], *, few_shot: int = 0, batch_size: int = 8,
                 limit: int | None = None, prompt: str | None = None, dtype: str = "float32",
                 registry: Registry | None = None) -> dict:
    """Evaluate `model` on one task: a declared task name (or `NAME=PATH`), a file or directory of questions,
    or a list of `{"question", "choices", "answer"}` dicts. Returns `acc`, `acc_norm`, `n`, per-subset scores
    (`subsets`), per-question `details`, the first rendered prompt and timing. A suite name evaluates each of
    its tasks (model loaded once) and returns their mean `acc` / `acc_norm`, total `n` and per-task `tasks`."""
    registry = registry or Registry()
    scorer = LoglikScorer.load(str(model), dtype=dtype, batch_size=batch_size)
    if isinstance(task, str) and task in registry.suites:
        tasks = {name: evaluate_task(scorer, resolve_task(name, registry, prompt), few_shot, limit)
                 for name in registry.suites[task]}
        mean = {m: round(sum(r[m] for r in tasks.values()) / len(tasks), 6) for m in ("acc", "acc_norm")}
        return {"model": str(model), "suite": task, **mean, "n": sum(r["n"] for r in tasks.values()),
                "tasks": tasks}
    return {"model": str(model), **evaluate_task(scorer, resolve_task(task, registry, prompt), few_shot, limit)}
