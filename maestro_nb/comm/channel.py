"""The kernel end of the `maestro_nb` comm: answers requests, pushes coalesced updates.

`register(shell)` (run by `%load_ext maestro_nb`) registers the comm target. Each comm the
frontend opens gets a `Channel`: its messages are answered by a `Handler` on the kernel's
shell thread; after `hello`, a `Watcher` pushes the whole snapshot whenever the engine's state
moved, at most ten times a second, from its own thread. The channel follows the session's
engine: `%workflow db PATH` closes one engine and opens another, and the updates follow.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .schema import PROTOCOL

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..magics.kernel import KernelSession
    from ..readmodel.live import Watcher

__all__ = ["TARGET", "Channel", "register", "unregister"]

TARGET = "maestro_nb"
RATE = 10.0  # updates a second, at most


class Channel:
    """One comm from one frontend view: requests in, replies and updates out."""

    def __init__(self, session: KernelSession, comm: Any):
        from .handler import Handler  # loaded when a frontend opens a comm, not at %load_ext

        self.session = session
        self.comm = comm
        self.handler = Handler(lambda: session.engine, lambda: session._engine, session)
        self._lock = threading.Lock()
        self._watcher: Watcher | None = None
        self._live = False  # after hello: push updates
        self._sent = -1  # the revision last sent, so an unchanged state is not sent twice
        comm.on_msg(self._on_msg)
        comm.on_close(self._on_close)
        session.engine_listeners.append(self._on_engine)

    # --- requests -----------------------------------------------------------------------
    def _on_msg(self, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data")
        answer = self.handler.handle(data)
        if answer["ok"] and isinstance(data, dict) and data.get("op") == "hello":
            with self._lock:
                self._live = True
                self._sent = answer["result"]["revision"]
            self._watch(self.session._engine)
        self.comm.send(answer)
        if answer["ok"] and self._live:
            self._push()  # an action's effect reaches the views even when the revision did not move

    # --- updates ------------------------------------------------------------------------
    def _watch(self, engine: Engine | None) -> None:
        from ..readmodel.live import Watcher

        with self._lock:
            old, self._watcher = self._watcher, None
            if engine is not None and self._live:
                self._watcher = Watcher(engine, self._push, rate=RATE, name="maestro-comm")
        if old is not None:
            old.close()

    def _on_engine(self, engine: Engine | None) -> None:
        """The session opened or closed its engine: follow it, and tell the frontend."""
        self._watch(engine)
        if self._live:
            self._push(force=True)

    def _push(self, force: bool = False) -> None:
        with self._lock:
            payload = self.handler.snapshot()
            if not self._live or (not force and payload["revision"] == self._sent):
                return
            self._sent = payload["revision"]
            self.comm.send({"protocol": PROTOCOL, "type": "update", "snapshot": payload})

    def poke(self) -> None:
        """Send an update now if the state the frontend sees changed."""
        if self._live:
            self._push()

    def _on_close(self, msg: Any = None) -> None:
        self.close()

    def close(self) -> None:
        """Stop pushing updates (the frontend closed the comm, or the extension was unloaded)."""
        if self in self.session.comm_channels:
            self.session.comm_channels.remove(self)
        with self._lock:
            self._live = False
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        if self._on_engine in self.session.engine_listeners:
            self.session.engine_listeners.remove(self._on_engine)


def _manager(shell: Any) -> Any:
    """The kernel's comm manager, or None outside a kernel (plain IPython, a script)."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    try:
        from comm import get_comm_manager
    except ImportError:  # an ipykernel older than the comm package keeps its own manager
        return getattr(kernel, "comm_manager", None)
    return get_comm_manager()


def register(shell: Any, session: KernelSession) -> bool:
    """Answer comms opened on target `maestro_nb`; False outside a kernel."""
    manager = _manager(shell)
    if manager is None:
        return False
    def opened(comm: Any, msg: Any) -> None:
        session.comm_channels.append(Channel(session, comm))

    manager.register_target(TARGET, opened)
    if _after_cell not in shell.events.callbacks["post_execute"]:
        shell.events.register("post_execute", _after_cell)
    return True


def _after_cell() -> None:
    """A cell ran: it may have changed what the engine does not announce (a definition)."""
    from IPython import get_ipython

    session = getattr(get_ipython(), "maestro_nb_session", None)
    for channel in list(session.comm_channels if session is not None else ()):
        channel.poke()


def unregister(shell: Any, session: KernelSession) -> None:
    """Stop answering new comms and close the open ones' updates."""
    manager = _manager(shell)
    if manager is not None:
        manager.unregister_target(TARGET, None)
    if _after_cell in shell.events.callbacks["post_execute"]:
        shell.events.unregister("post_execute", _after_cell)
    for channel in list(session.comm_channels):
        channel.close()
        channel.comm.close()  # the frontend hears it: this kernel has no engine any more
    session.comm_channels.clear()
