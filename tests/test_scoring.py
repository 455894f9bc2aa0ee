"""hala.scoring, the one LM-scoring module: its log-likelihoods equal a hand-computed sum of log-softmax over a
plain forward pass on a tiny model, and neither batching, request order, padding nor truncation changes them."""

from __future__ import annotations

import random

import pytest

from hala.scoring import (
    TextBatch,
    continuation_loglikelihoods,
    encode_continuation,
    encode_texts,
    length_batches,
    next_token_logprobs,
    pad_token_id,
    perplexity,
    right_pad,
    text_batches,
    texts_nll,
    truncate_context,
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "مرحبا، كيف حالك اليوم؟",
    "Hello",
    "الرياض هي عاصمة المملكة العربية السعودية. " * 3,
    "def f(x): return x * 2",
]


@pytest.fixture(scope="module")
def lm(tiny_model):
    import torch

    from hala.models import load_model, load_tokenizer

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model on a shared machine: threading overhead dominates
    yield load_model(tiny_model), load_tokenizer(tiny_model)
    torch.set_num_threads(before)


def _plain_logprobs(model, ids: list[int]):
    """Independent reference: one unbatched, unpadded forward pass, log-softmax by hand."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    return logits - torch.logsumexp(logits, dim=-1, keepdim=True)


def _by_hand(model, ctx, cont) -> float:
    lp = _plain_logprobs(model, list(ctx) + list(cont))
    return sum(lp[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont))


def _requests(tok):
    contexts = ["السؤال: ما عاصمة السعودية؟ الإجابة:", "The quick brown fox", "Hello, how are you today?"]
    conts = ["أ", "ب", " jumps over the lazy dog.", "الرياض"]
    return [encode_continuation(tok, c, x) for c in contexts for x in conts]


def test_continuation_loglik_is_the_hand_computed_sum_of_log_softmax(lm):
    model, tok = lm
    requests = _requests(tok)
    lengths = {len(cont) for _, cont in requests}
    assert 1 in lengths and max(lengths) > 1  # both paths: last position only, and the reused KV cache
    got = continuation_loglikelihoods(model, requests, pad_token_id(tok), batch_size=2)
    for (ctx, cont), score in zip(requests, got):
        assert score == pytest.approx(_by_hand(model, ctx, cont), rel=1e-5)


def test_batch_size_request_order_and_padding_do_not_change_continuation_scores(lm):
    model, tok = lm
    requests = _requests(tok)
    base = continuation_loglikelihoods(model, requests, pad_token_id(tok), batch_size=1)
    order = list(range(len(requests)))
    random.Random(0).shuffle(order)
    for batch_size, pad in ((3, pad_token_id(tok)), (8, 0), (8, tok.eos_token_id)):
        shuffled = continuation_loglikelihoods(model, [requests[i] for i in order], pad, batch_size=batch_size)
        assert [shuffled[order.index(i)] for i in range(len(requests))] == pytest.approx(base, rel=1e-5)


def test_an_overlong_context_is_cut_from_the_left(lm):
    model, tok = lm
    ctx, cont = encode_continuation(tok, "مرحبا، كيف حالك اليوم؟ " * 6, "القط يجلس على الحصيرة.")
    assert len(ctx) > 20 and len(cont) > 1
    kept = truncate_context(ctx, len(cont), 20)
    assert kept == ctx[-(21 - len(cont)) :] and len(kept) + len(cont) == 21  # the last token is never input
    (short,) = continuation_loglikelihoods(model, [(ctx, cont)], pad_token_id(tok), max_length=20)
    assert short == pytest.approx(_by_hand(model, kept, cont), rel=1e-5)
    (full,) = continuation_loglikelihoods(model, [(ctx, cont)], pad_token_id(tok))
    assert full != pytest.approx(short, rel=1e-5)  # the cut really dropped context the score depends on


def test_text_log_probs_skip_padding_and_do_not_depend_on_the_batch(lm):
    model, tok = lm
    seqs = encode_texts(tok, TEXTS)
    assert len(seqs[2]) == 1  # a one-token text: predicts nothing, counts nothing
    hand_nll = -sum(
        lp[k, ids[k + 1]].item() for ids in seqs for lp in [_plain_logprobs(model, ids)] for k in range(len(ids) - 1)
    )
    n_tokens = sum(len(ids) - 1 for ids in seqs)
    for batch_size in (1, 2, 5):
        batches = text_batches(tok, TEXTS, batch_size)
        assert sum(b.rows for b in batches) == len(TEXTS)
        nll, tokens = texts_nll(model, batches)
        assert tokens == n_tokens and nll == pytest.approx(hand_nll, rel=1e-5)
    batch = TextBatch.of(seqs, pad_token_id(tok))
    assert next_token_logprobs(model, batch).shape == (n_tokens, len(tok))
    assert perplexity(hand_nll, n_tokens) == pytest.approx(2.718281828459045 ** (hand_nll / n_tokens))


def test_truncation_keeps_the_first_tokens_and_special_tokens_follow_the_flag(lm):
    from tokenizers import processors

    _, tok = lm
    full = encode_texts(tok, TEXTS)
    assert encode_texts(tok, TEXTS, max_tokens=4) == [ids[:4] for ids in full]
    assert encode_texts(tok, [], max_tokens=4) == [] and text_batches(tok, [], 2) == []
    bos_tok = tok.__class__(
        tokenizer_object=tok.backend_tokenizer.__class__.from_str(tok.backend_tokenizer.to_str()),
        bos_token=tok.bos_token,
        eos_token=tok.eos_token,
        pad_token=tok.pad_token,
    )
    bos_tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{tok.bos_token} $A", special_tokens=[(tok.bos_token, tok.bos_token_id)]
    )
    with_bos = encode_texts(bos_tok, TEXTS)
    assert with_bos == [[tok.bos_token_id] + ids for ids in full]
    assert encode_texts(bos_tok, TEXTS, add_special_tokens=False) == full  # a rendered chat template: none added
    ctx, cont = encode_continuation(bos_tok, "Answer: ", "A")
    assert ctx[0] == tok.bos_token_id and tok.bos_token_id not in cont  # BOS once, before the context
    assert (ctx, cont) == encode_continuation(bos_tok, "Answer:", " A")  # trailing space moves to the continuation


def test_padding_and_length_batches():
    ids, mask = right_pad([(5, 6, 7), (8,)], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    batch = TextBatch(ids, mask)
    assert batch.positions.tolist() == [[True, True], [False, False]] and batch.targets.tolist() == [[6], [7]]
    assert length_batches([3, 1, 2, 1], 2) == [[1, 3], [2, 0]]  # shortest first, ties in input order
    assert length_batches([3, 1, 2, 1], 3, longest_first=True) == [[0, 2, 1], [3]]
