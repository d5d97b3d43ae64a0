"""Background runs: a display that updates in place until the instance is quiescent.

The scheduler's listener only wakes the refresher thread (it runs on the driving thread and
must not block); the refresher renders the run summary and updates the display. Rendering
reads what the driver has written (it flushes at every pause and at least every 0.5 s while
busy) and never waits for the driver: a cell that starts a background run returns at once.
"""

from __future__ import annotations

import contextvars
import threading
import traceback
from typing import TYPE_CHECKING, Any

from .reports import run_view

if TYPE_CHECKING:
    from ..engine.runtime import Instance
    from .kernel import KernelSession

__all__ = ["LiveRun"]

INTERVAL = 0.5  # seconds between refreshes while nothing is reported


class LiveRun:
    """A run summary shown with a display id, refreshed while the engine drives."""

    def __init__(self, session: KernelSession):
        self.session = session
        self.handle: Any = None
        self.instance: Instance | None = None
        self.thread: threading.Thread | None = None
        self._wake = threading.Event()

    def _listener(self, kind: str, subject: Any) -> None:
        self._wake.set()

    def follow(self, instance: Instance) -> None:
        """Show the instance now, then refresh it from a thread until the engine is idle."""
        from IPython.display import display

        self.instance = instance
        self.handle = display(self._render(), display_id=True)
        self.session.engine.scheduler.listeners.append(self._listener)
        context = contextvars.copy_context()  # keeps output routed to the cell that started the run
        self.thread = threading.Thread(target=context.run, args=(self._refresh,), name="maestro-display",
                                       daemon=True)
        self.thread.start()

    def _update(self) -> None:
        if self.handle is not None:  # None outside a kernel: nothing to update in place
            self.handle.update(self._render())

    def _render(self) -> Any:
        assert self.instance is not None
        return run_view(self.session, self.instance)

    def _refresh(self) -> None:
        engine = self.session.engine
        try:
            while engine.busy:
                self._wake.wait(INTERVAL)
                self._wake.clear()
                self._update()
            self._update()
        except Exception:  # a display must never break the run; show why it stopped updating
            traceback.print_exc()
        finally:
            if self._listener in engine.scheduler.listeners:
                engine.scheduler.listeners.remove(self._listener)
