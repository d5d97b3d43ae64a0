"""Paused state as kernel variables: the live `paused` collection and its attempts.

`PausedAttempts` is live: every access asks the engine what is paused now, so `paused` and
the per-breakpoint variables (`bp_train`) never go stale. Errors are one-line UsageErrors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, overload

from IPython.core.error import UsageError

from ..engine.runtime import HOLD_KEPT, HOLD_STEP
from ..engine.scheduler import MISSING
from ..errors import nearest
from .display import Table, Views, _esc, loop_text, short
from .usage import usage_errors

if TYPE_CHECKING:
    from ..engine.runtime import Attempt
    from ..models.failure import Failure
    from .kernel import KernelSession

__all__ = ["PausedAttempt", "PausedAttempts", "AttemptParams", "attempt_order"]

SHOWN = 20  # rows a collection shows before "... and N more"


def attempt_order(a: Attempt) -> tuple:
    """Paused attempts in a stable order: workflow, instance, step as defined, iteration."""
    inst = a.instance
    steps = inst.definition.step_ids
    position = steps.index(a.step_id) if a.step_id in steps else len(steps)
    iteration = tuple(int(p) for p in a.iteration.split("/") if p.isdigit())
    return (inst.workflow, inst.instance_id, inst.run_id, position, iteration, a.number)


def holders(session: KernelSession, a: Attempt) -> list[str]:
    """What holds an attempt paused, by variable name when the breakpoint has one."""
    found = []
    by_id = session.engine.breakpoint_index.by_id
    for bp_id in sorted(a.paused_by):
        if bp_id == HOLD_STEP:
            found.append("stepped")
        elif bp_id == HOLD_KEPT:
            found.append("kept paused")
        else:
            bp = by_id.get(bp_id)
            found.append(bp.name if bp is not None and bp.name else f"breakpoint {bp_id}")
    return found


def describe(session: KernelSession, a: Attempt) -> str:
    """One line: identity, attempt number, pause point, loop params, what holds it (and, at an
    error pause, the error)."""
    text = f"{a.label}  attempt {a.number}  {a.pause_point or a.status.value}"
    if a.loop_params:
        text += f"  {loop_text(a.loop_params)}"
    held = holders(session, a)
    text += f"  ({', '.join(held)})" if held else ""
    return text + (f"  {a.error.line}" if a.pause_point == "error" and a.error is not None else "")


class AttemptParams(MutableMapping):
    """A paused attempt's bound arguments; assigning one routes to `Engine.set_param`."""

    def __init__(self, session: KernelSession, attempt: Attempt):
        self._session = session
        self._attempt = attempt

    def __getitem__(self, name: str) -> Any:
        try:
            return self._attempt.params[name]
        except KeyError:
            hint = nearest(str(name), self._attempt.params)
            raise KeyError(f"{name!r}" + (f" (did you mean {hint!r}?)" if hint else "")) from None

    def __setitem__(self, name: str, value: Any) -> None:
        with usage_errors():
            self._session.engine.set_param(self._attempt, name, value)

    def __delitem__(self, name: str) -> None:
        raise UsageError(f"{self._attempt.label}: a bound argument cannot be removed; assign another value")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._attempt.params))

    def __len__(self) -> int:
        return len(self._attempt.params)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {short(v)}" for k, v in self._attempt.params.items()) + "}"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


