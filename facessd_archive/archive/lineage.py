"""``lineage``: the chain of parents from a stage back to the first one.

Each link says whether the parent is in this archive and whether its content hash is still
the one the child was continued from. A chain that loops (only possible in hand-edited
manifests) is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facessd_archive.archive.store import ArchiveReader, Stage
from facessd_archive.errors import ArchiveError

LinkStatus = Literal["start", "ok", "unpinned", "missing", "hash mismatch"]


@dataclass(frozen=True)
class LineageLink:
    """One stage of a lineage. ``status`` describes the link from its child to it
    (``start`` for the stage asked about)."""

    stage_id: str
    stage: Stage | None  # None when the parent is not in this archive
    status: LinkStatus
    pinned_hash: str | None  # the content hash the child recorded


def lineage(archive: ArchiveReader, stage_id: str) -> list[LineageLink]:
    """``[stage, parent, grandparent, ...]``; stops at a stage with no parent or one not in the archive."""
    stage = archive.get(stage_id)
    chain = [LineageLink(stage_id, stage, "start", stage.manifest.content_hash)]
    seen = {stage_id}
    while stage is not None and stage.manifest.parent is not None:
        ref = stage.manifest.parent
        if ref.stage_id in seen:
            path = " -> ".join([link.stage_id for link in chain] + [ref.stage_id])
            raise ArchiveError(f"lineage of {stage_id} loops: {path}")
        seen.add(ref.stage_id)
        if not archive.exists(ref.stage_id):
            chain.append(LineageLink(ref.stage_id, None, "missing", ref.content_hash))
            break
        parent = archive.get(ref.stage_id)
        if ref.content_hash is None:
            status: LinkStatus = "unpinned"
        elif ref.content_hash == parent.manifest.content_hash:
            status = "ok"
        else:
            status = "hash mismatch"
        chain.append(LineageLink(ref.stage_id, parent, status, ref.content_hash))
        stage = parent
    return chain
