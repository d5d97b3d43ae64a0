"""A paused attempt's step run by hand: called, or debugged. Nothing here is recorded.

The step's function is looked up by name now, so a function redefined in the notebook is the
one called. Its params are the attempt's (as the user changed them); an attempt that paused
because its arguments could not be bound is bound afresh, with the params the user set.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import StateError
from ..models.failure import Failure
from ..models.status import StepStatus
from ..store.values import NotPersisted

if TYPE_CHECKING:
    from .runtime import Attempt
    from .scheduler import Scheduler

__all__ = ["target", "debug"]


def target(scheduler: Scheduler, a: Attempt) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The step's current function and the keyword arguments to call it with."""
    step = a.node.step
    if step.kind != "run":
        raise StateError(f"{a.label}: a {step.kind} step has no function to call; call() and debug() "
                         "are for run: steps", workflow=a.workflow, step=a.step_id)
    fn = scheduler.namespace.get(step.target)
    if not callable(fn):
        raise StateError(f"{a.label}: {step.target!r} is not defined in the kernel namespace; define it first",
                         workflow=a.workflow, step=a.step_id)
    if a.paused_from is StepStatus.EVALUATING_PARAMS:  # it never had its arguments: bind them now
        given = {n: a.params[n] for n in a.changed if n in a.params}
        params = scheduler.binder.bind_call(step, fn, a.scope, a.loop_params, a.instance.upstream(step.id),
                                            a.instance.all_steps, absent=a.node.frame.absent, given=given)
    else:
        params = dict(a.params)
    for name, value in params.items():
        if isinstance(value, NotPersisted):
            raise StateError(f"{a.label}: param {name!r} ({value.type_name}) was not persisted before the "
                             "restart; set it (attempt.params[name] = value) or retry the attempt",
                             workflow=a.workflow, step=a.step_id)
    return fn, params


def debug(scheduler: Scheduler, a: Attempt, debugger: Callable[[], Any] | None = None) -> Any:
    """Post-mortem on the live traceback, or the step's current function run under the debugger
    (and, should it raise, post-mortem where it did). Returns what the function returned."""
    if debugger is None:
        import pdb

        debugger = pdb.Pdb
    error = a.error.exception if a.error is not None else None
    if error is not None and error.__traceback__ is not None:
        _post_mortem(debugger(), error)
        return None
    fn, params = target(scheduler, a)
    try:
        return debugger().runcall(fn, **params)
    except Exception as exc:  # it failed again: show where
        _post_mortem(debugger(), exc)
        return None


def _post_mortem(pdb: Any, error: BaseException) -> None:
    """Debug at the frame that raised, saying what it raised; the stack shown starts at the
    user's code, not the engine's."""
    tb: TracebackType | None = error.__traceback__
    while tb is not None and tb.tb_next is not None and \
            str(tb.tb_frame.f_globals.get("__name__", "")).startswith("maestro_nb."):
        tb = tb.tb_next
    pdb.reset()
    pdb.message(Failure.from_exception(error).line)
    pdb.interaction(None, tb)
