"""Any OpenAI-compatible server (`vllm serve`, llama.cpp server, TGI, hosted APIs): the way to use a served
teacher. Concurrent requests, round-robin over several base URLs with health checks, retries with exponential
backoff on 429/5xx/timeouts, the key read from an environment variable.

    make_engine("openai", "served-name", base_url="http://gpu1:8000/v1,http://gpu2:8000/v1")

Chat prompts go to `/chat/completions`, completion prompts to `/completions`. Plain `urllib` keeps this engine
free of extra dependencies. The key is only ever put in the Authorization header: never logged, printed, or
included in an error message.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hala.errors import HalaError
from hala.translate.engines.base import GenSettings, Generation, Prompt, trim_at_stop

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Statuses that say "this server is unwell" (not "you are too fast"): the request moves to another server.
SERVER_DOWN_STATUS = {500, 502, 503, 504}
# A health check answered with one of these means down (loading, overloaded, or a proxy without a back-end).
HEALTH_DOWN_STATUS = {502, 503, 504}


class OpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000/v1"],
                                description="one or more servers (a list, or URLs separated by commas)")
    api_key_env: str | None = "OPENAI_API_KEY"  # name of the variable holding the key (unset: no key sent)
    concurrency: int = Field(8, ge=1)           # requests in flight, over all servers together
    timeout: float = Field(120.0, gt=0)        # seconds per request
    max_retries: int = Field(5, ge=0)
    backoff: float = Field(1.0, ge=0)          # first retry delay in seconds, doubled each time (plus jitter)
    health_timeout: float = Field(5.0, gt=0)   # seconds for a health check (GET {base_url}/models)
    cooldown: float = Field(30.0, ge=0)        # seconds a failed server is left alone before a new health check

    @field_validator("base_url", mode="before")
    @classmethod
    def _split(cls, v):
        urls = [u.strip().rstrip("/") for u in (v.split(",") if isinstance(v, str) else v)]
        if not urls or not all(urls):
            raise ValueError("base_url needs at least one URL")
        return urls


class Servers:
    """Round-robin over base URLs. A server is used once a health check passed; a failed request marks it down
    for `cooldown` seconds, after which it is checked again before it gets traffic. With every server down,
    the one that failed longest ago is tried anyway (the caller backs off between attempts)."""

    def __init__(self, urls: list[str], health_timeout: float, cooldown: float):
        self.urls, self.health_timeout, self.cooldown = urls, health_timeout, cooldown
        self.healthy = dict.fromkeys(urls, False)
        self.down_until = dict.fromkeys(urls, 0.0)
        self.lock = threading.Lock()
        self.turn = 0

    def check(self, url: str) -> bool:
        """Up when it answers HTTP at all (any status but 5xx gateway/unavailable; a server without a
        /models route still serves completions); down on no connection or a timeout."""
        try:
            with urllib.request.urlopen(url + "/models", timeout=self.health_timeout):
                return True
        except urllib.error.HTTPError as e:
            return e.code not in HEALTH_DOWN_STATUS
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
            return False

    def refresh(self) -> None:
        """Health-check, in parallel, every server not known healthy whose cooldown is over."""
        now = time.monotonic()
        due = [u for u in self.urls if not self.healthy[u] and now >= self.down_until[u]]
        if not due:
            return
        with ThreadPoolExecutor(len(due)) as pool:
            for url, up in zip(due, pool.map(self.check, due)):
                self.mark(url, up)

    def pick(self) -> str:
        with self.lock:
            n = len(self.urls)
            for i in range(n):
                url = self.urls[(self.turn + i) % n]
                if self.healthy[url]:
                    self.turn = (self.turn + i + 1) % n
                    return url
            return min(self.urls, key=lambda u: self.down_until[u])

    def mark(self, url: str, up: bool) -> None:
        with self.lock:
            self.healthy[url] = up
            if not up:
                self.down_until[url] = time.monotonic() + self.cooldown

    def any_healthy(self) -> bool:
        return any(self.healthy.values())


class OpenAIEngine:
    name = "openai"

    def __init__(self, model: str, batch_size: int = 8, **options):
        self.model = model
        self.options = OpenAIOptions(**options)
        self.servers = Servers(self.options.base_url, self.options.health_timeout, self.options.cooldown)

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        self.servers.refresh()
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

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.options.api_key_env) if self.options.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, path: str, body: dict) -> dict:
        payload = json.dumps(body).encode("utf-8")
        delay = self.options.backoff
        for attempt in range(self.options.max_retries + 1):
            url = self.servers.pick()
            req = urllib.request.Request(url + path, data=payload, headers=self._headers(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.options.timeout) as resp:
                    data = json.loads(resp.read().decode("utf-8"))
                self.servers.mark(url, True)
                return data
            except urllib.error.HTTPError as e:
                if e.code not in RETRY_STATUS or attempt == self.options.max_retries:
                    detail = e.read().decode("utf-8", errors="replace")[:300]
                    raise HalaError(f"{url}{path}: HTTP {e.code} after {attempt + 1} attempt(s): {detail}")
                server_down, wait = e.code in SERVER_DOWN_STATUS, _retry_after(e) or delay
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if attempt == self.options.max_retries:
                    raise HalaError(f"{url}{path}: no answer after {attempt + 1} attempt(s) "
                                    f"({getattr(e, 'reason', e)})")
                server_down, wait = True, delay
            if server_down:
                self.servers.mark(url, False)
                if self.servers.any_healthy():
                    continue  # fail over to a healthy server at once; back off only when all are down
            time.sleep(wait * (1 + 0.1 * random.random()))
            delay *= 2
        raise AssertionError("unreachable")


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    try:
        return float(e.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
