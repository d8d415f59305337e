"""Finding an OD API run in a folder or an archive (7z and zip volume sets, zip, tar), and refusing hostile ones.

The run folders here hold placeholder checkpoint bytes (no TensorFlow): only names, volumes and
extraction are under test. Every hostile archive must be refused with one line naming the member
or volume, leave nothing in the work folder, and leave the archive's bytes unchanged.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from facessd_archive.errors import UnsafePathError
from facessd_archive.odapi.sources import open_source
from facessd_archive.odapi.volumes import SourceError

RUN_FILES = {
    "pipeline.config": b"model { ssd { num_classes: 1 } }\n",
    "checkpoint": b'model_checkpoint_path: "model.ckpt-200"\nall_model_checkpoint_paths: "model.ckpt-100"\n'
                  b'all_model_checkpoint_paths: "model.ckpt-200"\n',
    "model.ckpt-100.index": b"index-100",
    "model.ckpt-100.data-00000-of-00001": random.Random(100).randbytes(10_000),
    "model.ckpt-200.index": b"index-200",
    "model.ckpt-200.data-00000-of-00001": random.Random(200).randbytes(150_000),  # incompressible: volumes
    "model.ckpt-200.meta": b"graph" * 1000,
    "events.out.tfevents.1.host": b"events" * 100,
}


def make_run(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in RUN_FILES.items():
        (folder / name).write_bytes(data)
    return folder


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split_bytes(path: Path, pieces: int) -> list[Path]:
    """Cut ``path`` into NAME.001 ... (as 7-Zip and `split` do) and remove it."""
    data = path.read_bytes()
    size = -(-len(data) // pieces)
    out = []
    for i in range(pieces):
        p = path.parent / f"{path.name}.{i + 1:03d}"
        p.write_bytes(data[i * size:(i + 1) * size])
        out.append(p)
    path.unlink()
    return out


def _check_found(source, step=200):
    assert source.step == step
    assert source.prefix.name == f"model.ckpt-{step}"
    for name in ("pipeline.config", f"model.ckpt-{step}.index", f"model.ckpt-{step}.data-00000-of-00001"):
        assert source.files[name] == (len(RUN_FILES[name]), _sha(RUN_FILES[name]))
        assert (source.folder / name).read_bytes() == RUN_FILES[name]
    assert source.available_steps == (100, 200)


def test_a_folder_newest_by_checkpoint_file_or_step(tmp_path):
    run = make_run(tmp_path / "run")
    with open_source(run) as s:
        _check_found(s)
        assert s.folder == run
    with open_source(run, step=100) as s:
        assert s.prefix == run / "model.ckpt-100"
    with pytest.raises(SourceError, match=r"no model.ckpt-300 \(steps present: 100, 200\)"):
        with open_source(run, step=300):
            pass
    # A checkpoint file written on the training machine names its own absolute path.
    (run / "checkpoint").write_text('model_checkpoint_path: "/home/someone/train/model.ckpt-100"\n')
    with open_source(run) as s:
        assert s.step == 100
    (run / "checkpoint").unlink()
    with open_source(run) as s:
        assert s.step == 200  # no checkpoint file: the highest step


def test_a_folder_without_a_run_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="empty: no pipeline.config; not an Object Detection API output folder"):
        with open_source(tmp_path / "empty"):
            pass
    run = make_run(tmp_path / "r")
    (run / "model.ckpt-200.data-00000-of-00001").unlink()
    with pytest.raises(SourceError, match=r"model.ckpt-200.index has no model.ckpt-200.data-\* shard"):
        with open_source(run):
            pass


def _seven_zip(run: Path, out: Path, password: str | None = None) -> Path:
    import py7zr

    with py7zr.SevenZipFile(out, "w", password=password) as z:
        z.writeall(run, arcname="v1_150x150_300K")
    return out


def _zip(run: Path, out: Path, top: str = "v1_150_360_1_6M") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(run.iterdir()):
            z.write(p, f"{top}/{p.name}")
    return out


@pytest.fixture
def work(tmp_path):
    w = tmp_path / "work"
    w.mkdir()
    return w


def _assert_clean(work: Path):
    assert list(work.iterdir()) == [], "extraction left files behind"


def test_multi_volume_7z(tmp_path, work):
    run = make_run(tmp_path / "run")
    volumes = split_bytes(_seven_zip(run, tmp_path / "v1_150x150_300K.7z"), 4)
    with open_source(volumes[0], work_dir=work) as s:
        _check_found(s)
        extracted = {p.name for p in s.folder.iterdir()}
        assert "model.ckpt-200.meta" not in extracted and "events.out.tfevents.1.host" not in extracted
    _assert_clean(work)


def test_byte_split_zip_and_plain_zip_and_tar(tmp_path, work):
    run = make_run(tmp_path / "run")
    volumes = split_bytes(_zip(run, tmp_path / "v1_150_360_1_6M.zip"), 3)
    with open_source(volumes[1], work_dir=work) as s:  # any volume of the set names it
        _check_found(s)
    _assert_clean(work)
    with open_source(_zip(run, tmp_path / "plain.zip"), work_dir=work) as s:
        _check_found(s)
    with tarfile.open(tmp_path / "run.tar.gz", "w:gz") as t:
        t.add(run, arcname="run")
    with open_source(tmp_path / "run.tar.gz", step=100, work_dir=work) as s:
        _check_found(s, step=100)
    _assert_clean(work)


@pytest.mark.skipif(shutil.which("zip") is None, reason="Info-ZIP `zip` is needed to make a spanned (.z01) set")
def test_spanned_zip(tmp_path, work):
    import subprocess

    make_run(tmp_path / "run")
    subprocess.run(["zip", "-q", "-r", "-s", "64k", str(tmp_path / "sp.zip"), "run"], cwd=tmp_path, check=True)
    assert (tmp_path / "sp.z01").is_file() and (tmp_path / "sp.zip").is_file()
    with open_source(tmp_path / "sp.z01", work_dir=work) as s:
        _check_found(s)
    with open_source(tmp_path / "sp.zip", work_dir=work) as s:
        _check_found(s)
    _assert_clean(work)
    (tmp_path / "sp.z01").rename(tmp_path / "elsewhere.z01")
    with pytest.raises(SourceError, match=r"sp.z01: volume missing"):
        with open_source(tmp_path / "sp.zip", work_dir=work):
            pass
    _assert_clean(work)


def _refused(path: Path, work: Path, error, phrase: str, **kwargs):
    before = {p: p.read_bytes() for p in path.parent.iterdir() if p.is_file()}
    with pytest.raises(error) as e:
        with open_source(path, work_dir=work, **kwargs):
            pass
    assert phrase in str(e.value) and "\n" not in str(e.value), str(e.value)
    _assert_clean(work)
    assert {p: p.read_bytes() for p in path.parent.iterdir() if p.is_file()} == before  # archive untouched
    return str(e.value)


def test_a_missing_volume_is_named(tmp_path, work):
    run = make_run(tmp_path / "run")
    volumes = split_bytes(_seven_zip(run, tmp_path / "set.7z"), 4)
    volumes[2].rename(tmp_path / "aside")
    _refused(volumes[0], work, SourceError, "set.7z.003: volume missing (found set.7z.001, set.7z.002, set.7z.004)")
    (tmp_path / "aside").rename(volumes[2])
    volumes[3].unlink()  # the last one: only the archive itself can tell
    _refused(volumes[0], work, SourceError, "set.7z.001 (3 volumes)")
    zips = split_bytes(_zip(run, tmp_path / "z.zip"), 3)
    zips[-1].unlink()
    _refused(zips[0], work, SourceError, "z.zip.001 (2 volumes): not a readable zip")


def test_path_traversal_and_absolute_members_are_refused(tmp_path, work):
    run = make_run(tmp_path / "run")
    evil = _zip(run, tmp_path / "evil.zip")
    with zipfile.ZipFile(evil, "a") as z:
        z.writestr("v1_150_360_1_6M/../../escaped.txt", b"x")
    _refused(evil, work, UnsafePathError, "member 'v1_150_360_1_6M/../../escaped.txt' would land outside")
    absolute = tmp_path / "abs" / "abs.tar"
    absolute.parent.mkdir()
    with tarfile.open(absolute, "w") as t:
        info = tarfile.TarInfo("/tmp/facessd-escaped.txt")
        info.size = 1
        import io

        t.addfile(info, io.BytesIO(b"x"))
    _refused(absolute, work, UnsafePathError, "member '/tmp/facessd-escaped.txt' is an absolute path")
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_links_are_refused(tmp_path, work):
    run = make_run(tmp_path / "run")
    for kind, target in ((tarfile.SYMTYPE, "../../../etc/passwd"), (tarfile.LNKTYPE, "/etc/passwd")):
        path = tmp_path / f"link{kind.decode()}.tar"
        with tarfile.open(path, "w") as t:
            t.add(run, arcname="run")
            info = tarfile.TarInfo("run/model.ckpt-300.index")
            info.type, info.linkname = kind, target
            t.addfile(info)
        _refused(path, work, UnsafePathError, f"member 'run/model.ckpt-300.index' is a link to '{target}'")
    sym = tmp_path / "sym.zip"
    with zipfile.ZipFile(sym, "w") as z:
        info = zipfile.ZipInfo("run/pipeline.config")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "../../outside")
    _refused(sym, work, UnsafePathError, "member 'run/pipeline.config' is a link")


def test_the_size_cap(tmp_path, work):
    run = make_run(tmp_path / "run")
    volumes = split_bytes(_seven_zip(run, tmp_path / "big.7z"), 2)
    _refused(volumes[0], work, SourceError, "more than the cap of 1000", max_bytes=1000)
    with open_source(volumes[0], work_dir=work, max_bytes=200_000) as s:
        _check_found(s)


def test_encrypted_archives_need_the_password(tmp_path, work):
    run = make_run(tmp_path / "run")
    (tmp_path / "secret").mkdir()
    path = _seven_zip(run, tmp_path / "secret" / "secret.7z", password="s3cret")
    _refused(path, work, SourceError, "encrypted; give --password")
    _refused(path, work, SourceError, "wrong password", password="wrong")
    with open_source(path, work_dir=work, password="s3cret") as s:
        _check_found(s)
    _assert_clean(work)


def test_not_an_archive(tmp_path, work):
    (tmp_path / "notes.txt").write_text("hello")
    _refused(tmp_path / "notes.txt", work, SourceError, "not a folder or an archive facessd reads")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    _refused(tmp_path / "broken.zip", work, SourceError, "broken.zip: not a readable zip")


def test_an_exported_model_ckpt_without_a_step(tmp_path):
    """The OD API's exporter writes model.ckpt (no step) beside pipeline.config."""
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "pipeline.config").write_bytes(RUN_FILES["pipeline.config"])
    (folder / "model.ckpt.index").write_bytes(b"i")
    (folder / "model.ckpt.data-00000-of-00001").write_bytes(b"d")
    with open_source(folder) as s:
        assert s.step is None and s.prefix == folder / "model.ckpt" and s.available_steps == ()
