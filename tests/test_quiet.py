"""Quiet by default: no TensorFlow start-up logs without ``--verbose``, no terminal codes in pipes.

The filter is tested on a stand-in ``tensorflow`` package that prints the real start-up lines
(fast, and the same on every machine), the wiring of ``--verbose`` / ``FACESSD_VERBOSE`` through
the real ``facessd`` group, and the whole thing once on a real ``facessd detect`` run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facessd_archive.progress import PlainProgress, is_terminal, progressbar, step_progbar
from facessd_archive.tf_logs import drop_log_lines

REPO = Path(__file__).resolve().parents[1]
NOISE = ("onednn", "cuda", "cuinit", "cpu_feature_guard", "absl", "I0000", "W0000", "E0000")
STARTUP_LINES = (  # what TensorFlow 2.21 prints while it loads, before absl::InitializeLog()
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796306824.625080    5019 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796306824.625701    5019 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
    "I0000 00:00:1796306824.811416    5019 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
    "2024-01-02 03:04:05.678901: E external/xla/cuda_fft.cc:477] Unable to register cuFFT factory\n")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACESSD_VERBOSE")}
    env.update(extra)
    return env


@pytest.fixture
def fake_tensorflow(tmp_path) -> Path:
    """A folder for PYTHONPATH holding a ``tensorflow`` package that prints STARTUP_LINES to fd 2,
    then one ordinary line through ``sys.stderr``, and records ``TF_CPP_MIN_LOG_LEVEL`` as it saw it."""
    package = tmp_path / "fake" / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import os, sys\n"
        f"os.write(2, {STARTUP_LINES.encode()!r})\n"
        "sys.stderr.write('an ordinary message\\n')\n"
        "LEVEL = os.environ.get('TF_CPP_MIN_LOG_LEVEL')\n"
        "if os.environ.get('FAKE_TF_FAIL'):\n"
        "    raise ImportError('fake tensorflow failed to load')\n")
    return package.parent


def _python(code: str, fake: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env=_clean_env(PYTHONPATH=str(fake), **env), cwd=fake)


QUIET_IMPORT = ("from facessd_archive.tf_logs import quiet_tensorflow\n"
                "quiet_tensorflow(); quiet_tensorflow()\n"
                "import tensorflow; print(tensorflow.LEVEL)")


def test_first_import_drops_startup_lines_and_keeps_the_rest(fake_tensorflow):
    done = _python(QUIET_IMPORT, fake_tensorflow)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "an ordinary message\n"
    assert done.stdout == "3\n"  # set before the import, for the C++ logs that come later


def test_a_level_the_user_set_is_kept(fake_tensorflow):
    assert _python(QUIET_IMPORT, fake_tensorflow, TF_CPP_MIN_LOG_LEVEL="1").stdout == "1\n"


def test_a_failed_import_shows_everything(fake_tensorflow):
    done = _python(QUIET_IMPORT, fake_tensorflow, FAKE_TF_FAIL="1")
    assert done.returncode == 1
    assert STARTUP_LINES in done.stderr and "ImportError: fake tensorflow failed to load" in done.stderr


VIA_CLI = ("import sys\n"
           "from facessd_archive.cli import main\n"
           "try:\n"
           "    main(sys.argv[1:] + ['list', '--help'], prog_name='facessd')\n"
           "except SystemExit:\n"
           "    pass\n"
           "import tensorflow")


@pytest.mark.parametrize("args, env, quiet", [((), {}, True), (("--verbose",), {}, False),
                                              ((), {"FACESSD_VERBOSE": "1"}, False),
                                              ((), {"FACESSD_VERBOSE": "0"}, True)])
def test_the_facessd_group_is_quiet_unless_verbose(fake_tensorflow, args, env, quiet):
    done = _python(VIA_CLI, fake_tensorflow, *args, **env)
    assert done.returncode == 0, done.stderr
    assert (STARTUP_LINES in done.stderr) is not quiet
    assert "an ordinary message" in done.stderr


def test_drop_log_lines_keeps_python_output():
    text = STARTUP_LINES + "Traceback (most recent call last):\nerror: something real\n"
    assert drop_log_lines(text) == "Traceback (most recent call last):\nerror: something real\n"


@pytest.mark.slow
def test_facessd_detect_stderr_has_no_cpp_logs_and_no_terminal_codes(tmp_path):
    """The real thing: TensorFlow loads, the default stage runs, stderr goes to a pipe."""
    from facessd_archive.data.synthetic.scene import generate_scene

    generate_scene(0, 2)[0].save(tmp_path / "scene.jpg")
    facessd = Path(sys.executable).with_name("facessd")
    command = [str(facessd)] if facessd.exists() else [shutil.which("facessd") or "facessd"]
    done = subprocess.run([*command, "detect", str(tmp_path / "scene.jpg"), "--json"], capture_output=True,
                          text=True, timeout=300, env=_clean_env(), cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["width"] == 320
    lowered = done.stderr.lower()
    assert not [word for word in NOISE if word.lower() in lowered], done.stderr
    assert "\x1b[" not in done.stderr and "\r" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "images/s" in done.stderr  # the throughput line only


# --- progress displays ---


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_click_bar_writes_nothing_into_a_pipe_and_draws_on_a_terminal():
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as pipe:
        assert not is_terminal(pipe)
        with progressbar(5, "work", file=pipe) as bar:
            bar.update(5)
    with os.fdopen(read_fd) as f:
        assert f.read() == ""
    terminal = _Terminal()
    with progressbar(5, "work", file=terminal) as bar:
        bar.update(5)
    assert "work" in terminal.getvalue() and "\r" in terminal.getvalue()


def test_training_progress_into_a_pipe_is_plain_lines(capsys):
    bar = step_progbar(100, enabled=True, stateful_metrics=["loss"])
    assert isinstance(bar, PlainProgress)  # captured stdout is not a terminal
    for step in range(1, 101):
        bar.update(step, [("loss", 1.0 / step)])
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "\r" not in out and "\b" not in out
    assert out.splitlines()[0].startswith("step 1/100 - ") and out.splitlines()[-1].startswith("step 100/100 - ")
    assert out.splitlines()[-1].endswith("loss: 0.01")


def test_disabled_training_progress_prints_nothing(capsys):
    bar = step_progbar(3, enabled=False)
    for step in range(1, 4):
        bar.update(step, [("loss", 0.5)])
    assert capsys.readouterr().out == ""
