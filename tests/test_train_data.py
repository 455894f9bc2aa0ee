"""Training-data preparation at scale (defect 8), attention choice per architecture (defect 1) and FSDP's own
activation checkpointing (defect 10), on tiny models."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from hala.prompts import translation_messages
from hala.records import RejectLog
from hala.train import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def _write(path: Path, n: int, bad: bool = True) -> Path:
    rows = []
    for i in range(n):
        msgs = translation_messages(f"sentence number {i}", "en", "ar") + [
            {"role": "assistant", "content": f"جملة {i}"}
        ]
        if i % 3 == 0:  # multi-turn
            msgs += [{"role": "user", "content": f"and {i}?"}, {"role": "assistant", "content": f"و {i}"}]
        rows.append(json.dumps({"id": f"s{i}", "messages": msgs}, ensure_ascii=False))
    if bad:
        rows += ["{not json", json.dumps({"id": "u", "messages": [{"role": "user", "content": "only a user"}]})]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _tokenizer(model_dir, template=None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if template:
        tok.chat_template = template
    return tok


def _reference_labels(tok, messages, strategy):
    """The per-sample path hala used before (TRL's assistant mask / hala's prefix mask), as an oracle."""
    from hala.train.masks import tokenize_with_prefix_mask

    if strategy == "prefix":
        enc = tokenize_with_prefix_mask(tok, messages)
        ids, mask = enc["input_ids"], enc["assistant_masks"]
    else:
        enc = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = enc["input_ids"], enc["assistant_masks"]
    return ids, [t if m else -100 for t, m in zip(ids, mask)]


@pytest.mark.parametrize("unmarked", [False, True])
def test_cached_rows_equal_the_per_sample_labels_and_rejects_name_the_line(tiny_model, tmp_path, unmarked):
    from hala.testing import CHATML_TEMPLATE
    from hala.train.data import prepare_dataset
    from hala.train.masks import mask_strategy

    template = CHATML_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "") if unmarked else None
    tok = _tokenizer(tiny_model, template)
    strategy = mask_strategy(tok)
    assert strategy == ("prefix" if unmarked else "markers")
    data = _write(tmp_path / "train.jsonl", 12)
    rejects = RejectLog()
    ds, meta = prepare_dataset(str(data), tok, strategy, 512, rejects, cache_root=tmp_path / "cache", num_proc=1)
    assert meta["records"] == 14 and meta["examples"] == 12 and len(ds) == 12
    assert sorted((r.line, r.reason.split(":")[0]) for r in rejects.examples) == [
        (13, "invalid JSON"),
        (14, "no assistant turn"),
    ]
    lines = [json.loads(x) for x in data.read_text().splitlines()[:12]]
    for row, obj in zip(ds, lines):
        ids, labels = _reference_labels(tok, obj["messages"], strategy)
        assert row["input_ids"] == ids and row["labels"] == labels and row["length"] == len(ids)


def test_cache_is_reused_by_a_rerun_and_keyed_by_data_tokenizer_and_settings(tiny_model, tmp_path, monkeypatch):
    import hala.train.data as data_mod

    tok = _tokenizer(tiny_model)
    data = _write(tmp_path / "train.jsonl", 6)
    cache = tmp_path / "cache"
    first, meta = data_mod.prepare_dataset(str(data), tok, "markers", 512, RejectLog(), cache_root=cache, num_proc=1)
    builds = []
    real_build = data_mod.build
    monkeypatch.setattr(data_mod, "build", lambda *a, **k: builds.append(a) or real_build(*a, **k))
    again_rejects = RejectLog()
    again, meta2 = data_mod.prepare_dataset(str(data), tok, "markers", 512, again_rejects, cache_root=cache)
    assert builds == [] and meta2["cache_dir"] == meta["cache_dir"] and again["input_ids"] == first["input_ids"]
    assert again_rejects.total == 2  # a rerun still reports the rejects of its data
    cut = max(first["length"]) - 1
    data_mod.prepare_dataset(str(data), tok, "markers", cut, RejectLog(), cache_root=cache)  # other max_length
    _write(data, 7)  # other content
    data_mod.prepare_dataset(str(data), tok, "markers", 512, RejectLog(), cache_root=cache)
    assert len(builds) == 2 and len(list(cache.glob("*/meta.json"))) == 3
    truncated = data_mod.prepare_dataset(str(data), tok, "markers", cut, RejectLog(), cache_root=cache)[0]
    assert max(truncated["length"]) == cut and len(builds) == 3


def test_forked_map_workers_get_the_tokenizer_by_key_not_by_pickle(tiny_model, tmp_path, monkeypatch):
    # 28 MB of pickle per worker for Gemma-3's tokenizer (4 s to make, serially in the parent) and a private copy
    # in each (20k-record build 25.7 s -> 13.3 s, heap 2.15 -> 0.84 GB, same rows: docs/BENCHMARKS.md).
    import hala.train.data as data_mod

    data = _write(tmp_path / "train.jsonl", 1000, bad=False)  # >= 1,000 rows: the map uses 2 workers
    one, _ = data_mod.prepare_dataset(
        str(data), _tokenizer(tiny_model), "markers", 512, RejectLog(), cache_root=tmp_path / "c1", num_proc=1
    )
    tok = _tokenizer(tiny_model)

    def refuse(self, protocol):
        raise AssertionError("the tokenizer was pickled for the map workers")

    monkeypatch.setattr(type(tok), "__reduce_ex__", refuse)
    two, meta = data_mod.prepare_dataset(
        str(data), tok, "markers", 512, RejectLog(), cache_root=tmp_path / "c2", num_proc=2
    )
    assert meta["num_proc"] == 2 and len(two) == 1000
    assert two["input_ids"] == one["input_ids"] and two["labels"] == one["labels"]
    assert data_mod._LENT_TOKENIZERS == {}  # released once the workers ended


def test_spawned_map_workers_get_the_tokenizer_itself(monkeypatch):
    import multiprocess

    from hala.train.data import _LENT_TOKENIZERS, LentTokenizer, _lent_to_workers

    tok = object()
    assert _lent_to_workers(tok, 1) is tok  # one process: nothing is pickled
    monkeypatch.setattr(multiprocess, "get_start_method", lambda: "spawn")
    assert _lent_to_workers(tok, 2) is tok  # a spawned worker starts empty: it must receive the object
    monkeypatch.setattr(multiprocess, "get_start_method", lambda: "fork")
    lent = _lent_to_workers(tok, 2)
    assert isinstance(lent, LentTokenizer) and lent.resolve() is tok
    _LENT_TOKENIZERS.pop(lent.key)


def _prepare_in_process(args):
    model_dir, data, cache = args
    from transformers import AutoTokenizer

    from hala.train.data import prepare_dataset

    ds, meta = prepare_dataset(
        data, AutoTokenizer.from_pretrained(model_dir), "markers", 512, RejectLog(), cache_root=Path(cache), num_proc=1
    )
    return meta["build_seconds"], meta["cache_dir"], len(ds)


@pytest.mark.slow
def test_two_ranks_at_once_build_the_cache_once(tiny_model, tmp_path):
    data = _write(tmp_path / "train.jsonl", 40)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_prepare_in_process, [(str(tiny_model), str(data), str(tmp_path / "cache"))] * 2)
    assert len({r[1] for r in results}) == 1 and {r[2] for r in results} == {40}
    assert len(list((tmp_path / "cache").glob("*/meta.json"))) == 1


def test_vectorised_mask_equals_the_overlap_rule():
    from hala.train.masks import token_mask

    rng = np.random.default_rng(0)
    starts = np.sort(rng.integers(0, 500, 200))
    offsets = np.stack([starts, starts + rng.integers(0, 6, 200)], axis=1)
    spans = [(10, 40), (100, 101), (300, 480)]
    naive = [int(any(a < e and b > s for s, e in spans)) for a, b in offsets]
    assert token_mask(offsets, spans).tolist() == naive


_TURNS = [
    "<start_of_turn>user\nthe cat sat 😀 مرحبا، كيف حالك<end_of_turn>\n"
    "<start_of_turn>model\nthe answer é  x<end_of_turn>\n",
    "<start_of_turn>model\n# code\n\tdef f(x):\n\t\treturn x ** 2 🧪<end_of_turn>\n",
    "<start_of_turn>user\na ▁ literal piece<end_of_turn>\n<start_of_turn>model\nok<end_of_turn>\n",
]


def _metaspace_backend():
    """A Gemma-3-style tokenizer in miniature: space -> '▁', split on nothing, BPE with <0xNN> byte pieces
    (emoji fall back to them) and added turn tokens."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    chars = sorted(set("".join(_TURNS).replace(" ", "▁")) - set("😀🧪") - {"<", ">"})
    vocab = {"<unk>": 0, **{f"<0x{b:02X}>": 1 + b for b in range(256)}}
    for piece in chars + ["▁t", "he", "▁the", "<", ">"]:
        vocab.setdefault(piece, len(vocab))
    merges = [("▁", "t"), ("h", "e"), ("▁t", "he")]
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tk.normalizer = normalizers.Replace(" ", "▁")
    tk.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tk.add_special_tokens(["<start_of_turn>", "<end_of_turn>"])
    return tk


