"""The Hugging Face Hub side of the archive: settings, errors and cache helpers shared by pull and push.

A Hub repo holds an archive in the same layout as a local one (``<stage id>/stage.json`` and the
stage's files beside it); ``pull.py`` brings stages and files from one, ``push.py`` uploads a stage.

Settings are read when a function is called, not at import: ``--endpoint`` or ``HF_ENDPOINT``,
``HF_TOKEN`` (else the token file ``hf auth login`` wrote under ``HF_HOME``), ``HF_HUB_CACHE``
or ``HF_HOME``, ``HF_HUB_OFFLINE`` and ``HF_HUB_DISABLE_XET``. The endpoint is passed to every
huggingface_hub call explicitly. The token is sent to the endpoint and nowhere else: it is
not part of any manifest, card, message or repr.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from facessd_archive.archive.manifest import HubLocation
from facessd_archive.errors import ArchiveError, HubError

DEFAULT_ENDPOINT = "https://huggingface.co"
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
_REPO_REF = re.compile(r"(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<rev>[^@\s]+))?")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hf_home() -> Path:
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def _token() -> str | None:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token is None:
        path = Path(os.environ.get("HF_TOKEN_PATH") or _hf_home() / "token").expanduser()
        try:
            token = path.read_text()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return None
    token = token.strip()
    return token or None


@dataclass(frozen=True)
class HubSettings:
    """Where and how to reach the Hub, resolved from options and the environment at call time."""

    endpoint: str
    cache_dir: Path
    offline: bool = False
    disable_xet: bool = False
    token: str | None = field(default=None, repr=False)

    @classmethod
    def resolve(cls, endpoint: str | None = None, offline: bool | None = None) -> "HubSettings":
        endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        if not re.match(r"https?://[^/\s@]+(/\S*)?$", endpoint):
            raise HubError(f"endpoint must be an http(s) URL without credentials, got {endpoint!r}")
        cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
        return cls(endpoint=endpoint, cache_dir=Path(cache).expanduser() if cache else _hf_home() / "hub",
                   offline=_env_true("HF_HUB_OFFLINE") if offline is None else offline,
                   disable_xet=_env_true("HF_HUB_DISABLE_XET"), token=_token())

    def scrub(self, text: str) -> str:
        """``text`` with the token (if any) masked: for every message that leaves this module."""
        return text.replace(self.token, "***") if self.token else text


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """``"ORG/NAME@REV"`` -> ``("ORG/NAME", "REV")``; ``"ORG/NAME"`` -> ``("ORG/NAME", None)``."""
    match = _REPO_REF.fullmatch(ref)
    if not match:
        raise HubError(f"not a Hub repo id: {ref!r} (expected ORG/NAME or ORG/NAME@REVISION)")
    return match["repo"], match["rev"]


def looks_like_repo_ref(ref: str) -> bool:
    return bool(_REPO_REF.fullmatch(ref))


@contextmanager
def hub_errors(settings: HubSettings, what: str) -> Iterator[None]:
    """Turn huggingface_hub and network errors into one-line HubErrors (token masked)."""
    from huggingface_hub import errors as hf

    def fail(message: str) -> HubError:
        return HubError(settings.scrub(f"{what}: {message}"))

    try:
        yield
    except hf.LocalEntryNotFoundError:
        why = "offline (HF_HUB_OFFLINE or --offline)" if settings.offline else f"{settings.endpoint} unreachable"
        raise fail(f"not in the local cache {settings.cache_dir} and {why}; pull once online first") from None
    except hf.GatedRepoError as e:
        raise fail(f"gated repo: request access on the Hub, then set HF_TOKEN ({_status(e)})") from None
    except hf.RepositoryNotFoundError as e:
        raise fail(f"repository or file not found at {settings.endpoint} ({_status(e)}); if it is private, "
                   f"set HF_TOKEN to a token with access") from None
    except hf.RevisionNotFoundError as e:
        raise fail(f"revision not found ({_status(e)})") from None
    except hf.RemoteEntryNotFoundError as e:
        raise fail(f"file not found in the repo ({_status(e)})") from None
    except hf.HfHubHTTPError as e:
        code = e.response.status_code if e.response is not None else None
        hint = {401: "the token was refused: set HF_TOKEN to a valid token",
                403: "the token lacks permission: it needs write access to push"}.get(code, "the Hub refused")
        raise fail(f"{hint} ({_status(e)})") from None
    except (OSError, ValueError) as e:
        if isinstance(e, ArchiveError):
            raise
        raise fail(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    except Exception as e:  # httpx transport errors (connection refused, timeouts)
        if type(e).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore"):
            raise
        raise fail(f"cannot reach {settings.endpoint} ({type(e).__name__}: {e})") from None


def _status(e: Exception) -> str:
    response = getattr(e, "response", None)
    if response is None:
        return type(e).__name__
    return f"HTTP {response.status_code} from {response.request.method} {response.request.url}"


@contextmanager
def xet_setting(settings: HubSettings) -> Iterator[None]:
    """Apply HF_HUB_DISABLE_XET as read now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    old = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = settings.disable_xet or old
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = old


def storage_folder(settings: HubSettings, repo_id: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return settings.cache_dir / repo_folder_name(repo_id=repo_id, repo_type="model")


def blob_names(settings: HubSettings, repo_id: str) -> set[str]:
    folder = storage_folder(settings, repo_id) / "blobs"
    return {p.name for p in folder.iterdir() if not p.name.endswith(".incomplete")} if folder.is_dir() else set()


def download(settings: HubSettings, repo_id: str, filename: str, revision: str) -> Path:
    from huggingface_hub import hf_hub_download

    with hub_errors(settings, f"{repo_id}@{revision}: {filename}"):
        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=settings.cache_dir,
                                    endpoint=settings.endpoint, token=settings.token or False,
                                    local_files_only=settings.offline))


def snapshot_of(path: Path) -> str:
    """The commit sha of a file path inside the cache (``.../snapshots/<sha>/...``)."""
    parts = path.parts
    return parts[parts.index("snapshots") + 1]


def cached_file(hub: HubLocation, name: str, cache_dir: Path | None = None) -> Path | None:
    """The cached copy of stage file ``name`` at ``hub``, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    cache = cache_dir or HubSettings.resolve().cache_dir
    found = try_to_load_from_cache(hub.repo_id, hub.file_path(name), cache_dir=cache, revision=hub.revision)
    return Path(found) if isinstance(found, str) else None
