"""Upload a published folder to the Hugging Face Hub, resumably.

Files go up in several commits (`huggingface_hub.HfApi.create_commit`), each a batch of at most `commit_bytes`,
and the card (README.md) last, so the repository never shows a card whose weights are not there yet. Before
uploading, the remote tree is listed and every file whose content is already there (same sha256 for LFS files,
same git blob id for small ones) is skipped: a rerun after a failure anywhere — a dropped connection, a killed
process, another machine — uploads only what is missing. Why not `upload_large_folder`: it resumes from a cache
inside the local folder, so it cannot resume from a rebuilt folder or another machine, and it commits in an order
of its own (the card may land before the weights).

The token is read from HF_TOKEN (or huggingface_hub's own login) and never printed; HF_ENDPOINT picks the server
(tests point it at a local fake of the Hub API).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hala.errors import HalaError

CARD = "README.md"


@dataclass
class UploadResult:
    url: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    commits: int = 0


def local_files(folder: Path) -> list[str]:
    """Paths (POSIX, relative) of the files to upload; the card last."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return [f for f in files if f != CARD] + ([CARD] if CARD in files else [])


def git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_on_remote(path: Path, remote) -> bool:
    """Whether `remote` (a huggingface_hub RepoFile, or None) holds exactly this file's content."""
    if remote is None or remote.size != path.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == sha256(path)
    return remote.blob_id == git_blob_id(path)


def batches(folder: Path, files: list[str], commit_bytes: int) -> list[list[str]]:
    """Files grouped into commits of at most `commit_bytes` (a bigger file alone); the card in its own last one."""
    out: list[list[str]] = []
    size = 0
    for f in files:
        if f == CARD:
            continue
        n = (folder / f).stat().st_size
        if not out or size + n > commit_bytes or len(out[-1]) >= 100:
            out.append([])
            size = 0
        out[-1].append(f)
        size += n
    if CARD in files:
        out.append([CARD])
    return out


def _api(endpoint: str | None):
    from huggingface_hub import HfApi, constants

    if constants.is_offline_mode():
        raise HalaError("HF_HUB_OFFLINE is set, so nothing can be uploaded: unset it (or use --dry-run)")
    token = os.environ.get("HF_TOKEN") or None  # None: huggingface_hub falls back to a saved login
    # HF_ENDPOINT is read here, not at import time as huggingface_hub does, so it can be set per call.
    return HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)


def upload(
    folder: Path,
    repo_id: str,
    repo_type: str,
    private: bool = False,
    commit_bytes: int = 2_000_000_000,
    message: str = "hala publish",
    endpoint: str | None = None,
    log: Callable[[str], None] = print,
) -> UploadResult:
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

    api = _api(endpoint)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    except HfHubHTTPError as e:
        raise HalaError(f"cannot create or open {repo_type} repository {repo_id}: {_short_error(e)}") from e
    try:
        remote = {
            f.path: f for f in api.list_repo_tree(repo_id, repo_type=repo_type, recursive=True) if hasattr(f, "blob_id")
        }
    except RevisionNotFoundError:  # a repository without any commit yet
        remote = {}
    files = local_files(folder)
    result = UploadResult(str(url))
    result.skipped = [f for f in files if is_on_remote(folder / f, remote.get(f))]
    todo = [f for f in files if f not in result.skipped]
    if result.skipped:
        log(f"{len(result.skipped)} of {len(files)} files already on the Hub with the same content: skipped")
    for batch in batches(folder, todo, commit_bytes):
        ops = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in batch]
        what = ", ".join(batch) if len(batch) <= 3 else f"{len(batch)} files"
        try:
            api.create_commit(repo_id, ops, repo_type=repo_type, commit_message=f"{message} ({what})")
        except Exception as e:  # any failure: say what is up and that a rerun finishes it
            raise HalaError(
                f"upload to {repo_id} stopped after {len(result.uploaded)} of {len(todo)} files "
                f"({type(e).__name__}: {_short_error(e)}); rerun the same command: files already "
                f"uploaded are skipped"
            ) from e
        result.uploaded += batch
        result.commits += 1
        log(
            f"uploaded {len(result.uploaded)}/{len(todo)} files ({', '.join(batch[:3])}"
            f"{', ...' if len(batch) > 3 else ''})"
        )
    return result


def _short_error(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
