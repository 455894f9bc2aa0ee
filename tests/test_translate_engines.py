"""Engines: ct2 == hf in float32, vllm through a stand-in module, openai against a real local HTTP server."""

from __future__ import annotations

import json
import sys
import threading
import time
import types

import pytest
from fake_http import JSONHandler, serve

from hala.errors import HalaError
from hala.translate import translate_texts
from hala.translate.engines import GenSettings, Prompt, make_engine

PROMPTS = [
    Prompt(text="English: Hello there.\nArabic:"),
    Prompt(text="English: The cat sits on the mat.\nArabic:"),
    Prompt(messages=({"role": "user", "content": "Translate everything that follows into Arabic:\nHi"},)),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_ct2_float32_equals_hf_float32(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HALA_HOME", str(tmp_path / "home"))
    hf = make_engine("hf", str(tiny_model), batch_size=2, dtype="float32")
    ct2 = make_engine("ct2", str(tiny_model), batch_size=2, compute_type="float32")
    for settings in (
        GenSettings(max_new_tokens=10),
        GenSettings(max_new_tokens=10, stop=("\n",)),
        GenSettings(max_new_tokens=10, repetition_penalty=1.3),
    ):
        assert ct2.generate(PROMPTS, settings) == hf.generate(PROMPTS, settings)
    # Converted once, then reused from HALA_HOME/ct2.
    converted = list((tmp_path / "home" / "ct2").glob("*-float32"))
    assert len(converted) == 1 and (converted[0] / "model.bin").exists()
    make_engine("ct2", str(tiny_model), compute_type="float32")
    assert list((tmp_path / "home" / "ct2").glob("*-float32")) == converted


def test_shared_prefix_leaves_every_prompt_a_token_of_its_own():
    from hala.translate.engines.ct2 import shared_prefix

    assert shared_prefix([list("abcx"), list("abcy"), list("abcxz")]) == list("abc")
    assert shared_prefix([list("abc"), list("abcd")]) == list("ab")  # "abc" keeps its "c"
    assert shared_prefix([list("xbc"), list("abc")]) == [] and shared_prefix([]) == []


def test_ct2_few_shot_prefix_computed_once_gives_the_same_outputs(tiny_model, tmp_path, monkeypatch):
    """The 3-shot prefix all prompts share goes to CTranslate2 as a static prompt (cached from the second call):
    the outputs equal the full prompts' and the hf engine's (float32), call after call."""
    from hala.prompts import get_template

    monkeypatch.setenv("HALA_HOME", str(tmp_path / "home"))
    few_shot = get_template("few-shot")
    prompts = [
        Prompt(text=few_shot.completion(t, "en", "ar"), source=t)
        for t in ("The cat sits on the mat.", "Where is the station?", "I like green tea.", "Hello")
    ]
    settings = GenSettings(max_new_tokens=8, stop=("\n",))
    plain = make_engine("ct2", str(tiny_model), batch_size=2, compute_type="float32", shared_prefix=0)
    shared = make_engine("ct2", str(tiny_model), batch_size=2, compute_type="float32")
    tokens = [shared.tokenizer.convert_ids_to_tokens(shared.tokenizer(p.text)["input_ids"]) for p in prompts]
    assert shared._static_prompt(tokens)["static_prompt"]  # the prefix is long enough to be shared
    expected = make_engine("hf", str(tiny_model), batch_size=2, dtype="float32").generate(prompts, settings)
    assert plain.generate(prompts, settings) == expected
    for _ in range(3):  # first call: computed once; then from the cache
        assert shared.generate(prompts, settings) == expected
    assert len(shared._cached) == 1


def test_unknown_engine_and_option_are_errors(tiny_model):
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("nope", str(tiny_model))
    with pytest.raises(ValueError, match="dtyp"):
        make_engine("hf", str(tiny_model), dtyp="float32")


# ------------------------------------------------------------------------------------------ vllm
def fake_vllm(answer, log: list | None = None, per_step: int | None = None) -> types.ModuleType:
    """A stand-in `vllm` package (no GPU here) with the API hala uses: `LLM(model, **kw)`, `SamplingParams(**kw)`
    and the engine loop `llm.llm_engine.add_request(id, prompt, params)` / `step()`. `answer(inputs, params_kw)`
    gives (text, token_ids, finish_reason); `per_step` finishes at most that many requests per step (in order),
    like a scheduler that runs long sequences over many steps; `log` records what happened."""
    log = [] if log is None else log

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class Engine:
        def __init__(self):
            self.running: list = []

        def add_request(self, request_id, prompt, params):
            log.append(("add", request_id, prompt, params.kw))
            self.running.append((request_id, prompt, params))

        def step(self):
            log.append(("step", [rid for rid, _, _ in self.running]))
            if per_step:
                time.sleep(0.01)  # a decode step takes time: other calls' requests arrive meanwhile
            n = per_step or len(self.running)
            done, self.running = self.running[:n], self.running[n:]
            out = []
            for rid, prompt, params in done:
                text, ids, reason = answer(prompt, params.kw)
                c = types.SimpleNamespace(text=text, token_ids=ids, finish_reason=reason)
                out.append(types.SimpleNamespace(request_id=rid, finished=True, outputs=[c]))
            return out

    class LLM:
        def __init__(self, model: str, **kw):
            log.append(("LLM", model, kw))
            self.llm_engine = Engine()

    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    return mod


def test_vllm_engine_with_stand_in_module(tiny_model, monkeypatch):
    log: list = []

    def answer(prompt, params):
        # vLLM already cuts at stop strings; hala trims again in case a back-end does not.
        first = prompt["prompt_token_ids"] == eng.tokenizer(PROMPTS[0].text)["input_ids"]
        return (" مرحبا [1]\nEnglish:", [1, 2, 3], "stop") if first else ("x" * 5, [1, 2, 3], "length")

    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(answer, log))
    eng = make_engine("vllm", str(tiny_model), dtype="bfloat16", tensor_parallel_size=2)
    gens = eng.generate(PROMPTS[:2], GenSettings(max_new_tokens=7, stop=("\n",)))
    (_, model, kw), *rest = log
    assert model == str(tiny_model) and kw["dtype"] == "bfloat16" and kw["tensor_parallel_size"] == 2
    adds = [x for x in rest if x[0] == "add"]
    assert [a[3] for a in adds] == [
        {"temperature": 0.0, "max_tokens": 7, "repetition_penalty": 1.0, "stop": ["\n"], "stop_token_ids": [2]}
    ] * 2  # 2: <|im_end|>, the tokenizer's EOS and the chat template's end of turn
    # Token ids come from hala's tokenization, the same ids the hf/ct2 engines decode from.
    assert adds[0][2]["prompt_token_ids"] == eng.tokenizer(PROMPTS[0].text)["input_ids"]
    assert gens[0].text == "مرحبا [1]" and not gens[0].hit_max_tokens and gens[1].hit_max_tokens
    assert eng.prompts_in_flight == 512  # twice vLLM's default max_num_seqs


def test_vllm_stops_at_the_chat_templates_end_of_turn_when_generation_config_lacks_it(
    tiny_model, tmp_path, monkeypatch
):
    # A model directory whose EOS (tokenizer and generation_config) is <|endoftext|> while its chat template ends a
    # turn with <|im_end|>: hf and ct2 stop at both (eos_ids), and so must vLLM, which by itself knows only the
    # first and would run on past the answer to the token limit.
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    tok_config = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**tok_config, "eos_token": "<|endoftext|>"}))
    gen_config = json.loads((model / "generation_config.json").read_text())
    log: list = []
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(lambda p, kw: ("نص", [1], "stop"), log))
    eng = make_engine("vllm", str(model))
    endoftext, im_end = eng.tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_end|>"])
    (model / "generation_config.json").write_text(json.dumps({**gen_config, "eos_token_id": endoftext}))
    eng = make_engine("vllm", str(model))
    assert eng.tokenizer.eos_token_id == endoftext != im_end
    eng.generate(PROMPTS[:1], GenSettings(max_new_tokens=5))
    adds = [x for x in log if x[0] == "add"]
    assert adds[-1][3]["stop_token_ids"] == sorted({endoftext, im_end})


