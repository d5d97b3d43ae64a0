"""Actions on paused attempts and breakpoints: resume, step, skip, stop, retry, fail, mutate, delete.

Mixed into Scheduler; every method runs on the driving thread (the Engine sends it there).
No action leaves a stale pause record: each releases the attempt's holds first.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import ParamError, StateError, UnknownNameError
from ..models.kinds import kind_of, same_kind
from ..models.status import StepStatus
from ..store.values import NotPersisted
from .breakpoints import Breakpoint
from .runtime import HOLD_KEPT, NO_HOLDS, Attempt, BoundParams, Instance, root_of

__all__ = ["PauseControls", "MISSING"]

S = StepStatus
MISSING: Any = object()


class PauseControls:
    def _require_paused(self, a: Attempt) -> None:
        if a.status is not S.PAUSED:
            raise StateError(f"{a.label} (attempt {a.number}) is not paused; it is {a.status.value}",
                             workflow=a.workflow, step=a.step_id)
        if a not in self.paused:
            raise StateError(f"{a.label} (attempt {a.number}) was released already",
                             workflow=a.workflow, step=a.step_id)

    def _release_hold(self, a: Attempt) -> None:
        for bp_id in a.paused_by:
            bp = self.breakpoints.by_id.get(bp_id)
            if bp is not None:
                bp.paused.discard(a)
        a.paused_by = NO_HOLDS
        a.instance.journal(a)  # stored as released: a crash before it runs does not pause it again
        self.paused.discard(a)
        if a.error is not None:
            a.error = a.error.forget_exception()  # debugging it is over: let its frames go
        self.wake(a.instance)

    def _require_resumable(self, a: Attempt) -> None:
        """Resume goes on from the pause point: there is nowhere to go on to after an error."""
        if a.pause_point == "error":
            raise StateError(
                f"{a.label} is paused at its error ({a.error.line if a.error else 'failed'}); "
                "fix the step and retry it, or let it fail, skip or stop it",
                workflow=a.workflow, step=a.step_id,
            )
        self._check_resumable(a)

    def resume(self, a: Attempt, step: bool = False) -> None:
        """Release one paused attempt; with `step`, pause again at its next downstream step."""
        self._require_paused(a)
        self._require_resumable(a)
        self._release_hold(a)
        self.event("resume", {"step": step}, attempt=a)
        if step:
            # The next step downstream; from the last step of a foreach body, the foreach's own.
            node, index = a.node, a.index
            while not node.frame.successors[node.step.id] and node.frame.parent is not None:
                node, index = node.frame.parent, None
            successors = frozenset(n.step.id for n in node.frame.successors[node.step.id])
            if successors:
                a.instance.step_traps.append((node.frame, successors, index))
        self._continue(a)

    def _check_resumable(self, a: Attempt) -> None:
        """Refuse to run with a value that a restart lost, rather than replace it silently. (An
        attempt paused at its error needs no value: released, it fails.)"""
        if a.pause_point == "error":
            return
        values = [("output", a.output)] if a.pause_point == "after" else [
            (f"param {name!r}", value) for name, value in a.params.items()
        ]
        for what, value in values:
            if isinstance(value, NotPersisted):
                fix = "set its output" if what == "output" else "set it (attempt.params[name] = value)"
                raise StateError(
                    f"{a.label}: {what} ({value.type_name}) was not persisted before the restart; "
                    f"{fix} or retry the attempt",
                    workflow=a.workflow, step=a.step_id,
                )

    def _continue(self, a: Attempt) -> None:
        """Queue a released attempt; the loop runs it when its foreach has a free slot."""
        self.wake(a.instance)
        a.node.released.append(a)
        self._dispatch(a.node)
        self._settle_queue[a.instance] = None

    def skip(self, a: Attempt, output: Any = MISSING) -> None:
        self._require_paused(a)
        self._release_hold(a)
        given = output is not MISSING
        a.output = output if given else None
        if given:
            self._check_storable(a, "output", output)
        self.event("skip", {"output": self.codec.encode(output) if given else None}, attempt=a)
        a.transition(S.SKIPPED)
        a.node.active += 1
        if given and not a.node.is_foreach:
            a.node.output_given = True
        self._finish_iteration(a, S.SKIPPED, a.output)
        self._settle_queue[a.instance] = None

    def stop_attempt(self, a: Attempt) -> None:
        self._require_paused(a)
        self._release_hold(a)
        self.event("stop", {}, attempt=a)
        a.node.active += 1
        a.transition(S.STOPPED)
        self._finish_iteration(a, S.STOPPED, None)
        self._settle_queue[a.instance] = None

    def retry(self, a: Attempt) -> None:
        """End a paused attempt and start a new one: it runs the step's current code, bound afresh
        but for the params the user changed, and is checked against breakpoints again."""
        self._require_paused(a)
        self._release_hold(a)
        failures = a.failures  # asked for by the user: no failure of the step
        if a.pause_point == "error":
            status = S.FATALLY_FAILED if a.paused_from is S.EVALUATING_PARAMS else S.USER_FAILED
            a.transition(status)  # it did fail
            failures += status is S.USER_FAILED
        else:
            a.transition(S.STOPPED)
        self.event("retry", {"attempt": a.number + 1}, attempt=a)
        nxt = Attempt(a.node, a.index, a.iteration, a.loop_params, a.number + 1, a.scope)
        nxt.failures = failures
        nxt.platform_failures = a.platform_failures
        if a.changed:
            nxt.changed = a.changed
            nxt.params = BoundParams({n: a.params[n] for n in a.changed if n in a.params})
        a.node.live[a.index] = nxt
        nxt.transition(S.INITIALIZED)
        a.node.released.append(nxt)  # it waits for a free slot, as a resumed attempt does
        self._dispatch(a.node)
        self._settle_queue[a.instance] = None

    # --- approval gates ----------------------------------------------------------------
    def gates(self, a: Attempt) -> list[Breakpoint]:
        """The gate breakpoints holding a paused attempt."""
        found = (self.breakpoints.by_id.get(bp_id) for bp_id in sorted(a.paused_by))
        return [bp for bp in found if bp is not None and bp.gate]

    def require_gate(self, a: Attempt, approve: bool) -> None:
        """Refuse a decision on an attempt that no gate holds (or that cannot go on, to approve)."""
        self._require_paused(a)
        if not self.gates(a):
            raise StateError(f"{a.label} is not waiting at a gate; resume or skip it instead "
                             "(a gate is set with %breakpoint WF.STEP --gate)", workflow=a.workflow, step=a.step_id)
        if approve:
            self._check_resumable(a)

    def decide(self, a: Attempt, approve: bool, comment: str | None) -> None:
        """Record a person's decision on a gated attempt, then resume it (approve) or skip it."""
        self.require_gate(a, approve)
        self.event("gate", {"decision": "approved" if approve else "rejected", "comment": comment,
                            "breakpoints": [bp.id for bp in self.gates(a)]}, attempt=a)
        if approve:
            self.resume(a)
        else:
            self.skip(a)

    def _require_error_pause(self, a: Attempt) -> None:
        self._require_paused(a)
        if a.pause_point != "error":
            raise StateError(f"{a.label} is paused {a.pause_point} its step, not at an error; "
                             "stop() ends it instead", workflow=a.workflow, step=a.step_id)

    def fail(self, a: Attempt) -> None:
        """Let an attempt paused at its error fail: its failure mode decides what follows."""
        self._require_error_pause(a)
        self._release_hold(a)
        self.event("fail", {}, attempt=a)
        a.node.active += 1
        self._let_fail(a)
        self._settle_queue[a.instance] = None

    def check_param(self, a: Attempt, name: str, value: Any, force: bool = False) -> None:
        """Refuse a change `set_param` would refuse, changing nothing."""
        self._require_paused(a)
        if a.pause_point == "after":
            raise StateError(f"{a.label} is paused after its step ran; its params are spent, change its output instead")
        if name not in a.params and not self._accepts(a, name):
            raise UnknownNameError("param", name, a.params, workflow=a.workflow)
        self._check_storable(a, f"param {name!r}", value)
        old = a.params.get(name, MISSING)
        if old is not MISSING and not force and not same_kind(old, value):
            raise ParamError(
                f"{a.label}: param {name!r} is {kind_of(old)}{_shown(old)}, not {kind_of(value)}; "
                f"give {kind_of(old)}, or force the change: set_param({name!r}, value, force=True)",
                workflow=a.workflow, step=a.step_id,
            )

    def set_param(self, a: Attempt, name: str, value: Any, force: bool = False) -> None:
        """Change a bound argument of a paused attempt; a change of kind (text for a number) needs `force`."""
        self.check_param(a, name, value, force)
        old = a.params.get(name, MISSING)
        dict.__setitem__(a.params, name, value)  # the one sanctioned change, recorded below
        a.changed = a.changed | {name}
        self.event("mutate", {"param": name, "old": None if old is MISSING else self.codec.encode(old),
                              "new": self.codec.encode(value)}, attempt=a)
        self.journal(a)
        self._pause_pending = True

    def set_output(self, a: Attempt, value: Any) -> None:
        self._require_paused(a)
        if a.pause_point == "error":
            raise StateError(f"{a.label} is paused at its error; it has no output: skip it with one "
                             "(skip(output=...)) or retry it")
        if a.pause_point != "after":
            raise StateError(f"{a.label} is paused before its step ran; it has no output yet, change its params")
        self._check_storable(a, "output", value)
        old = a.output
        a.output = value
        self.event("mutate", {"output": True, "old": self.codec.encode(old), "new": self.codec.encode(value)}, attempt=a)
        self.journal(a)
        self._pause_pending = True

    def _accepts(self, a: Attempt, name: str) -> bool:
        if a.node.step.kind != "run":
            return True
        fn = self.namespace.get(a.node.step.target)
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return True
        return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def _check_storable(self, a: Attempt, what: str, value: Any) -> None:
        if not self.codec.storable(value):
            raise ParamError(
                f"{a.label}: {what} cannot take a {type(value).__module__}.{type(value).__qualname__}: "
                "only JSON-native values and DataFrame/Arrow tables are stored "
                "(or open the engine with pickle_values=True)",
                workflow=a.workflow, step=a.step_id,
            )

    # --- breakpoints --------------------------------------------------------------------
    def add_breakpoint(self, bp: Breakpoint) -> None:
        self.breakpoints.add(bp)

    def delete_breakpoint(self, bp: Breakpoint, keep_paused: bool = False) -> list[Attempt]:
        """Remove `bp`; attempts it alone held resume, unless `keep_paused`."""
        self.breakpoints.remove(bp)
        released = []
        kept = False
        for a in sorted(bp.paused, key=_order):
            a.paused_by.discard(bp.id)
            if not a.paused_by:
                if keep_paused:
                    a.paused_by.add(HOLD_KEPT)
                else:
                    try:  # (one paused at its error needs no value: released, it fails)
                        self._check_resumable(a)
                    except StateError as exc:
                        a.paused_by.add(HOLD_KEPT)
                        self.event("resume_refused", {"reason": exc.message}, attempt=a)
            if a.paused_by:
                self.journal(a)  # stays paused: its stored paused_by must not name a deleted breakpoint
                kept = True
                continue
            # Released, and not written until it runs: stored as paused by a deleted breakpoint,
            # a crash before then releases it on recovery all the same.
            self.paused.discard(a)
            released.append(a)
        bp.paused.clear()
        for a in released:
            self.event("resume", {"breakpoint_deleted": bp.id}, attempt=a)
            self._continue(a)
        if kept:
            self._pause_pending = True  # what keeps them paused is on disk before they are shown
        return released

    def stop_instance(self, instance: Instance) -> None:
        """Stop an instance and its sub-workflows: nothing new starts, what waits ends STOPPED."""
        if instance.status.terminal:
            raise StateError(f"{instance.label} already ended {instance.status.value}", workflow=instance.workflow)
        self._stop_tree(instance)

    def _stop_tree(self, instance: Instance) -> None:
        instance.stopping = True
        self.wake(instance)
        for a in [a for a in self.ready if a.instance is instance]:
            self.ready.remove(a)
            a.transition(S.STOPPED)
            a.node.live.pop(a.index, None)
        self.event("stop_instance", {}, instance=instance)
        self._settle_queue[instance] = None
        for child in instance.children:
            if not child.status.terminal and not child.stopping:
                self._stop_tree(child)

    def interrupt(self) -> None:
        """The user interrupted the kernel: stop every instance that had work under way."""
        roots = {root_of(a.instance): None for a in self.ready}
        roots.update((root_of(i), None) for i in self.instances.values()
                     if not i.status.terminal and self._has_inflight(i, children=False))
        for root in roots:
            if not root.status.terminal and not root.stopping:
                self.event("interrupt", {}, instance=root)
                self._stop_tree(root)


def _shown(value: Any) -> str:
    """` (value)` for a scalar, cut to fit a one-line message; nothing for other values."""
    if not isinstance(value, (str, bytes, int, float, bool)):
        return ""
    text = repr(value)
    return f" ({text if len(text) <= 40 else text[:37] + '...'})"


def _order(a: Attempt) -> tuple:
    return (a.instance.workflow, a.instance.instance_id, a.node.step.id, a.index if a.index is not None else -1)
