"""Push, then pull back through olah.

No installable server accepts huggingface_hub uploads (olah answers create_repo 405 and
preupload 404), so the upload half runs against ``hub_server.UploadServer``: the smallest
in-test HTTP server implementing the four calls huggingface_hub makes for this commit with
HF_HUB_DISABLE_XET=1 (create repo, validate-yaml, preupload, commit). It writes the commit
into a git repo that olah serves, and the pushed stage is then pulled back with the real
client through olah and verified.
"""

from __future__ import annotations

import pytest
import yaml
from archive_helpers import DATA_FILE, measured, seal_tiny
from click.testing import CliRunner
from hub_server import UploadServer, hub_env, olah, skip_without_olah  # noqa: F401  (fixtures)

from facessd_archive.archive import Archive, HubLocation
from facessd_archive.archive.hub import HubSettings
from facessd_archive.archive.pull import pull_repo
from facessd_archive.archive.verify import verify_stage
from facessd_archive.cli import main

pytestmark = skip_without_olah
STAGE = "keypoints/v2/pushed"
TOKEN = "hf_facessdTestToken0123456789abcdef"
CALLS = ["/api/repos/create", "/api/validate-yaml", "/api/models/org/pushed/preupload/main",
         "/api/models/org/pushed/commit/main"]


@pytest.fixture
def upload(olah):  # noqa: F811
    with UploadServer(olah.mirrors, TOKEN) as server:
        yield server


def _push(archive: Archive, endpoint: str, repo: str = "org/pushed"):
    return CliRunner().invoke(main, ["push", STAGE, "--repo", repo, "--endpoint", endpoint,
                                     "--archive", str(archive.root)])


def test_push_then_pull_back_through_olah(olah, upload, hub_env, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    archive = Archive(tmp_path / "archive")
    sealed = seal_tiny(archive, STAGE, tmp_path, evaluations=[measured(0.42)])
    out = _push(archive, upload.endpoint)
    assert out.exit_code == 0, out.output
    repo = olah.repo("org/pushed")
    sha = repo.head()
    assert f"org/pushed@{sha}" in out.output
    assert [path for _, path in upload.calls] == CALLS
    assert upload.auth_headers == [f"Bearer {TOKEN}"] * 4

    # the manifest records the commit; content and verification are unchanged
    m = archive.get(STAGE).manifest
    assert m.weights.hub == HubLocation("org/pushed", sha, STAGE) and m.weights.in_folder
    assert m.content_hash == sealed.manifest.content_hash
    assert verify_stage(archive, STAGE).ok

    # the model card carries the Hub's metadata
    card = (repo.path / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "facessd-archive" and "face-detection" in meta["tags"]
    assert meta["pipeline_tag"] == "object-detection" and meta["metrics"] == ["mAP"]
    results = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == STAGE and results["dataset"]["type"] == "facemask"
    assert {"type": "mAP", "value": 0.42, "name": "DetectionBoxes_Precision/mAP", "verified": False} \
        in results["metrics"]
    assert (repo.path / STAGE / "README.md").read_text() == card

    # pull it back with the real client through olah and check every byte
    fresh = Archive(tmp_path / "fresh")
    [result] = pull_repo(fresh, "org/pushed", sha, HubSettings.resolve(endpoint=olah.endpoint))
    assert result.status == "installed" and len(result.downloaded) == 4
    back = fresh.get(STAGE).manifest
    assert back.content_hash == m.content_hash and back.evaluations == m.evaluations
    assert back.weights.hub == HubLocation("org/pushed", sha, STAGE)
    for f in m.files:
        assert (result.folder / f.path).read_bytes() == (archive.folder(STAGE) / f.path).read_bytes()
    assert verify_stage(fresh, STAGE, hub_env).ok

    # the token went to the server in the header and nowhere else
    written = [p for root in (archive.root, fresh.root) for p in root.rglob("*") if p.is_file()] + repo.files()
    assert written and not [p for p in written if TOKEN.encode() in p.read_bytes()]
    assert TOKEN not in out.output and TOKEN not in repo.git("log", "--format=%B")


def test_push_without_token_is_one_line_and_sends_nothing(olah, upload, hub_env, tmp_path):  # noqa: F811
    archive = Archive(tmp_path / "archive")
    seal_tiny(archive, STAGE, tmp_path)
    out = _push(archive, upload.endpoint)
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [out.output.strip()]
    assert "no Hugging Face token" in out.output and "HF_TOKEN" in out.output
    assert upload.calls == []


def test_push_with_a_refused_token_is_one_line_without_the_token(olah, upload, hub_env, tmp_path,  # noqa: F811
                                                                 monkeypatch):
    wrong = "hf_wrongTokenValue9876543210"
    monkeypatch.setenv("HF_TOKEN", wrong)
    archive = Archive(tmp_path / "archive")
    seal_tiny(archive, STAGE, tmp_path)
    out = _push(archive, upload.endpoint)
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "401" in lines[0] and "token" in lines[0]
    assert wrong not in out.output
    assert archive.get(STAGE).manifest.weights.hub is None


def test_push_refuses_a_stage_that_fails_verification(olah, upload, hub_env, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    archive = Archive(tmp_path / "archive")
    stage = seal_tiny(archive, STAGE, tmp_path)
    (stage.folder / DATA_FILE).write_bytes(b"corrupted")
    out = _push(archive, upload.endpoint)
    assert out.exit_code == 2 and f"refusing to push {STAGE}" in out.output and DATA_FILE in out.output
    assert upload.calls == []


def test_token_from_the_login_file_and_never_in_repr(hub_env, tmp_path, monkeypatch):  # noqa: F811
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text(TOKEN + "\n")
    settings = HubSettings.resolve(endpoint="http://127.0.0.1:9")
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings) and settings.scrub(f"x {TOKEN} y") == "x *** y"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:8/")
    assert HubSettings.resolve().endpoint == "http://127.0.0.1:8"  # read at call time
