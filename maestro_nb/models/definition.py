"""Immutable workflow definitions: steps, foreach loops, retry and failure policies."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

import networkx as nx

from ..errors import ExpressionError, UnknownNameError
from .expressions import Expression

__all__ = [
    "FailureMode",
    "RetryPolicy",
    "Foreach",
    "StepDefinition",
    "WorkflowDefinition",
    "STEP_KINDS",
]

STEP_KINDS = ("run", "sql", "noop", "sleep", "workflow", "steps")


class FailureMode(str, Enum):
    """What a failed step does to the rest of its instance (Maestro's failure modes).

    The default is FAIL_AFTER_RUNNING, as in Maestro (Defaults.DEFAULT_FAILURE_MODE): in a sweep,
    one failing iteration lets every other iteration run, and their breakpoints fire.
    """

    FAIL_IMMEDIATELY = "fail_immediately"  # nothing new starts; what waits ends STOPPED
    IGNORE = "ignore"  # the step ends COMPLETED_WITH_ERROR and its successors run
    FAIL_AFTER_RUNNING = "fail_after_running"  # the step's other iterations and branches finish, then fail


@dataclass(frozen=True)
class RetryPolicy:
    """How many extra attempts a USER_FAILED attempt gets, and the pause between them; and,
    counted apart (Maestro's platform retries), how many a PLATFORM_FAILED one gets, at once."""

    limit: int = 0
    backoff: float = 0.0
    platform_limit: int = 10


@dataclass(frozen=True)
class Foreach:
    """A fan-out: the cross product of `loops` (name -> values), or explicit `items`.

    Values are lists, or Expressions evaluated when the step starts (they may read outer
    loop params, workflow params and upstream outputs).
    """

    loops: tuple[tuple[str, Any], ...] = ()
    items: Any = None  # a tuple of dicts, or an Expression giving a list of dicts
    concurrency: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The loop param names, when known before the step starts (not for an items expression)."""
        if self.loops:
            return tuple(name for name, _ in self.loops)
        if isinstance(self.items, tuple):
            keys: dict[str, None] = {}
            for item in self.items:
                keys.update(dict.fromkeys(item))
            return tuple(keys)
        return ()

    def expand(self, scope: Mapping[str, Any]) -> IterationSpace:
        """Resolve every loop's values against `scope` into an indexable iteration space."""
        if self.loops:
            axes = []
            for name, values in self.loops:
                if isinstance(values, Expression):
                    source, values = values, values.evaluate(scope)
                    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
                        raise ExpressionError(
                            f"loop param {name!r}: {source!r} gave a {type(values).__name__}, "
                            "not a list of values"
                        )
                if not isinstance(values, (list, tuple, range)):
                    values = list(values)
                axes.append((name, values))
            return IterationSpace(tuple(axes), None)
        items = self.items
        if isinstance(items, Expression):
            source = items
            items = items.evaluate(scope)
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
                raise ExpressionError(f"foreach {source!r} gave a {type(items).__name__}, not a list of dicts")
            items = list(items)
            for position, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise ExpressionError(
                        f"foreach {source!r}: item #{position + 1} is a {type(item).__name__}, "
                        "not a dict of loop params"
                    )
        return IterationSpace((), tuple(dict(item) for item in items))


@dataclass(frozen=True)
class IterationSpace:
    """Iterations of one foreach, decoded from an index in mixed radix (never materialized)."""

    axes: tuple[tuple[str, Any], ...]
    items: tuple[dict[str, Any], ...] | None
    size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        size = len(self.items) if self.items is not None else math.prod(len(values) for _, values in self.axes)
        object.__setattr__(self, "size", size)  # computed once: loop_params checks it per iteration

    def __len__(self) -> int:
        """The number of iterations."""
        return self.size

    def loop_params(self, index: int) -> dict[str, Any]:
        """The loop params of iteration `index` (0-based; the first loop is the outermost)."""
        if not 0 <= index < self.size:
            raise IndexError(f"iteration index {index} is out of range for {len(self)} iterations")
        if self.items is not None:
            return dict(self.items[index])
        params: dict[str, Any] = {}
        for name, values in reversed(self.axes):
            index, digit = divmod(index, len(values))
            params[name] = values[digit]
        return {name: params[name] for name, _ in self.axes}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.items is not None:
            return (dict(item) for item in self.items)
        names = [name for name, _ in self.axes]
        return (dict(zip(names, combo)) for combo in itertools.product(*(v for _, v in self.axes)))


@dataclass(frozen=True)
class StepDefinition:
    """One step: its kind and target, its dependencies, and its policies."""

    id: str
    kind: str  # one of STEP_KINDS
    target: Any = None  # callable name, SQL text, seconds, or sub-workflow name
    after: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)  # values or Expressions
    condition: Expression | None = None
    foreach: Foreach | None = None
    body: tuple[StepDefinition, ...] = ()  # the steps of each iteration, for kind "steps"
    retry: RetryPolicy = RetryPolicy()
    failure_mode: FailureMode = FailureMode.FAIL_AFTER_RUNNING
    description: str = ""
    line: int | None = None

    @property
    def label(self) -> str:
        """A short description of what the step runs, for displays."""
        if self.kind == "run":
            text = f"run {self.target}"
        elif self.kind == "sql":
            text = "sql"
        elif self.kind == "sleep":
            text = f"sleep {self.target}"
        elif self.kind == "workflow":
            text = f"workflow {self.target}"
        elif self.kind == "steps":
            text = f"{len(self.body)} steps"
        else:
            text = "noop"
        if self.foreach is not None:
            text = f"foreach {', '.join(self.foreach.names) or 'items'}: {text}"
        return text


@dataclass(frozen=True)
class WorkflowDefinition:
    """A parsed, validated workflow definition; `digest` identifies its version's content."""

    name: str
    steps: tuple[StepDefinition, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    failure_mode: FailureMode = FailureMode.FAIL_AFTER_RUNNING
    source: str = ""
    digest: str = ""
    _index: Mapping[str, StepDefinition] = field(default_factory=dict, compare=False, repr=False)
    _parents: Mapping[str, str | None] = field(default_factory=dict, compare=False, repr=False)
    _positions: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, StepDefinition] = {}
        parents: dict[str, str | None] = {}

        def visit(steps: tuple[StepDefinition, ...], parent: str | None) -> None:
            for step in steps:
                index[step.id] = step
                parents[step.id] = parent
                visit(step.body, step.id)

        visit(self.steps, None)
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(self, "_parents", MappingProxyType(parents))
        object.__setattr__(self, "_positions", MappingProxyType({sid: n for n, sid in enumerate(index)}))

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Every step id, nested ones included, in definition order."""
        return tuple(self._index)

    def step(self, step_id: str) -> StepDefinition:
        """The step `step_id`, at any nesting level; UnknownNameError if there is none."""
        try:
            return self._index[step_id]
        except KeyError:
            raise UnknownNameError("step", step_id, self._index, workflow=self.name) from None

    def position(self, step_id: str) -> int:
        """Where `step_id` comes in `step_ids` (definition order, nested steps included)."""
        self.step(step_id)
        return self._positions[step_id]

    def parent(self, step_id: str) -> str | None:
        """The foreach step whose body holds `step_id`, or None at the top level."""
        self.step(step_id)
        return self._parents[step_id]

    def enclosing(self, step_id: str) -> tuple[str, ...]:
        """The foreach steps around `step_id`, outermost first, `step_id` itself excluded."""
        chain = []
        parent = self.parent(step_id)
        while parent is not None:
            chain.append(parent)
            parent = self._parents[parent]
        return tuple(reversed(chain))

    def siblings(self, step_id: str | None) -> tuple[StepDefinition, ...]:
        """The steps of the DAG at the level below `step_id` (None: the top level)."""
        return self.steps if step_id is None else self.step(step_id).body

    def graph(self, parent: str | None = None) -> nx.DiGraph:
        """The DAG of one level (top level, or the body of foreach step `parent`)."""
        dag = nx.DiGraph()
        for step in self.siblings(parent):
            dag.add_node(step.id)
            for upstream in step.after:
                dag.add_edge(upstream, step.id)
        return dag
