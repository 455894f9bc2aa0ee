"""Model references: local dirs, embedded conversion (once, atomic, locked), offline hub ids, tiny models."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from hala.models import ModelUnavailable, generate_text, list_models, resolve_model


def test_local_directory_resolves_and_generates(tiny_model):
    assert resolve_model(str(tiny_model)) == tiny_model
    text = generate_text(str(tiny_model), "Hello", max_new_tokens=5)
    assert isinstance(text, str) and text


def test_directory_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="no config.json"):
        resolve_model(str(tmp_path))


def test_offline_hub_id_names_cause_and_embedded_alternatives(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailable) as e:
        resolve_model("LiquidAI/LFM2-1.2B")
    msg = str(e.value)
    assert "HF_HUB_OFFLINE" in msg and "embedded:gemma-3-270m" in msg and "LiquidAI/LFM2-1.2B" in msg


def test_unknown_embedded_name_lists_known_ones():
    with pytest.raises(ModelUnavailable, match="smollm2-135m-instruct"):
        resolve_model("embedded:nope")


def test_cli_offline_hub_id_prints_one_line_not_a_traceback(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "hala.cli", "models", "prepare", "org/missing-model"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("hala: error: model 'org/missing-model'")
    assert "Traceback" not in proc.stderr


def test_models_list_names_both_embedded_models():
    refs = [m["ref"] for m in list_models()]
    assert refs == ["embedded:gemma-3-270m", "embedded:smollm2-135m-instruct"]


def test_concurrent_prepare_converts_once(tmp_path, monkeypatch):
    """Two processes preparing the same embedded model at once: one converts, the other waits and reuses."""
    code = (
        "import hala.models as m, time, sys\n"
        "from pathlib import Path\n"
        "calls = Path(sys.argv[1])\n"
        "def fake(gguf, out, spec):\n"
        "    with open(calls, 'a') as f: f.write('x')\n"
        "    time.sleep(1.0)\n"
        "    (out / 'config.json').write_text('{}')\n"
        "m._convert_gguf = fake\n"
        "m.EMBEDDED['smollm2-135m-instruct'] = "
        "m.EmbeddedModel('smollm2-135m-instruct', 'p', 'd', lambda w: w / 'f.gguf')\n"
        "print(m.prepare_embedded('smollm2-135m-instruct'))\n"
    )
    calls = tmp_path / "calls"
    env = {"HALA_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(calls)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate()[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] == str(tmp_path / "home" / "models" / "smollm2-135m-instruct")
    assert calls.read_text() == "x"  # converted exactly once
    leftovers = [p.name for p in (tmp_path / "home" / "models").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_gemma_prepares_once_then_is_fast_and_generates(embedded_gemma):
    t0 = time.time()
    again = resolve_model("embedded:gemma-3-270m")
    assert again == embedded_gemma and time.time() - t0 < 5
    assert (embedded_gemma / "model.safetensors").exists()
    template = (embedded_gemma / "chat_template.jinja").read_text()
    assert "<start_of_turn>" in template and "generation" in template
    out = generate_text("embedded:gemma-3-270m", "The capital of France is", max_new_tokens=8)
    assert len(out.strip()) > 0


@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_gemma_chat_template_matches_gemma3_format(embedded_gemma):
    from hala.models import load_tokenizer

    tok = load_tokenizer("embedded:gemma-3-270m")
    text = tok.apply_chat_template(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
        ],
        tokenize=False,
    )
    assert text == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
    )


@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_smollm_generates(embedded_smollm):
    out = generate_text("embedded:smollm2-135m-instruct", "What is 2+2?", max_new_tokens=8, chat=True)
    assert len(out.strip()) > 0


def test_turn_end_token_is_the_special_token_after_an_answer():
    """Generation of an answer must stop at the template's end-of-turn token: without it a trained chat model
    runs on past its answer to the token limit (issue 13's stray tokens)."""
    from hala.models import turn_end_token_ids
    from hala.testing import build_tiny_tokenizer
    from hala.translate.engines.base import eos_ids

    tok = build_tiny_tokenizer()
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert turn_end_token_ids(tok) == [im_end]
    tok.eos_token = "<|endoftext|>"  # a model whose EOS is not its end of turn still stops at the end of turn
    assert im_end in eos_ids(tok, None) and tok.eos_token_id in eos_ids(tok, None)
    tok.chat_template = None
    assert turn_end_token_ids(tok) == []


@pytest.mark.embedded
@pytest.mark.slow
def test_embedded_gemma_stops_at_end_of_turn(embedded_gemma):
    import json

    from hala.models import load_tokenizer

    tok = load_tokenizer("embedded:gemma-3-270m")
    eos = json.loads((embedded_gemma / "generation_config.json").read_text())["eos_token_id"]
    assert sorted(eos) == sorted({tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")})
