"""The upload path of `hala publish` against a local fake of the Hugging Face Hub API (an HTTP server on
127.0.0.1, HF_ENDPOINT pointing at it; no network): files arrive byte-exact, the card last; a failure in the middle
of an upload is finished by a rerun that uploads only what is missing; the token is sent, never printed.

Large files take the Hub's LFS path, as weights do on the real Hub: the fake answers `preupload` with "lfs" for files
of `lfs_threshold` bytes or more, then huggingface_hub asks the LFS batch API where to put each object, PUTs the
bytes to the href the fake gives, calls the verify href, and commits an `lfsFile` pointer (sha256, size); the tree
lists such files with their `lfs` sha256, which is what a rerun compares. huggingface_hub sends LFS-mode files
through Xet instead when `hf_xet` is installed (it is, in hala's environment) and HF_HUB_DISABLE_XET is not set; the
fake speaks only the LFS protocol, so the fixture sets that switch (huggingface_hub reads the variable once, at
import, into `constants.HF_HUB_DISABLE_XET`, which the fixture sets for the test).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from fake_http import JSONHandler, serve

TOKEN = "hf_fake_token_never_printed_123"


class FakeHub:
    """State of the fake Hub: repositories (path -> bytes), the commits received, and failures to inject."""

    def __init__(self):
        self.repos: dict[tuple[str, str], dict[str, bytes]] = {}
        self.private: dict[tuple[str, str], bool] = {}
        self.commits: list[list[str]] = []  # paths of each successful commit, in order
        self.fail_commits: set[int] = set()  # 0-based indices of commit attempts answered with HTTP 500
        self.attempts = 0
        self.auth: set[str] = set()
        self.lock = threading.Lock()
        self.lfs_threshold = 10**12  # files of this size or more are LFS files (preupload answers "lfs")
        self.lfs_store: dict[str, bytes] = {}  # LFS objects received (sha256 -> bytes), committed or not
        self.lfs_paths: set[tuple[tuple[str, str], str]] = set()  # (repo, path) of the files committed as LFS
        self.puts: list[str] = []  # sha256 of every LFS PUT that succeeded, in order
        self.fail_puts: set[int] = set()  # 0-based indices of LFS PUT attempts that fail
        self.put_attempts = 0
        self.verified: list[str] = []
        self.commit_keys: list[list[str]] = []  # per successful commit: "file" or "lfsFile" of each operation


def lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def make_handler(hub: FakeHub):
    class Handler(JSONHandler):
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # a streamed upload (LFS PUT)
                data = b""
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    data += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return data
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _host(self) -> str:
            return f"http://127.0.0.1:{self.server.server_address[1]}"

        def _tree_entry(self, key, path: str, data: bytes) -> dict:
            if (key, path) not in hub.lfs_paths:
                return {"type": "file", "path": path, "size": len(data), "oid": git_oid(data)}
            pointer = lfs_pointer(data)
            lfs = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": len(pointer)}
            return {"type": "file", "path": path, "size": len(data), "oid": git_oid(pointer), "lfs": lfs}

        def do_PUT(self):  # noqa: N802 - the LFS "basic" transfer: the object's bytes to the href the batch gave
            body = self._body()  # read in full first: an unread body breaks the connection, which the client retries
            oid = urlparse(self.path).path.rsplit("/", 1)[-1]
            with hub.lock:
                attempt = hub.put_attempts
                hub.put_attempts += 1
            if attempt in hub.fail_puts:  # 403 as from an expired signed URL: not a status huggingface_hub retries
                return self._send(403, {"error": "simulated failure during the LFS upload"})
            if hashlib.sha256(body).hexdigest() != oid:
                return self._send(400, {"error": "LFS object does not match its oid"})
            hub.lfs_store[oid] = body
            hub.puts.append(oid)
            self._send(200, {})

        def _repo(self, parts: list[str]) -> tuple[str, str]:
            return parts[1][:-1], f"{parts[2]}/{parts[3]}"  # ("model", "org/name")

        def do_GET(self):  # noqa: N802 - http.server's naming
            hub.auth.add(self.headers.get("Authorization", ""))
            parts = urlparse(self.path).path.strip("/").split("/")  # api, models, org, name, tree, rev
            if len(parts) >= 6 and parts[0] == "api" and parts[4] == "tree":
                key = self._repo(parts)
                if key not in hub.repos:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                files = hub.repos[key]
                return self._send(200, [self._tree_entry(key, p, d) for p, d in sorted(files.items())])
            self._send(404, {"error": f"fake hub: no GET {self.path}"})

        def do_POST(self):  # noqa: N802
            hub.auth.add(self.headers.get("Authorization", ""))
            path = urlparse(self.path).path.strip("/")
            body = self._body()
            parts = path.split("/")
            if path == "api/repos/create":
                req = json.loads(body)
                key = (req.get("type") or "model", f"{req['organization']}/{req['name']}")
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                url = f"{host}/{'' if key[0] == 'model' else key[0] + 's/'}{key[1]}"
                with hub.lock:
                    if key in hub.repos:  # the Hub's answer to an existing repo (it names the repo too)
                        return self._send(409, {"error": "You already created this repo", "url": url})
                    hub.repos[key] = {}
                    hub.private[key] = req.get("visibility") == "private" or bool(req.get("private"))
                return self._send(200, {"url": url})
            if path == "api/validate-yaml":
                return self._send(200, {"errors": [], "warnings": []})
            if path.endswith(".git/info/lfs/objects/batch"):  # where to put each LFS object; none when it is there
                req = json.loads(body)
                objects = []
                for o in req["objects"]:
                    actions = {
                        "upload": {"href": f"{self._host()}/lfs-upload/{o['oid']}"},
                        "verify": {"href": f"{self._host()}/lfs-verify"},
                    }
                    objects.append({**o, **({} if o["oid"] in hub.lfs_store else {"actions": actions})})
                return self._send(200, {"transfer": "basic", "objects": objects})
            if path == "lfs-verify":
                req = json.loads(body)
                ok = len(hub.lfs_store.get(req["oid"], b"")) == req["size"]
                hub.verified.append(req["oid"])
                return self._send(200 if ok else 404, {})
            if len(parts) >= 6 and parts[4] == "preupload":
                key, files = self._repo(parts), self._repo_files(parts)
                req = json.loads(body)
                answer = []
                for f in req["files"]:
                    lfs = f["size"] >= hub.lfs_threshold
                    data = files.get(f["path"])
                    oid = None if data is None else hashlib.sha256(data).hexdigest() if lfs else git_oid(data)
                    answer.append(
                        {
                            "path": f["path"],
                            "uploadMode": "lfs" if lfs else "regular",
                            "shouldIgnore": False,
                            "oid": oid,
                        }
                    )
                return self._send(200, {"files": answer})
            if len(parts) >= 6 and parts[4] == "commit":
                with hub.lock:
                    attempt = hub.attempts
                    hub.attempts += 1
                if attempt in hub.fail_commits:
                    return self._send(500, {"error": "simulated failure in the middle of an upload"})
                key, files = self._repo(parts), self._repo_files(parts)
                items = [json.loads(line) for line in body.decode().splitlines()]
                missing = [
                    i["value"]["oid"] for i in items if i["key"] == "lfsFile" and i["value"]["oid"] not in hub.lfs_store
                ]
                if missing:  # the real Hub refuses a pointer to an object it never received
                    return self._send(422, {"error": f"LFS objects not uploaded: {missing}"})
                paths, keys = [], []
                for item in items:
                    if item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        hub.lfs_paths.discard((key, item["value"]["path"]))
                    elif item["key"] == "lfsFile":
                        files[item["value"]["path"]] = hub.lfs_store[item["value"]["oid"]]
                        hub.lfs_paths.add((key, item["value"]["path"]))
                    else:
                        continue
                    paths.append(item["value"]["path"])
                    keys.append(item["key"])
                hub.commits.append(paths)
                hub.commit_keys.append(keys)
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                return self._send(
                    200, {"commitUrl": f"{host}/{parts[2]}/{parts[3]}/commit/{'a' * 40}", "commitOid": "a" * 40}
                )
            self._send(404, {"error": f"fake hub: no POST {self.path}"})

        def _repo_files(self, parts):
            return hub.repos[self._repo(parts)]

    return Handler


@pytest.fixture
def fake_hub(monkeypatch):
    from huggingface_hub import constants

    hub = FakeHub()
    httpd, base, thread = serve(make_handler(hub))
    monkeypatch.setenv("HF_ENDPOINT", base[: -len("/v1")])
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    # The tests run with HF_HUB_OFFLINE=1 (conftest), which huggingface_hub reads once at import and then refuses
    # every request; the fake Hub is on this machine, so it is switched off for these tests only.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the LFS path (see the module docstring)
    yield hub
    httpd.shutdown()
    thread.join(timeout=5)


def make_folder(path: Path) -> Path:
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}\n')
    (path / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (path / "tokenizer.json").write_text('{"version": "1.0"}\n')
    (path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    return path


def test_upload_sends_every_file_card_last(fake_hub, tmp_path, capsys):
    from hala.publish.upload import upload

    folder = make_folder(tmp_path / "repo")
    result = upload(folder, "me/tiny", "model", private=True, commit_bytes=1)
    files = fake_hub.repos[("model", "me/tiny")]
    assert files == {p.name: p.read_bytes() for p in folder.iterdir()}
    assert fake_hub.private[("model", "me/tiny")] is True
    assert fake_hub.commits[-1] == ["README.md"] and result.commits == 4  # one file per commit, the card last
    assert f"Bearer {TOKEN}" in fake_hub.auth  # the token from HF_TOKEN reached the server...
    assert TOKEN not in capsys.readouterr().out  # ...and was never printed


def test_failure_mid_upload_is_finished_by_a_rerun(fake_hub, tmp_path):
    from hala.errors import HalaError
    from hala.publish.upload import upload

    folder = make_folder(tmp_path / "repo")
    fake_hub.fail_commits = {1}  # the second commit fails
    with pytest.raises(HalaError, match=r"stopped after 1 of 4 files.*rerun the same command"):
        upload(folder, "me/tiny", "model", commit_bytes=1, log=lambda m: None)
    assert list(fake_hub.repos[("model", "me/tiny")]) == ["config.json"]  # what the first commit carried

    logs = []
    result = upload(folder, "me/tiny", "model", commit_bytes=1, log=logs.append)
    assert result.skipped == ["config.json"]  # already there with the same content
    assert result.uploaded == ["model.safetensors", "tokenizer.json", "README.md"]
    assert fake_hub.repos[("model", "me/tiny")] == {p.name: p.read_bytes() for p in folder.iterdir()}
    assert any("already on the Hub" in m for m in logs)

    third = upload(folder, "me/tiny", "model", commit_bytes=1, log=lambda m: None)
    assert third.uploaded == [] and third.commits == 0 and len(third.skipped) == 4


def test_changed_file_is_uploaded_again(fake_hub, tmp_path):
    from hala.publish.upload import upload

    folder = make_folder(tmp_path / "repo")
    upload(folder, "me/tiny", "model", log=lambda m: None)
    assert fake_hub.commits[0] == ["config.json", "model.safetensors", "tokenizer.json"]  # one batch, then the card
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny, new card\n")
    again = upload(folder, "me/tiny", "model", log=lambda m: None)
    assert again.uploaded == ["README.md"]
    assert fake_hub.repos[("model", "me/tiny")]["README.md"].endswith(b"new card\n")


def test_offline_mode_refuses_to_upload(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from hala.errors import HalaError
    from hala.publish.upload import upload

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HalaError, match="HF_HUB_OFFLINE"):
        upload(make_folder(tmp_path / "repo"), "me/tiny", "model")


def test_batches_put_the_card_alone_and_last(tmp_path):
    from hala.publish.upload import batches, local_files

    folder = make_folder(tmp_path / "repo")
    files = local_files(folder)
    assert files[-1] == "README.md"
    assert batches(folder, files, 10**9) == [["config.json", "model.safetensors", "tokenizer.json"], ["README.md"]]
    assert batches(folder, files, 100) == [["config.json"], ["model.safetensors"], ["tokenizer.json"], ["README.md"]]


def test_cli_publish_uploads_a_dataset_and_a_rerun_skips_it(fake_hub, tmp_path):
    from test_publish_licences import make_run
    from typer.testing import CliRunner

    from hala.cli import app

    run, _ = make_run(tmp_path, {"license": "MIT"})
    out = tmp_path / "folder"
    args = ["publish", str(run), "tr", "--repo", "me/data", "--private", "--out", str(out)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    files = fake_hub.repos[("dataset", "me/data")]  # a dataset repository: the stage made records
    assert files == {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert "data/train-00000-of-00001.parquet" in files and fake_hub.private[("dataset", "me/data")]
    assert TOKEN not in first.output

    second = CliRunner().invoke(app, args)  # the folder is rebuilt byte for byte: nothing to upload
    assert second.exit_code == 0, second.output
    assert f"0 files uploaded, {len(files)} already there" in second.output


def make_lfs_folder(path: Path) -> Path:
    """Two weight shards above the fake's LFS threshold (distinct random bytes), configs and the card below it."""
    import os

    folder = make_folder(path)
    (folder / "model.safetensors").unlink()
    for i in (1, 2):
        (folder / f"model-0000{i}-of-00002.safetensors").write_bytes(os.urandom(64_000 + i))
    return folder


