"""Steps on Dask distributed: step code runs on the cluster's workers; the engine, its breakpoints
and its state file stay in the kernel.

Imported only when a Dask executor is asked for. Attempts are sent in batches (several attempts
per Dask task, sized from how long the step's calls take), and at most `max_tasks` Dask tasks
are alive at once, however many attempts the scheduler has under way. A worker that dies under
an attempt, or a cluster that goes away, reports a PlatformError, never the step's own failure.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import MaestroError, PlatformError

__all__ = ["DaskExecutor", "require_distributed", "run_batch", "EXTRA_HINT"]

EXTRA_HINT = "pip install 'maestro_nb[dask]'"
TASKS_PER_THREAD = 2  # Dask tasks alive per worker thread: one running, one ready behind it
MIN_TASKS = 4
MAX_BATCH = 64  # attempts in one Dask task, at most
BATCH_SECONDS = 0.05  # a batch holds about this much step time, once the step's calls are timed
REFRESH_SECONDS = 5.0  # how often the cluster's thread count is read again (adaptive clusters)

_QUEUED, _SENT, _DONE, _CANCELLED = range(4)


def require_distributed() -> Any:
    """The `distributed` module, or one clear error naming the extra that brings it."""
    try:
        import distributed
    except ImportError:
        raise MaestroError(f"the Dask executor needs dask.distributed, which is not installed; {EXTRA_HINT}") from None
    return distributed


def run_batch(blob: bytes) -> list[tuple[bool, bytes, float]]:
    """On a worker: run each call of a pickled batch, and return (ok, pickled value or exception,
    seconds) per call. Each outcome is pickled alone, so one output that cannot travel back fails
    its own attempt, not the batch."""
    import cloudpickle

    calls = cloudpickle.loads(blob)
    outcomes = []
    for call in calls:
        start = time.perf_counter()
        try:
            value = call()
        except Exception as exc:  # the step's own failure; BaseException (SystemExit) is Dask's to see
            outcomes.append((False, _pickle_exception(exc), time.perf_counter() - start))
            continue
        elapsed = time.perf_counter() - start
        try:
            outcomes.append((True, cloudpickle.dumps(value, protocol=5), elapsed))
        except Exception as exc:
            error = TypeError(f"the step's output ({type(value).__qualname__}) cannot be sent back from the "
                              f"worker: {type(exc).__name__}: {exc}")
            outcomes.append((False, _pickle_exception(error), elapsed))
    return outcomes


def _pickle_exception(exc: BaseException) -> bytes:
    """The exception with its traceback (tblib makes tracebacks picklable), or a stand-in saying
    what it was when the exception itself cannot be pickled."""
    import cloudpickle
    from tblib import pickling_support

    try:
        pickling_support.install(exc)
        return cloudpickle.dumps(exc)
    except Exception:
        stand_in = RuntimeError(f"{type(exc).__qualname__}: {exc}")
        return cloudpickle.dumps(stand_in.with_traceback(exc.__traceback__))


class _Call:
    """One attempt's call, from `submit` to its report; the handle `submit` returns."""

    __slots__ = ("call", "done", "state", "task")

    def __init__(self, call: Callable[[], Any], done: Callable[[bool, Any], None]):
        self.call = call
        self.done = done
        self.state = _QUEUED
        self.task: Any = None  # the Dask future running it, once sent


