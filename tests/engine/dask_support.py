"""Shared pieces of the Dask tests: a small LocalCluster of real worker processes, and waiting
on files that step code writes on a worker (the only thing a test can observe across processes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

DEADLINE = 120.0  # seconds: generous, the machine is shared; a test waits on a condition, never a delay


def local_cluster():
    """2 worker processes, 1 thread each, the dashboard on a free port; a worker death is reported at once
    (Dask does not retry the task itself)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_for_file(path: Path, deadline: float = DEADLINE) -> str:
    """The text of `path` once a step has written it."""
    wait_for(lambda: path.exists() and path.read_text().endswith("\n"), f"{path.name} to be written", deadline)
    return path.read_text()
