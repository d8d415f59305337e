"""Where an Object Detection API run lies: a folder, or an archive of one, and the files import needs.

``open_source(PATH)`` accepts an OD API output folder, a ``.7z`` or ``.7z.001`` multi-volume set,
a ``.zip``, a byte-split ``.zip.001`` set, a spanned ``.z01 ... .zip`` set, or a ``.tar`` (``.gz``,
``.bz2``, ``.xz``). From an archive only the files import reads are extracted (``pipeline.config``,
``checkpoint``, ``model.ckpt*`` except the graph ``.meta``), into a fresh temp folder that is
removed afterwards. Every member of the archive is checked first, and the whole archive is
refused, with one line naming the member, when any would land outside the folder (``..``, an
absolute or drive path, a backslash), is a link or device, is encrypted without a password, or
the files to extract pass the size cap; the cap is also counted while writing, so a member that
lies about its size is stopped. Nothing from an archive is executed or unpickled, the archive is
only read, and a failed extraction leaves nothing behind.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from facessd_archive.archive.hashing import sha256_file
from facessd_archive.errors import UnsafePathError
from facessd_archive.odapi.textproto import parse_text_proto
from facessd_archive.odapi.volumes import (ConcatenatedVolumes, SourceError, is_spanned_zip, numbered_volumes,
                                           spanned_volumes, spanned_zip)

DEFAULT_MAX_EXTRACT_BYTES = 8 * 1024 ** 3  # 8 GiB: the largest original set is ~2 GB of volumes
PIPELINE_CONFIG = "pipeline.config"
CHECKPOINT_STATE = "checkpoint"
_CKPT = re.compile(r"^model\.ckpt(?:-(?P<step>\d+))?\.index$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ODAPISource:
    """The files of one OD API run: ``pipeline.config`` and the chosen checkpoint ``prefix``.

    ``step`` is the N of ``model.ckpt-N`` (None for an exported ``model.ckpt``); ``files`` are the
    source files read (name relative to the run folder -> (size, sha256)); ``origin`` what the user gave.
    """

    folder: Path
    pipeline_config: Path
    prefix: Path
    step: int | None
    files: dict[str, tuple[int, str]]
    origin: str
    available_steps: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Member:
    name: str
    size: int
    kind: str  # file, dir, link, other
    encrypted: bool = False
    detail: str = ""


def _wanted(name: str) -> bool:
    """The files import reads: the config, the checkpoint state and the checkpoint shards (not .meta)."""
    base = name.rsplit("/", 1)[-1]
    return base in (PIPELINE_CONFIG, CHECKPOINT_STATE) or (base.startswith("model.ckpt") and
                                                           not base.endswith(".meta"))


def check_member_name(name: str, archive: str) -> str:
    """The member's relative POSIX path, or UnsafePathError naming it."""
    if "\\" in name or "\x00" in name:
        raise UnsafePathError(f"{archive}: member {name!r} has a backslash or NUL in its name; refused")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UnsafePathError(f"{archive}: member {name!r} is an absolute path; refused")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"{archive}: member {name!r} would land outside the extraction folder; refused")
    if not parts:
        raise UnsafePathError(f"{archive}: member {name!r} has no name; refused")
    return "/".join(parts)


def _check_members(members: list[_Member], archive: str, max_bytes: int, password: str | None) -> list[_Member]:
    """Every member checked; returns the ones to extract."""
    for m in members:
        check_member_name(m.name, archive)
        if m.kind == "link":
            raise UnsafePathError(f"{archive}: member {m.name!r} is a link{m.detail}; links are never extracted, "
                                  f"refused")
        if m.kind == "other":
            raise UnsafePathError(f"{archive}: member {m.name!r} is not a regular file or folder{m.detail}; refused")
        if m.encrypted and password is None:
            raise SourceError(f"{archive}: member {m.name!r} is encrypted; give --password")
    wanted = [m for m in members if m.kind == "file" and _wanted(m.name)]
    total = sum(m.size for m in wanted)
    if total > max_bytes:
        raise SourceError(f"{archive}: the files to extract hold {total} bytes, more than the cap of {max_bytes}; "
                          f"raise --max-extract-size if this is expected")
    return wanted