def test_vllm_feeds_concurrent_calls_into_one_running_batch_with_per_prompt_limits(tiny_model, monkeypatch):
    """Two calls at once (as the runner's window makes them): the second call's requests join while the first
    call's are still running, and each request has its own length-aware token limit."""
    log: list = []
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(lambda p, kw: ("نص", [1], "stop"), log, per_step=1))
    eng = make_engine("vllm", str(tiny_model), max_num_seqs=4)
    settings = GenSettings(max_new_tokens=100, length_ratio=2.0, length_extra=3)
    short, long = "one two", "one two three four five six seven eight nine ten eleven twelve"
    calls = [[Prompt(text=f"E: {s}\nA:", source=s) for s in (short, long, short + " x")] for _ in range(2)]
    results: list = [None, None]
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, eng.generate(calls[i], settings))) for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None and [g.text for g in r] == ["نص"] * 3 for r in results)
    steps = [x[1] for x in log if x[0] == "step"]
    assert max(len(running) for running in steps) > 3  # more than one call's requests in one running batch
    limits = [x[3]["max_tokens"] for x in log if x[0] == "add"][:3]
    n = [len(eng.tokenizer(s, add_special_tokens=False)["input_ids"]) for s in (short, long)]
    assert limits[:2] == [2 * n[0] + 3, min(100, 2 * n[1] + 3)] and limits[0] < limits[1]
    assert eng.prompts_in_flight == 8


