"""Where step code runs: inline in the driver, on a thread pool, or on a Dask cluster
(`dask_executor`, imported only when asked for). Breakpoints are checked in the driver before
dispatch, so they behave the same on every executor."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

__all__ = ["Executor", "InlineExecutor", "ThreadExecutor", "make_executor"]

Done = Callable[[bool, Any], None]


class Executor(Protocol):
    """Runs `call()` and reports through `done(ok, value_or_exception)`.

    `inline` executors call `done` before `submit` returns, on the driver's thread; others call
    it from any thread, and the driver hands the result back to its own thread. `submit`
    returns a handle for `cancel`. An executor may hold calls until `send()`, which the driver
    calls before it waits for results.
    """

    inline: bool

    def submit(self, call: Callable[[], Any], done: Done) -> Any: ...

    def send(self) -> None: ...

    def cancel(self, handle: Any) -> bool: ...

    def shutdown(self) -> None: ...


def _run(call: Callable[[], Any], done: Done) -> None:
    try:
        value = call()
    except Exception as exc:  # the step's own failure: reported, never raised here
        done(False, exc)
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: recorded, then let through
        done(False, exc)
        raise
    else:
        done(True, value)


class InlineExecutor:
    """Runs each step on the driver's thread: deterministic, the default."""

    inline = True
    window = 0  # attempts it wants created ahead of a foreach: the scheduler's default

    def submit(self, call: Callable[[], Any], done: Done) -> None:
        _run(call, done)

    def send(self) -> None:
        pass

    def cancel(self, handle: Any) -> bool:
        return False

    def shutdown(self) -> None:
        pass


class ThreadExecutor:
    """Runs steps on a pool of `workers` threads (default: one per CPU)."""

    inline = False
    window = 0  # attempts it wants created ahead of a foreach: the scheduler's default

    def __init__(self, workers: int | None = None):
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            from ..errors import ParamError

            raise ParamError(f"workers must be a whole number >= 1 (or None: one per CPU), not {workers!r}")
        self.workers = workers or os.cpu_count() or 2
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, call: Callable[[], Any], done: Done) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="maestro-step")
        self._pool.submit(_run, call, done)

    def send(self) -> None:
        pass

    def cancel(self, handle: Any) -> bool:
        """A step on a thread cannot be withdrawn: it runs to its end and is reported."""
        return False

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "ws://", "wss://", "inproc://")


def make_executor(spec: Any, workers: int | None = None) -> Executor:
    """An executor from its name: 'inline' (the default), 'threads' (with `workers` threads),
    'dask' (a LocalCluster), 'dask://ADDRESS' or a scheduler address ('tcp://host:8786'); a
    distributed Client or Cluster; or an Executor."""
    from ..errors import ParamError

    if spec is None or spec == "inline":
        if workers is not None:
            raise ParamError("workers is the size of the 'threads' executor's pool; give executor='threads'")
        return InlineExecutor()
    if spec == "threads":
        return ThreadExecutor(workers)
    if isinstance(spec, str):
        if spec == "dask" or spec.startswith("dask://") or spec.startswith(DASK_SCHEMES):
            from .dask_executor import DaskExecutor

            if workers is not None:
                raise ParamError("workers is the size of the 'threads' executor's pool; a Dask cluster has its own")
            address = spec.removeprefix("dask://") if spec != "dask" else None
            if address == "":
                raise ParamError("executor 'dask://' names no scheduler; use 'dask://HOST:PORT', or 'dask' "
                                 "for a LocalCluster")
            return DaskExecutor(address=address)
        raise ParamError(f"unknown executor {spec!r}; use 'inline', 'threads', 'dask', 'dask://ADDRESS' "
                         "or an Executor object")
    if workers is not None:
        raise ParamError("workers is the size of the 'threads' executor's pool; set it on your Executor object")
    if _is_dask(spec):
        from .dask_executor import DaskExecutor

        return DaskExecutor(spec)
    return spec


def _is_dask(spec: Any) -> bool:
    """A distributed Client or Cluster (distributed is imported already if `spec` is one)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    from distributed.deploy import Cluster

    return isinstance(spec, (distributed.Client, Cluster))