class _Budget:
    """Bytes left under the cap, shared by every member of one extraction."""

    def __init__(self, max_bytes: int, archive: str):
        self.left = max_bytes
        self.max_bytes = max_bytes
        self.archive = archive

    def spend(self, n: int, name: str) -> None:
        self.left -= n
        if self.left < 0:
            raise SourceError(f"{self.archive}: member {name!r} takes the extraction past the cap of "
                              f"{self.max_bytes} bytes; refused")


def _target(dest: Path, name: str, archive: str) -> Path:
    rel = check_member_name(name, archive)
    path = dest.joinpath(*rel.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _copy_member(src: BinaryIO, path: Path, name: str, budget: _Budget) -> None:
    try:
        out = open(path, "xb")  # never through an existing file or link
    except FileExistsError:
        raise SourceError(f"{budget.archive}: member {name!r} appears more than once; refused") from None
    with out:
        while chunk := src.read(_CHUNK):
            budget.spend(len(chunk), name)
            out.write(chunk)


# --- the formats -------------------------------------------------------------------------------------
def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.is_dir():
        return "dir"
    if mode and stat.S_ISLNK(mode):
        return "link"
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "other"
    return "file"


def _extract_zip(zf: zipfile.ZipFile, dest: Path, label: str, max_bytes: int, password: str | None) -> None:
    members = [_Member(i.filename, i.file_size, _zip_kind(i), bool(i.flag_bits & 0x1)) for i in zf.infolist()]
    wanted = {m.name for m in _check_members(members, label, max_bytes, password)}
    budget = _Budget(max_bytes, label)
    pwd = password.encode() if password is not None else None
    for info in zf.infolist():
        if info.filename not in wanted:
            continue
        try:
            with zf.open(info, pwd=pwd) as src:
                _copy_member(src, _target(dest, info.filename, label), info.filename, budget)
        except RuntimeError as e:  # zipfile's "Bad password for file"
            raise SourceError(f"{label}: member {info.filename!r}: {e}") from None
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise SourceError(f"{label}: member {info.filename!r} cannot be read ({e}); a volume truncated or "
                              f"missing?") from None


def _tar_kind(m: tarfile.TarInfo) -> tuple[str, str]:
    if m.isdir():
        return "dir", ""
    if m.issym() or m.islnk():
        return "link", f" to {m.linkname!r}"
    if m.isfile():
        return "file", ""
    return "other", ""


def _extract_tar(path: Path, dest: Path, max_bytes: int, password: str | None) -> None:
    label = path.name
    try:
        with tarfile.open(path, "r:*") as tf:
            infos = tf.getmembers()
            members = [_Member(m.name, m.size, _tar_kind(m)[0], detail=_tar_kind(m)[1]) for m in infos]
            wanted = {m.name for m in _check_members(members, label, max_bytes, password)}
            budget = _Budget(max_bytes, label)
            for info in infos:
                if info.name in wanted:
                    src = tf.extractfile(info)
                    assert src is not None
                    _copy_member(src, _target(dest, info.name, label), info.name, budget)
    except (tarfile.TarError, EOFError) as e:
        raise SourceError(f"{label}: not a readable tar ({e}); truncated?") from None


def _seven_zip_writers(dest: Path, label: str, budget: _Budget):
    """py7zr's writer factory: each member goes to its checked place, counted against the cap."""
    from py7zr.io import Py7zIO, WriterFactory

    class _Writer(Py7zIO):
        def __init__(self, handle: BinaryIO, name: str):
            self.handle, self.name = handle, name

        def write(self, s: bytes | bytearray) -> int:
            budget.spend(len(s), self.name)
            return self.handle.write(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            self.handle.flush()

        def size(self) -> int:
            return self.handle.tell()

        def close(self) -> None:
            self.handle.close()

    class _Writers(WriterFactory):
        def create(self, filename: str) -> Py7zIO:
            rel = os.path.relpath(filename, dest).replace(os.sep, "/")
            target = _target(dest, rel, label)
            try:
                handle = open(target, "xb")
            except FileExistsError:
                raise SourceError(f"{label}: member {rel!r} appears more than once; refused") from None
            return _Writer(handle, rel)

    return _Writers()


def _extract_7z(stream: BinaryIO, dest: Path, label: str, max_bytes: int, password: str | None) -> None:
    import py7zr
    from py7zr import exceptions as x7

    try:
        sz = py7zr.SevenZipFile(stream, mode="r", password=password)
    except x7.PasswordRequired:
        raise SourceError(f"{label}: the archive is encrypted; give --password") from None
    except (x7.Bad7zFile, x7.ArchiveError, EOFError, OSError, ValueError, KeyError, IndexError) as e:
        raise SourceError(f"{label}: not a readable 7z archive ({type(e).__name__}: {e}); a volume missing or "
                          f"truncated?") from None
    with sz:
        encrypted = sz.needs_password()
        members = []
        for info in sz.list():
            kind = "dir" if info.is_directory else "link" if info.is_symlink else "file"
            members.append(_Member(info.filename, int(info.uncompressed or 0), kind, encrypted))
        wanted = [m.name for m in _check_members(members, label, max_bytes, password)]
        if not wanted:
            return
        try:
            sz.extract(path=dest, targets=wanted, factory=_seven_zip_writers(dest, label, _Budget(max_bytes, label)))
        except SourceError:
            raise
        except (x7.CrcError, x7.Bad7zFile, x7.DecompressionError, x7.ArchiveError, EOFError, OSError,
                ValueError, KeyError, IndexError, lzma.LZMAError, zlib.error) as e:
            hint = "wrong password, or " if password is not None else ""
            raise SourceError(f"{label}: cannot extract ({type(e).__name__}: {e}); {hint}a volume missing or "
                              f"truncated?") from None


def _archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if re.search(r"\.7z\.\d{3,}$", name):
        return "7z-volumes"
    if name.endswith(".7z"):
        return "7z"
    if re.search(r"\.zip\.\d{3,}$", name):
        return "zip-volumes"
    if is_spanned_zip(path):
        return "zip-spanned"
    if name.endswith(".zip"):
        return "zip"
    if re.search(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2|tar\.xz|txz)$", name):
        return "tar"
    return None


def extract_archive(path: Path, dest: Path, max_bytes: int = DEFAULT_MAX_EXTRACT_BYTES,
                    password: str | None = None) -> None:
    """Extract the OD API files of the archive ``path`` into the empty folder ``dest`` (checked, capped)."""
    kind = _archive_kind(path)
    if kind is None:
        raise SourceError(f"{path}: not a folder or an archive facessd reads (.7z, .7z.001, .zip, .zip.001, "
                          f".z01, .tar, .tar.gz)")
    if kind in ("7z-volumes", "zip-volumes"):
        volumes = numbered_volumes(path)
        label = f"{volumes[0].name} ({len(volumes)} volumes)"
        with ConcatenatedVolumes(volumes) as stream:
            if kind == "7z-volumes":
                _extract_7z(stream, dest, label, max_bytes, password)  # type: ignore[arg-type]
            else:
                _extract_zip(_open_zip(stream, label), dest, label, max_bytes, password)  # type: ignore[arg-type]
    elif kind == "7z":
        with open(path, "rb") as f:
            _extract_7z(f, dest, path.name, max_bytes, password)
    elif kind == "zip-spanned":
        volumes = spanned_volumes(path)
        label = f"{volumes[0].name} ({len(volumes)} volumes)"
        with spanned_zip(volumes, label) as zf:
            _extract_zip(zf, dest, label, max_bytes, password)
    elif kind == "zip":
        with open(path, "rb") as f:
            _extract_zip(_open_zip(f, path.name), dest, path.name, max_bytes, password)
    else:
        _extract_tar(path, dest, max_bytes, password)


def _open_zip(stream: BinaryIO, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, EOFError) as e:
        raise SourceError(f"{label}: not a readable zip ({e}); the last volume missing or truncated?") from None


# --- finding the run inside a folder -------------------------------------------------------------
def find_run(root: Path, origin: str, step: int | None = None) -> ODAPISource:
    """The folder under ``root`` holding ``pipeline.config`` and ``model.ckpt*.index``, and its checkpoint."""
    candidates = sorted({p.parent for p in root.rglob(PIPELINE_CONFIG) if p.is_file()
                         and any(_CKPT.match(q.name) for q in p.parent.iterdir())})
    if not candidates:
        has_config = any(root.rglob(PIPELINE_CONFIG))
        what = "no model.ckpt*.index beside pipeline.config" if has_config else f"no {PIPELINE_CONFIG}"
        raise SourceError(f"{origin}: {what}; not an Object Detection API output folder")
    if len(candidates) > 1:
        shown = ", ".join(str(c.relative_to(root)) or "." for c in candidates[:4])
        raise SourceError(f"{origin}: several OD API runs inside ({shown}); import one folder at a time")
    folder = candidates[0]
    steps = {int(m["step"]) if m["step"] else None: folder / m.string[:-len(".index")]
             for m in (_CKPT.match(p.name) for p in folder.iterdir()) if m}
    numbered = tuple(sorted(s for s in steps if s is not None))
    if step is not None:
        if step not in steps:
            raise SourceError(f"{origin}: no model.ckpt-{step} (steps present: "
                              f"{', '.join(map(str, numbered)) or 'none'})")
        chosen = step
    else:
        chosen = _newest(folder, steps, origin)
    prefix = steps[chosen]
    files = [folder / PIPELINE_CONFIG, Path(f"{prefix}.index")]
    files += sorted(p for p in folder.iterdir() if p.name.startswith(f"{prefix.name}.data-"))
    if len(files) == 2:
        raise SourceError(f"{origin}: {prefix.name}.index has no {prefix.name}.data-* shard beside it")
    if (folder / CHECKPOINT_STATE).is_file():
        files.append(folder / CHECKPOINT_STATE)
    hashes = {p.name: sha256_file(p) for p in files}
    return ODAPISource(folder, folder / PIPELINE_CONFIG, prefix, chosen, hashes, origin, numbered)


def _newest(folder: Path, steps: dict[int | None, Path], origin: str) -> int | None:
    """The step the ``checkpoint`` file names (its path may be from the training machine), else the highest."""
    state = folder / CHECKPOINT_STATE
    if state.is_file():
        try:
            msg = parse_text_proto(state.read_text(encoding="utf-8"), str(state))
            named = msg.str("model_checkpoint_path", "")
        except (UnicodeDecodeError, ValueError):
            named = ""
        m = re.search(r"model\.ckpt(?:-(\d+))?$", named.replace("\\", "/").rsplit("/", 1)[-1])
        if m is not None:
            step = int(m[1]) if m[1] else None
            if step in steps:
                return step
    numbered = [s for s in steps if s is not None]
    return max(numbered) if numbered else None


@contextmanager
def open_source(path: str | Path, step: int | None = None, *, max_bytes: int = DEFAULT_MAX_EXTRACT_BYTES,
                password: str | None = None, work_dir: str | Path | None = None) -> Iterator[ODAPISource]:
    """The OD API run at ``path`` (a folder or an archive); an archive is extracted to a temp folder that
    is removed when the block ends, whether it succeeds or not."""
    path = Path(path)
    if path.is_dir():
        yield find_run(path, str(path), step)
        return
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    tmp = Path(tempfile.mkdtemp(prefix=".facessd-import-", dir=work_dir))
    try:
        extract_archive(path, tmp, max_bytes=max_bytes, password=password)
        yield find_run(tmp, path.name, step)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

