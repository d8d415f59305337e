"""Pull: a stage's files from the Hub into the cache, or a whole remote archive into the local one.

Pulled files go to the Hugging Face cache, never into the archive folder: a pulled stage's folder
holds ``stage.json`` (its ``weights.hub`` naming repo, commit and folder) and ``README.md``, and
``pull_stage`` returns the cache folder with the files. Every file is checked against the
manifest's size and sha256 after download; a mismatch raises IntegrityError, deletes nothing,
and (for a remote archive) installs nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from facessd_archive.archive.hub import (COMMIT_SHA, HubSettings, blob_names, download, hub_errors, snapshot_of,
                                         storage_folder)
from facessd_archive.archive.manifest import HubLocation, Manifest
from facessd_archive.archive.paths import STAGE_MANIFEST, check_stage_id, safe_join
from facessd_archive.archive.sealing import Archive
from facessd_archive.archive.store import ArchiveReader, Stage
from facessd_archive.archive.verify import check_file
from facessd_archive.errors import ArchiveError, HubError, IntegrityError, StageExistsError, StageNotFoundError


@dataclass
class PullResult:
    stage_id: str
    status: str  # "local" (files in the folder), "pulled", "installed", "installed as <id>", "up to date"
    folder: Path | None = None  # the folder holding the stage's files (None: not downloaded)
    downloaded: list[str] = field(default_factory=list)  # files fetched from the Hub by this call
    cached: list[str] = field(default_factory=list)  # files found in the cache


def pull_stage(archive: ArchiveReader, stage_id: str, settings: HubSettings | None = None) -> PullResult:
    """Make the files of ``stage_id`` available locally and checked; return the folder holding them.

    Files in the stage folder are only re-hashed. Files on the Hub are downloaded at the
    recorded revision into the cache (or found there, offline too) and then checked against
    the manifest: IntegrityError names the first file that differs and deletes nothing.
    """
    settings = settings or HubSettings.resolve()
    stage = archive.get(stage_id)
    m = stage.manifest
    if m.weights.in_folder:
        _check_all(m, {f.path: safe_join(stage.folder, f.path) for f in m.files}, "")
        return PullResult(stage_id, "local", stage.folder, cached=[f.path for f in m.files])
    hub = m.weights.hub
    if hub is None or not m.files:
        raise ArchiveError(f"{stage_id}: no weights available here ({m.weights.note or 'no files, no Hub location'})")
    return _fetch_files(settings, m, hub, "pulled")


def _fetch_files(settings: HubSettings, m: Manifest, hub: HubLocation, status: str) -> PullResult:
    """Download (or find in the cache) every file of ``m`` at ``hub`` and check it against ``m``."""
    before = blob_names(settings, hub.repo_id)
    paths = {f.path: download(settings, hub.repo_id, hub.file_path(f.path), hub.revision) for f in m.files}
    new = blob_names(settings, hub.repo_id) - before
    downloaded = [n for n, p in paths.items() if p.resolve().name in new]
    _check_all(m, paths, f" (from {hub}; the cached copy {{path}} was kept, nothing was deleted)")
    name, path = next(iter(paths.items()))
    folder = path.parents[len(name.split("/")) - 1]
    return PullResult(m.stage_id, status, folder, downloaded=downloaded,
                      cached=[n for n in paths if n not in downloaded])


def _check_all(m: Manifest, paths: dict[str, Path], suffix: str) -> None:
    for entry in m.files:
        path = paths[entry.path]
        problem = check_file(entry, path, f"{m.stage_id}/{entry.path}", cache_link=bool(suffix))
        if problem:
            raise IntegrityError(problem + suffix.format(path=path))


def _resolve_offline(settings: HubSettings, repo_id: str, revision: str) -> str:
    if COMMIT_SHA.fullmatch(revision):
        return revision
    ref = storage_folder(settings, repo_id) / "refs" / revision
    if ".." in revision or not ref.is_file():
        raise HubError(f"{repo_id}@{revision}: not in the local cache {settings.cache_dir} and offline; "
                       f"pull once online first")
    return ref.read_text().strip()


def _remote_manifests(settings: HubSettings, repo_id: str, revision: str) -> tuple[str, list[str]]:
    """(commit sha, paths of every ``stage.json``) of the remote archive, paths checked as stage ids."""
    if settings.offline:
        sha = _resolve_offline(settings, repo_id, revision)
        snapshot = storage_folder(settings, repo_id) / "snapshots" / sha
        found = snapshot.rglob(STAGE_MANIFEST) if snapshot.is_dir() else []
        files = [p.relative_to(snapshot).as_posix() for p in found]
        if not files:
            raise HubError(f"{repo_id}@{revision}: no stage.json of it in the local cache {settings.cache_dir} "
                           f"and offline; pull once online first")
    else:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=settings.endpoint, token=settings.token or False)
        with hub_errors(settings, f"{repo_id}@{revision}"):
            sha = revision if COMMIT_SHA.fullmatch(revision) else api.repo_info(repo_id, revision=revision).sha
            files = api.list_repo_files(repo_id, revision=sha)
    manifests = []
    for path in files:
        if path == STAGE_MANIFEST:
            manifests.append(path)
        elif path.endswith("/" + STAGE_MANIFEST):
            check_stage_id(path[: -len(STAGE_MANIFEST) - 1])  # a hostile listing fails here, loudly
            manifests.append(path)
    return sha, sorted(manifests)


def pull_repo(archive: Archive, repo_id: str, revision: str | None = None, settings: HubSettings | None = None,
              stages: Sequence[str] = (), weights: bool = True, new_version: bool = False) -> list[PullResult]:
    """Bring the stages of the Hub repo ``repo_id`` at ``revision`` (default ``main``) into ``archive``.

    Each remote ``stage.json`` is validated and installed with its files located at
    ``repo_id@<commit sha>:<stage id>``; with ``weights`` the files are then pulled and checked.
    ``stages`` limits the pull to those stage ids. A stage already here with the same content
    hash is left as it is; one with different content raises StageExistsError unless
    ``new_version`` installs it as a sibling.
    """
    settings = settings or HubSettings.resolve()
    revision = revision or "main"
    sha, manifest_paths = _remote_manifests(settings, repo_id, revision)
    if not manifest_paths:
        raise StageNotFoundError(f"{repo_id}@{revision}: no stage.json in the repo (not a facessd archive?)")
    remote: dict[str, tuple[str, Manifest]] = {}
    for path in manifest_paths:
        # Asking by the name the user gave (not the sha) makes huggingface_hub record the branch or
        # tag in the cache's refs/, so the same pull works offline later.
        local = download(settings, repo_id, path, revision)
        if snapshot_of(local) != sha:
            raise HubError(f"{repo_id}@{revision} moved to another commit during the pull; pull again")
        folder = path[: -len(STAGE_MANIFEST)].rstrip("/")
        m = Manifest.load(local, source=f"{repo_id}@{sha[:12]}:{path}")
        if folder and m.stage_id != folder:
            raise ArchiveError(f"{repo_id}@{sha[:12]}:{path}: says stage_id {m.stage_id!r} but lives at {folder!r}")
        remote[m.stage_id] = (folder, m)
    wanted = list(stages) or sorted(remote)
    missing = [s for s in wanted if s not in remote]
    if missing:
        raise StageNotFoundError(f"{repo_id}@{revision}: no stage {', '.join(missing)}; "
                                 f"it holds {', '.join(sorted(remote))}")
    results = []
    for stage_id in wanted:
        folder, m = remote[stage_id]
        # Files next to the remote stage.json are pinned to this commit; a remote manifest that
        # points elsewhere (files on another repo) keeps its own location.
        hub = HubLocation(repo_id, sha, folder) if m.weights.in_folder else m.weights.hub
        here = archive.get(stage_id) if archive.exists(stage_id) else None
        if here is not None and here.manifest.content_hash != m.content_hash and not new_version:
            raise StageExistsError(f"{stage_id} exists here with other content (content hash "
                                   f"{here.manifest.content_hash[:12]}..., {repo_id} has {m.content_hash[:12]}...); "
                                   f"use --new-version to install it as a sibling")
        same = here is not None and here.manifest.content_hash == m.content_hash
        fetched = None
        if weights and m.files and hub is not None and not (same and here.manifest.weights.in_folder):
            fetched = _fetch_files(settings, m, hub, "")  # checked before anything is written here
        result = _install_remote(archive, m, hub, here if same else None, new_version)
        if fetched is not None:
            result.folder, result.downloaded, result.cached = fetched.folder, fetched.downloaded, fetched.cached
        results.append(result)
    return results


def _install_remote(archive: Archive, m: Manifest, hub: HubLocation | None, same: Stage | None,
                    new_version: bool) -> PullResult:
    location = hub if m.files else None
    if same is not None:
        w = same.manifest.weights
        if not w.in_folder and w.hub is None and location is not None:
            archive.set_hub_location(m.stage_id, location)
        return PullResult(m.stage_id, "up to date")
    remote = dataclasses.replace(m, weights=dataclasses.replace(m.weights, in_folder=False, hub=location))
    stage = archive.install(remote, new_version=new_version)
    status = "installed" if stage.stage_id == m.stage_id else f"installed as {stage.stage_id}"
    return PullResult(stage.stage_id, status)
