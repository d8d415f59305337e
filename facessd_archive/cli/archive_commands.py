"""Archive commands: list, show, verify, lineage, default, seal, pull, push.

Every command takes ``--archive DIR``; without it the archive in use is ``$FACESSD_ARCHIVE``, else
the checkout the current folder is in, else the per-user archive (``archive/location.py``). Hub
commands take ``--endpoint URL`` (else ``$HF_ENDPOINT``) and read ``HF_TOKEN``,
``HF_HUB_CACHE``/``HF_HOME``, ``HF_HUB_OFFLINE`` and ``HF_HUB_DISABLE_XET`` when they run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from facessd_archive.cli import main

archive_option = click.option("--archive", "archive_dir", type=click.Path(file_okay=False, path_type=Path),
                              default=None, help="Archive root (default: $FACESSD_ARCHIVE, else the checkout the "
                                                 "current folder is in, else the per-user archive).")
endpoint_option = click.option("--endpoint", default=None, metavar="URL",
                               help="Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co).")


def _archive(archive_dir: Path | None):
    from facessd_archive.archive import open_archive

    return open_archive(archive_dir)


@main.command("list")
@archive_option
def list_stages(archive_dir: Path | None) -> None:
    """List the archive's stages: parent, input size, steps, mAP on the reference benchmark, weights."""
    from tabulate import tabulate

    from facessd_archive.archive.listing import LIST_HEADERS, stage_rows

    archive = _archive(archive_dir)
    rows = stage_rows(archive)
    if not rows:
        click.echo(f"no stages under {archive.root}")
        return
    click.echo(tabulate(rows, headers=LIST_HEADERS, disable_numparse=True))
    default = archive.default_stage_id()
    click.echo(f"\n{len(rows)} stages in {archive.root}; default: {default or 'none'}; "
               f"'(reported)' = copied from the original notes, not measured here")


@main.command()
@click.argument("stage")
@click.option("--json", "as_json", is_flag=True, help="Print only stage.json.")
@archive_option
def show(stage: str, as_json: bool, archive_dir: Path | None) -> None:
    """Show a stage's manifest (stage.json) and model card (README.md)."""
    from facessd_archive.archive.card import render_card

    s = _archive(archive_dir).get(stage)
    click.echo(s.manifest.to_json(), nl=False)
    if not as_json:
        click.echo("\n" + render_card(s.manifest), nl=False)


@main.command()
@click.argument("stage", required=False)
@archive_option
def verify(stage: str | None, archive_dir: Path | None) -> None:
    """Check every file's presence, size and sha256 (one stage, or all). Exit 1 on any mismatch."""
    from facessd_archive.archive.hub import HubSettings
    from facessd_archive.archive.verify import verify_archive

    reports = verify_archive(_archive(archive_dir), stage, HubSettings.resolve().cache_dir)
    for r in reports:
        extra = f", {len(r.not_pulled)} on the Hub not pulled" if r.not_pulled else ""
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.stage_id} ({len(r.checked)} files checked{extra})")
        for problem in r.problems:
            click.echo(f"     {problem}")
    failed = [r for r in reports if not r.ok]
    if failed:
        click.echo(f"{len(failed)} of {len(reports)} failed verification", err=True)
        sys.exit(1)


@main.command()
@click.argument("stage")
@archive_option
def lineage(stage: str, archive_dir: Path | None) -> None:
    """Show the chain of parents from STAGE back to the first stage."""
    from facessd_archive.archive.listing import lineage_lines

    for line in lineage_lines(_archive(archive_dir), stage):
        click.echo(line)


@main.command()
@click.argument("stage", required=False)
@archive_option
def default(stage: str | None, archive_dir: Path | None) -> None:
    """Show the archive's default stage, or make STAGE the default."""
    archive = _archive(archive_dir)
    if stage is not None:
        archive.set_default(stage)
    click.echo(archive.default_stage().stage_id)


