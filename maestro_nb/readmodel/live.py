"""Live faces: a watcher that tells a face when the engine's state moved, at a bounded rate.

The scheduler's listeners run on the driving thread and must not block it; the watcher's
listener only sets an event. Its own thread wakes on that event (a pause, an instance that
ends, any action through the Engine) or, while a run drives, at the rate, and calls the face
back only when the engine's revision moved. So a face redraws at most `rate` times a second,
and costs an idle kernel nothing.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ParamError

if TYPE_CHECKING:
    from ..engine.engine import Engine

__all__ = ["Watcher"]


class Watcher:
    """Calls `on_change()` from its own thread after the engine's state changed, at most `rate`
    times a second, until `close()`."""

    def __init__(self, engine: Engine, on_change: Callable[[], Any], *, rate: float = 10.0,
                 name: str = "maestro-watch"):
        if not rate > 0:
            raise ParamError(f"rate must be a positive number of updates a second, not {rate!r}")
        self.engine = engine
        self.on_change = on_change
        self.interval = 1.0 / rate
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._seen = engine.scheduler.revision
        self._forced = False
        self._acting_since: float | None = None
        engine.scheduler.listeners.append(self._listener)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _listener(self, kind: str, subject: Any) -> None:
        self._wake.set()

    def poke(self, force: bool = False) -> None:
        """Look again now (a face changed something the engine does not announce); with `force`,
        call the face back at once, even if the engine's revision did not move (its own input
        changed)."""
        if force:
            self._forced = True
        self._wake.set()

    @contextmanager
    def acting(self) -> Iterator[None]:
        """While the face's own action runs: the engine's changes it makes are drawn once, when the
        face pokes at its end (and every interval meanwhile, if it takes longer)."""
        self._acting_since = time.monotonic()
        try:
            yield
        finally:
            self._acting_since = None

    def _loop(self) -> None:
        called = -self.interval
        while not self._closed.is_set():
            # Idle: sleep until something is announced. Driving: look at the rate as well.
            self._wake.wait(self.interval if self.engine.busy else None)
            self._wake.clear()
            # The rate bound: the engine's changes within an interval of the last call, or of the
            # start of the face's own action, are taken together. The face's own input (a click:
            # human-paced) is answered at once.
            while not self._forced and not self._closed.is_set():
                since = called if self._acting_since is None else max(called, self._acting_since)
                left = since + self.interval - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
                self._wake.clear()
            if self._closed.is_set():
                return
            revision = self.engine.scheduler.revision
            if revision != self._seen or self._forced:
                self._seen = revision
                self._forced = False
                called = time.monotonic()
                try:
                    self.on_change()
                except Exception:  # a face's failure must not end its updates; show why
                    traceback.print_exc()

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop watching; no call to `on_change` starts after this returns (unless it timed out)."""
        self._closed.set()
        self._wake.set()
        listeners = self.engine.scheduler.listeners
        if self._listener in listeners:
            listeners.remove(self._listener)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()
