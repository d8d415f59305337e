"""Split archives as one stream: multi-volume 7z (``.7z.001``), byte-split zips (``.zip.001``) and
spanned zips (``.z01 ... .zip``), as the original faceSSD repository shipped its OD API folders.

A byte-split set is one archive cut into pieces, so its volumes, read in order, are that archive:
``ConcatenatedVolumes`` presents them as one seekable file without copying gigabytes to disk.
A spanned zip (Info-ZIP ``zip -s``) is the same bytes, but its central directory records each
member's offset relative to the volume it starts on; ``spanned_zip`` opens the concatenation
with ``zipfile`` and moves each member's offset to the whole stream.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

from facessd_archive.errors import DataError


class SourceError(DataError):
    """An OD API source that cannot be read. Example: ``runs.7z.003: volume missing (found .001, .002, .004)``."""


_NUMBERED = re.compile(r"^(?P<base>.+)\.(?P<num>\d{3,})$")
_SPANNED = re.compile(r"^(?P<base>.+)\.[zZ](?P<num>\d{2,})$")
_EOCD = b"PK\x05\x06"


class ConcatenatedVolumes(io.RawIOBase):
    """Read-only, seekable view of several files one after another."""

    def __init__(self, paths: list[Path]):
        super().__init__()
        self.paths = list(paths)
        self.sizes = [p.stat().st_size for p in self.paths]
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)
        self._pos = 0
        self._files: dict[int, io.BufferedReader] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size:
            i = max(k for k, s in enumerate(self.starts) if s <= self._pos)
            f = self._files.get(i)
            if f is None:
                f = self._files[i] = open(self.paths[i], "rb")
            f.seek(self._pos - self.starts[i])
            want = min(len(view) - done, self.starts[i] + self.sizes[i] - self._pos)
            n = f.readinto(view[done:done + want])
            if not n:
                raise SourceError(f"{self.paths[i]}: shorter than when it was opened (changed while reading?)")
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        super().close()


def numbered_volumes(first: Path) -> list[Path]:
    """All volumes ``NAME.001, NAME.002, ...`` of the set ``first`` belongs to, checked to have no gap."""
    m = _NUMBERED.match(first.name)
    if m is None:
        raise SourceError(f"{first}: not a numbered volume (NAME.001)")
    base, width = m["base"], len(m["num"])
    found: dict[int, Path] = {}
    for p in first.parent.iterdir():
        pm = _NUMBERED.match(p.name)
        if pm is not None and pm["base"] == base and len(pm["num"]) == width and p.is_file():
            found[int(pm["num"])] = p
    return _contiguous(found, lambda n: first.parent / f"{base}.{n:0{width}d}", start=1)


def spanned_volumes(any_volume: Path) -> list[Path]:
    """``NAME.z01, NAME.z02, ..., NAME.zip`` (the ``.zip`` is the last volume), checked to have no gap."""
    name = any_volume.name
    m = _SPANNED.match(name)
    base = m["base"] if m else name[:-4]
    width = len(m["num"]) if m else 2
    found: dict[int, Path] = {}
    for p in any_volume.parent.iterdir():
        pm = _SPANNED.match(p.name)
        if pm is not None and pm["base"] == base and p.is_file():
            found[int(pm["num"])] = p
            width = len(pm["num"])
    last = any_volume.parent / f"{base}.zip"
    if not last.is_file():
        raise SourceError(f"{last}: the last volume of the spanned zip {base}.z01... is missing")
    return _contiguous(found, lambda n: any_volume.parent / f"{base}.z{n:0{width}d}", start=1) + [last]


def _contiguous(found: dict[int, Path], name_of, start: int) -> list[Path]:
    if not found:
        raise SourceError(f"{name_of(start)}: volume missing")
    for n in range(start, max(found) + 1):
        if n not in found:
            have = ", ".join(p.name for _, p in sorted(found.items()))
            raise SourceError(f"{name_of(n)}: volume missing (found {have})")
    return [found[n] for n in sorted(found)]


def is_spanned_zip(path: Path) -> bool:
    """A ``.zNN`` volume, or a ``.zip`` whose end record says it is the last of several volumes."""
    if _SPANNED.match(path.name):
        return True
    if not path.name.lower().endswith(".zip") or not path.is_file():
        return False
    with ConcatenatedVolumes([path]) as stream:
        try:
            return _read_eocd(stream, path.name)[1] > 0
        except SourceError:
            return False  # not a zip at all: zipfile names the problem


def _read_eocd(stream: ConcatenatedVolumes, label: str) -> tuple[int, int, int, int, int]:
    """(position, this disk, disk where the central directory starts, its size, its offset on that disk)."""
    tail_len = min(stream.size, 65536 + 22)
    stream.seek(stream.size - tail_len)
    tail = stream.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise SourceError(f"{label}: no zip end record (the last volume missing or truncated?)")
    _, disk, cd_disk, _, _, cd_size, cd_offset, _ = struct.unpack("<4sHHHHIIH", tail[at:at + 22])
    return stream.size - tail_len + at, disk, cd_disk, cd_size, cd_offset


def spanned_zip(volumes: list[Path], label: str) -> zipfile.ZipFile:
    """A ZipFile over a spanned set whose member offsets point into the concatenated stream."""
    stream = ConcatenatedVolumes(volumes)
    pos, disk, cd_disk, cd_size, cd_offset = _read_eocd(stream, label)
    if disk + 1 != len(volumes):
        raise SourceError(f"{label}: the zip says it has {disk + 1} volumes but {len(volumes)} were found "
                          f"({volumes[0].name} ... {volumes[-1].name}); a volume missing?")
    if cd_disk >= len(volumes):
        raise SourceError(f"{label}: central directory on volume {cd_disk + 1} of {len(volumes)}")
    stream.seek(0)
    try:
        zf = zipfile.ZipFile(io.BufferedReader(stream, 1 << 20))
    except zipfile.BadZipFile as e:
        raise SourceError(f"{label}: not a readable zip ({e})") from None
    shift = pos - cd_size - cd_offset  # what zipfile added to every offset (it assumes one volume)
    for info in zf.infolist():
        if info.volume >= len(volumes):
            raise SourceError(f"{label}: {info.filename} starts on volume {info.volume + 1} of {len(volumes)}")
        info.header_offset = stream.starts[info.volume] + info.header_offset - shift
    if hasattr(zipfile.ZipInfo, "_end_offset") or any(hasattr(i, "_end_offset") for i in zf.infolist()):
        # Newer zipfile checks that members do not overlap using the offsets it computed: recompute.
        ordered = sorted(zf.infolist(), key=lambda i: i.header_offset)
        cd_start = stream.starts[cd_disk] + cd_offset
        for a, b in zip(ordered, ordered[1:] + [None]):
            a._end_offset = b.header_offset if b is not None else cd_start  # type: ignore[attr-defined]
    return zf
