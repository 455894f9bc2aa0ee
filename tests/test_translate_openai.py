"""The openai engine as the way to use served teachers: several real HTTP servers on 127.0.0.1 (stdlib
http.server in threads), round-robin with health checks, fail-over when a server is down or dies mid-run, and
the API key taken from the environment and never printed or written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from fake_http import JSONHandler, serve

from hala.translate.engines import GenSettings, Prompt, make_engine

KEY = "sk-hala-test-7f3c9d"
# A stand-in "translation": Latin letters to Arabic ones, everything else (digits, placeholders, punctuation) kept.
LATIN = "abcdefghijklmnopqrstuvwxyz"
ARABIC = str.maketrans(LATIN + LATIN.upper(), "ابتثجحخدذرزسشصضطظعغفقكلمنه" * 2)


class FakeOpenAI:
    """A real OpenAI-compatible server: GET /v1/models, POST /v1/chat/completions; counts what it served and
    can be told to die (close its socket) after `die_after` completions."""

    def __init__(self, die_after: int | None = None, delay: float = 0.0, slow_first: float = 0.0):
        self.served, self.health_checks, self.auth = 0, 0, set()
        self.die_after = die_after
        self.delay, self.slow_first = delay, slow_first  # seconds per answer; extra for the very first request
        self.posts = self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(JSONHandler):
            def do_GET(self):
                with fake.lock:
                    fake.health_checks += 1
                self._send(200, {"object": "list", "data": [{"id": "served-model", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.auth.add(self.headers.get("Authorization"))
                    if fake.die_after is not None and fake.served >= fake.die_after:
                        threading.Thread(target=fake.stop, daemon=True).start()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)  # the client sees a dropped connection
                        return
                    fake.served += 1
                    fake.posts += 1
                    first = fake.posts == 1
                    fake.inflight += 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight)
                time.sleep(fake.delay + (fake.slow_first if first else 0))
                with fake.lock:
                    fake.inflight -= 1
                text = body["messages"][-1]["content"].split("\n", 1)[1]
                out = text.translate(ARABIC)
                self._send(
                    200,
                    {
                        "choices": [{"message": {"role": "assistant", "content": out}, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": len(out.split())},
                    },
                )

        self.httpd, self.url, self.thread = serve(Handler)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _dead_url() -> str:
    """A 127.0.0.1 port with nothing listening (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def servers():
    live = [FakeOpenAI(), FakeOpenAI()]
    yield live
    for s in live:
        s.stop()


def _prompts(n: int) -> list[Prompt]:
    return [Prompt(messages=({"role": "user", "content": f"Translate:\nsentence number {i} here"},)) for i in range(n)]


def test_round_robin_skips_a_down_server_and_sends_every_request_once(servers):
    dead = _dead_url()
    eng = make_engine(
        "openai",
        "served-model",
        base_url=",".join([servers[0].url, dead, servers[1].url]),
        concurrency=4,
        backoff=0.01,
        health_timeout=2,
    )
    gens = eng.generate(_prompts(20), GenSettings(max_new_tokens=16))
    assert [g.text for g in gens] == [f"sentence number {i} here".translate(ARABIC) for i in range(20)]
    assert servers[0].health_checks == servers[1].health_checks == 1  # checked once, before any traffic
    assert servers[0].served == servers[1].served == 10  # round-robin over the live two
    assert eng.servers.healthy == {servers[0].url: True, dead: False, servers[1].url: True}


def test_a_server_dying_mid_run_fails_over_and_loses_nothing(servers):
    dying = FakeOpenAI(die_after=3)
    try:
        eng = make_engine(
            "openai", "served-model", base_url=[dying.url, servers[0].url], concurrency=2, backoff=0.01, cooldown=60
        )
        gens = eng.generate(_prompts(16), GenSettings(max_new_tokens=16))
        assert [g.text for g in gens] == [f"sentence number {i} here".translate(ARABIC) for i in range(16)]
        assert dying.served == 3 and servers[0].served == 13
        assert eng.servers.healthy[dying.url] is False
    finally:
        dying.httpd.server_close()


def test_all_servers_down_is_one_clear_error():
    from hala.errors import HalaError

    eng = make_engine(
        "openai", "m", base_url=[_dead_url(), _dead_url()], max_retries=2, backoff=0, timeout=2, health_timeout=1
    )
    with pytest.raises(HalaError, match="no answer after 3 attempt"):
        eng.generate(_prompts(1), GenSettings())


def test_base_url_option_forms():
    from pydantic import ValidationError

    from hala.translate.engines.openai import OpenAIOptions

    assert OpenAIOptions(base_url="http://a:8000/v1/, http://b:8000/v1").base_url == [
        "http://a:8000/v1",
        "http://b:8000/v1",
    ]
    with pytest.raises(ValidationError):
        OpenAIOptions(base_url="http://a:8000/v1,,")


def test_cli_translates_every_record_with_one_server_down_and_never_shows_the_key(servers, tmp_path):
    rows = [
        {
            "id": f"r{i}",
            "messages": [
                {"role": "user", "content": f"Please list item {i} for me."},
                {"role": "assistant", "content": f"Item {i} is `x{i}` at https://e.org/{i}."},
            ],
        }
        for i in range(12)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    urls = ",".join([servers[0].url, _dead_url(), servers[1].url])
    cmd = [
        sys.executable,
        "-c",
        "from hala.cli import main; main()",
        "translate",
        str(src),
        "-m",
        "served-model",
        "-o",
        str(out),
        "--engine",
        "openai",
        "--shard-size",
        "5",
        "--option",
        f"base_url={urls}",
        "--option",
        "api_key_env=HALA_TEST_KEY",
        "--option",
        "backoff=0.01",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HALA_TEST_KEY": KEY}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "translated: 12" in proc.stdout and "rejected: 0" in proc.stdout
    records = [json.loads(x) for x in (out / "translated.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    for r in records:
        i = r["id"][1:]
        assert (
            r["messages"][1]["content"] == f"{'Item'.translate(ARABIC)} {i} {'is'.translate(ARABIC)} `x{i}` "
            f"{'at'.translate(ARABIC)} https://e.org/{i}."
        )
    assert servers[0].served > 0 and servers[1].served > 0
    assert servers[0].auth == servers[1].auth == {f"Bearer {KEY}"}  # the key did reach the servers ...
    everything = (
        proc.stdout
        + proc.stderr
        + "".join(
            p.read_text(encoding="utf-8", errors="replace")
            for p in out.rglob("*")
            if p.is_file() and p.suffix != ".sqlite"
        )
    )
    assert KEY not in everything and KEY.encode() not in (out / "cache.sqlite").read_bytes()  # ... and nowhere else
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["engine_options"]["api_key_env"] == "HALA_TEST_KEY"


def test_a_slow_answer_is_a_busy_server_not_a_dead_one():
    """A read timeout (the server took the request but answers late) is retried with backoff and the server stays
    in rotation; only a failed connection marks a server down."""
    from hala.errors import HalaError

    slow = FakeOpenAI(slow_first=1.5)
    try:
        eng = make_engine(
            "openai",
            "served-model",
            base_url=slow.url,
            read_timeout=0.5,
            connect_timeout=5,
            backoff=0.01,
            max_retries=2,
        )
        (gen,) = eng.generate(_prompts(1), GenSettings())
        assert gen.text == "sentence number 0 here".translate(ARABIC)
        assert slow.posts == 2 and eng.servers.healthy[slow.url] is True
        late = FakeOpenAI(delay=1.0)
        with pytest.raises(HalaError, match=r"no answer after 1 attempt.*read_timeout=0.2s"):
            make_engine("openai", "m", base_url=late.url, read_timeout=0.2, max_retries=0, backoff=0).generate(
                _prompts(1), GenSettings()
            )
        late.stop()
    finally:
        slow.stop()


def test_requests_in_flight_follow_concurrency_not_the_call_size(tmp_path):
    """Engine calls of 2 segments, concurrency 6: the runner keeps several calls in flight (across shards) and
    the engine's one pool keeps 6 requests at the server; the output equals a one-call-at-a-time run."""
    from hala.translate import TranslateConfig, run

    fake = FakeOpenAI(delay=0.05)
    try:
        src = tmp_path / "in.jsonl"
        src.write_text(
            "".join(
                json.dumps({"id": f"r{i}", "messages": [{"role": "user", "content": f"Say {i} now."}]}) + "\n"
                for i in range(24)
            ),
            encoding="utf-8",
        )
        cfg = TranslateConfig(
            input=str(src),
            model="served-model",
            engine="openai",
            segments_per_call=2,
            shard_size=4,
            engine_options={"base_url": fake.url, "concurrency": 6, "backoff": 0.01},
        )
        report = run(cfg, tmp_path / "window")
        assert fake.max_inflight == 6 and report["translated"] == 24
        assert report["executor"]["calls"] == 12
        fake.max_inflight = 0
        run(cfg.model_copy(update={"calls_in_flight": 1}), tmp_path / "serial")
        assert fake.max_inflight == 2  # one call of 2 segments at a time: what the old engine allowed at most
        assert (tmp_path / "window" / "translated.jsonl").read_bytes() == (
            tmp_path / "serial" / "translated.jsonl"
        ).read_bytes()
    finally:
        fake.stop()