def _spans(text):
    """Every model turn, one span starting inside a word, one empty span."""
    spans, at = [], 0
    while (start := text.find("model\n", at)) >= 0:
        start += len("model\n")
        at = text.index("<end_of_turn>", start) + len("<end_of_turn>")
        spans.append((start, at))
    return spans + [(3, 9), (5, 5)]


@pytest.mark.parametrize("kind", ["bytelevel", "metaspace"])
def test_token_lengths_give_exactly_the_tokenizers_own_ids_and_masks(tiny_model, monkeypatch, kind):
    """The offsets-free path (`encode_batch_fast` + a per-id byte-length table) equals the tokenizer's own
    offsets path on Arabic, emoji (byte pieces), tabs and spans that start inside a word; a text with a literal
    '▁' (which the table cannot tell from a space) falls back, and nothing else does."""
    from hala.train import masks

    backend = _tokenizer(tiny_model).backend_tokenizer if kind == "bytelevel" else _metaspace_backend()
    assert masks._spelling(backend) == kind
    texts = _TURNS * 3
    spans_of = [_spans(t) for t in texts]
    calls = []
    by_offsets = masks._by_offsets
    monkeypatch.setattr(masks, "_by_offsets", lambda b, t, s: calls.extend(t) or by_offsets(b, t, s))
    got = masks.encode_with_masks(backend, texts, spans_of)
    for text, spans, (ids, mask) in zip(texts, spans_of, got):
        enc = backend.encode(text, add_special_tokens=False)  # the oracle: the tokenizer's character offsets
        assert ids.tolist() == enc.ids
        offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
        assert mask.tolist() == masks.token_mask(offsets, [(s, e) for s, e in spans if e > s]).tolist()
        assert mask.any()
    literal = sum("▁" in t for t in texts) if kind == "metaspace" else 0
    assert len(calls) == 1 + literal  # the per-batch check, plus only the texts the table cannot spell


