"""Push: upload one stage to a Hub repo in one commit and record the commit in its manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from facessd_archive.archive.card import render_card
from facessd_archive.archive.hub import HubSettings, hub_errors, parse_repo_ref, xet_setting
from facessd_archive.archive.manifest import HubLocation
from facessd_archive.archive.paths import STAGE_CARD, STAGE_MANIFEST, safe_join
from facessd_archive.archive.pull import pull_stage
from facessd_archive.archive.sealing import Archive
from facessd_archive.archive.verify import verify_stage
from facessd_archive.errors import ArchiveError, HubError, IntegrityError


@dataclass(frozen=True)
class PushResult:
    stage_id: str
    repo_id: str
    revision: str  # the commit sha the push created, recorded in the stage's manifest
    commit_url: str
    files: tuple[str, ...]


def push_stage(archive: Archive, stage_id: str, repo_id: str, settings: HubSettings | None = None,
               branch: str = "main", private: bool = False, create_repo: bool = True,
               commit_message: str | None = None) -> PushResult:
    """Upload ``stage_id`` to ``repo_id`` (folder ``<stage id>/``, plus the stage's card as the repo's
    ``README.md``) in one commit, and record the commit in the stage's ``weights.hub``."""
    from huggingface_hub import CommitOperationAdd, HfApi

    settings = settings or HubSettings.resolve()
    parse_repo_ref(repo_id)
    if settings.offline:
        raise HubError(f"cannot push {stage_id} while offline (HF_HUB_OFFLINE or --offline)")
    if not settings.token:
        raise HubError(f"no Hugging Face token: set HF_TOKEN or run `hf auth login` (pushing to {repo_id} "
                       f"needs a token with write access)")
    report = verify_stage(archive, stage_id, settings.cache_dir)
    if not report.ok:
        raise IntegrityError(f"refusing to push {stage_id}: {report.problems[0]}"
                             + (f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""))
    stage = archive.get(stage_id)
    m = stage.manifest
    folder = stage.folder
    if m.files and not m.weights.in_folder:
        if m.weights.hub is None:
            raise ArchiveError(f"{stage_id}: its files are not available here, nothing to push")
        folder = pull_stage(archive, stage_id, settings).folder
    uploaded = dataclasses.replace(m, weights=dataclasses.replace(m.weights, in_folder=bool(m.files), hub=None))
    card = render_card(uploaded).encode("utf-8")
    ops = [CommitOperationAdd(f"{stage_id}/{f.path}", str(safe_join(folder, f.path))) for f in m.files]
    ops += [CommitOperationAdd(f"{stage_id}/{STAGE_MANIFEST}", uploaded.to_json().encode("utf-8")),
            CommitOperationAdd(f"{stage_id}/{STAGE_CARD}", card),
            CommitOperationAdd(STAGE_CARD, card)]
    api = HfApi(endpoint=settings.endpoint, token=settings.token)
    with hub_errors(settings, f"push {stage_id} to {repo_id}"), xet_setting(settings):
        if create_repo:
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(repo_id, ops, commit_message=commit_message or f"facessd push {stage_id}",
                                 revision=branch)
    archive.set_hub_location(stage_id, HubLocation(repo_id, info.oid, stage_id))
    return PushResult(stage_id, repo_id, info.oid, settings.scrub(str(info.commit_url)),
                      tuple(op.path_in_repo for op in ops))
