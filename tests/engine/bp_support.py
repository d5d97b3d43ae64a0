"""Shared pieces of the breakpoint tests: small workflows, call counters and store readers."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from maestro_nb.engine.engine import Engine

LINE = {"steps": [
    {"id": "a", "run": "step_a"},
    {"id": "b", "after": ["a"], "run": "step_b"},
    {"id": "c", "after": ["b"], "run": "step_c"},
]}

SWEEP = {"params": {"scale": 1}, "steps": [
    {"id": "load", "run": "load"},
    {"id": "train", "after": ["load"], "foreach": {"lr": [0.01, 0.1, 0.2]}, "run": "train"},
    {"id": "best", "after": ["train"], "run": "best"},
]}

NESTED = {"steps": [
    {"id": "outer", "foreach": {"i": [1, 2, 3]}, "steps": [
        {"id": "inner", "foreach": {"j": "${range(i)}"}, "run": "inner"},
        {"id": "total", "after": ["inner"], "run": "total"},
    ]},
    {"id": "report", "after": ["outer"], "run": "report"},
]}


class Calls:
    """Thread-safe call counter keyed by whatever the step chooses."""

    def __init__(self) -> None:
        self.counts: Counter[Any] = Counter()
        self.seen: list[Any] = []
        self._lock = threading.Lock()

    def add(self, key: Any, value: Any = None) -> None:
        with self._lock:
            self.counts[key] += 1
            self.seen.append(value if value is not None else key)

    def __getitem__(self, key: Any) -> int:
        return self.counts[key]

    def total(self) -> int:
        return sum(self.counts.values())


def line_steps(namespace: dict[str, Any], calls: Calls) -> None:
    """step_a -> step_b -> step_c, each counting its calls and passing a number along."""
    def step_a() -> int:
        calls.add("a")
        return 1

    def step_b(a: int) -> int:
        calls.add("b", a)
        return a + 10

    def step_c(b: int) -> int:
        calls.add("c", b)
        return b + 100

    namespace.update(step_a=step_a, step_b=step_b, step_c=step_c)


def sweep_steps(namespace: dict[str, Any], calls: Calls) -> None:
    def load(scale: int) -> list[int]:
        calls.add("load")
        return [scale, 2 * scale]

    def train(load: list[int], lr: float) -> dict[str, Any]:
        calls.add(("train", lr), {"lr": lr, "load": load})
        return {"lr": lr, "score": round(lr * 10, 6)}

    def best(train: list[dict[str, Any]]) -> dict[str, Any]:
        calls.add("best", train)
        return max((r for r in train if r is not None), key=lambda r: r["score"])

    namespace.update(load=load, train=train, best=best)


def nested_steps(namespace: dict[str, Any], calls: Calls) -> None:
    def inner(i: int, j: int) -> int:
        calls.add(("inner", i, j))
        return i * 10 + j

    def total(inner: list[int]) -> int:
        return sum(inner)

    def report(outer: list[int]) -> list[int]:
        calls.add("report", outer)
        return outer

    namespace.update(inner=inner, total=total, report=report)


def row_counts(engine: Engine) -> tuple[int, int, int]:
    """Rows of breakpoint_log, attempt_log and event_log, after a flush."""
    frame = engine.sql(
        "SELECT (SELECT count(*) FROM breakpoint_log) b, (SELECT count(*) FROM attempt_log) a,"
        " (SELECT count(*) FROM event_log) e"
    )
    return tuple(int(x) for x in frame.iloc[0])  # type: ignore[return-value]


def stored(engine: Engine, workflow: str, step: str, instance: int = 1) -> dict[tuple[str, int], str]:
    """The stored latest status of every attempt of a step: {(iteration, attempt): status}."""
    frame = engine.sql(
        "SELECT iteration, attempt, status FROM attempts WHERE workflow = ? AND step_id = ? AND instance_id = ?",
        [workflow, step, instance],
    )
    return {(r.iteration, int(r.attempt)): r.status for r in frame.itertuples()}


def instance_status(engine: Engine, workflow: str, instance: int = 1) -> str:
    frame = engine.sql("SELECT status FROM instances WHERE workflow = ? AND instance_id = ?", [workflow, instance])
    return str(frame.status[0])


def labels(attempts: list[Any]) -> list[str]:
    return sorted(a.label for a in attempts)
