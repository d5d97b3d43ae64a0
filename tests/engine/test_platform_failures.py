"""Platform failures (Maestro's PLATFORM_FAILED): an attempt lost to the platform, not failed by
its step, is retried on a budget of its own. A small executor stands in for a platform that
loses the results of chosen calls; test_dask.py kills real Dask workers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.engine.executors import InlineExecutor
from maestro_nb.errors import PlatformError


class LosingPlatform(InlineExecutor):
    """Runs each call inline, but reports a PlatformError instead of the result of the first
    `times` calls that return a value in `lose` (as if the worker died before reporting)."""

    def __init__(self, lose: set[Any], times: int = 1, retryable: bool = True):
        self.lose = Counter({value: times for value in lose})
        self.retryable = retryable

    def submit(self, call: Callable[[], Any], done: Callable[[bool, Any], None]) -> None:
        try:
            value = call()
        except Exception as exc:
            done(False, exc)
            return
        if self.lose[value] > 0:
            self.lose[value] -= 1
            done(False, PlatformError(f"the worker running {value} died", retryable=self.retryable))
            return
        done(True, value)


def history(engine: Engine) -> list[tuple[str, int, str]]:
    return [tuple(r) for r in engine.sql(
        "SELECT iteration, attempt, status FROM attempts ORDER BY len(iteration), iteration, attempt"
    ).itertuples(index=False)]


def sweep(retry: dict[str, int] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": "w", "foreach": {"i": [0, 1, 2]}, "run": "work"}
    if retry is not None:
        step["retry"] = retry
    return {"steps": [step]}


def test_a_lost_attempt_is_retried_without_a_user_retry_limit(db_path):
    with Engine(db_path, {"work": lambda i: i}, executor=LosingPlatform({1})) as engine:
        engine.define("wf", sweep())
        assert engine.run("wf").status.value == "SUCCEEDED"
        assert history(engine) == [("0", 1, "SUCCEEDED"), ("1", 1, "PLATFORM_FAILED"), ("1", 2, "SUCCEEDED"),
                                   ("2", 1, "SUCCEEDED")]
        assert engine.results("wf", "w")["output"].tolist() == [0, 1, 2]
        (error,) = engine.sql("SELECT error FROM attempts WHERE status = 'PLATFORM_FAILED'").error
        assert error == "the worker running 1 died"


def test_the_platform_budget_is_spent_apart_from_the_user_one(db_path):
    calls = Counter()

    def work(i):
        calls[i] += 1
        if i == 1 and calls[i] == 1:
            raise ValueError("a bug, the first time")
        return i

    platform = LosingPlatform({1}, times=2)
    with Engine(db_path, {"work": work}, executor=platform) as engine:
        engine.define("wf", sweep({"limit": 1, "platform_limit": 2}))
        assert engine.run("wf").status.value == "SUCCEEDED"
        assert [h for h in history(engine) if h[0] == "1"] == [
            ("1", 1, "USER_FAILED"), ("1", 2, "PLATFORM_FAILED"), ("1", 3, "PLATFORM_FAILED"), ("1", 4, "SUCCEEDED"),
        ]
        retries = engine.sql("SELECT detail FROM event_log WHERE kind = 'retry' ORDER BY seq").detail.tolist()
        assert ['"platform": true' in d for d in retries] == [False, True, True]


def test_a_spent_platform_budget_fails_the_iteration(db_path):
    with Engine(db_path, {"work": lambda i: i}, executor=LosingPlatform({2}, times=5)) as engine:
        engine.define("wf", sweep({"platform_limit": 1}))
        assert engine.run("wf").status.value == "FAILED"
        assert [h for h in history(engine) if h[0] == "2"] == [("2", 1, "PLATFORM_FAILED"), ("2", 2, "PLATFORM_FAILED")]
        step = engine.sql("SELECT status, failed FROM steps WHERE step_id = 'w'")
        assert step.status.tolist() == ["PLATFORM_FAILED"] and step.failed.tolist() == [1]


def test_a_platform_that_is_gone_is_not_retried(db_path):
    with Engine(db_path, {"work": lambda i: i}, executor=LosingPlatform({0}, retryable=False)) as engine:
        engine.define("wf", sweep())
        assert engine.run("wf").status.value == "FAILED"
        assert [h for h in history(engine) if h[0] == "0"] == [("0", 1, "PLATFORM_FAILED")]


@pytest.mark.parametrize("platform_limit", [0, 3])
def test_a_restart_after_a_spent_platform_budget_runs_the_iteration_again(db_path, platform_limit):
    with Engine(db_path, {"work": lambda i: i}, executor=LosingPlatform({0}, times=10)) as engine:
        engine.define("wf", sweep({"platform_limit": platform_limit}))
        assert engine.run("wf").status.value == "FAILED"
        lost = [h for h in history(engine) if h[0] == "0"]
        assert len(lost) == platform_limit + 1 and {h[2] for h in lost} == {"PLATFORM_FAILED"}
    with Engine(db_path, {"work": lambda i: i}, executor=LosingPlatform(set())) as engine:
        restarted = engine.restart("wf", 1)
        assert restarted.status.value == "SUCCEEDED"