@main.command()
@click.argument("stage")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--parent", default=None, metavar="STAGE", help="The stage this model was continued from.")
@click.option("--hardware", default=None, help='Where it was trained, e.g. "CPU (2 cores)".')
@click.option("--dataset", default=None, metavar="ID", help="Training data set id, e.g. facemask.")
@click.option("--split", default=None, help="Training split, e.g. train.txt.")
@click.option("--steps", type=int, default=None, help="Steps actually trained (default: from train_settings.json).")
@click.option("--description", default=None, help="One line for the model card.")
@click.option("--new-version", is_flag=True, help="If STAGE is sealed already, seal a sibling STAGE-v2 instead.")
@click.option("--default", "make_default", is_flag=True, help="Make it the archive's default stage.")
@archive_option
def seal(stage: str, folder: Path, parent: str | None, hardware: str | None, dataset: str | None,
         split: str | None, steps: int | None, description: str | None, new_version: bool, make_default: bool,
         archive_dir: Path | None) -> None:
    """Seal FOLDER (weights.* + model_config.json [+ train_settings.json]) as the new stage STAGE.

    \b
    A sealed stage is never overwritten: sealing an existing STAGE fails unless --new-version.
      facessd seal keypoints/v2/face384 exported/ --parent keypoints/v1/v1_150x150_300K --default
    """
    from facessd_archive.archive.sealing import seal_folder

    s = seal_folder(_archive(archive_dir), stage, folder, parent=parent, hardware=hardware, dataset=dataset,
                    split=split, steps=steps, description=description, new_version=new_version,
                    set_default=make_default)
    click.echo(f"sealed {s.stage_id} ({len(s.manifest.files)} files, content {s.manifest.content_hash[:12]})")


@main.command()
@click.argument("target")
@click.option("--stage", "stages", multiple=True, metavar="STAGE",
              help="With a repo: pull only this stage of it (repeatable).")
@click.option("--no-weights", is_flag=True, help="With a repo: install the manifests only; pull files later.")
@click.option("--new-version", is_flag=True, help="Install a remote stage that clashes with a local one as NAME-v2.")
@click.option("--offline", is_flag=True, default=None, help="Use only the local Hugging Face cache.")
@endpoint_option
@archive_option
def pull(target: str, stages: tuple[str, ...], no_weights: bool, new_version: bool, offline: bool | None,
         endpoint: str | None, archive_dir: Path | None) -> None:
    """Download a stage's files, or a whole Hub archive (or some stages of it).

    \b
    TARGET is a stage of the local archive, or else a Hub repo ORG/NAME[@REVISION]:
      facessd pull keypoints/v2/face384          # its files, at the revision its manifest records
      facessd pull org/facessd-archive@v1.0      # every stage of that repo at tag v1.0
      facessd pull org/facessd-archive --stage keypoints/v2/face384
    Files go to the Hugging Face cache and are checked against the manifest's sha256; pulled
    stages are installed into the archive in use (--archive, $FACESSD_ARCHIVE, checkout, per-user).
    """
    from facessd_archive.archive.hub import HubSettings, looks_like_repo_ref, parse_repo_ref
    from facessd_archive.archive.pull import pull_repo, pull_stage

    archive = _archive(archive_dir)
    settings = HubSettings.resolve(endpoint=endpoint, offline=offline or None)
    is_stage = "@" not in target and _is_local_stage(archive, target)
    if is_stage or not looks_like_repo_ref(target):
        results = [pull_stage(archive, target, settings)]
    else:
        repo_id, revision = parse_repo_ref(target)
        results = pull_repo(archive, repo_id, revision, settings, stages=stages, weights=not no_weights,
                            new_version=new_version)
    for r in results:
        files = f"; {len(r.downloaded)} downloaded, {len(r.cached)} already here" if r.folder else ""
        where = f" -> {r.folder}" if r.folder else ""
        click.echo(f"{r.stage_id}: {r.status}{files}{where}")


def _is_local_stage(archive, target: str) -> bool:
    from facessd_archive.errors import UnsafePathError

    try:
        return archive.exists(target)
    except UnsafePathError:
        return False


@main.command()
@click.argument("stage")
@click.option("--repo", "repo_id", required=True, metavar="ORG/NAME", help="Hub model repo to push to.")
@click.option("--branch", default="main", show_default=True, help="Branch to commit to.")
@click.option("--private", is_flag=True, help="Create the repo private (if it does not exist).")
@endpoint_option
@archive_option
def push(stage: str, repo_id: str, branch: str, private: bool, endpoint: str | None,
         archive_dir: Path | None) -> None:
    """Upload STAGE (files, stage.json, model card) to a Hub repo; record the commit in its manifest.

    Needs a token with write access: HF_TOKEN, or `hf auth login`.
    """
    from facessd_archive.archive.hub import HubSettings
    from facessd_archive.archive.push import push_stage

    result = push_stage(_archive(archive_dir), stage, repo_id, HubSettings.resolve(endpoint=endpoint),
                        branch=branch, private=private)
    click.echo(f"{result.stage_id}: pushed {len(result.files)} files to {result.repo_id}@{result.revision}")
