"""Fixtures for the panel: real engines on DuckDB files with small sweeps, and a panel that is
closed after the test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from maestro_nb.engine.engine import Engine

SWEEP = {"params": {"scale": 1}, "steps": [
    {"id": "load", "run": "load"},
    {"id": "train", "after": ["load"], "foreach": {"lr": [0.1, 0.2], "depth": [3, 5]}, "run": "train",
     "params": {"tags": ["base"]}},
    {"id": "best", "after": ["train"], "run": "best"},
]}


def sweep_code(namespace: dict[str, Any]) -> None:
    def load(scale: int) -> list[int]:
        return [scale, 2 * scale]

    def train(load: list[int], lr: float, depth: int, tags: list[str]) -> dict[str, float]:
        return {"score": round(lr * depth * sum(load), 3)}

    def best(train: list[dict[str, float]]) -> float:
        return max(t["score"] for t in train if t is not None)

    namespace.update(load=load, train=train, best=best)


@pytest.fixture
def sweep(engine: Engine, namespace: dict[str, Any]) -> Engine:
    """`tune`: load -> train (foreach lr x depth, 4 iterations) -> best, not run yet."""
    sweep_code(namespace)
    engine.define("tune", SWEEP)
    return engine


@pytest.fixture
def panels():
    """Make panels with `panels(engine, ...)`; every one is closed after the test."""
    made = []

    def make(engine: Engine, *args: Any, **kwargs: Any):
        panel = engine.panel(*args, **kwargs)
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.close()


def drawn(panel: Any) -> Any:
    """The panel once it shows the engine's state and every input (a generous deadline)."""
    assert panel.wait_drawn(30), "the panel did not redraw within 30 s"
    return panel


def until(condition: Any, timeout: float = 30.0) -> None:
    """Wait for an observable condition, looking again whenever the engine's state may have moved."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(0.01)  # polling the condition, bounded by the deadline


def mutations(engine: Engine) -> list[dict[str, Any]]:
    frame = engine.sql("SELECT detail FROM events WHERE kind = 'mutate'")
    return [json.loads(d) for d in frame.detail]


def node_status(panel: Any, step: str) -> str:
    """A DAG node's status as the SVG says it (data-status on the node's group)."""
    marker = f'data-step="{step}" data-status="'
    svg = panel.dag.value
    start = svg.index(marker) + len(marker)
    return svg[start:svg.index('"', start)]
