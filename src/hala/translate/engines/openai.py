"""Any OpenAI-compatible server (`vllm serve`, llama.cpp server, TGI, hosted APIs): the way to use a served
teacher. Concurrent requests, round-robin over several base URLs with health checks, retries with exponential
backoff on 429/5xx/timeouts, the key read from an environment variable.

Requests in flight: one pool of `concurrency` connections per engine, shared by every `generate` call (the
runner keeps several calls in flight, across shards), so the servers see `concurrency` requests whatever the
size of one call. Timeouts: `connect_timeout` to open a connection (none: the server is down, fail over at
once) and `read_timeout` for the answer (a long generation on a busy server is slow, not dead: it is retried
with backoff and the server stays in rotation).

    make_engine("openai", "served-name", base_url="http://gpu1:8000/v1,http://gpu2:8000/v1")

Chat prompts go to `/chat/completions`, completion prompts to `/completions`. The standard library's
`http.client` keeps this engine free of extra dependencies (and, unlike `urlopen`, gives connect and read their
own timeouts). The key is only ever put in the Authorization header: never logged, printed, or
included in an error message.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from hala.errors import HalaError
from hala.translate.engines.base import Generation, GenSettings, Prompt, trim_at_stop
from hala.translate.engines.options import OpenAIOptions

__all__ = ["OpenAIEngine", "OpenAIOptions", "Servers"]

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Statuses that say "this server is unwell" (not "you are too fast"): the request moves to another server.
SERVER_DOWN_STATUS = {500, 502, 503, 504}
# A health check answered with one of these means down (loading, overloaded, or a proxy without a back-end).
HEALTH_DOWN_STATUS = {502, 503, 504}


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


class ReadTimeout(Exception):
    """The server accepted the request but did not answer within `read_timeout`."""


class OpenAIEngine:
    name = "openai"

    def __init__(self, model: str, batch_size: int = 8, **options):
        self.model = model
        self.options = OpenAIOptions(**options)
        self.servers = Servers(self.options.base_url, self.options.health_timeout, self.options.cooldown)
        self.pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="openai")
        self.prompts_in_flight = 2 * self.options.concurrency  # the runner keeps the pool's queue full
        self._refresh = threading.Lock()

    def generate(self, prompts: list[Prompt], settings: GenSettings) -> list[Generation]:
        with self._refresh:
            self.servers.refresh()
        futures = [self.pool.submit(self._one, p, settings) for p in prompts]
        return [f.result() for f in futures]

    def _body(self, prompt: Prompt, settings: GenSettings) -> tuple[str, dict]:
        # No tokenizer here: the source's tokens are estimated at 4 characters each for the length-aware cap.
        limit = settings.limit(None if prompt.source is None else -(-len(prompt.source) // 4))
        body = {"model": self.model, "max_tokens": limit, "temperature": 0.0}
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

    def _request(self, url: str, path: str, payload: bytes) -> tuple[int, dict, bytes]:
        """(status, headers, body) of one POST; ConnectionError/OSError when no connection could be made,
        ReadTimeout when the answer took longer than `read_timeout`."""
        o = self.options
        parts = urllib.parse.urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=o.connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(o.read_timeout)
            try:
                conn.request("POST", parts.path + path, body=payload, headers=self._headers())
                resp = conn.getresponse()
                return resp.status, dict(resp.getheaders()), resp.read()
            except (TimeoutError, socket.timeout) as e:
                raise ReadTimeout(f"no answer within read_timeout={o.read_timeout:g}s") from e
        finally:
            conn.close()

    def _post(self, path: str, body: dict) -> dict:
        o = self.options
        payload = json.dumps(body).encode("utf-8")
        delay = o.backoff
        for attempt in range(o.max_retries + 1):
            url = self.servers.pick()
            last = attempt == o.max_retries
            try:
                status, headers, raw = self._request(url, path, payload)
            except ReadTimeout as e:
                if last:
                    raise HalaError(f"{url}{path}: no answer after {attempt + 1} attempt(s) ({e})") from e
                server_down, wait = False, delay  # busy, not dead: keep it in rotation and back off
            except (ConnectionError, TimeoutError, OSError, http.client.HTTPException) as e:
                if last:
                    raise HalaError(f"{url}{path}: no answer after {attempt + 1} attempt(s) ({e})") from e
                server_down, wait = True, delay
            else:
                if status < 400:
                    self.servers.mark(url, True)
                    return json.loads(raw.decode("utf-8"))
                if status not in RETRY_STATUS or last:
                    detail = raw.decode("utf-8", errors="replace")[:300]
                    raise HalaError(f"{url}{path}: HTTP {status} after {attempt + 1} attempt(s): {detail}")
                server_down, wait = status in SERVER_DOWN_STATUS, _retry_after(headers) or delay
            if server_down:
                self.servers.mark(url, False)
                if self.servers.any_healthy():
                    continue  # fail over to a healthy server at once; back off only when all are down
            time.sleep(min(wait, o.max_backoff) * (1 + 0.1 * random.random()))
            delay = min(delay * 2, o.max_backoff)
        raise AssertionError("unreachable")


def _retry_after(headers: dict) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
