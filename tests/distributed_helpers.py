"""Two ``MultiWorkerMirroredStrategy`` workers on loopback, for the real multi-worker tests.

Each worker is its own Python process with its own ``TF_CONFIG`` (two free ports on 127.0.0.1), as on
two machines; the helper returns each worker's exit code and output once both have finished, and kills
whatever is left if either hangs.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerResult:
    index: int
    returncode: int
    stdout: str
    stderr: str


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports the OS has just handed out on loopback (bound together so none repeats)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_two_workers(argv: Callable[[int], Sequence[str]], timeout: float = 900) -> list[WorkerResult]:
    """Start worker 0 (the chief) and worker 1 with ``argv(index)`` and wait for both."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    processes: list[subprocess.Popen] = []
    try:
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            processes.append(subprocess.Popen(
                list(argv(index)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(config)}))
        outputs = [p.communicate(timeout=timeout) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [WorkerResult(i, p.returncode, out, err) for i, (p, (out, err)) in enumerate(zip(processes, outputs))]


def assert_all_succeeded(results: Sequence[WorkerResult]) -> None:
    for r in results:
        assert r.returncode == 0, f"worker {r.index} exited {r.returncode}:\n{r.stderr[-3000:]}"
