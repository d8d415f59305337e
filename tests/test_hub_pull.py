"""Pull against a real Hub server: huggingface_hub -> olah on loopback -> git repos built here.

Covers branch, tag and sha revisions, an LFS file, cache reuse (a second pull downloads
nothing, counted in olah's access log), offline use from the cache (endpoint unreachable),
tampered files (server side and in the cache) caught by the sha256 check, hostile manifests,
and the one-line errors of the CLI.
"""

from __future__ import annotations

import json
import shutil

import pytest
from archive_helpers import DATA_FILE, seal_tiny
from click.testing import CliRunner
from hub_server import hub_env, olah, skip_without_olah  # noqa: F401  (fixtures)

from facessd_archive.archive import Archive, stage_weights_folder
from facessd_archive.archive.hub import HubSettings
from facessd_archive.archive.pull import pull_repo, pull_stage
from facessd_archive.archive.verify import verify_stage
from facessd_archive.cli import main
from facessd_archive.errors import HubError, IntegrityError, UnsafePathError

pytestmark = skip_without_olah
STAGE = "keypoints/v2/tiny"


@pytest.fixture(scope="module")
def remote(olah, tmp_path_factory):  # noqa: F811
    """org/arch: one stage whose checkpoint data is an LFS file; main has a second commit after tag v1."""
    tmp = tmp_path_factory.mktemp("remote")
    stage = seal_tiny(Archive(tmp / "src-archive"), STAGE, tmp)
    repo = olah.repo("org/arch")
    repo.copy_stage(stage.folder, STAGE, lfs={DATA_FILE})
    first = repo.commit("add tiny stage")
    repo.tag("v1")
    repo.write("notes.txt", b"a later commit on main\n")
    head = repo.commit("notes")
    return {"stage": stage, "first": first, "head": head, "repo": repo}


def _settings(olah, offline=False):  # noqa: F811
    return HubSettings.resolve(endpoint=olah.endpoint, offline=offline)


@pytest.mark.parametrize("revision, expected", [("main", "head"), ("v1", "first"), ("sha", "first")])
def test_pull_repo_at_branch_tag_and_sha(olah, remote, hub_env, tmp_path, revision, expected):  # noqa: F811
    rev = remote["first"] if revision == "sha" else revision
    archive = Archive(tmp_path / "archive")
    [result] = pull_repo(archive, "org/arch", rev, _settings(olah))
    assert result.stage_id == STAGE and result.status == "installed"
    m = archive.get(STAGE).manifest
    assert m.weights.hub.revision == remote[expected]  # pinned to the commit, whatever was asked
    assert m.weights.in_folder is False
    assert m.content_hash == remote["stage"].manifest.content_hash
    # the LFS file arrived with its real content, in the cache, not in the archive
    original = (remote["stage"].folder / DATA_FILE).read_bytes()
    assert (result.folder / DATA_FILE).read_bytes() == original
    assert str(result.folder).startswith(str(hub_env))
    assert sorted(p.name for p in archive.folder(STAGE).iterdir()) == ["README.md", "stage.json"]
    assert sorted(result.downloaded) == sorted(f.path for f in m.files)
    report = verify_stage(archive, STAGE, hub_env)
    assert report.ok, report.problems
    assert sorted(report.checked) == sorted(f.path for f in m.files)


def test_second_pull_downloads_nothing_and_offline_works(olah, remote, hub_env, tmp_path):  # noqa: F811
    archive = Archive(tmp_path / "archive")
    pull_repo(archive, "org/arch", "main", _settings(olah))
    served = olah.downloads("org/arch")
    assert served >= 5  # stage.json and the four files, at least (the log is really counting)
    again = pull_stage(archive, STAGE, _settings(olah))
    assert again.downloaded == [] and len(again.cached) == 4
    assert olah.downloads("org/arch") == served  # no file was fetched again
    # offline, and with an endpoint nobody listens on: everything comes from the cache
    dead = HubSettings.resolve(endpoint="http://127.0.0.1:9", offline=True)
    offline = pull_stage(archive, STAGE, dead)
    assert offline.folder == again.folder
    fresh = Archive(tmp_path / "fresh")
    [result] = pull_repo(fresh, "org/arch", "main", dead)  # the branch resolves through the cached ref
    assert result.status == "installed" and result.downloaded == []
    assert stage_weights_folder(STAGE, archive=fresh, endpoint="http://127.0.0.1:9", offline=True) == again.folder


