"""Answers the comm's requests: check, find what they name, act through the Engine facade.

`Handler.handle(data)` takes a message's `data` as the browser sent it and returns the reply.
A message that does not fit the protocol, names an unknown breakpoint, or a paused attempt that
is no longer paused (stale) gets `ok: false` with one line, and changes nothing: every key and
id is looked up before the first change, and the engine's own checks run before it changes
anything too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import MaestroError
from ..readmodel import ReadModel
from .schema import PROTOCOL, ProtocolError, Request, parse_request, request_id
from .snapshot import snapshot

if TYPE_CHECKING:
    from ..engine.breakpoints import Breakpoint
    from ..engine.engine import Engine
    from ..engine.runtime import Attempt
    from ..magics.kernel import KernelSession

__all__ = ["Handler", "reply", "error_reply"]


def reply(rid: str | None, result: Any) -> dict[str, Any]:
    return {"protocol": PROTOCOL, "type": "reply", "id": rid, "ok": True, "result": result}


def error_reply(rid: str | None, message: str) -> dict[str, Any]:
    return {"protocol": PROTOCOL, "type": "reply", "id": rid, "ok": False, "error": message}


class Handler:
    """One comm's requests. `engine()` gives the kernel's engine (opening it on first use);
    `current()` the open one or None, for snapshots that must not open a state file."""

    def __init__(self, engine: Callable[[], Engine], current: Callable[[], Engine | None] | None = None,
                 session: KernelSession | None = None):
        self._engine = engine
        self._current = current or engine
        self._session = session  # in a kernel: breakpoints get their variables, as %breakpoint does
        self._last_state: dict[str, Any] | None = None
        self._revision = 0
        self._lock = threading.Lock()  # snapshots come from the shell thread and the watcher's

    def snapshot(self) -> dict[str, Any]:
        """The snapshot of the engine open now. Its revision counts the different states this
        handler has shown, so it grows with every change, also across a new engine
        (`%workflow db PATH`) and changes the engine does not count (a new definition)."""
        with self._lock:
            found = snapshot(self._current())
            found.pop("revision")
            if found != self._last_state:
                self._last_state = found
                self._revision += 1
            return {"revision": self._revision, **found}

    def handle(self, data: Any) -> dict[str, Any]:
        """The reply to one message; never raises for what the browser sent."""
        rid = request_id(data)
        try:
            request = parse_request(data)
            return reply(request.id, getattr(self, f"_op_{request.op}")(request))
        except MaestroError as exc:
            return error_reply(rid, _one_line(exc.message))

    # --- reading ----------------------------------------------------------------------
    def _op_hello(self, request: Request) -> Any:
        return self.snapshot()

    _op_snapshot = _op_hello

    def _op_instance(self, request: Request) -> Any:
        a = request.args
        return ReadModel(self._engine()).instance(a["workflow"], a["instance"]).to_json()

    def _op_paused(self, request: Request) -> Any:
        a = request.args
        engine = self._engine()
        definition = engine.definition(a["workflow"])  # an unknown name is an error, not an empty page
        if a["step"] is not None:
            definition.step(a["step"])
        return ReadModel(engine).paused(a["workflow"], a["step"], a["instance"], limit=a["limit"],
                                        **(a["loop"] or {})).to_json()

    # --- breakpoints ------------------------------------------------------------------
    def _op_set_breakpoint(self, request: Request) -> Any:
        a = request.args
        bp = self._set(a["target"], pause=a["pause"], when=a["when"], instance=a["instance"],
                       iteration=a["iteration"])
        return ReadModel(self._engine())._breakpoint(bp).to_json()

    def _set(self, target: str, **settings: Any) -> Breakpoint:
        """Set a breakpoint as `%breakpoint` does: the same settings give the same breakpoint, and
        in a kernel its paused attempts go in a variable named after the step."""
        engine = self._engine()
        workflow, _, step = target.partition(".")
        definition = engine.definition(workflow)  # unknown names fail here, with a hint
        if step:
            definition.step(step)
        existing = engine.same_breakpoint(target, **settings)
        if existing is not None:
            bp = existing
        else:
            session = self._session
            name = session.variable_name(workflow, step or None, None) if session is not None else None
            bp = engine.set_breakpoint(target, name=name, **settings)
        if self._session is not None:
            self._session.push_breakpoint(bp)
        return bp

    def _op_delete_breakpoint(self, request: Request) -> Any:
        a = request.args
        engine = self._engine()
        found = engine.find_breakpoints(a["id"])
        released = engine.delete_breakpoint(a["id"], keep_paused=a["keep_paused"])
        self._drop_variables(found)
        return {"released": len(released)}

    def _op_toggle_breakpoint(self, request: Request) -> Any:
        target = request.args["target"]
        engine = self._engine()
        workflow, step = target.split(".", 1)
        engine.definition(workflow).step(step)  # unknown names fail here, with a hint
        on_step = [bp for bp in engine.breakpoints() if bp.workflow == workflow and bp.step == step]
        if not on_step:
            bp = self._set(target)
            return {"set": ReadModel(engine)._breakpoint(bp).to_json()}
        released = engine.delete_breakpoint(target)
        self._drop_variables(on_step)
        return {"deleted": sorted(bp.id for bp in on_step), "released": len(released)}

    def _drop_variables(self, found: list[Breakpoint]) -> None:
        if self._session is not None:
            for bp in found:
                self._session.drop_breakpoint(bp)

    # --- paused attempts --------------------------------------------------------------
    def _attempts(self, engine: Engine, keys: list[str]) -> list[Attempt]:
        model = ReadModel(engine)
        found = []
        for key in keys:
            a = model.find_paused(key)
            if a is None:
                raise ProtocolError(f"{key} is not paused (it was resumed or ended meanwhile); "
                                    "nothing was changed")
            found.append(a)
        return found

    def _op_resume(self, request: Request) -> Any:
        engine = self._engine()
        return {"done": len(engine.resume(self._attempts(engine, request.args["keys"])))}

    def _op_step(self, request: Request) -> Any:
        engine = self._engine()
        return {"done": len(engine.resume(self._attempts(engine, request.args["keys"]), step=True))}

    def _op_skip(self, request: Request) -> Any:
        engine = self._engine()
        attempts = self._attempts(engine, request.args["keys"])
        if "output" in request.given:
            return {"done": len(engine.skip(attempts, request.args["output"]))}
        return {"done": len(engine.skip(attempts))}

    def _op_stop(self, request: Request) -> Any:
        engine = self._engine()
        return {"done": len(engine.stop_attempts(self._attempts(engine, request.args["keys"])))}

    def _op_retry(self, request: Request) -> Any:
        engine = self._engine()
        return {"done": len(engine.retry(self._attempts(engine, request.args["keys"])))}

    def _op_set_param(self, request: Request) -> Any:
        a = request.args
        engine = self._engine()
        [attempt] = self._attempts(engine, [a["key"]])
        value = a["value"]
        if isinstance(attempt.params.get(a["name"]), float) and type(value) is int:
            value = float(value)  # JSON has one kind of number: 2 for a float param means 2.0
        engine.set_param(attempt, a["name"], value)
        return ReadModel(engine).paused_view(attempt).to_json()

    def _op_set_output(self, request: Request) -> Any:
        a = request.args
        engine = self._engine()
        [attempt] = self._attempts(engine, [a["key"]])
        engine.set_output(attempt, a["value"])
        return ReadModel(engine).paused_view(attempt).to_json()


def _one_line(message: str) -> str:
    return " ".join(message.split())
