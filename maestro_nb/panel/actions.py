"""What the panel's buttons do: Engine actions (or, in a notebook, the kernel's own paths, so
breakpoint variables are bound and dropped as the magics do), each wrapped so that a mistake
shows as one line in the panel's message line and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import MaestroError, ParamError

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..engine.runtime import Attempt

__all__ = ["Actions", "one_line_error", "parse_json"]


def one_line_error(exc: BaseException) -> str:
    """An error as the magics would show it: the project's own message, else `Type: message`."""
    from IPython.core.error import UsageError

    if isinstance(exc, MaestroError):
        text = exc.message
    elif isinstance(exc, UsageError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split("\n")[0].split()) or type(exc).__name__


def parse_json(name: str, text: str) -> Any:
    """A value typed in a JSON field; a mistake is a one-line ParamError naming the field."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ParamError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                         'write a list as [1, 2], a dict as {"k": 1}, text in double quotes') from None


class Actions:
    """Engine actions for the panel. `session` (a notebook's KernelSession) routes breakpoints
    through the magics' own functions, so their variables (`bp_fit`) come and go as with
    `%breakpoint`."""

    def __init__(self, engine: Engine, session: Any = None):
        self.engine = engine
        self.session = session

    # --- paused attempts ------------------------------------------------------------------
    def act(self, verb: str, attempts: Iterable[Attempt], comment: str | None = None) -> str:
        """Resume, step, skip, stop, retry, fail, approve or reject; returns what happened, in words."""
        items = list(attempts)
        engine = self.engine
        calls: dict[str, Callable[[], Any]] = {
            "resume": lambda: engine.resume(items), "step": lambda: engine.resume(items, step=True),
            "skip": lambda: engine.skip(items), "stop": lambda: engine.stop_attempts(items),
            "retry": lambda: engine.retry(items), "fail": lambda: engine.fail(items),
            "approve": lambda: engine.approve(items, comment or None),
            "reject": lambda: engine.reject(items, comment or None),
        }
        if verb not in calls:
            raise ParamError(f"unknown action {verb!r}; one of: {', '.join(calls)}")
        calls[verb]()
        done = {"step": "stepped", "stop": "stopped", "skip": "skipped", "retry": "retried", "fail": "failed",
                "approve": "approved", "reject": "rejected"}.get(verb, verb + "d")
        what = items[0].label if len(items) == 1 else f"{len(items)} attempts"
        return f"{done} {what}"

    def call(self, attempt: Attempt) -> str:
        """Call the step's current function with the attempt's params (recording nothing); its
        value, shortly. The step's own exception is the panel's one-line error."""
        from ..readmodel import short

        return f"{attempt.label} returned {short(self.engine.call(attempt))} (nothing recorded)"

    # --- instances -------------------------------------------------------------------------
    def stop(self, workflow: str, instance_id: int) -> str:
        instance = self.engine.stop(workflow, instance_id)
        return f"stopped {instance.label}"

    def restart(self, workflow: str, instance_id: int, from_step: str | None, iteration: str | None) -> str:
        instance = self.engine.restart(workflow, instance_id, from_step=from_step, iteration=iteration)
        where = f" from {from_step}" + (f"[{iteration}]" if iteration else "") if from_step else ""
        return f"restarted {instance.label}{where}: run {instance.run_id}"

    def set_params(self, attempt: Attempt, values: Mapping[str, Any]) -> str:
        """Change bound arguments, each checked exactly as `a.params[name] = value` checks it."""
        self.engine.set_params(attempt, values)
        names = ", ".join(values)
        return f"{attempt.label}: set {names}"

    # --- breakpoints ----------------------------------------------------------------------
    def add_breakpoint(self, workflow: str, step: str | None, pause: str, when: str | None,
                       gate: bool) -> str:
        when = when.strip() if when else None
        if self.session is not None:
            from ..magics import breakpoints

            shown = breakpoints.set_breakpoint(self.session, workflow, step, when=when or None, pause=pause,
                                               gate=gate)
            return " ".join(shown.plain().split("\n")[0].split())
        target = workflow if step is None else f"{workflow}.{step}"
        bp = self.engine.set_breakpoint(target, when=when or None, pause=pause, gate=gate)
        return f"breakpoint {bp.id} on {bp.target}: {bp.pause_point}{', gate' if bp.gate else ''}"

    def delete_breakpoint(self, bp_id: int) -> str:
        if self.session is not None:
            from ..magics import breakpoints

            shown = breakpoints.delete_breakpoint(self.session, str(bp_id))
            return " ".join(shown.plain().split("\n")[0].split())
        released = self.engine.delete_breakpoint(bp_id)
        return f"deleted breakpoint {bp_id}; resumed {len(released)} attempt{'s' if len(released) != 1 else ''}"
