"""Immutable workflow definitions: steps, foreach loops, retry and failure policies."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from ..errors import ExpressionError, UnknownNameError
from .expressions import Expression
from .graph import DiGraph

__all__ = [
    "FailureMode",
    "RetryPolicy",
    "Foreach",
    "StepDefinition",
    "WorkflowDefinition",
    "UpstreamSteps",
    "STEP_KINDS",
    "MAX_ITERATIONS",
    "MAX_ITERATIONS_CEILING",
]

STEP_KINDS = ("run", "sql", "noop", "sleep", "workflow", "steps")
MAX_ITERATIONS = 2_000_000  # iterations per foreach unless its step says `max_iterations: N`
MAX_ITERATIONS_CEILING = 100_000_000  # the most `max_iterations` may say: about 1 GB of bookkeeping


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
    max_iterations: int = MAX_ITERATIONS

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
        """Resolve every loop's values against `scope` into an indexable iteration space; more
        than `max_iterations` iterations fail here, before any is created."""
        if self.loops:
            axes = []
            size = 1
            for name, values in self.loops:
                if isinstance(values, Expression):
                    source, values = values, values.evaluate(scope)
                    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
                        raise ExpressionError(
                            f"loop param {name!r}: {source!r} gave a {type(values).__name__}, "
                            "not a list of values"
                        )
                if not isinstance(values, (list, tuple, range)):
                    values = self._take(values)
                size *= _length(values)
                self.check_size(size)  # at every axis: a product is never computed in full
                axes.append((name, values))
            return IterationSpace(tuple(axes), None)
        items = self.items
        if isinstance(items, Expression):
            source = items
            items = items.evaluate(scope)
            if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
                raise ExpressionError(f"foreach {source!r} gave a {type(items).__name__}, not a list of dicts")
            items = self._take(items)
            self.check_size(len(items))
            for position, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise ExpressionError(
                        f"foreach {source!r}: item #{position + 1} is a {type(item).__name__}, "
                        "not a dict of loop params"
                    )
                for key in item:
                    if not isinstance(key, str):
                        raise ExpressionError(
                            f"foreach {source!r}: item #{position + 1} has the key {key!r}; "
                            "loop param names are text"
                        )
        return IterationSpace((), tuple(dict(item) for item in items))


    def _take(self, values: Iterable[Any]) -> list[Any]:
        """The values of an iterator, but never more than the limit allows."""
        taken = list(itertools.islice(values, self.max_iterations + 1))
        self.check_size(len(taken), exact=False)
        return taken

    def check_size(self, size: int, exact: bool = True) -> None:
        if size > self.max_iterations:
            count = f"{size:,} iterations" if exact else f"more than {self.max_iterations:,} iterations"
            raise ExpressionError(
                f"{count} exceed the limit of {self.max_iterations:,} per foreach "
                "(raise it with max_iterations: N on the step)"
            )


def _length(values: list[Any] | tuple[Any, ...] | range) -> int:
    try:
        return len(values)
    except OverflowError:  # a range too long for len()
        return max(0, -((values.start - values.stop) // values.step))


PLAIN = frozenset({int, float, str, bool, type(None)})  # the types of plain values: stored as they are


@dataclass(frozen=True)
class IterationSpace:
    """Iterations of one foreach, decoded from an index in mixed radix (never materialized)."""

    axes: tuple[tuple[str, Any], ...]
    items: tuple[dict[str, Any], ...] | None
    size: int = field(init=False, repr=False, compare=False)
    _single: tuple[str, Any] | None = field(init=False, repr=False, compare=False)
    plain: bool = field(init=False, repr=False, compare=False)  # every loop value is a plain value

    def __post_init__(self) -> None:
        size = len(self.items) if self.items is not None else math.prod(len(values) for _, values in self.axes)
        object.__setattr__(self, "size", size)  # computed once: loop_params checks it per iteration
        if self.items is not None:
            plain = all(PLAIN.issuperset(map(type, item.values())) for item in self.items)
        else:
            plain = all(type(values) is range or PLAIN.issuperset(map(type, values)) for _, values in self.axes)
        object.__setattr__(self, "plain", plain)  # checked once here, not for every attempt
        # A foreach over one loop param, the usual sweep: its value is the index's own.
        object.__setattr__(self, "_single", self.axes[0] if self.items is None and len(self.axes) == 1 else None)

    def __len__(self) -> int:
        """The number of iterations."""
        return self.size

    def loop_params(self, index: int) -> dict[str, Any]:
        """The loop params of iteration `index` (0-based; the first loop is the outermost)."""
        if not 0 <= index < self.size:
            raise IndexError(f"iteration index {index} is out of range for {len(self)} iterations")
        single = self._single
        if single is not None:
            return {single[0]: single[1][index]}
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
    # Built on first use, per level (a foreach body, or None for the top): its graph, and each
    # step's ancestors as a bit set over the level's steps (so a chain of n steps costs n^2 bits).
    _graphs: dict[str | None, DiGraph[str]] = field(default_factory=dict, compare=False, repr=False)
    _levels: dict[str | None, tuple[dict[str, int], dict[str, int], tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False)

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

    def graph(self, parent: str | None = None) -> DiGraph[str]:
        """The DAG of one level (top level, or the body of foreach step `parent`); built once, so
        read it, do not change it."""
        dag = self._graphs.get(parent)
        if dag is None:
            dag = DiGraph()
            for step in self.siblings(parent):
                dag.add_node(step.id)
                for upstream in step.after:
                    dag.add_edge(upstream, step.id)
            self._graphs[parent] = dag
        return dag

    def upstream(self, step_id: str) -> UpstreamSteps:
        """Steps whose outputs `step_id` may read: its ancestors, and those of the foreach steps
        around it."""
        chain = self.enclosing(step_id) + (step_id,)
        return UpstreamSteps(tuple((self._level(self._parents[sid]), sid) for sid in chain))

    def _level(self, parent: str | None) -> tuple[dict[str, int], dict[str, int], tuple[str, ...]]:
        """(position of each step, its ancestors as bits over positions, steps by position) for one
        level, in one pass over its steps in dependency order (the level is acyclic: parse checked)."""
        level = self._levels.get(parent)
        if level is None:
            steps = self.siblings(parent)
            waiting = {step.id: len(step.after) for step in steps}
            after: dict[str, list[str]] = {step.id: [] for step in steps}
            for step in steps:
                for upstream in step.after:
                    after[upstream].append(step.id)
            order = [sid for sid, count in waiting.items() if count == 0]
            for sid in order:  # grows as it goes: Kahn's algorithm
                for successor in after[sid]:
                    waiting[successor] -= 1
                    if waiting[successor] == 0:
                        order.append(successor)
            position = {sid: i for i, sid in enumerate(order)}
            bits: dict[str, int] = {}
            for sid in order:
                mask = 0
                for upstream in self._index[sid].after:
                    mask |= bits[upstream] | (1 << position[upstream])
                bits[sid] = mask
            level = self._levels[parent] = (position, bits, tuple(order))
        return level


class UpstreamSteps(AbstractSet[str]):
    """The steps upstream of one step, as a set: `in` is O(1) per level; listing them is only
    for messages."""

    __slots__ = ("_chain",)

    def __init__(self, chain: tuple[tuple[tuple[dict[str, int], dict[str, int], tuple[str, ...]], str], ...]):
        self._chain = chain

    def __contains__(self, name: object) -> bool:
        for (position, bits, _), sid in self._chain:
            index = position.get(name)  # type: ignore[arg-type]
            if index is not None and bits[sid] >> index & 1:
                return True
        return False

    def __iter__(self) -> Iterator[str]:
        for (_, bits, order), sid in self._chain:
            mask = bits[sid]
            for index, name in enumerate(order):
                if mask >> index & 1:
                    yield name

    def __len__(self) -> int:
        return sum(bits[sid].bit_count() for (_, bits, _), sid in self._chain)