class _PauseActions:
    """resume/skip/stop/retry for one paused attempt or a collection of them (`_targets`)."""

    _session: KernelSession

    def _targets(self) -> list[Attempt]:
        raise NotImplementedError

    def _act(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from .reports import after_action

        attempts = self._targets()
        with usage_errors():
            action(attempts, *args, **kwargs)
            return after_action(self._session, attempts)

    def resume(self) -> Any:
        """Let these attempts go on (others stay paused) and run until quiescent."""
        return self._act(self._session.engine.resume)

    def skip(self, output: Any = MISSING) -> Any:
        """End these attempts SKIPPED; with `output`, successors see it as the step's output."""
        return self._act(self._session.engine.skip, output)

    def stop(self) -> Any:
        """End these attempts STOPPED; their successors do not run."""
        return self._act(self._session.engine.stop_attempts)

    def retry(self) -> Any:
        """Replace these attempts by new ones: the step's current code, bound afresh but for the
        params you changed, checked against breakpoints again."""
        return self._act(self._session.engine.retry)

    def fail(self) -> Any:
        """Let these attempts, paused at their error, fail as their failure mode says."""
        return self._act(self._session.engine.fail)

    def approve(self, comment: str | None = None) -> Any:
        """At an approval gate: record the approval (and `comment`) in the timeline, then go on."""
        return self._act(self._session.engine.approve, comment)

    def reject(self, comment: str | None = None) -> Any:
        """At an approval gate: record the rejection (and `comment`) in the timeline; they end SKIPPED."""
        return self._act(self._session.engine.reject, comment)


class PausedAttempt(_PauseActions):
    """One paused attempt: its identity, `params`, `output`, and the actions on it."""

    def __init__(self, session: KernelSession, attempt: Attempt):
        self._session = session
        self.attempt_object = attempt

    # identity
    @property
    def workflow(self) -> str:
        return self.attempt_object.instance.workflow

    @property
    def instance_id(self) -> int:
        return self.attempt_object.instance.instance_id

    @property
    def run_id(self) -> int:
        return self.attempt_object.instance.run_id

    @property
    def step_id(self) -> str:
        return self.attempt_object.step_id

    @property
    def iteration(self) -> str:
        return self.attempt_object.iteration

    @property
    def attempt(self) -> int:
        """The attempt number (1 for the first try, 2 after one retry...)."""
        return self.attempt_object.number

    @property
    def pause_point(self) -> str | None:
        return self.attempt_object.pause_point

    @property
    def loop_params(self) -> dict[str, Any]:
        return dict(self.attempt_object.loop_params)

    @property
    def status(self) -> str:
        return self.attempt_object.status.value

    @property
    def label(self) -> str:
        return self.attempt_object.label

    @property
    def error(self) -> Failure | None:
        """Why it failed, at an error pause: `.type`, `.message`, `.traceback` (and `.exception`,
        the live exception, until the kernel restarts)."""
        return self.attempt_object.error

    # state
    @property
    def params(self) -> AttemptParams:
        """The bound arguments; `a.params['lr'] = 0.2` changes one (at a `before` pause)."""
        return AttemptParams(self._session, self.attempt_object)

    @params.setter
    def params(self, values: dict[str, Any]) -> None:
        for name, value in dict(values).items():
            self.params[name] = value

    def set_param(self, name: str, value: Any, *, force: bool = False) -> None:
        """`a.params[name] = value`, or with `force=True`, a value of another kind (text for a number)."""
        with usage_errors():
            self._session.engine.set_param(self.attempt_object, name, value, force=force)

    def call(self) -> Any:
        """Call the step's current function with these params and return its value; nothing is
        recorded (the attempt stays paused as it is). The step's own errors are raised as they are."""
        with usage_errors():
            fn_and_params = self._session.engine.call_target(self.attempt_object)
        fn, params = fn_and_params
        return fn(**params)

    def debug(self) -> Any:
        """IPython's post-mortem debugger on the live traceback; without one (after a restart), the
        step's current function run under the debugger with these params."""
        with usage_errors():
            self._session.engine.call_target(self.attempt_object)  # fail first, in one line, if it cannot run
        return self._session.engine.debug(self.attempt_object, self._session.shell.debugger_cls)

    @property
    def output(self) -> Any:
        """The step's output at an `after` pause (None before the step ran); settable then."""
        return self.attempt_object.output

    @output.setter
    def output(self, value: Any) -> None:
        with usage_errors():
            self._session.engine.set_output(self.attempt_object, value)

    def _targets(self) -> list[Attempt]:
        return [self.attempt_object]

    def step(self) -> Any:
        """Resume, and pause again at the next downstream step."""
        return self._act(self._session.engine.resume, step=True)

    # display
    def _lines(self) -> list[str]:
        a = self.attempt_object
        lines = [f"{a.label}  attempt {a.number}  {a.status.value.lower()} {a.pause_point or ''}".rstrip()]
        held = holders(self._session, a) if a.status.value == "PAUSED" else []
        if held:
            lines[0] += f"  ({', '.join(held)})"
        if a.loop_params:
            lines.append(f"  loop params: {loop_text(a.loop_params)}")
        lines.append(f"  params: {repr(self.params)[1:-1]}")
        if a.pause_point == "after":
            lines.append(f"  output: {short(a.output)}")
        if a.error:
            lines.append(f"  error: {a.error.line}")
        if a.pause_point == "error":
            lines.append("  fix the step, then .retry(); .call() tries it by hand, .debug() opens the debugger, "
                         ".fail() lets it fail")
        elif a.status.value == "PAUSED" and self._session.engine.scheduler.gates(a):
            lines.append('  waiting at a gate: .approve("comment") lets it go on, .reject("comment") skips it')
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        lines = self._lines()
        body = "".join(f"<div>{_esc(line.strip())}</div>" for line in lines[1:])
        return f"<div><b>{_esc(lines[0])}</b>{body}</div>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PausedAttempt) and other.attempt_object is self.attempt_object

    def __hash__(self) -> int:
        return id(self.attempt_object)


class PausedAttempts(_PauseActions, Sequence):
    """A live, filterable collection of paused attempts (all of them, or one breakpoint's)."""

    def __init__(self, session: KernelSession, *, title: str, breakpoint: int | None = None,
                 filters: dict[str, Any] | None = None, members: list[Attempt] | None = None):
        self._session = session
        self._title = title
        self._breakpoint = breakpoint
        self._filters = dict(filters or {})
        self._members = members

    def _select(self) -> Iterator[Attempt]:
        """The attempts in display order, found through the engine's index of paused attempts."""
        if self._members is not None:
            return (a for a in self._members if a.status.value == "PAUSED")
        filters = dict(self._filters)
        index = self._session.engine.scheduler.paused
        found = index.select(filters.pop("workflow", None), filters.pop("instance", None), filters.pop("step", None),
                             filters.pop("iteration", None), filters)
        if self._breakpoint is not None:
            bp = self._breakpoint
            found = (a for a in found if bp in a.paused_by)
        return found

    def _attempts(self) -> list[Attempt]:
        if self._whole_steps():
            filters = self._filters
            return self._session.engine.scheduler.paused.listed(
                filters.get("workflow"), filters.get("instance"), filters.get("step"))
        return list(self._select())

    def _whole_steps(self) -> bool:
        """Whether these are every paused attempt of some steps (filtered by workflow, instance
        or step only): the index then counts, lists and indexes them a step at a time."""
        return self._members is None and self._breakpoint is None and not (
            set(self._filters) - {"workflow", "instance", "step"})

    def _nth(self, position: int) -> Attempt | None:
        """The attempt at `position`, without walking the ones before it when the index can."""
        if self._whole_steps():
            filters = self._filters
            return self._session.engine.scheduler.paused.nth(
                position, filters.get("workflow"), filters.get("instance"), filters.get("step"))
        return next(islice(self._select(), position, None), None)

    def __len__(self) -> int:
        if self._members is None and self._breakpoint is None:
            filters = dict(self._filters)
            return self._session.engine.scheduler.paused.count_matching(
                filters.pop("workflow", None), filters.pop("instance", None), filters.pop("step", None),
                filters.pop("iteration", None), filters)
        return sum(1 for _ in self._select())

    @overload
    def __getitem__(self, index: int) -> PausedAttempt: ...

    @overload
    def __getitem__(self, index: slice) -> PausedAttempts: ...

    def __getitem__(self, index: int | slice) -> PausedAttempt | PausedAttempts:
        if isinstance(index, slice):
            return PausedAttempts(self._session, title=f"{self._title}[{index.start or ''}:{index.stop or ''}]",
                                  members=self._attempts()[index])
        if isinstance(index, int) and index >= 0:
            found = self._nth(index)
            if found is not None:
                return PausedAttempt(self._session, found)
            raise IndexError(f"{self._title}[{index}]: there are {len(self)} paused attempts")
        attempts = self._attempts()
        try:
            return PausedAttempt(self._session, attempts[index])
        except IndexError:
            raise IndexError(f"{self._title}[{index}]: there are {len(attempts)} paused attempts") from None

    def __iter__(self) -> Iterator[PausedAttempt]:
        return (PausedAttempt(self._session, a) for a in self._select())

    def __bool__(self) -> bool:
        return next(self._select(), None) is not None

    def _loop_param_names(self) -> set[str]:
        """The loop param names of these attempts (of every paused attempt, for `paused` itself)."""
        if self._members is None and self._breakpoint is None and not self._filters:
            return self._session.engine.scheduler.paused.loop_param_names()
        return {name for a in self._select() for name in a.loop_params}

    def where(self, step: str | None = None, instance: int | None = None, workflow: str | None = None,
              iteration: int | str | None = None, **loop_params: Any) -> PausedAttempts:
        """The attempts of one step (`train` or `tune.train`), instance, iteration or loop params."""
        filters = dict(self._filters)
        if step is not None and "." in step:
            workflow, _, step = step.partition(".")
        for key, value in (("step", step), ("instance", instance), ("workflow", workflow),
                           ("iteration", iteration)):
            if value is not None:
                filters[key] = value
        if loop_params:
            known = self._loop_param_names()
            for name in loop_params:
                if name not in known and self:
                    hint = nearest(name, known)
                    raise UsageError(f"no paused attempt has a loop param {name!r}"
                                     + (f"; did you mean {hint!r}?" if hint
                                        else f"; they have: {', '.join(sorted(known))}"))
        filters.update(loop_params)
        shown = ", ".join(f"{k}={v!r}" for k, v in {**filters}.items())
        if self._members is not None:
            keep = set(PausedAttempts(self._session, title="", filters=filters)._select())
            return PausedAttempts(self._session, title=f"{self._title} where {shown}",
                                  members=[a for a in self._members if a in keep])
        return PausedAttempts(self._session, title=f"{self._title} where {shown}",
                              breakpoint=self._breakpoint, filters=filters)

    def _targets(self) -> list[Attempt]:
        return self._attempts()

    # display
    def _table(self) -> Table:
        shown = list(islice(self._select(), SHOWN + 1))
        total = len(self) if len(shown) > SHOWN else len(shown)
        shown = shown[:SHOWN]
        rows = []
        errors = any(a.pause_point == "error" for a in shown)  # a column only when there is one to show
        for i, a in enumerate(shown):
            row = [f"[{i}]", a.label, a.number, a.pause_point or "", loop_text(a.loop_params),
                   ", ".join(holders(self._session, a))]
            if errors:
                row.append(a.error.line if a.pause_point == "error" and a.error is not None else "")
            rows.append(row)
        footer = [f"  ... and {total - SHOWN} more"] if total > SHOWN else []
        count = f": {total} paused attempt{'s' if total != 1 else ''}" if total else ""
        columns = ("", "where", "attempt", "pause", "loop params", "held by") + (("error",) if errors else ())
        return Table(f"{self._title}{count}", columns, rows, empty="nothing is paused", footer=footer)

    def __repr__(self) -> str:
        return self._table().plain()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        return self._table().html()


def many(parts: list[Any]) -> Any:
    return parts[0] if len(parts) == 1 else Views(parts)
