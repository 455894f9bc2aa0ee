"""Instruction-model metrics that move at 270M: does it answer in Arabic, and how well does it predict good answers.

On held-out prompts that no stage trains on (`package:instruct_heldout_ar.jsonl`: 36 Arabic prompts with
reference answers written for hala), per model:

* **Arabic share** (`lang_share`: the share of answers written in `lang`'s script, Arabic by default) — each
  prompt is rendered with the model's own chat template and answered greedily (the translate stage's `hf` engine,
  `max_new_tokens` new tokens at most). An answer is *in Arabic* when at least `threshold` (default 0.5) of its
  letters are Arabic-script letters (hala.filters.scripts: a letter's script is the first word of its Unicode
  name; digits, punctuation and spaces are not letters); an answer with no letter counts as not Arabic. 0.5 is
  "most of its letters": an Arabic answer that quotes an English term or a Latin name (DNA, AI) stays Arabic,
  while an English answer with an Arabic word does not. The mean per-answer share is reported too
  (`mean_script_share`): it moves before the thresholded share does.
* **Reference perplexity** — exp(total negative log-likelihood / tokens) of the reference answers, teacher-forced
  through the chat template, counting exactly the tokens training puts a loss on (the assistant turn's content
  and its end-of-turn token, located by hala.train's mask code) and scored by the log-likelihood code the MCQ
  stage uses too (hala.scoring). Lower is better. It is continuous, so it separates models that greedy decoding
  and 4-way multiple choice cannot tell apart at this size.

The result carries a `signature` (prompt count, data digest, max new tokens, template digest, threshold, script,
dtype, decoding) so two numbers are only compared when they were computed the same way.
"""

from __future__ import annotations

import hashlib
import math
import time
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala.errors import HalaError

DEFAULT_DATA = "package:instruct_heldout_ar.jsonl"
DEFAULT_THRESHOLD = 0.5


class EvalInstructConfig(BaseModel):
    """Arabic-answer share and reference-answer perplexity of `model` on held-out Arabic prompts."""

    model_config = ConfigDict(extra="forbid")
    model: str
    data: str = Field(
        DEFAULT_DATA,
        description="chat samples whose last turn is the reference answer; package:FILE for a file shipped with hala",
    )
    lang: str = Field("ar", description="language the answers should be written in (its script is counted)")
    threshold: float = Field(
        DEFAULT_THRESHOLD, gt=0, le=1, description="an answer is in the language when this share of its letters is"
    )
    max_new_tokens: int = Field(
        32,
        gt=0,
        description="greedy generation limit per answer (32: enough letters "
        "to tell the script, a third less time than 48)",
    )
    batch_size: int = Field(12, gt=0, description="prompts per generation / scoring batch")
    limit: int | None = Field(None, gt=0, description="use N prompts spread evenly over the set")
    dtype: str = Field("float32", description="float32 (reproducible default), bfloat16 or auto")
    device: str | None = None
    generate: bool = Field(True, description="false: reference perplexity only (no generation; much faster)")
    label: str | None = Field(None, description="name shown in the report, e.g. 'base', 'tuned', 'merged'")


def _resolve(data: str) -> Path:
    if data.startswith("package:"):
        return Path(str(resources.files("hala").joinpath("data").joinpath(data[len("package:") :])))
    return Path(data)


