"""The wheel, installed into a fresh virtual environment and run from an empty folder, offline.

Builds the wheel from a clean copy of the sources (``pip wheel --no-build-isolation``: no
download), creates a venv in tmp that sees the already-installed dependencies through a ``.pth``
file (a folder of links to this environment's packages, minus facessd-archive itself), installs
the wheel there with ``--no-deps``, and runs ``facessd list``, ``verify`` and ``evaluate`` with
HOME in tmp and no network: the per-user archive is seeded from the stage inside the wheel, its
files keep their hashes, and the default stage reproduces its recorded figures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "archive.json", "facessd_archive")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (REPO / "setup.py").is_file(), reason="needs the source checkout")]


def _default_stage() -> str:
    return json.loads((REPO / "archive.json").read_text())["default_stage"]


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "_seed"))
        else:
            shutil.copy2(REPO / name, src / name)
    stage = _default_stage()
    shutil.copytree(REPO / stage, src / stage)  # setup.py ships only this stage
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "-q", "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    [wheel] = (tmp / "dist").glob("facessd_archive-*.whl")
    return wheel


def _fresh_venv(tmp: Path) -> Path:
    """A venv whose own site-packages is empty, seeing this environment's packages (not facessd-archive)."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    deps = tmp / "deps"
    deps.mkdir()
    for site in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for entry in Path(site).iterdir():
            name = entry.name.lower()
            if name.startswith(("facessd_archive", "__editable__")) or name.endswith(".pth"):
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    py = venv / "bin" / "python"
    site_packages = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    (Path(site_packages) / "_facessd_test_deps.pth").write_text(f"{deps}\n")
    return venv


def test_the_wheel_works_where_it_is_installed(tmp_path):
    wheel = _build_wheel(tmp_path)
    stage = _default_stage()
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert "facessd_archive/_seed/archive.json" in names
        for path in (REPO / stage).rglob("*"):
            if path.is_file():
                rel = path.relative_to(REPO).as_posix()
                assert z.read(f"facessd_archive/_seed/{rel}") == path.read_bytes(), rel
        assert not any(n.startswith("facessd_archive/interop/") for n in names)

    venv = _fresh_venv(tmp_path)
    py, bindir = venv / "bin" / "python", venv / "bin"
    home, empty = tmp_path / "home", tmp_path / "empty"
    home.mkdir()
    empty.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in {"FACESSD_ARCHIVE", "XDG_DATA_HOME", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
           and not k.startswith("HF_")}
    dead = "http://127.0.0.1:9"  # nothing listens there: any network attempt fails at once
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", HOME=str(home), HF_HUB_OFFLINE="1",
               HF_HOME=str(tmp_path / "hf"), HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead,
               https_proxy=dead, NO_PROXY="", no_proxy="", TF_CPP_MIN_LOG_LEVEL="2")

    def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=empty, env=env, capture_output=True, text=True, timeout=timeout)

    install = run(str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q", str(wheel))
    assert install.returncode == 0, install.stdout + install.stderr
    where = run(str(py), "-c", "import facessd_archive; print(facessd_archive.__file__)")
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr

    user_archive = home / ".local" / "share" / "facessd-archive"
    listed = run(str(bindir / "facessd"), "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert stage in listed.stdout and str(user_archive) in listed.stdout
    for path in (REPO / stage).rglob("*"):
        if path.is_file():
            assert (user_archive / path.relative_to(REPO)).read_bytes() == path.read_bytes()

    verified = run(str(bindir / "facessd"), "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok   {stage}" in verified.stdout

    evaluated = run(str(bindir / "facessd"), "evaluate", timeout=300)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert f"matches the figures recorded for {stage}" in evaluated.stdout + evaluated.stderr

    # Find faces in a picture (a scene of the synthetic benchmark) with the shipped default stage.
    from PIL import Image

    from facessd_archive.data.synthetic.benchmark import sample_benchmark

    scene = sample_benchmark(num_images=1, cache_dir=tmp_path / "scene")[0]
    (empty / "pics").mkdir()
    Image.open(scene.image_path).save(empty / "pics" / "scene.jpg")
    detected = run(str(bindir / "facessd"), "detect", "pics", "--json", timeout=300)
    assert detected.returncode == 0, detected.stdout + detected.stderr
    line = json.loads(detected.stdout.strip().splitlines()[0])
    assert line["image"].endswith("scene.jpg") and len(line["detections"]) >= 1

    # Continue the shipped default stage (no data given: the built-in synthetic benchmark).
    trained = run(str(bindir / "facessd"), "train", "--from", stage, "--out", "run", "--steps", "2",
                  "--batch-size", "2", "--warmup-steps", "0", timeout=300)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    # The global step carries on from the stage's own count: "done: N+2 steps (2 in this run)".
    assert re.search(r"done: (2 steps|\d+ steps \(2 in this run\))", trained.stdout), trained.stdout