def test_lfs_file_arrives_byte_exact(fake_hub, tmp_path):
    from hala.publish.upload import sha256, upload

    fake_hub.lfs_threshold = 50_000
    folder = make_lfs_folder(tmp_path / "repo")
    result = upload(folder, "me/big", "model", commit_bytes=10**9, log=lambda m: None)
    shards = sorted(p for p in folder.iterdir() if p.suffix == ".safetensors")
    assert fake_hub.repos[("model", "me/big")] == {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(fake_hub.puts) == sorted(sha256(p) for p in shards)  # the weights went through the LFS PUT...
    assert sorted(fake_hub.verified) == sorted(fake_hub.puts)  # ...were verified...
    keys = dict(zip(fake_hub.commits[0], fake_hub.commit_keys[0]))
    assert {keys[p.name] for p in shards} == {"lfsFile"} and keys["config.json"] == "file"  # ...and committed as LFS
    assert result.uploaded[-1] == "README.md"

    again = upload(folder, "me/big", "model", commit_bytes=10**9, log=lambda m: None)
    assert again.uploaded == [] and len(again.skipped) == len(result.uploaded)  # LFS sha256 compared: all there


def test_failure_during_lfs_put_is_finished_by_a_rerun(fake_hub, tmp_path):
    from hala.errors import HalaError
    from hala.publish.upload import sha256, upload

    fake_hub.lfs_threshold = 50_000
    folder = make_lfs_folder(tmp_path / "repo")
    first, second = (folder / f"model-0000{i}-of-00002.safetensors" for i in (1, 2))
    fake_hub.fail_puts = {1}  # one commit per file: config.json, shard 1 (PUT 0), shard 2 (PUT 1 fails), ...
    with pytest.raises(HalaError, match=r"stopped after 2 of 5 files.*rerun the same command"):
        upload(folder, "me/big", "model", commit_bytes=1, log=lambda m: None)
    assert sorted(fake_hub.repos[("model", "me/big")]) == ["config.json", first.name]
    assert fake_hub.puts == [sha256(first)]

    result = upload(folder, "me/big", "model", commit_bytes=1, log=lambda m: None)
    assert result.skipped == ["config.json", first.name]  # the LFS shard already there: same sha256, not re-sent
    assert result.uploaded == [second.name, "tokenizer.json", "README.md"]
    assert fake_hub.puts == [sha256(first), sha256(second)]  # each shard's bytes went up once
    assert fake_hub.repos[("model", "me/big")] == {p.name: p.read_bytes() for p in folder.iterdir()}


def test_changed_lfs_file_of_the_same_size_is_uploaded_again(fake_hub, tmp_path):
    import os

    from hala.publish.upload import upload

    fake_hub.lfs_threshold = 50_000
    folder = make_lfs_folder(tmp_path / "repo")
    upload(folder, "me/big", "model", log=lambda m: None)
    shard = folder / "model-00001-of-00002.safetensors"
    shard.write_bytes(os.urandom(shard.stat().st_size))  # new weights, same size: only the sha256 tells
    again = upload(folder, "me/big", "model", log=lambda m: None)
    assert again.uploaded == [shard.name]
    assert fake_hub.repos[("model", "me/big")][shard.name] == shard.read_bytes()