class DaskExecutor:
    """Runs steps on a Dask cluster: a LocalCluster of worker processes started on first use, or
    the cluster behind a given Client, Cluster or scheduler address (never closed by us).

    Calls wait in the kernel until `send()` (the driver calls it before it waits for results);
    then at most `max_tasks` Dask tasks are alive at once (default: 2 per worker thread, at least
    4), each running up to `max_batch` calls.
    """

    inline = False

    def __init__(self, cluster: Any = None, address: str | None = None, *, max_tasks: int | None = None,
                 max_batch: int = MAX_BATCH):
        require_distributed()
        self._given = cluster  # a Client or a Cluster of the user's: used, never closed
        self.address = address
        self._fixed_tasks = max_tasks
        self.max_tasks = max_tasks or MIN_TASKS
        self.max_batch = max_batch
        self.peak_tasks = 0  # most Dask tasks alive at once so far
        self._client: Any = None
        self._owned: list[Any] = []  # what shutdown() closes: our Client, our LocalCluster
        self._lock = threading.Lock()
        self._queue: deque[_Call] = deque()
        self._tasks: dict[Any, list[_Call]] = {}  # Dask future -> the calls it runs
        self._seconds: dict[Any, float] = {}  # mean seconds per call, by step function
        self._refreshed = 0.0
        self._gone: str | None = None  # why the cluster cannot be used any more

    # --- the cluster ----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The distributed.Client in use, connecting (or starting a LocalCluster) on first use."""
        if self._client is None:
            self._client = self._connect()
            self._refresh(force=True)
        return self._client

    def _connect(self) -> Any:
        distributed = require_distributed()
        given = self._given
        if isinstance(given, distributed.Client):
            return given
        if given is not None:  # a Cluster object
            client = distributed.Client(given)
        elif self.address is not None:
            client = distributed.Client(self.address)
        else:
            import dask

            # Dask's own retries after a worker dies would hide the death from the retry policy.
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                cluster = distributed.LocalCluster(processes=True, dashboard_address=":0")
            self._owned.append(cluster)
            client = distributed.Client(cluster)
        self._owned.insert(0, client)
        return client

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard of the cluster in use, if it serves one."""
        return self.client.dashboard_link

    def _refresh(self, force: bool = False) -> None:
        """Size the task bound from the cluster's worker threads (read again every few seconds)."""
        if self._fixed_tasks is not None:
            return
        now = time.monotonic()
        if not force and now - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = now
        threads = sum(self._client.nthreads().values())
        self.max_tasks = max(MIN_TASKS, TASKS_PER_THREAD * threads)

    @property
    def window(self) -> int:
        """Attempts the scheduler may keep under way per foreach to keep every task slot busy."""
        return self.max_tasks * 16

    # --- the executor interface -------------------------------------------------------------
    def submit(self, call: Callable[[], Any], done: Callable[[bool, Any], None]) -> _Call:
        """Queue a call; it goes to the cluster at the next `send()`."""
        handle = _Call(call, done)
        with self._lock:
            gone = self._gone
            if gone is None:
                self._queue.append(handle)
            else:
                handle.state = _DONE
        if gone is not None:
            done(False, PlatformError(gone, retryable=False))
        return handle

    def send(self) -> None:
        """Send queued calls as batches, while fewer than `max_tasks` tasks are alive."""
        if not self._queue:
            return
        try:
            client = self.client
            self._refresh()
        except Exception as exc:  # no cluster to be had: every queued call fails, clearly
            self._lose(f"cannot reach the Dask cluster ({type(exc).__name__}: {exc})")
            return
        import cloudpickle

        while self._queue:
            with self._lock:
                free = self.max_tasks - len(self._tasks)
                if free <= 0:
                    return
                size = min(self._batch_size(self._queue[0]), math.ceil(len(self._queue) / free))
                members = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
            try:
                blob = cloudpickle.dumps([m.call for m in members], protocol=5)
            except Exception as exc:  # arguments that cannot travel: those attempts fail, alone
                self._unsendable(members, exc)
                continue
            try:
                future = client.submit(run_batch, blob, key=f"maestro-batch-{uuid.uuid4().hex}", pure=False)
            except Exception as exc:
                self._queue.extendleft(reversed(members))
                self._lose(f"the Dask cluster cannot take work ({type(exc).__name__}: {exc})")
                return
            with self._lock:
                for m in members:
                    m.state = _SENT
                    m.task = future
                self._tasks[future] = members
                self.peak_tasks = max(self.peak_tasks, len(self._tasks))
            future.add_done_callback(self._finished)

    def cancel(self, handle: _Call) -> bool:
        """Withdraw a call not yet reported; True when its `done` will never be called. A task
        whose every call is withdrawn is cancelled on the cluster (a running one finishes there)."""
        with self._lock:
            if handle.state in (_DONE, _CANCELLED):
                return handle.state == _CANCELLED
            queued = handle.state == _QUEUED
            handle.state = _CANCELLED
            if queued:
                self._queue.remove(handle)
                return True
            future = handle.task
            members = self._tasks.get(future)
            if members is None or any(m.state != _CANCELLED for m in members):
                return True
            del self._tasks[future]
        try:
            future.cancel()
        except Exception:  # the client is closed already: nothing is left to cancel there
            pass
        return True

    def shutdown(self) -> None:
        """Withdraw what is left and close the Client and LocalCluster we started."""
        with self._lock:
            futures = list(self._tasks)
            self._tasks.clear()
            self._queue.clear()
        if futures and self._client is not None:
            try:
                self._client.cancel(futures)
            except Exception:
                pass
        owned, self._owned = self._owned, []
        for thing in owned:
            try:
                thing.close()
            except Exception:
                pass
        self._client = None
        with self._lock:
            self._gone = self._gone or "the Dask executor was shut down"

    # --- results ------------------------------------------------------------------------------
    def _batch_size(self, first: _Call) -> int:
        seconds = self._seconds.get(_function_of(first.call))
        if seconds is None:
            return 1  # not timed yet: one call per task, until a result says how long calls take
        return max(1, min(self.max_batch, int(BATCH_SECONDS / max(seconds, 1e-6))))

    def _finished(self, future: Any) -> None:
        """On Dask's callback thread: report each call of a finished task."""
        with self._lock:
            members = self._tasks.pop(future, None)
        if members is None:  # withdrawn, or the executor was shut down
            return
        outcomes, failure = None, None
        status = future.status
        try:
            if status not in ("finished", "error", "cancelled"):  # lost with its worker, to be recomputed
                future.cancel()  # not behind our back: the retry policy decides
                raise RuntimeError(f"the task is {status}")
            outcomes = future.result()
        except Exception as exc:
            if status == "error":
                failure = self._classify(exc)
            elif status == "cancelled":
                failure = self._cancelled(exc)
            else:  # finished, but the result could not be fetched: its worker died since
                failure = PlatformError(f"the result was lost with its Dask worker ({type(exc).__name__}: {exc})")
        future.release()
        if outcomes is not None:
            self._time(members, outcomes)
        for position, member in enumerate(members):
            with self._lock:
                if member.state == _CANCELLED:
                    continue
                member.state = _DONE
            if outcomes is None:
                member.done(False, failure)
                continue
            ok, blob, _ = outcomes[position]
            try:
                value = _loads(blob)
            except Exception as exc:
                ok, value = False, exc
            member.done(ok, value)

    def _classify(self, exc: BaseException) -> BaseException:
        """A failed task: a worker died under it (a platform failure), or the batch could not run."""
        distributed = require_distributed()
        if isinstance(exc, distributed.KilledWorker):
            tries = exc.allowed_failures + 1
            where = f"{tries} Dask workers" if tries > 1 else "its Dask worker"
            return PlatformError(f"{where} died while running it (last: {exc.last_worker.address})")
        if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] == "maestro_nb":
            return MaestroError(f"the Dask workers cannot import maestro_nb: install it in their environment "
                                f"({EXTRA_HINT})")
        return exc

    def _cancelled(self, exc: BaseException) -> PlatformError:
        """A task cancelled by someone else: the cluster went away, or it was restarted."""
        reason = getattr(exc, "reason", None) or "unknown"
        if self._client is None or self._client.status != "running" or reason == "scheduler-connection-lost":
            self._lose(f"the Dask cluster went away ({reason})")
            return PlatformError(self._gone, retryable=False)
        return PlatformError(f"its Dask task was cancelled on the cluster ({reason})")

    def _lose(self, why: str) -> None:
        """The cluster cannot be used any more: fail what waits here and everything sent later."""
        with self._lock:
            if self._gone is None:
                self._gone = (f"{why}; the attempts it had were not run to their end. Open the engine "
                              "with a new executor (Engine(..., executor=...), or %workflow db in a "
                              "notebook) and restart the instance")
            queued = list(self._queue)
            self._queue.clear()
            for m in queued:
                m.state = _DONE
        for m in queued:
            m.done(False, PlatformError(self._gone, retryable=False))

    def _unsendable(self, members: list[_Call], exc: Exception) -> None:
        import cloudpickle

        for m in members:
            try:
                cloudpickle.dumps(m.call)
            except Exception as own:
                m.state = _DONE
                m.done(False, TypeError(f"the step's arguments cannot be sent to the Dask cluster: "
                                        f"{type(own).__name__}: {own}"))
            else:
                self._queue.appendleft(m)

    def _time(self, members: list[_Call], outcomes: list[tuple[bool, bytes, float]]) -> None:
        """Keep a running mean of seconds per call, by step function, to size the next batches."""
        for member, (_, _, seconds) in zip(members, outcomes):
            fn = _function_of(member.call)
            old = self._seconds.get(fn)
            self._seconds[fn] = seconds if old is None else 0.8 * old + 0.2 * seconds
        if len(self._seconds) > 1024:
            self._seconds.clear()


def _function_of(call: Callable[[], Any]) -> Any:
    return call.func if isinstance(call, functools.partial) else type(call)


def _loads(blob: bytes) -> Any:
    import pickle

    return pickle.loads(blob)