def test_offline_without_cache_is_one_clear_error(olah, remote, hub_env, tmp_path):  # noqa: F811
    archive = Archive(tmp_path / "archive")
    with pytest.raises(HubError, match="not in the local cache"):
        pull_repo(archive, "org/arch", "v1", _settings(olah, offline=True))
    assert not archive.root.exists()


def test_tampered_file_on_the_server_is_caught_and_nothing_installed(olah, remote, hub_env, tmp_path):  # noqa: F811
    repo = olah.repo("org/tampered")
    repo.copy_stage(remote["stage"].folder, STAGE, lfs={DATA_FILE})
    repo.write_lfs(f"{STAGE}/{DATA_FILE}", b"not the weights the manifest hashed" * 10)
    repo.commit("tampered")
    archive = Archive(tmp_path / "archive")
    with pytest.raises(IntegrityError, match=f"{STAGE}/{DATA_FILE}: size"):
        pull_repo(archive, "org/tampered", None, _settings(olah))
    assert not archive.exists(STAGE)


def test_tampered_cache_is_caught_and_kept(olah, remote, hub_env, tmp_path):  # noqa: F811
    archive = Archive(tmp_path / "archive")
    [result] = pull_repo(archive, "org/arch", "v1", _settings(olah))
    blob = (result.folder / "weights.index").resolve()
    blob.write_bytes(b"index-X")  # same size, other bytes
    with pytest.raises(IntegrityError, match=r"weights.index: sha256 mismatch.*nothing was deleted"):
        pull_stage(archive, STAGE, _settings(olah))
    assert blob.read_bytes() == b"index-X" and archive.exists(STAGE)
    runner = CliRunner()
    out = runner.invoke(main, ["verify", STAGE, "--archive", str(archive.root)])
    assert out.exit_code == 1
    assert f"{STAGE}/weights.index" in out.output and "sha256 mismatch" in out.output


def test_hostile_manifest_cannot_escape_the_archive(olah, remote, hub_env, tmp_path):  # noqa: F811
    repo = olah.repo("org/evil")
    manifest = json.loads((remote["stage"].folder / "stage.json").read_text())
    manifest["stage_id"] = "../../outside"
    repo.write("stage.json", json.dumps(manifest).encode())
    repo.commit("evil root stage")
    archive = Archive(tmp_path / "archive")
    with pytest.raises(UnsafePathError, match="escape the archive root"):
        pull_repo(archive, "org/evil", "main", _settings(olah))
    manifest["stage_id"] = STAGE
    manifest["files"][0]["path"] = "../../../etc/passwd"
    repo.write("stage.json", json.dumps(manifest).encode())
    repo.commit("evil file name")
    with pytest.raises(UnsafePathError, match="'..'"):
        pull_repo(archive, "org/evil", "main", _settings(olah))
    assert not (tmp_path / "outside").exists() and not archive.root.exists()


def test_cli_pull_repo_then_stage(olah, remote, hub_env, tmp_path):  # noqa: F811
    runner = CliRunner()
    root = str(tmp_path / "archive")
    out = runner.invoke(main, ["pull", f"org/arch@{remote['first']}", "--archive", root, "--endpoint", olah.endpoint])
    assert out.exit_code == 0, out.output
    assert f"{STAGE}: installed; 4 downloaded" in out.output
    out = runner.invoke(main, ["pull", STAGE, "--archive", root, "--endpoint", olah.endpoint])
    assert out.exit_code == 0, out.output
    assert "0 downloaded, 4 already here" in out.output
    out = runner.invoke(main, ["list", "--archive", root])
    assert STAGE in out.output and f"hub org/arch@{remote['first'][:12]}" in out.output


def test_cli_not_found_is_one_line(olah, remote, hub_env, tmp_path):  # noqa: F811
    out = CliRunner().invoke(main, ["pull", "org/missing", "--archive", str(tmp_path / "a"),
                                    "--endpoint", olah.endpoint])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "org/missing" in lines[0] and "not found" in lines[0]


def test_pull_stage_after_cache_is_cleared_downloads_again(olah, remote, hub_env, tmp_path):  # noqa: F811
    archive = Archive(tmp_path / "archive")
    pull_repo(archive, "org/arch", "v1", _settings(olah), weights=False)
    assert not hub_env.exists() or not any(hub_env.rglob(DATA_FILE))
    first = pull_stage(archive, STAGE, _settings(olah))
    assert sorted(first.downloaded) == sorted(f.path for f in archive.get(STAGE).manifest.files)
    shutil.rmtree(hub_env)
    second = pull_stage(archive, STAGE, _settings(olah))
    assert len(second.downloaded) == 4
