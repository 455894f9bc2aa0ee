"""Parallel pairs from Hugging Face datasets: `hf:NAME[:CONFIG][@SPLIT]` (needs network) or a saved dataset dir.

Rows are read by `hala.sources.files.row_to_pair`, the same three layouts as JSONL/Parquet files (docs/RECORDS.md):
`{"translation": {"en": "...", "ar": "..."}}` (OPUS-100 `ar-en`, WMT), one column per language code, or hala's
`Pair` schema.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from hala.errors import HalaError
from hala.records import PairRow, Reject, RejectLog, iter_hf_dataset
from hala.sources.files import row_to_pair

__all__ = ["gated_message", "hub_pairs", "is_gated_error", "row_to_pair"]


def is_gated_error(e: BaseException) -> bool:
    """huggingface_hub's GatedRepoError, also when `datasets` wraps it (DatasetNotFoundError "... is a gated
    dataset on the Hub") — anywhere in the exception's cause chain."""
    from huggingface_hub.errors import GatedRepoError

    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, GatedRepoError) or (type(e).__name__ == "DatasetNotFoundError" and "gated" in str(e)):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def gated_message(repo: str, kind: str = "model") -> str:
    """What to do about a gated repository: the page whose terms to accept and the token variable to set."""
    import os

    page = f"https://huggingface.co/{'datasets/' if kind == 'dataset' else ''}{repo}"
    token = (
        "HF_TOKEN is set, but its account has not been granted access yet"
        if os.environ.get("HF_TOKEN")
        else "HF_TOKEN is not set"
    )
    return (
        f"{kind} '{repo}' is gated on the Hugging Face Hub: log in at {page}, accept its terms of use (access "
        f"is granted to your account), then set HF_TOKEN to a read token of that account "
        f"(https://huggingface.co/settings/tokens); {token}"
    )


def _opened(ref: str) -> Iterator[tuple[int, dict]]:
    """The dataset's rows; a dataset that cannot be opened is one clear error, not a stack trace."""
    rows = iter_hf_dataset(ref)
    try:
        first = next(rows, None)  # datasets loads (or fails to reach the Hub) on the first row
    except Exception as e:  # noqa: BLE001 - datasets raises many types (ConnectionError, FileNotFoundError, ...)
        if ref.startswith("hf:") and is_gated_error(e):
            raise HalaError(f"{ref}: {gated_message(ref[3:].split('@')[0].split(':')[0], 'dataset')}") from None
        where = (
            "the Hugging Face Hub (this needs network; offline, use a local file or a save_to_disk directory)"
            if ref.startswith("hf:")
            else "disk"
        )
        raise HalaError(f"{ref}: cannot load the dataset from {where}: {type(e).__name__}: {e}") from None
    return itertools.chain([first] if first is not None else [], rows)


def hub_pairs(ref: str, src_lang: str, tgt_lang: str, name: str, rejects: RejectLog) -> Iterator[PairRow]:
    for i, row in _opened(ref):
        pair, why = row_to_pair(row, src_lang, tgt_lang, f"{name}:{i}", {"source": name, "row": i})
        if pair is None:
            rejects.add(Reject(ref, i, why, {k: v for k, v in row.items() if isinstance(v, (str, int, float))}))
            continue
        yield pair, ref, i