def test_a_wrong_length_table_is_caught_and_the_tokenizers_offsets_used(monkeypatch, caplog):
    """The per-batch comparison with the tokenizer's own offsets: byte positions that are off by one (what a
    wrong length table would give while the lengths still add up) switch the tokenizer to its offsets path."""
    from hala.train import masks

    backend = _metaspace_backend()
    byte_spans = masks._byte_spans
    monkeypatch.setattr(masks, "_byte_spans", lambda t, s: [(a + 1, b + 1) for a, b in byte_spans(t, s)])
    texts = _TURNS[:2]
    got = masks.encode_with_masks(backend, texts, [_spans(t) for t in texts])
    want = masks._by_offsets(backend, texts, [_spans(t) for t in texts])
    assert all(np.array_equal(g[0], w[0]) and np.array_equal(g[1], w[1]) for g, w in zip(got, want))
    assert "disagree with the tokenizer's offsets" in caplog.text
    assert masks.token_byte_lengths(backend) is None  # off for this tokenizer from now on


def test_tokenizers_that_rewrite_text_get_no_length_table(tiny_model):
    from tokenizers import normalizers

    from hala.train.masks import token_byte_lengths

    backend = _metaspace_backend()
    backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    assert token_byte_lengths(backend) is None
    prefixed = _tokenizer(tiny_model).backend_tokenizer
    from tokenizers import pre_tokenizers

    prefixed.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)  # a space the text does not have
    assert token_byte_lengths(prefixed) is None
    from tokenizers import processors

    trimmed = _tokenizer(tiny_model).backend_tokenizer
    assert token_byte_lengths(trimmed) is not None
    trimmed = _tokenizer(tiny_model).backend_tokenizer
    trimmed.post_processor = processors.ByteLevel(trim_offsets=True)  # offsets without their leading space
    assert token_byte_lengths(trimmed) is None


