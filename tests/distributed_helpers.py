"""Two ``MultiWorkerMirroredStrategy`` workers on loopback, for the real multi-worker tests.

Each worker is its own Python process with its own ``TF_CONFIG`` (two free ports on loopback), as on
two machines; the helper returns each worker's exit code and output once both have finished.

Why it watches both at once: a worker that cannot start (its port taken) exits at once, and its peer
then waits for it forever (TensorFlow's cluster barrier has no timeout). So when one worker fails,
the other gets a short grace and is stopped, and both outputs are returned for the failure message.
A worker that is stopped (hung, or waiting for a dead peer) gets SIGABRT first: with
``PYTHONFAULTHANDLER`` set it writes every thread's Python stack to its stderr, which the failure shows.

The ports come from ``ports.free_ports`` (below the ephemeral range: why, there). Should a port still
be taken before its worker binds it ("Could not start gRPC server"), the pair is started once more on
fresh ports: that is the machine, not the code.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ports import free_ports

PORT_IN_USE = "Could not start gRPC server"  # TensorFlow's words when a worker's port is taken
FAILED_PEER_GRACE_S = 60  # how long the other worker may take to notice and stop by itself


@dataclass(frozen=True)
class WorkerResult:
    index: int
    returncode: int
    stdout: str
    stderr: str


def _run_pair(argv: Callable[[int], Sequence[str]], timeout: float) -> list[WorkerResult]:
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    processes: list[subprocess.Popen] = []
    # Files, not pipes: nobody reads while both run, and a full pipe would stall a worker.
    with contextlib.ExitStack() as stack:
        logs = [(stack.enter_context(tempfile.TemporaryFile("w+")), stack.enter_context(tempfile.TemporaryFile("w+")))
                for _ in range(2)]
        try:
            for index, (out, err) in enumerate(logs):
                config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                processes.append(subprocess.Popen(
                    list(argv(index)), stdout=out, stderr=err, text=True,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONFAULTHANDLER": "1",
                         "TF_CONFIG": json.dumps(config)}))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                codes = [p.poll() for p in processes]  # every one polled: any() would stop at the first
                if None not in codes:
                    break
                if any(code not in (None, 0) for code in codes):
                    deadline = min(deadline, time.monotonic() + FAILED_PEER_GRACE_S)
                time.sleep(0.5)
        finally:
            hung = [p for p in processes if p.poll() is None]
            for p in hung:
                p.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's Python stack into its stderr
            for p in hung:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            for p in processes:
                p.wait()
        return [WorkerResult(index, p.returncode, _read(out), _read(err))
                for index, (p, (out, err)) in enumerate(zip(processes, logs))]


def _read(file) -> str:
    file.seek(0)
    return file.read()


def run_two_workers(argv: Callable[[int], Sequence[str]], timeout: float = 900) -> list[WorkerResult]:
    """Start worker 0 (the chief) and worker 1 with ``argv(index)`` and wait for both (killed after
    ``timeout`` seconds, or a minute after the other failed)."""
    results = _run_pair(argv, timeout)
    if any(PORT_IN_USE in r.stderr for r in results):
        print(f"a worker's port was taken before it bound it ({PORT_IN_USE!r}); once more on fresh ports")
        results = _run_pair(argv, timeout)
    return results


def assert_all_succeeded(results: Sequence[WorkerResult]) -> None:
    failed = [r for r in results if r.returncode != 0]
    assert not failed, "\n".join(
        f"worker {r.index} {_ending(r.returncode)}:\n{_tail(r.stderr)}" for r in results)


def _tail(stderr: str, chars: int = 5000) -> str:
    """The end of a worker's stderr, without faulthandler's long list of extension modules."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("Extension modules:"))[-chars:]


def _ending(returncode: int) -> str:
    if returncode == 0:
        return "succeeded"
    return ("was stopped (it hung, or waited for the other; its stacks are below)" if returncode < 0
            else f"failed (exit {returncode})")