def load_prompts(data: str, limit: int | None = None) -> tuple[list[dict], int, str]:
    """(samples as {"id", "messages"}, rejected, sha1 of the file): each sample's last message is the reference
    answer (assistant) and it has a user turn before it. Bad records are counted, never silently dropped."""
    from hala.evaluate.subset import spread
    from hala.records import ChatSample, RejectLog, read_records

    path = _resolve(data)
    if not path.is_file():
        raise HalaError(f"eval.instruct data: {data}: no such file")
    rejects = RejectLog()
    samples = []
    for record in read_records(path, "chat", rejects):
        messages = [m.model_dump() for m in record.messages] if isinstance(record, ChatSample) else []
        if len(messages) < 2 or messages[-1]["role"] != "assistant" or messages[-2]["role"] != "user":
            rejects.counts["no reference answer"] = rejects.counts.get("no reference answer", 0) + 1
            continue
        samples.append({"id": record.id, "messages": messages})
    if not samples:
        raise HalaError(f"eval.instruct data: {data}: no chat sample ends with a user turn and an assistant answer")
    return spread(samples, limit), rejects.total, hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def script_share(text: str, lang: str) -> tuple[int, float]:
    """(letters, share of them in `lang`'s script); 0.0 for a text without letters."""
    from hala.filters.scripts import LANGUAGE_SCRIPTS, letter_count

    if lang not in LANGUAGE_SCRIPTS:
        raise HalaError(f"eval.instruct lang: no script known for '{lang}' (known: {', '.join(LANGUAGE_SCRIPTS)})")
    letters, in_script = letter_count(text, LANGUAGE_SCRIPTS[lang])
    return int(letters), (in_script / letters if letters else 0.0)


