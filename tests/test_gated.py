"""Gated hub repositories (issue 14, defect 15): the error names HF_TOKEN and the terms to accept, not "offline"."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from huggingface_hub.errors import GatedRepoError

from hala.errors import HalaError


def _gated(url: str) -> GatedRepoError:
    response = httpx.Response(403, request=httpx.Request("GET", url))
    return GatedRepoError(
        "403 Client Error. Cannot access gated repo. Access to model is restricted.", response=response
    )


def test_gated_model_names_token_and_terms(monkeypatch):
    import huggingface_hub

    from hala.models import ModelUnavailable, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    calls = []

    def snapshot_download(repo, revision=None, local_files_only=False, **kw):
        calls.append(local_files_only)
        if local_files_only:
            raise FileNotFoundError("not cached")
        raise _gated(f"https://huggingface.co/{repo}/resolve/main/config.json")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(ModelUnavailable) as e:
        resolve_model("CohereLabs/command-a-translate-08-2025")
    msg = str(e.value)
    assert (
        "gated" in msg
        and "HF_TOKEN" in msg
        and "https://huggingface.co/CohereLabs/command-a-translate-08-2025" in msg
        and "accept its terms" in msg
        and "offline" not in msg
    )
    assert "HF_TOKEN is not set" in msg and calls == [True, False]
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    with pytest.raises(ModelUnavailable) as e:
        resolve_model("CohereLabs/command-a-translate-08-2025")
    assert "HF_TOKEN is set" in str(e.value) and "hf_secret_value" not in str(e.value)  # never printed


def test_gated_dataset_names_token_and_terms(monkeypatch):
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    from hala.records import RejectLog
    from hala.sources.hub import hub_pairs

    def load_dataset(name, *a, **kw):
        try:
            raise _gated(f"https://huggingface.co/datasets/{name}/resolve/main/README.md")
        except GatedRepoError as err:  # datasets wraps the hub error like this
            raise DatasetNotFoundError(
                f"Dataset '{name}' is a gated dataset on the Hub. You must be authenticated to access it."
            ) from err

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(HalaError) as e:
        list(hub_pairs("hf:NousResearch/Hermes-3-Dataset@train", "en", "ar", "x", RejectLog()))
    msg = str(e.value)
    assert "HF_TOKEN" in msg and "https://huggingface.co/datasets/NousResearch/Hermes-3-Dataset" in msg
    assert "needs network" not in msg


def test_gated_chat_dataset_in_a_data_chat_stage(monkeypatch, tmp_path):
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    from hala.sources.chat import ChatDataConfig, run

    def load_dataset(name, *a, **kw):
        raise DatasetNotFoundError(
            f"Dataset '{name}' is a gated dataset on the Hub. Visit the dataset page at "
            f"https://huggingface.co/datasets/{name} to ask for access."
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(HalaError, match="HF_TOKEN"):
        run(
            ChatDataConfig(
                input="hf:NousResearch/Hermes-3-Dataset@train", layout="sharegpt", messages_field="conversations"
            ),
            tmp_path,
        )
