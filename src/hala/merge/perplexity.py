"""Token-level perplexity of a model on a small text set: a task-free way to rank merge candidates.

Texts come from a `.txt` file (one per non-empty line) or any record file: a chat sample is rendered with the
model's chat template (its turns joined by blank lines when it has none), a pair contributes its target side
(the language being trained). Unreadable records are skipped and counted, never silently. The scoring itself
(tokenizing, truncation, log-probabilities, perplexity) is hala.scoring's, shared with evaluation and quantize.
"""

from __future__ import annotations

from pathlib import Path

from hala.errors import HalaError

MAX_TOKENS = 256  # per text; keeps a 262k-vocabulary model's logits small on a laptop
BATCH_SIZE = 1  # texts per forward pass: one text's 256 x 262k float32 logits are already ~0.27 GB


def _texts(path: Path, limit: int | None, tokenizer) -> tuple[list[str], bool, int]:
    """(texts, rendered_with_chat_template, rejected)."""
    from hala.records import ChatSample, RejectLog, read_records

    if path.suffix == ".txt":
        lines = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]
        return [line for line in lines if line.strip()][:limit], False, 0
    texts, chat, rejects = [], False, RejectLog()
    for record in read_records(path, None, rejects):
        if isinstance(record, ChatSample):
            messages = [m.model_dump() for m in record.messages]
            if tokenizer.chat_template:
                texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
                chat = True
            else:
                texts.append("\n\n".join(m["content"] for m in messages))
        else:
            texts.append(record.tgt)
        if limit and len(texts) >= limit:
            break
    return texts, chat, rejects.total


def perplexity(model_dir: str | Path, path: str | Path, limit: int | None = None) -> dict:
    """exp(total negative log-likelihood / predicted tokens) over the texts, each keeping its first MAX_TOKENS
    tokens; a one-token text predicts nothing and counts no token."""
    from hala.models import load_model, load_tokenizer
    from hala.scoring import perplexity as exp_mean_nll
    from hala.scoring import text_batches, texts_nll

    tokenizer = load_tokenizer(model_dir)
    texts, chat, rejected = _texts(Path(path), limit, tokenizer)
    # A rendered chat template already holds the BOS token.
    batches = text_batches(tokenizer, texts, BATCH_SIZE, add_special_tokens=not chat, max_tokens=MAX_TOKENS)
    nll, tokens = texts_nll(load_model(model_dir), batches)
    if not tokens:
        raise HalaError(f"{path}: no text with at least two tokens to compute perplexity on")
    return {"perplexity": exp_mean_nll(nll, tokens), "tokens": tokens, "texts": len(texts), "rejected": rejected}
