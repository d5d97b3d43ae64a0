"""The kernel's engine: one session per IPython shell, holding the engine and the kernel variables.

The session lives on the shell object (`shell.maestro_nb_session`), so a fresh shell gets a
fresh engine and nothing module-level needs resetting. The engine opens lazily, on first use,
so `%load_ext` followed by `%workflow db PATH` never creates the default state file.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import MaestroError

if TYPE_CHECKING:
    from ..engine.breakpoints import Breakpoint
    from ..engine.engine import Engine
    from .variables import PausedAttempts

__all__ = ["KernelSession", "session_for", "current_engine", "PAUSED_NAME", "PAUSED_FALLBACK"]

PAUSED_NAME = "paused"
PAUSED_FALLBACK = "maestro_paused"
_ATTRIBUTE = "maestro_nb_session"


class KernelSession:
    """One shell's engine, state file and kernel variables (`paused`, one per breakpoint)."""

    def __init__(self, shell: Any, executor: str = "inline", workers: int | None = None):
        self.shell = shell
        self.executor = executor
        self.workers = workers
        self.db_path: str | None = None  # None: MAESTRO_NB_DB, else maestro_nb.duckdb
        self._engine: Engine | None = None
        self._ours: dict[str, Any] = {}  # variables we pushed: name -> object
        self._warned = False
        self.paused_name: str | None = None
        self._exit_hook = False
        self.panels: list[Any] = []  # the workflow panels shown on this engine: closed with it
        # Faces that follow the engine (the lab extension's comm) hear when it opens or closes.
        self.engine_listeners: list[Callable[[Engine | None], None]] = []
        self.comm_channels: list[Any] = []  # the lab extension's open comms (maestro_nb.comm)

    # --- the engine ---------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The engine, opened on first use on the session's state file."""
        if self._engine is None:
            engine = self._open(self.db_path)
            for line in engine.recovery_report:  # opened on first use: say what it found
                print(f"maestro_nb: {engine.path}: {line}; %workflow recover runs them on", file=sys.stderr)
        assert self._engine is not None
        return self._engine

    def _open(self, path: str | None) -> Engine:
        from ..engine.engine import Engine, default_db_path

        target = path if path is not None else default_db_path()
        engine = Engine(target, self.shell.user_ns, executor=self.executor, workers=self.workers)
        self._engine = engine
        if not self._exit_hook:
            # Closing at kernel exit checkpoints the file, so no .wal is left beside it.
            atexit.register(self._close_at_exit)
            self._exit_hook = True
        self.db_path = target
        self._push_breakpoint_variables()
        self._tell(engine)
        return engine

    def _tell(self, engine: Engine | None) -> None:
        for listener in list(self.engine_listeners):
            try:
                listener(engine)
            except Exception:  # a face's failure must not stop the engine opening or closing
                traceback.print_exc()

    def open(self, path: str | None, *, fresh: bool = False) -> Engine:
        """Switch to another state file (`:memory:` allowed); `fresh` deletes the file first."""
        from ..engine.engine import default_db_path

        target = path if path is not None else (self.db_path or default_db_path())
        ours = self._engine is not None and self.db_path not in (None, ":memory:") and \
            os.path.abspath(target) == os.path.abspath(self.db_path)
        if not ours:
            self._check_openable(target)  # a bad path leaves the current state file in use
        self.close()
        if fresh and target != ":memory:":
            for name in (target, target + ".wal"):
                if os.path.exists(name):
                    os.remove(name)
        return self._open(target)

    @staticmethod
    def _check_openable(target: str) -> None:
        """Fail clearly, before anything changes, when `target` cannot be opened (held, not a DB)."""
        if target == ":memory:":
            return
        import duckdb

        from ..errors import StoreLockedError
        from ..store.store import held_in_process

        if held_in_process(target):
            raise StoreLockedError(target, same_process=True)
        if os.path.exists(target):
            try:
                duckdb.connect(target, read_only=True).close()
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    raise StoreLockedError(target) from None
                raise MaestroError(f"cannot open state file {target}: {str(exc).splitlines()[0]}") from None
            except duckdb.Error as exc:
                raise MaestroError(f"cannot open state file {target}: {str(exc).splitlines()[0]}") from None
        elif not os.path.isdir(os.path.dirname(os.path.abspath(target))):
            raise MaestroError(f"cannot create state file {target}: its folder does not exist")

    def use_executor(self, executor: str, workers: int | None) -> None:
        """Run step code on `executor` ('inline' or 'threads', with `workers` threads) from now on."""
        if self._engine is not None:
            self._engine.use_executor(executor, workers=workers if executor == "threads" else None)
        self.executor, self.workers = executor, workers

    def close(self) -> None:
        """Close the engine (waiting for a background run) and drop its breakpoint variables."""
        if self._engine is None:
            return
        engine, self._engine = self._engine, None
        panels, self.panels = self.panels, []
        for panel in panels:  # they listen to this engine: stop them first
            panel.close()
        self._tell(None)
        try:
            engine.close()
        finally:
            for name in [n for n in self._ours if n != self.paused_name]:
                self._drop(name)

    def _close_at_exit(self) -> None:
        engine = self._engine
        if engine is not None and not engine.busy:
            try:
                engine.close()
            except Exception:  # the kernel is going away: nothing left to tell
                pass

    # --- kernel variables ---------------------------------------------------------------
    def _is_ours(self, name: str) -> bool:
        return name in self._ours and self.shell.user_ns.get(name) is self._ours[name]

    def name_free(self, name: str) -> bool:
        """True when `name` is unset in the user namespace, or holds one of our objects."""
        return name not in self.shell.user_ns or self._is_ours(name)

    def _push(self, name: str, value: Any) -> None:
        self.shell.user_ns[name] = value
        self._ours[name] = value

    def _drop(self, name: str) -> None:
        if self._is_ours(name):
            del self.shell.user_ns[name]
        self._ours.pop(name, None)

    def push_paused(self) -> None:
        """Put the live `paused` collection in the namespace, without overwriting a user's variable."""
        from .variables import PausedAttempts

        collection = PausedAttempts(self, title="paused")
        for name in (PAUSED_NAME, PAUSED_FALLBACK):
            if self.name_free(name):
                self._push(name, collection)
                self.paused_name = name
                if name != PAUSED_NAME:
                    self._warn(f"maestro_nb: `{PAUSED_NAME}` is your own variable, so paused attempts "
                               f"are in `{name}`")
                return
        self.paused_name = None
        self._warn(f"maestro_nb: `{PAUSED_NAME}` and `{PAUSED_FALLBACK}` are your own variables; "
                   "paused attempts are in maestro_nb.magics.current_engine().paused()")

    def paused_variable(self) -> str:
        """The variable that holds the live `paused` collection now, for messages to name. If the
        user rebound it, the collection goes (back) in whichever of `paused` and `maestro_paused`
        is free; when neither is, messages name the engine call that lists paused attempts."""
        if self.paused_name is not None and self._is_ours(self.paused_name):
            return self.paused_name
        from .variables import PausedAttempts

        for name in (PAUSED_NAME, PAUSED_FALLBACK):
            if self.name_free(name):
                self._push(name, PausedAttempts(self, title="paused"))
                self.paused_name = name
                return name
        return "maestro_nb.magics.current_engine().paused()"

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            print(message, file=sys.stderr)

    @property
    def paused(self) -> PausedAttempts:
        """Every paused attempt, as the live collection also found in the namespace."""
        from .variables import PausedAttempts

        return PausedAttempts(self, title="paused")

    def variable_name(self, workflow: str, step: str | None, requested: str | None) -> str:
        """The variable a new breakpoint's paused attempts go in: `--as NAME`, else `bp_<step>`
        (`bp_<workflow>` for a breakpoint on every step of a workflow)."""
        taken = {bp.name for bp in self.engine.breakpoints() if bp.name}
        if requested is not None:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", requested):
                raise MaestroError(f"--as {requested!r}: a variable name is an identifier")
            if requested in taken:
                raise MaestroError(f"--as {requested!r}: a breakpoint with that name exists already")
            if requested in (PAUSED_NAME, PAUSED_FALLBACK):
                raise MaestroError(f"--as {requested!r}: that name holds every paused attempt; choose another")
            if not self.name_free(requested):
                raise MaestroError(f"--as {requested!r}: that is one of your variables; choose another name")
            return requested
        base = _identifier(f"bp_{step if step is not None else workflow}")
        candidates = [base, _identifier(f"bp_{workflow}_{step if step is not None else 'steps'}")]
        candidates += [f"{candidates[1]}_{n}" for n in range(2, 1000)]
        for name in candidates:
            if name not in taken and self.name_free(name):
                return name
        raise MaestroError(f"no free variable name for a breakpoint on {workflow}.{step or '*'}; use --as NAME")

    def push_breakpoint(self, bp: Breakpoint) -> str | None:
        """Bind the breakpoint's variable (its name); None when a user variable holds that name."""
        from .variables import PausedAttempts

        if not bp.name or not self.name_free(bp.name):
            return None
        self._push(bp.name, PausedAttempts(self, title=f"breakpoint {bp.id} on {bp.target}", breakpoint=bp.id))
        return bp.name

    def drop_breakpoint(self, bp: Breakpoint) -> None:
        if bp.name:
            self._drop(bp.name)

    def _push_breakpoint_variables(self) -> None:
        assert self._engine is not None
        for bp in self._engine.breakpoints():
            self.push_breakpoint(bp)

    def unload(self) -> None:
        """Close the engine and remove every variable we put in the namespace."""
        self.close()
        for name in list(self._ours):
            self._drop(name)
        self.paused_name = None


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


def session_for(shell: Any) -> KernelSession:
    """The shell's session, created on first use."""
    session = getattr(shell, _ATTRIBUTE, None)
    if session is None:
        session = KernelSession(shell)
        setattr(shell, _ATTRIBUTE, session)
    return session


def current_engine() -> Engine:
    """The engine of the running IPython kernel (opened on first use)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise MaestroError("no IPython kernel is running; use maestro_nb.Engine(db=...) in plain Python")
    return session_for(shell).engine
