"""``verify``: re-hash every file of a stage and check the manifest against itself and its parent.

A stage passes when: ``stage.json`` loads; its ``content_hash`` matches its files, model config,
training and parent; every listed file is present (a regular file, not a link) with the recorded
size and sha256; nothing else sits in the folder; ``README.md`` is the card generated from
``stage.json``; and a parent present in the archive still has the content hash recorded here.
Files kept on the Hub are checked where they are in the local Hugging Face cache and otherwise
reported as not pulled (not a failure: nothing local is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facessd_archive.archive.card import render_card
from facessd_archive.archive.hashing import sha256_file
from facessd_archive.archive.manifest import FileEntry
from facessd_archive.archive.paths import STAGE_CARD, is_regular_file, list_stage_entries, safe_join
from facessd_archive.archive.store import ArchiveReader, Stage
from facessd_archive.errors import ArchiveError, UnsafePathError


@dataclass
class StageReport:
    stage_id: str
    problems: list[str] = field(default_factory=list)  # each starts with the file it is about
    checked: list[str] = field(default_factory=list)  # files whose size and sha256 matched
    not_pulled: list[str] = field(default_factory=list)  # files on the Hub, not in the local cache

    @property
    def ok(self) -> bool:
        return not self.problems


def check_file(entry: FileEntry, path: Path, label: str, cache_link: bool = False) -> str | None:
    """None if ``path`` is a regular file with ``entry``'s size and sha256, else the problem, naming ``label``.

    ``cache_link`` accepts the Hugging Face cache's snapshot-to-blob symlink (nowhere else is a link followed).
    """
    if not path.exists() and not path.is_symlink():
        return f"{label}: missing"
    if not is_regular_file(path) and not (cache_link and _is_cache_link(path)):
        return f"{label}: not a regular file (symlink?)"
    size, digest = sha256_file(path)
    if size != entry.size:
        return f"{label}: size {size} bytes, manifest says {entry.size}"
    if digest != entry.sha256:
        return f"{label}: sha256 mismatch (manifest {entry.sha256[:16]}..., file {digest[:16]}...)"
    return None


def _is_cache_link(path: Path) -> bool:
    # Files in the Hugging Face cache are symlinks from snapshots/ to blobs/; only those are followed.
    return path.is_symlink() and "snapshots" in path.parts and path.resolve().is_file()


def verify_stage(archive: ArchiveReader, stage_id: str, cache_dir: Path | None = None) -> StageReport:
    report = StageReport(stage_id)
    try:
        stage = archive.get(stage_id)
    except ArchiveError as e:
        report.problems.append(str(e))
        return report
    m = stage.manifest
    if m.computed_content_hash() != m.content_hash:
        report.problems.append(f"{stage_id}/stage.json: content_hash does not match its files, model_config, "
                               f"training and parent (edited after sealing?)")
    if m.weights.in_folder:
        _check_folder_files(stage, report)
    else:
        _check_remote_files(stage, report, cache_dir)
    extra = [n for n in list_stage_entries(stage.folder)
             if not (m.weights.in_folder and n in {f.path for f in m.files})]
    for name in extra:
        report.problems.append(f"{stage_id}/{name}: not in the manifest")
    card = stage.folder / STAGE_CARD
    if not is_regular_file(card):
        report.problems.append(f"{stage_id}/{STAGE_CARD}: missing")
    elif card.read_text(encoding="utf-8", errors="replace") != render_card(m):
        report.problems.append(f"{stage_id}/{STAGE_CARD}: differs from the card generated from stage.json "
                               f"(Archive.refresh_card regenerates it)")
    _check_parent(archive, stage, report)
    return report


def _check_folder_files(stage: Stage, report: StageReport) -> None:
    for entry in stage.manifest.files:
        label = f"{stage.stage_id}/{entry.path}"
        try:
            problem = check_file(entry, safe_join(stage.folder, entry.path), label)
        except UnsafePathError:
            problem = f"{label}: not a regular file (a symlink on its path)"
        if problem:
            report.problems.append(problem)
        else:
            report.checked.append(entry.path)


def _check_remote_files(stage: Stage, report: StageReport, cache_dir: Path | None) -> None:
    hub = stage.manifest.weights.hub
    if hub is None:
        return  # nothing to check: the files are not available (the original experiments)
    from facessd_archive.archive.hub import cached_file

    for entry in stage.manifest.files:
        path = cached_file(hub, entry.path, cache_dir)
        if path is None:
            report.not_pulled.append(entry.path)
            continue
        problem = check_file(entry, path, f"{stage.stage_id}/{entry.path} (cached from {hub})", cache_link=True)
        if problem:
            report.problems.append(problem)
        else:
            report.checked.append(entry.path)


def _check_parent(archive: ArchiveReader, stage: Stage, report: StageReport) -> None:
    parent = stage.manifest.parent
    if parent is None or parent.content_hash is None or not archive.exists(parent.stage_id):
        return
    try:
        actual = archive.get(parent.stage_id).manifest.content_hash
    except ArchiveError as e:
        report.problems.append(f"{stage.stage_id}/stage.json: parent {parent.stage_id}: {e}")
        return
    if actual != parent.content_hash:
        report.problems.append(f"{stage.stage_id}/stage.json: parent {parent.stage_id} has content hash "
                               f"{actual[:12]}..., this stage was continued from {parent.content_hash[:12]}...")


def verify_archive(archive: ArchiveReader, stage_id: str | None = None,
                   cache_dir: Path | None = None) -> list[StageReport]:
    """One report per stage (or for ``stage_id`` only); archive-level problems under the id ``(archive)``."""
    if stage_id is not None:
        return [verify_stage(archive, stage_id, cache_dir)]
    ids, problems = archive.scan()
    reports = [verify_stage(archive, s, cache_dir) for s in ids]
    try:
        default = archive.default_stage_id()
        if default is not None and default not in ids:
            problems.append(f"archive.json: default_stage {default!r} is not a stage of this archive")
    except ArchiveError as e:
        problems.append(str(e))
    if problems:
        reports.insert(0, StageReport("(archive)", problems=problems))
    return reports
