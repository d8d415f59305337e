"""Real Hub servers on loopback for the archive's Hub tests (a helper module, imported by tests/test_hub_*.py).

- ``OlahServer``: the ``olah`` Hub mirror (PyPI, 0.5.4) started as a subprocess, serving plain git
  repos that the tests build (``GitRepo``: commits, tags, and LFS files as a committed pointer plus
  the object under ``.git/lfs/objects``). The real ``huggingface_hub`` client pulls from it.
  Its access log (one line per request) lets a test count downloads.
- ``UploadServer``: olah cannot take uploads (create_repo 405, preupload 404) and no installable
  server can, so push is tested against this in-test HTTP server implementing only the four
  calls ``huggingface_hub`` makes for a commit of regular (non-LFS) files with
  HF_HUB_DISABLE_XET=1: create repo, validate README.md YAML, preupload, commit. A commit is
  written into a GitRepo that olah serves, so a pushed stage is pulled back through olah.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ports import free_port

OLAH_CLI = Path(sys.executable).parent / "olah-cli"
GIT = shutil.which("git")
_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


class GitRepo:
    """A git repo with a work tree at ``MIRRORS/models/ORG/NAME``, as olah serves them."""

    def __init__(self, mirrors: Path, repo_id: str) -> None:
        self.repo_id = repo_id
        self.path = mirrors / "models" / repo_id
        if not (self.path / ".git").is_dir():
            self.path.mkdir(parents=True, exist_ok=True)
            self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **_GIT_ENV}
        out = subprocess.run([GIT, "-c", "user.name=facessd-test", "-c", "user.email=test@127.0.0.1",
                              "-c", "commit.gpgsign=false", *args], cwd=self.path, env=env, check=True,
                             capture_output=True, text=True)
        return out.stdout.strip()

    def write(self, path: str, data: bytes) -> None:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def write_lfs(self, path: str, data: bytes) -> str:
        """Commit ``data`` as an LFS file: the pointer in the tree, the object in .git/lfs/objects."""
        oid = hashlib.sha256(data).hexdigest()
        obj = self.path / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
        self.write(path, f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode())
        return oid

    def copy_stage(self, stage_folder: Path, stage_id: str, lfs: set[str] = frozenset()) -> None:
        """Copy a local stage folder into the repo at ``stage_id/`` (names in ``lfs`` become LFS files)."""
        for path in sorted(stage_folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(stage_folder).as_posix()
                (self.write_lfs if rel in lfs else self.write)(f"{stage_id}/{rel}", path.read_bytes())

    def commit(self, message: str = "update") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str) -> None:
        self.git("tag", name)

    def files(self) -> list[Path]:
        return [p for p in self.path.rglob("*") if p.is_file() and ".git" not in p.relative_to(self.path).parts]


class OlahServer:
    """``olah-cli -c olah.toml`` on a free loopback port, offline mode, serving ``self.mirrors``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.mirrors = workdir / "mirrors"
        self.log_path = workdir / "olah.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "OlahServer":
        self.mirrors.mkdir(parents=True, exist_ok=True)
        (self.workdir / "olah-data").mkdir(exist_ok=True)
        config = self.workdir / "olah.toml"
        config.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f'repos-path = "{self.workdir / "olah-data"}"\n'
            f'mirrors-path = ["{self.mirrors}"]\n'
            'mirror-scheme = "http"\n'
            f'mirror-netloc = "127.0.0.1:{self.port}"\n'
            f'mirror-lfs-netloc = "127.0.0.1:{self.port}"\n'
            "[accessibility]\n"
            "offline = true\n")
        log = open(self.log_path, "wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
        self.process = subprocess.Popen([str(OLAH_CLI), "-c", str(config)], cwd=self.workdir, stdout=log,
                                        stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"olah exited with {self.process.returncode}:\n{self.log()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/api/models/none/none/refs", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # any HTTP answer means it is serving
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"olah did not answer on {self.endpoint} within {timeout} s:\n{self.log()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # this PID only: the server we started
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def repo(self, repo_id: str) -> GitRepo:
        return GitRepo(self.mirrors, repo_id)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def downloads(self, repo_id: str) -> int:
        """How many file downloads (GET .../resolve/...) olah has served for ``repo_id`` so far."""
        time.sleep(0.2)  # let the access log line land
        return self.log().count(f'"GET /{repo_id}/resolve/')


def olah_available() -> bool:
    return OLAH_CLI.exists() and GIT is not None


skip_without_olah = pytest.mark.skipif(not olah_available(),
                                       reason=f"needs olah-cli ({OLAH_CLI}; pip install olah==0.5.4) and git")


@pytest.fixture(scope="module")
def olah(tmp_path_factory):
    server = OlahServer(tmp_path_factory.mktemp("olah")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """An isolated Hugging Face environment: own cache and home, no token, no endpoint, no xet."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN_PATH",
                 "FACESSD_ARCHIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return tmp_path / "hf-cache"


class UploadServer:
    """The four upload calls of huggingface_hub, committing into a GitRepo (see the module docstring).

    Every call needs ``Authorization: Bearer <token>``; a wrong or missing token gets 401. ``calls``
    records (method, path) of each request, ``auth_headers`` what was sent.
    """

    def __init__(self, mirrors: Path, token: str) -> None:
        self.mirrors = mirrors
        self.token = token
        self.calls: list[tuple[str, str]] = []
        self.auth_headers: list[str | None] = []
        self.readmes: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.calls.append(("POST", self.path.split("?")[0]))
                server.auth_headers.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._send(401, {"error": "Invalid credentials in Authorization header"})
                status, payload = server.handle(self.path.split("?")[0], body)
                self._send(status, payload)

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "UploadServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, path: str, body: bytes) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if path == "/api/repos/create":
            req = json.loads(body)
            repo_id = f"{req['organization']}/{req['name']}"
            exists = (self.mirrors / "models" / repo_id / ".git").is_dir()
            GitRepo(self.mirrors, repo_id)
            return (409 if exists else 200), {"url": f"{self.endpoint}/{repo_id}"}
        if path == "/api/validate-yaml":
            content = json.loads(body)["content"]
            self.readmes.append(content)
            if not content.startswith("---\n"):
                return 200, {"warnings": [{"message": "empty or missing yaml metadata"}]}
            meta = yaml.safe_load(content.split("---\n")[1])
            if not isinstance(meta, dict):
                return 400, {"errors": [{"message": "metadata is not a mapping"}]}
            return 200, {"errors": [], "warnings": []}
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                   for f in files]}
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
            repo_id = f"{parts[2]}/{parts[3]}"
            if parts[5] != "main":
                return 400, {"error": "this test server commits to main only"}
            repo = GitRepo(self.mirrors, repo_id)
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = lines[0]["value"]
            for item in lines[1:]:
                if item["key"] != "file":
                    return 400, {"error": f"unsupported commit operation {item['key']}"}
                value = item["value"]
                repo.write(value["path"], base64.b64decode(value["content"]))
            sha = repo.commit(header["summary"])
            return 200, {"commitOid": sha, "commitUrl": f"{self.endpoint}/{repo_id}/commit/{sha}",
                         "success": True}
        return 404, {"error": f"not implemented by the test server: {path}"}
