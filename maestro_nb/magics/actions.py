"""`%resume` and `%skip`: pick paused attempts by step, instance, iteration or loop params."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from ..engine.scheduler import MISSING
from .reports import after_action
from .variables import PausedAttempts

if TYPE_CHECKING:
    from ..engine.runtime import Attempt
    from .kernel import KernelSession

__all__ = ["select", "resume", "skip"]


def select(session: KernelSession, workflow: str | None, step: str | None, *, instance: int | None = None,
           iteration: str | None = None, loop_params: dict[str, Any] | None = None,
           every: bool = False) -> list[Attempt]:
    """The paused attempts a selector names; more than one needs `every` (--all)."""
    engine = session.engine
    if workflow is not None:
        definition = engine.definition(workflow)
        if step is not None:
            definition.step(step)
    collection = PausedAttempts(session, title="paused")
    if not len(collection):
        raise UsageError("nothing is paused; %breakpoint WF.STEP sets a breakpoint, and %workflow run starts one")
    filters: dict[str, Any] = dict(loop_params or {})
    chosen = collection.where(step=step, workflow=workflow, instance=instance, iteration=iteration, **filters)
    attempts = chosen._attempts()
    described = " ".join(p for p in (
        f"{workflow}.{step}" if step else workflow,
        f"--instance {instance}" if instance is not None else None,
        f"--iteration {iteration}" if iteration is not None else None,
        " ".join(f"{k}={v!r}" for k, v in filters.items()) or None) if p)
    if not attempts:
        raise UsageError(f"nothing paused matches {described}; {len(collection)} paused attempts are in "
                         f"`{session.paused_variable()}`")
    if len(attempts) > 1 and not every:
        raise UsageError(f"{len(attempts)} paused attempts match{' ' + described if described else ''}; "
                         "narrow with --instance N, --iteration K or name=value, or act on all with --all")
    return attempts


def resume(session: KernelSession, attempts: list[Attempt], *, step: bool = False) -> Any:
    """Resume the attempts (each alone) and run until quiescent; with `step`, pause at the next step."""
    session.engine.resume(attempts, step=step)
    return after_action(session, attempts)


def skip(session: KernelSession, attempts: list[Attempt], output: Any = MISSING) -> Any:
    """End the attempts SKIPPED; with `output`, successors see it as the step's output."""
    session.engine.skip(attempts, output)
    return after_action(session, attempts)