def test_vllm_missing_is_a_clear_error(tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="hala\\[vllm\\]"):
        make_engine("vllm", str(tiny_model))


# ------------------------------------------------------------------------------------------ openai
class _Server:
    """A real OpenAI-compatible HTTP server on 127.0.0.1: fails the first request of each text with 429 (and
    one with 503) to exercise retries, 'translates' by a fixed dictionary, and records what it received."""

    TABLE = {
        "Hello there.": "مرحبا هناك.",
        "The cat sits on the mat.": "القط يجلس على الحصيرة.",
        "Use [1] now.": "استخدم [1] الآن.",
    }

    def __init__(self):
        self.requests: list[tuple[str, dict, str | None]] = []
        self.failed: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append((self.path, body, self.headers.get("Authorization")))
                text = (
                    body["messages"][-1]["content"].split("\n", 1)[1]
                    if "messages" in body
                    else body["prompt"].rsplit("English: ", 1)[1].split("\n")[0]
                )
                if text == "Bad request.":
                    return self._send(400, {"error": {"message": "bad model"}})
                with server.lock:
                    first = text not in server.failed
                    server.failed.add(text)
                if first:
                    return self._send(503 if text == "Hello there." else 429, {"error": "slow down"})
                out = server.TABLE.get(text, "")
                choice = (
                    {"message": {"role": "assistant", "content": out}}
                    if "messages" in body
                    else {"text": " " + out + "\nEnglish: more"}
                )
                self._send(
                    200,
                    {
                        "choices": [{**choice, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": len(out.split())},
                    },
                )

        self.httpd, self.url, _ = serve(Handler)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()


def test_openai_engine_retries_and_translates_through_a_real_server(server, monkeypatch):
    monkeypatch.setenv("HALA_TEST_KEY", "sk-secret-123")
    opts = dict(base_url=server.url, api_key_env="HALA_TEST_KEY", concurrency=4, backoff=0.01)
    out = translate_texts(
        ["Hello there. The cat sits on the mat.", "Use `ls` now."], "served-model", engine="openai", **opts
    )
    assert out == ["مرحبا هناك. القط يجلس على الحصيرة.", "استخدم `ls` الآن."]
    paths = {p for p, _, _ in server.requests}
    assert paths == {"/v1/chat/completions"}
    assert len(server.requests) == 6  # 3 texts, each failed once then retried
    assert all(auth == "Bearer sk-secret-123" for _, _, auth in server.requests)
    body = server.requests[-1][1]
    assert body["model"] == "served-model" and body["temperature"] == 0.0 and "`ls`" not in json.dumps(body)
    # Completion templates go to /completions with a stop string; the run-on after the newline is trimmed.
    out = translate_texts(["Hello there."], "served-model", engine="openai", template="few-shot", **opts)
    assert out == ["مرحبا هناك."]
    assert server.requests[-1][0] == "/v1/completions" and server.requests[-1][1]["stop"] == ["\n"]


def test_openai_engine_errors_name_the_server_never_the_key(server, monkeypatch):
    monkeypatch.setenv("HALA_TEST_KEY", "sk-secret-123")
    eng = make_engine("openai", "m", base_url=server.url, api_key_env="HALA_TEST_KEY", max_retries=0, backoff=0)
    prompt = Prompt(messages=({"role": "user", "content": "Translate:\nBad request."},))
    with pytest.raises(HalaError) as e:
        eng.generate([prompt], GenSettings())
    assert "HTTP 400" in str(e.value) and "bad model" in str(e.value) and "sk-secret" not in str(e.value)
    with pytest.raises(HalaError, match="HTTP 429 after 1 attempt"):
        eng.generate([Prompt(messages=({"role": "user", "content": "T:\nThe cat sits on the mat."},))], GenSettings())
    dead = make_engine("openai", "m", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0, timeout=2)
    with pytest.raises(HalaError, match="no answer after 2 attempt"):
        dead.generate([prompt], GenSettings())


# ------------------------------------------------------------------------------------------ real embedded model
@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_gemma_few_shot_ct2_translates_and_keeps_spans(embedded_gemma):
    from hala.translate import translate_with_reasons

    texts = [
        "Where is the nearest train station?",
        "The derivative of $x^2$ is $2x$.",
        "You can download it from https://www.python.org/downloads/ today.",
    ]
    out = translate_with_reasons(texts, str(embedded_gemma), engine="ct2", template="few-shot", max_new_tokens=64)
    accepted = [(src, t) for src, (t, reason) in zip(texts, out) if reason is None]
    assert accepted, out
    for _src, t in accepted:
        assert sum("\u0600" <= ch <= "\u06ff" for ch in t) > 5  # Arabic letters
    for span in ("$x^2$", "$2x$", "https://www.python.org/downloads/"):
        for src, t in accepted:
            if span in src:
                assert span in t


def test_vllm_engine_through_the_stage_restores_spans(tiny_model, monkeypatch, tmp_path):
    """The whole `run` path with engine vllm on CPU: a fake LLM 'translates' by decoding the prompt ids."""
    from hala.models import load_tokenizer
    from hala.translate import TranslateConfig, run

    table = {"Use [1] here.": "استخدم [1] هنا.", "Hello there.": "مرحبا هناك."}
    tok = load_tokenizer(str(tiny_model))

    def answer(prompt, params):  # "translate" by decoding the prompt ids
        src = tok.decode(prompt["prompt_token_ids"], skip_special_tokens=True).rsplit("into Arabic:\n", 1)[1]
        return table[src.split("\n")[0]], [1] * 4, "stop"

    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(answer))
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "messages": [{"role": "user", "content": "Hello there. Use `x > 1` here."}]}) + "\n",
        encoding="utf-8",
    )
    report = run(TranslateConfig(input=str(src), model=str(tiny_model), engine="vllm"), tmp_path / "out")
    (row,) = [json.loads(x) for x in (tmp_path / "out" / "translated.jsonl").read_text().splitlines()]
    assert row["messages"][0]["content"] == "مرحبا هناك. استخدم `x > 1` هنا."
    assert row["meta"]["translation"]["engine"] == "vllm" and report["tokens"] == 8
