"""Shared fixtures: tiny in-process models (seconds) and the real embedded models (marked `embedded`)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_DATA = SHARED / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama-architecture model directory with a ChatML template."""
    from hala.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory) -> Path:
    """A tiny random Gemma-3-architecture model directory."""
    from hala.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma"), arch="gemma3")


@pytest.fixture(scope="session")
def embedded_gemma() -> Path:
    """The real embedded Gemma-3-270M (converted once into HALA_HOME, reused afterwards)."""
    from hala.models import prepare_embedded

    return prepare_embedded("gemma-3-270m")


@pytest.fixture(scope="session")
def embedded_smollm() -> Path:
    from hala.models import prepare_embedded

    return prepare_embedded("smollm2-135m-instruct")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data when present (developer machines and CI); skipped with a reason elsewhere."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (only on developer machines and CI)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch):
    # Tests never reach a model hub: a stray hub id fails fast instead of hanging on the network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine two OpenMP threads spin against other jobs (measured: ~25x
    slower generate), and for tiny models thread synchronisation costs more than the math."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