def assistant_split(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) of a conversation whose last turn is the assistant's: the continuation is
    exactly the tokens training puts a loss on in that turn (hala.train's assistant mask), the context all before."""
    import numpy as np

    from hala.train.data import render_with_spans
    from hala.train.masks import mask_strategy, token_mask, training_template

    strategy = mask_strategy(tokenizer)
    ((text, spans, error),) = render_with_spans(tokenizer, [messages], strategy, training_template(tokenizer, strategy))
    if error or not spans:
        raise HalaError(f"eval.instruct: {error or 'the chat template marks no assistant tokens'}")
    # The rendered text holds the template's special tokens (BOS included): add none, as training does.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    mask = token_mask(np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2), spans[-1:]).tolist()
    first, last = mask.index(1), len(mask) - 1 - mask[::-1].index(1)
    return ids[:first], ids[first : last + 1]


def fit_system_turns(tokenizer, samples: list[dict]) -> tuple[list[dict], str, int]:
    """(samples, mode, samples changed): system turns handled as training handles them (`system_turns: auto`), so a
    model whose template has no system role (Gemma-2: Fanar-1-9B) is asked and scored on what it was trained on
    instead of raising "System role not supported" on the first prompt that opens with one."""
    from hala.train import system_turns

    mode = system_turns.resolve("auto", tokenizer)
    out, changed = [], 0
    for s in samples:
        messages, was_changed = system_turns.apply(s["messages"], mode)
        out.append({**s, "messages": messages})
        changed += was_changed
    return out, mode, changed


def reference_scores(model, tokenizer, samples: list[dict], batch_size: int = 8) -> list[tuple[float, int]]:
    """(log-likelihood, tokens) of each sample's reference answer given its prompt."""
    from hala.scoring import continuation_loglikelihoods, pad_token_id

    split = [assistant_split(tokenizer, s["messages"]) for s in samples]
    lls = continuation_loglikelihoods(model, split, pad_token_id(tokenizer), batch_size=batch_size)
    return [(ll, len(cont)) for ll, (_, cont) in zip(lls, split)]


def evaluate_instruct(
    model: str,
    data: str = DEFAULT_DATA,
    *,
    lang: str = "ar",
    threshold: float = DEFAULT_THRESHOLD,
    max_new_tokens: int = 32,
    batch_size: int = 12,
    limit: int | None = None,
    dtype: str = "float32",
    device: str | None = None,
    generate: bool = True,
) -> dict:
    """Both metrics for one model; the model loads once (the hf engine's) and serves generation and scoring."""
    from hala.translate.engines import GenSettings, Prompt, make_engine

    t0 = time.time()
    samples, rejected, digest = load_prompts(data, limit)
    engine = make_engine("hf", str(model), batch_size=batch_size, dtype=dtype, device=device)
    tok, details = engine.tokenizer, [{"id": s["id"]} for s in samples]
    samples, system_mode, system_changed = fit_system_turns(tok, samples)
    result: dict = {
        "model": str(model),
        "n": len(samples),
        "rejected": rejected,
        "system_turns_changed": system_changed,
    }

    if generate:
        t1, c1 = time.time(), time.process_time()
        prompts = [Prompt(messages=tuple(s["messages"][:-1])) for s in samples]
        gens = engine.generate(prompts, GenSettings(max_new_tokens=max_new_tokens))
        for d, g in zip(details, gens):
            letters, share = script_share(g.text, lang)
            d.update(
                answer=g.text,
                tokens=g.tokens,
                hit_max_tokens=g.hit_max_tokens,
                letters=letters,
                script_share=round(share, 4),
                in_lang=letters > 0 and share >= threshold,
            )
        seconds = time.time() - t1
        result.update(
            lang_share=round(sum(d["in_lang"] for d in details) / len(details), 4),
            mean_script_share=round(sum(d["script_share"] for d in details) / len(details), 4),
            empty_answers=sum(1 for d in details if d["letters"] == 0),
            hit_max_tokens=sum(1 for d in details if d["hit_max_tokens"]),
            generated_tokens=sum(d["tokens"] for d in details),
            generation_seconds=round(seconds, 2),
            # CPU seconds of this process: on a shared machine wall time says more about the neighbours
            generation_cpu_seconds=round(time.process_time() - c1, 2),
            answers_per_second=round(len(details) / seconds, 3) if seconds > 0 else None,
        )

    t1, c1 = time.time(), time.process_time()
    scores = reference_scores(engine.model, tok, samples, batch_size)
    for d, (ll, n) in zip(details, scores):
        d.update(ref_tokens=n, ref_logprob=round(ll, 4), ref_ppl=round(math.exp(-ll / n), 4))
    nll, tokens = -sum(ll for ll, _ in scores), sum(n for _, n in scores)
    result.update(
        ref_ppl=round(math.exp(nll / tokens), 4),
        ref_nll_per_token=round(nll / tokens, 5),
        ref_tokens=tokens,
        scoring_seconds=round(time.time() - t1, 2),
        scoring_cpu_seconds=round(time.process_time() - c1, 2),
    )

    template = tok.chat_template or ""
    result["signature"] = {
        "prompts": len(samples),
        "data": Path(_resolve(data)).name,
        "data_sha1": digest,
        "limit": limit,
        "template": "model chat template",
        "template_sha1": hashlib.sha1(template.encode()).hexdigest()[:12],
        "decoding": "greedy" if generate else None,
        "max_new_tokens": max_new_tokens if generate else None,
        "lang": lang,
        "script": "+".join(_scripts(lang)),
        "threshold": threshold if generate else None,
        "ppl": "assistant tokens (content + end of turn), token-weighted over the set",
        "dtype": dtype,
        "system_turns": system_mode,
    }
    result["signature_text"] = "|".join(f"{k}:{v}" for k, v in result["signature"].items() if v is not None)
    result["seconds"] = round(time.time() - t0, 2)
    result["details"] = details
    return result


def _scripts(lang: str) -> tuple[str, ...]:
    from hala.filters.scripts import LANGUAGE_SCRIPTS

    return LANGUAGE_SCRIPTS.get(lang, ())


def run(config: EvalInstructConfig, out_dir: Path) -> dict:
    """Write `eval_instruct.json` (summary, signature, flat metrics) and `instruct_answers.jsonl` (per prompt:
    answer, script share, reference log-likelihood and perplexity), both atomically."""
    from hala.atomic import write_json
    from hala.records import write_records

    out_dir = Path(out_dir)
    result = evaluate_instruct(
        config.model,
        config.data,
        lang=config.lang,
        threshold=config.threshold,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        limit=config.limit,
        dtype=config.dtype,
        device=config.device,
        generate=config.generate,
    )
    details = result.pop("details")
    write_records(out_dir / "instruct_answers.jsonl", details)
    metrics = {"ref_ppl": result["ref_ppl"]}
    if config.generate:
        metrics.update(lang_share=result["lang_share"], mean_script_share=result["mean_script_share"])
    summary = {"kind": "instruct", "label": config.label, **result, "metrics": metrics}
    write_json(out_dir / "eval_instruct.json", summary)
    return {
        "metrics": metrics,
        "outputs": {"summary": "eval_instruct.json", "details": "instruct_answers.jsonl"},
        "signature": result["signature_text"],
    }
