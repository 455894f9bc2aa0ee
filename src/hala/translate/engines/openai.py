"""Any OpenAI-compatible server (`vllm serve`, llama.cpp server, TGI, hosted APIs): concurrent requests,
retries with exponential backoff on 429/5xx/timeouts, the key read from an environment variable.

Chat prompts go to `/chat/completions`, completion prompts to `/completions`. Plain `urllib` keeps this engine
free of extra dependencies. The key is only ever put in the Authorization header: never logged, printed, or
included in an error message.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict, Field

from hala.errors import HalaError
from hala.translate.engines.base import GenSettings, Generation, Prompt, trim_at_stop

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: str | None = "OPENAI_API_KEY"  # name of the variable holding the key (unset: no key sent)
    concurrency: int = Field(8, ge=1)
    timeout: float = Field(120.0, gt=0)        # seconds per request
    max_retries: int = Field(5, ge=0)
    backoff: float = Field(1.0, ge=0)          # first retry delay in seconds, doubled each time (plus jitter)


class OpenAIEngine:
    name = "openai"

    def __init__(self, model: str, batch_size: int = 8, **options):
        self.model = model
        self.options = OpenAIOptions(**options)
        self.url = self.options.base_url.rstrip("/")

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        with ThreadPoolExecutor(self.options.concurrency) as pool:
            return list(pool.map(lambda p: self._one(p, settings), prompts))

    def _body(self, prompt: Prompt, settings: GenSettings) -> tuple[str, dict]:
        body = {"model": self.model, "max_tokens": settings.max_new_tokens, "temperature": 0.0}
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.repetition_penalty != 1.0:
            # The standard API has no repetition_penalty; frequency_penalty is the portable nearest knob.
            body["frequency_penalty"] = round(settings.repetition_penalty - 1.0, 3)
        if prompt.is_chat:
            return "/chat/completions", {**body, "messages": list(prompt.messages)}
        return "/completions", {**body, "prompt": prompt.text}

    def _one(self, prompt: Prompt, settings: GenSettings) -> Generation:
        path, body = self._body(prompt, settings)
        data = self._post(path, body)
        choice = data["choices"][0]
        text = choice["message"]["content"] if prompt.is_chat else choice["text"]
        text, _ = trim_at_stop(text or "", settings.stop)
        tokens = (data.get("usage") or {}).get("completion_tokens") or len(text.split())
        return Generation(text.strip(), int(tokens), choice.get("finish_reason") == "length")

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.options.api_key_env) if self.options.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        payload = json.dumps(body).encode("utf-8")
        delay = self.options.backoff
        for attempt in range(self.options.max_retries + 1):
            req = urllib.request.Request(self.url + path, data=payload, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.options.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                if e.code not in RETRY_STATUS or attempt == self.options.max_retries:
                    detail = e.read().decode("utf-8", errors="replace")[:300]
                    raise HalaError(f"{self.url}{path}: HTTP {e.code} after {attempt + 1} attempt(s): {detail}")
                wait = _retry_after(e) or delay
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.options.max_retries:
                    raise HalaError(f"{self.url}{path}: no answer after {attempt + 1} attempt(s) "
                                    f"({getattr(e, 'reason', e)})")
                wait = delay
            time.sleep(wait * (1 + 0.1 * random.random()))
            delay *= 2
        raise AssertionError("unreachable")


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    try:
        return float(e.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
