"""`hala translate --distributed ray`: the runner's engine calls on the actors of a Ray cluster.

    driver   the one runner (runner.Run: reads and validates the input, segments it, plans the calls against
             the dedup cache, commits results, writes the shards, joins them), unchanged;
    actors   `RayExecutor` starts `workers` engine actors (replicas), each loading the model once; ct2/hf
             actors take `cpus_per_worker` CPUs (and as many threads), a vllm actor takes as many GPUs as its
             `tensor_parallel_size` (vLLM then spans them inside the actor), so `workers` replicas use
             `workers x tensor_parallel_size` GPUs: data parallelism over every GPU of the cluster. The guards
             and the retry ladder run in the actor (`calls.run_call`, the code the local executor runs).

Why the output equals the single-process run: the calls are planned by the same `Run.plan` (same segments in
the same calls) and run by the same `run_call`; the shards are written by the same `Run.write`. Only segment
texts travel to the actors, never whole records.

Continuous feeding: the runner keeps `workers x calls_per_worker` calls in flight, across shards; a vllm/openai
actor takes 2 at once by default (a threaded actor) and feeds them into one continuous batch; a ct2/hf actor
takes one at a time on its main thread (where its torch/CTranslate2 thread settings apply). The driver holds only the
calls in flight and the shards waiting for them, whatever the size of the input.

Resume and failures: a killed actor is restarted by Ray and the call it was running is retried
(`max_restarts=-1, max_task_retries=-1`); a killed driver resumes like the single-machine run (finished
shards skipped, cached calls not rerun).
"""

from __future__ import annotations

from hala.translate.calls import Call, CallResult, build_engine, build_fallback, run_call
from hala.translate.config import RayOptions, TranslateConfig


class EngineWorker:
    """A Ray actor: loads the engine once, then translates calls (guards and retry ladder included)."""

    def __init__(self, config: dict, cpus: float):
        import os

        c = self.config = TranslateConfig(**config)
        threads = max(1, int(cpus))
        overrides: dict = {}
        if c.engine == "ct2":
            # Its default is every core of the node, not the actor's share.
            overrides["threads"] = c.engine_options.get("threads") or threads
        if c.engine in ("hf", "ct2"):
            import torch

            torch.set_num_threads(threads)
        if c.engine == "vllm" and c.engine_options.get("tensor_parallel_size", 1) > 1:
            # Ray gave this actor its GPUs (CUDA_VISIBLE_DEVICES): vLLM's own worker processes span them.
            kwargs = dict(c.engine_options.get("llm_kwargs", {}))
            kwargs.setdefault("distributed_executor_backend", "mp")
            overrides["llm_kwargs"] = kwargs
        self.engine = build_engine(c, **overrides)
        self.fallback = build_fallback(c)
        self.pid = os.getpid()

    def run(self, call: dict) -> dict:
        return run_call(self.config, self.engine, Call(**call), self.fallback).to_json()


def plan_resources(config: TranslateConfig, opts: RayOptions, cluster_gpus: float) -> tuple[int, float]:
    """(workers, GPUs per worker): a vllm actor gets its tensor_parallel_size GPUs; with `workers` unset, a GPU
    engine gets as many replicas as the cluster's GPUs hold, a CPU engine 2."""
    tp = int(config.engine_options.get("tensor_parallel_size", 1)) if config.engine == "vllm" else 1
    gpus = opts.gpus_per_worker if opts.gpus_per_worker is not None else (float(tp) if config.engine == "vllm" else 0)
    if opts.workers is not None:
        return opts.workers, gpus
    if gpus > 0:
        return max(1, int(cluster_gpus // gpus)), gpus
    return 2, gpus


class RayExecutor:
    """The runner's executor on Ray (see the module docstring); `info` goes into the report. Ray and the actors
    start on the first call, so a finished or fully cached run starts neither."""

    def __init__(self, config: TranslateConfig):
        self.config = config
        self.actors: list = []
        self.inflight: dict = {}  # object ref -> actor number
        self.load: list[int] = []
        self.info: dict = {"workers": 0}

    @property
    def per_actor(self) -> int:
        c = self.config
        return c.ray.calls_per_worker or (2 if c.engine in ("vllm", "openai") else 1)

    @property
    def capacity(self) -> int:
        return len(self.actors) * self.per_actor if self.actors else 1

    def _start(self) -> None:
        try:
            import ray
        except ImportError:
            from hala.errors import HalaError

            raise HalaError("distributed: ray needs Ray: pip install 'hala[ray]'") from None

        opts = self.config.ray
        if not ray.is_initialized():
            ray.init(address=opts.address)
        workers, gpus = plan_resources(self.config, opts, ray.cluster_resources().get("GPU", 0))
        actor = ray.remote(EngineWorker).options(
            num_cpus=opts.cpus_per_worker,
            num_gpus=gpus,
            max_concurrency=self.per_actor,
            max_restarts=-1,
            max_task_retries=-1,
        )
        self.actors = [actor.remote(self.config.model_dump(mode="json"), opts.cpus_per_worker) for _ in range(workers)]
        self.load = [0] * workers
        self.info = {"workers": workers, "gpus_per_worker": gpus, "calls_per_worker": self.per_actor}

    def submit(self, call: Call) -> None:
        if not self.actors:
            self._start()
        i = min(range(len(self.actors)), key=self.load.__getitem__)  # the least busy actor
        ref = self.actors[i].run.remote(call.__dict__)
        self.inflight[ref] = i
        self.load[i] += 1

    def wait(self) -> list[CallResult]:
        import ray

        done, _ = ray.wait(list(self.inflight), num_returns=1)
        out = []
        for ref in done:
            self.load[self.inflight.pop(ref)] -= 1
            out.append(CallResult(**ray.get(ref)))
        return out

    def close(self) -> None:
        import ray

        for a in self.actors:  # their processes (and any GPU memory) go now, not at the driver's exit
            ray.kill(a)
        self.actors = []
