"""transformers `generate`: works for any causal LM hala can load. Greedy, length-sorted batches, left padding.

Sorting prompts by length before batching keeps padding (wasted compute) small; left padding keeps every
prompt's last token at the same position so a batch decodes together. The default precision is bf16 where the
device computes it natively (GPUs; CPUs with avx512_bf16/AMX: measured ~2× faster than fp32 there) and fp32
elsewhere: on a CPU without native bf16 it is emulated, ~4.6× slower than fp32 (docs/QUANTIZE.md).
"""

from __future__ import annotations

from hala.translate.engines.base import (
    Generation,
    GenSettings,
    Prompt,
    eos_ids,
    finish,
    prompt_ids,
    prompt_limits,
    stop_token_ids,
)
from hala.translate.engines.options import HFOptions

__all__ = ["HFEngine", "HFOptions"]


class HFEngine:
    name = "hf"

    def __init__(self, model: str, batch_size: int = 8, **options):
        from hala.models import load_model, load_tokenizer

        o = HFOptions(**options)
        tokenizer = load_tokenizer(model, trust_remote_code=o.trust_remote_code)
        loaded = load_model(
            model, dtype=o.dtype or _fast_dtype(o.device), trust_remote_code=o.trust_remote_code, device=o.device
        )
        self._attach(loaded, tokenizer, batch_size, o)

    @classmethod
    def from_loaded(cls, model, tokenizer, batch_size: int = 8, **options) -> HFEngine:
        """The engine around a model and tokenizer already in memory (quantize's checks loaded them for another
        check): nothing is loaded again, and generation is the same code."""
        engine = cls.__new__(cls)
        engine._attach(model, tokenizer, batch_size, HFOptions(**options))
        return engine

    def _attach(self, model, tokenizer, batch_size: int, options: HFOptions) -> None:
        self.options, self.batch_size = options, batch_size
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"  # every prompt's last token at the same position

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        ids = [prompt_ids(self.tokenizer, p) for p in prompts]
        limits = prompt_limits(self.tokenizer, prompts, settings)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[Generation | None] = [None] * len(ids)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for i, gen in zip(batch, self._batch([ids[i] for i in batch], [limits[i] for i in batch], settings)):
                out[i] = gen
        return out  # type: ignore[return-value]

    def _batch(self, batch: list[list[int]], limits: list[int], settings: GenSettings) -> list[Generation]:
        import torch

        tok = self.tokenizer
        enc = tok.pad({"input_ids": batch}, padding=True, return_tensors="pt").to(self.model.device)
        ends = eos_ids(tok, self.model.generation_config) | stop_token_ids(tok, settings.stop)
        with torch.no_grad():  # the batch runs to its longest row's limit; each row is cut at its own
            seqs = self.model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=max(limits),
                repetition_penalty=settings.repetition_penalty,
                eos_token_id=sorted(ends),
                pad_token_id=tok.pad_token_id,
                top_p=None,
                top_k=None,
                temperature=None,
            )
        new = seqs[:, enc["input_ids"].shape[1] :].tolist()
        return [finish(tok, row[:n], ends, n, settings.stop) for row, n in zip(new, limits)]


def _fast_dtype(device: str | None) -> str:
    from hala.devices import native_bf16

    return "bfloat16" if native_bf16(device or "cpu") else "float32"  # no device: load_model keeps it on CPU
