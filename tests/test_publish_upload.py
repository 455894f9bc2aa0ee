"""The upload path of `hala publish` against a local fake of the Hugging Face Hub API (an HTTP server on
127.0.0.1, HF_ENDPOINT pointing at it; no network): files arrive byte-exact, the card last; a failure in the middle
of an upload is finished by a rerun that uploads only what is missing; the token is sent, never printed."""

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


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def make_handler(hub: FakeHub):
    class Handler(JSONHandler):
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

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
                return self._send(
                    200,
                    [{"type": "file", "path": p, "size": len(d), "oid": git_oid(d)} for p, d in sorted(files.items())],
                )
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
            if len(parts) >= 6 and parts[4] == "preupload":
                files = self._repo_files(parts)
                req = json.loads(body)
                return self._send(
                    200,
                    {
                        "files": [
                            {
                                "path": f["path"],
                                "uploadMode": "regular",
                                "shouldIgnore": False,
                                "oid": git_oid(files[f["path"]]) if f["path"] in files else None,
                            }
                            for f in req["files"]
                        ]
                    },
                )
            if len(parts) >= 6 and parts[4] == "commit":
                with hub.lock:
                    attempt = hub.attempts
                    hub.attempts += 1
                if attempt in hub.fail_commits:
                    return self._send(500, {"error": "simulated failure in the middle of an upload"})
                files = self._repo_files(parts)
                paths = []
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        paths.append(item["value"]["path"])
                hub.commits.append(paths)
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
