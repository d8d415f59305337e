"""Which archive a command uses: --archive, $FACESSD_ARCHIVE, the checkout of the current folder, the per-user archive.

One case per rule, each with the rules below it also in place so that the case shows it wins.
The per-user archive is seeded from a tiny archive standing in for the wheel's ``_seed/``;
tests/test_wheel.py does the same with the real wheel.
"""

from __future__ import annotations

import json
import sys

import pytest
from archive_helpers import seal_tiny

from facessd_archive.archive import Archive, open_archive, resolve_archive_root, user_archive_dir
from facessd_archive.archive import location
from facessd_archive.archive.verify import verify_archive
from facessd_archive.errors import ArchiveError

DEFAULT = "keypoints/v2/shipped"


@pytest.fixture
def seed(tmp_path):
    """A source archive like the wheel's ``_seed/``: its default stage, plus one more that is not shipped."""
    archive = Archive(tmp_path / "seed")
    seal_tiny(archive, DEFAULT, tmp_path, set_default=True)
    seal_tiny(archive, "keypoints/v2/other", tmp_path, seed=1)
    return archive


@pytest.fixture
def user(tmp_path, monkeypatch, seed):
    """No flag, no $FACESSD_ARCHIVE, an empty current folder, HOME in tmp, the package seeding from ``seed``."""
    for name in ("FACESSD_ARCHIVE", "XDG_DATA_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    monkeypatch.setattr(location, "packaged_seed", lambda: seed.root)
    return tmp_path / "home"


@pytest.fixture
def checkout(tmp_path, seed):
    """A folder that is an archive (like the repository root), with a deeper folder to stand in."""
    root = tmp_path / "checkout"
    seal_tiny(Archive(root), "keypoints/v2/here", tmp_path, set_default=True)
    (root / "runs" / "a").mkdir(parents=True)
    return root


def test_the_flag_comes_first(user, checkout, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESSD_ARCHIVE", str(tmp_path / "env"))
    monkeypatch.chdir(checkout / "runs" / "a")
    assert resolve_archive_root(tmp_path / "given") == tmp_path / "given"
    assert open_archive(str(tmp_path / "given")).root == tmp_path / "given"
    assert not user.exists()  # nothing seeded


def test_the_environment_comes_before_the_checkout(user, checkout, tmp_path, monkeypatch):
    monkeypatch.setenv("FACESSD_ARCHIVE", str(tmp_path / "env"))
    monkeypatch.chdir(checkout / "runs" / "a")
    assert resolve_archive_root() == tmp_path / "env"
    assert open_archive().stage_ids() == []  # used as given, even before it exists
    assert not user.exists()


def test_the_checkout_the_current_folder_is_in(user, checkout, monkeypatch):
    monkeypatch.chdir(checkout / "runs" / "a")
    assert resolve_archive_root() == checkout.resolve()
    assert open_archive().default_stage().stage_id == "keypoints/v2/here"
    assert not user.exists()


def test_the_per_user_archive_is_seeded_once_from_the_shipped_default(user, seed):
    archive = open_archive()
    assert archive.root == user_archive_dir()
    if sys.platform.startswith("linux"):
        assert archive.root == user / ".local" / "share" / "facessd-archive"
    assert archive.stage_ids() == [DEFAULT] and archive.default_stage_id() == DEFAULT
    shipped = seed.folder(DEFAULT)
    copied = sorted(p.relative_to(archive.folder(DEFAULT)) for p in archive.folder(DEFAULT).rglob("*") if p.is_file())
    assert copied == sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    assert all((archive.folder(DEFAULT) / p).read_bytes() == (shipped / p).read_bytes() for p in copied)
    assert all(r.ok for r in verify_archive(archive))
    # later calls use it as the user left it: no second seeding, the user's default kept
    seal_tiny(archive, "keypoints/v2/mine", user.parent, seed=2, set_default=True)
    again = open_archive()
    assert again.root == archive.root and again.default_stage_id() == "keypoints/v2/mine"
    assert json.loads((again.root / "archive.json").read_text())["default_stage"] == "keypoints/v2/mine"


def test_the_per_user_archive_follows_xdg_data_home(user, tmp_path, monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("XDG_DATA_HOME is the Linux rule")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert open_archive().root == tmp_path / "xdg" / "facessd-archive"
    assert open_archive().default_stage_id() == DEFAULT and not user.exists()


def test_an_editable_install_seeds_from_its_checkout(monkeypatch):
    monkeypatch.setattr(location, "packaged_seed", lambda: None)
    checkout = location.source_checkout()
    if checkout is None:
        pytest.skip("the package is installed from a wheel, not run from its checkout")
    assert location.seed_source() == checkout and (checkout / "archive.json").is_file()


def test_nothing_to_seed_from_is_one_clear_error(user, monkeypatch):
    monkeypatch.setattr(location, "packaged_seed", lambda: None)
    monkeypatch.setattr(location, "source_checkout", lambda: None)
    with pytest.raises(ArchiveError, match="no archive: pass --archive DIR, set FACESSD_ARCHIVE, or run inside"):
        open_archive()
    assert not user_archive_dir().exists()