def test_packing_trains_padding_free_from_packed_rows(tiny_model, tmp_path):
    from hala.train.stage import prepare

    data = _write(tmp_path / "train.jsonl", 12, bad=False)
    config = TrainConfig(
        model=str(tiny_model),
        train=str(data),
        max_steps=1,
        batch_size=2,
        max_length=128,
        packing=True,
        data_cache=str(tmp_path / "cache"),
        mode="full",
    )
    session = prepare(config, tmp_path / "out")
    ds = session.trainer.train_dataset
    assert session.n_train == 12 and len(ds) < 12 and "seq_lengths" in ds.column_names
    assert sum(len(s) for s in ds["seq_lengths"]) == 12 and max(ds["length"]) <= 128
    assert session.trainer.args.padding_free
    session.trainer.train()
    assert session.trainer.state.global_step == 1


def test_attention_is_left_to_transformers_so_gemma2_loads(tmp_path):
    """Defect 1: Fanar-1-9B is Gemma2ForCausalLM, which refuses an explicit sdpa request in transformers 5.24;
    the default now lets transformers choose (eager for Gemma-2, sdpa where supported)."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from hala.train.stage import load_base_model

    Gemma2ForCausalLM(
        Gemma2Config(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
        )
    ).save_pretrained(tmp_path)
    config = TrainConfig(model=str(tmp_path), train="t.jsonl")
    assert config.attn_implementation == "auto"
    model = load_base_model(config, tmp_path, dtype=None)
    assert model.config._attn_implementation in ("eager", "flex_attention")
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):  # what the old default did
        load_base_model(config.model_copy(update={"attn_implementation": "sdpa"}), tmp_path, dtype=None)


def test_fsdp_checkpointing_is_fsdps_own_not_the_trainer_argument(tmp_path, monkeypatch):
    """Defect 10: under an FSDP launch the Trainer argument stays off and FSDP's activation checkpointing carries
    hala's decision (accelerate's plugin reads FSDP_ACTIVATION_CHECKPOINTING)."""
    from hala.train.hardware import Plan, apply_fsdp_checkpointing, plan
    from hala.train.stage import sft_args

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.delenv("FSDP_ACTIVATION_CHECKPOINTING", raising=False)
    cfg = TrainConfig(model="m", train="t", gradient_checkpointing=True)
    p = plan(cfg, n_params=9_000_000_000)
    assert p.fsdp and p.gradient_checkpointing
    apply_fsdp_checkpointing(p)
    import os

    assert os.environ["FSDP_ACTIVATION_CHECKPOINTING"] == "true"
    monkeypatch.delenv("ACCELERATE_USE_FSDP")
    cpu = Plan(device="cpu", bf16=False, gradient_checkpointing=True, label_only_head=True, fsdp=True)
    assert sft_args(cfg, tmp_path, cpu, has_dev=False).activation_checkpointing is False
    ddp = Plan(device="cpu", bf16=False, gradient_checkpointing=True, label_only_head=True, fsdp=False)
    assert sft_args(cfg, tmp_path, ddp, has_dev=False).activation_checkpointing is True
