"""Bad input through the Engine API: a typed one-line error naming the culprit, nothing stored."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from textwrap import dedent
from typing import Any

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import (
    DefinitionError,
    ExpressionError,
    MaestroError,
    ParamError,
    StateError,
    UnknownNameError,
)

TABLES = ("workflow_versions", "instance_log", "attempt_log", "event_log", "breakpoint_log")

GOOD = """\
params: {n: 3}
steps:
  - id: f
    foreach:
      x: ${range(n)}
    run: f
  - id: p
    after: [f]
    run: p
"""


@dataclass(frozen=True)
class Bad:
    """One bad input: what to call, the error class, text the message must hold, and the YAML line."""

    id: str
    call: Callable[[Engine], Any]
    error: type[MaestroError]
    culprit: tuple[str, ...]
    line: int | None = None


def defining(yaml: str, name: str = "w") -> Callable[[Engine], Any]:
    return lambda engine: engine.define(name, dedent(yaml))


CASES = [
    # --- YAML and shape ---
    Bad("yaml-unclosed-flow", defining("steps:\n  - id: a\n    run: [f\n"), DefinitionError,
        ("invalid YAML",), 4),
    Bad("yaml-duplicate-key", defining("steps:\n  - id: a\n    noop: true\nsteps: []\n"), DefinitionError,
        ("invalid YAML", "steps"), 4),
    Bad("yaml-bad-indent", defining("steps:\n  - id: a\n   run: f\n"), DefinitionError, ("invalid YAML",), 3),
    Bad("empty-body", defining("   \n"), DefinitionError, ("empty",)),
    Bad("body-not-mapping", defining("- a\n- b\n"), DefinitionError, ("mapping", "a list")),
    Bad("source-wrong-type", lambda e: e.define("w", 42), DefinitionError, ("YAML text or a dict", "a number")),
    Bad("bad-workflow-name", lambda e: e.define("bad name", GOOD), DefinitionError, ("'bad name'",)),
    Bad("no-steps", defining("params: {a: 1}\n"), DefinitionError, ("'steps'",), 1),
    Bad("empty-steps", defining("steps: []\n"), DefinitionError, ("non-empty list",), 1),
    Bad("params-not-mapping", defining("params: [1, 2]\nsteps:\n  - id: a\n    noop: true\n"), DefinitionError,
        ("params", "a list"), 1),
    Bad("unknown-workflow-key", defining("stepz:\n  - id: a\n    noop: true\n"), DefinitionError,
        ("'stepz'", "did you mean 'steps'"), 1),
    Bad("unknown-step-key", defining("steps:\n  - id: a\n    runn: f\n"), DefinitionError,
        ("'runn'", "did you mean 'run'"), 3),
    Bad("unknown-retry-key", defining("steps:\n  - id: a\n    run: f\n    retry: {limt: 2}\n"), DefinitionError,
        ("'limt'", "did you mean 'limit'"), 4),
    # --- steps ---
    Bad("step-without-id", defining("steps:\n  - run: f\n"), DefinitionError, ("step #1", "'id'"), 2),
    Bad("step-id-not-identifier", defining("steps:\n  - id: 1abc\n    run: f\n"), DefinitionError,
        ("'1abc'",), 2),
    Bad("duplicate-step-id", defining("steps:\n  - id: a\n    noop: true\n  - id: a\n    noop: true\n"),
        DefinitionError, ("duplicate step id 'a'",), 4),
    Bad("duplicate-id-nested", defining(
        "steps:\n  - id: a\n    noop: true\n  - id: loop\n    foreach: {x: [1]}\n    steps:\n"
        "      - id: a\n        noop: true\n"), DefinitionError, ("duplicate step id 'a'",), 7),
    Bad("no-kind", defining("steps:\n  - id: a\n    after: []\n"), DefinitionError, ("'a'", "needs one of"), 2),
    Bad("two-kinds", defining("steps:\n  - id: a\n    run: f\n    sql: SELECT 1\n"), DefinitionError,
        ("'a'", "'run'", "'sql'"), 4),
    Bad("run-not-a-name", defining("steps:\n  - id: a\n    run: os.system\n"), DefinitionError,
        ("'a'", "run names a callable"), 3),
    Bad("sleep-negative", defining("steps:\n  - id: a\n    sleep: -1\n"), DefinitionError,
        ("'a'", "sleep", "-1"), 3),
    Bad("sleep-text", defining("steps:\n  - id: a\n    sleep: soon\n"), DefinitionError,
        ("'a'", "'soon'"), 3),
    Bad("steps-without-foreach", defining("steps:\n  - id: a\n    steps:\n      - id: b\n        noop: true\n"),
        DefinitionError, ("'a'", "add 'foreach'"), 3),
    # --- graph ---
    Bad("cycle", defining("steps:\n  - id: a\n    after: [b]\n    noop: true\n  - id: b\n    after: [a]\n"
                          "    noop: true\n"), DefinitionError, ("cycle", "a -> b -> a"), 3),
    Bad("cycle-of-three", defining(
        "steps:\n  - id: a\n    after: [c]\n    noop: true\n  - id: b\n    after: [a]\n    noop: true\n"
        "  - id: c\n    after: [b]\n    noop: true\n"), DefinitionError, ("a -> b -> c -> a",), 3),
    Bad("after-itself", defining("steps:\n  - id: a\n    after: [a]\n    noop: true\n"), DefinitionError,
        ("'a'", "itself"), 3),
    Bad("unknown-after", defining("steps:\n  - id: load\n    noop: true\n  - id: b\n    after: [laod]\n"
                                  "    noop: true\n"), DefinitionError, ("'laod'", "did you mean 'load'"), 5),
    Bad("after-wrong-type", defining("steps:\n  - id: a\n    after: {x: 1}\n    noop: true\n"), DefinitionError,
        ("'a'", "after must be"), 3),
    # --- expressions ---
    Bad("expression-syntax", defining("steps:\n  - id: a\n    run: f\n    params:\n      x: ${1 +}\n"),
        ExpressionError, ("'a'", "param 'x'"), 5),
    Bad("expression-import", defining("steps:\n  - id: a\n    run: f\n    params:\n"
                                      "      x: ${__import__('os')}\n"), ExpressionError, ("'a'", "__import__"), 5),
    Bad("expression-attribute", defining("params: {s: abc}\nsteps:\n  - id: a\n    run: f\n    params:\n"
                                         "      x: ${s.upper()}\n"), ExpressionError, ("'a'", "attribute"), 6),
    Bad("expression-unknown-name", defining("params: {limit: 3}\nsteps:\n  - id: a\n    run: f\n    params:\n"
                                            "      x: ${limt + 1}\n"), ExpressionError,
        ("'limt'", "did you mean 'limit'"), 6),
    Bad("expression-not-upstream", defining("steps:\n  - id: a\n    noop: true\n  - id: b\n    run: f\n"
                                            "    params:\n      x: ${a}\n"), ExpressionError,
        ("'a'", "not upstream of 'b'"), 7),
    Bad("if-not-expression", defining("steps:\n  - id: a\n    noop: true\n    if: true\n"), DefinitionError,
        ("'a'", "if takes an expression"), 4),
    Bad("foreach-expression-in-list", defining("steps:\n  - id: a\n    noop: true\n    foreach:\n"
                                               "      x: [1, '${n}']\n"), ExpressionError, ("'a'", "'x'"), 5),
    # --- wrong types and values ---
    Bad("retry-wrong-type", defining("steps:\n  - id: a\n    run: f\n    retry: many\n"), DefinitionError,
        ("'a'", "retry", "text"), 4),
    Bad("retry-negative", defining("steps:\n  - id: a\n    run: f\n    retry: {limit: -1}\n"), DefinitionError,
        ("'a'", "retry limit", "-1"), 4),
    Bad("concurrency-zero", defining("steps:\n  - id: a\n    noop: true\n    foreach: {x: [1]}\n"
                                     "    concurrency: 0\n"), DefinitionError, ("'a'", "concurrency", "0"), 5),
    Bad("concurrency-without-foreach", defining("steps:\n  - id: a\n    noop: true\n    concurrency: 2\n"),
        DefinitionError, ("'a'", "concurrency applies to a foreach"), 4),
    Bad("foreach-empty-list", defining("steps:\n  - id: a\n    noop: true\n    foreach:\n      x: []\n"),
        DefinitionError, ("'a'", "'x'", "non-empty"), 5),
    Bad("failure-mode-typo", defining("steps:\n  - id: a\n    run: f\n    failure_mode: ignor\n"),
        DefinitionError, ("'ignor'", "did you mean 'ignore'"), 4),
    Bad("sub-workflow-unknown", defining("steps:\n  - id: a\n    workflow: godo\n"), UnknownNameError,
        ("workflow 'godo'", "did you mean 'good'")),
    Bad("sub-workflow-calls-itself", defining("steps:\n  - id: a\n    workflow: w\n"), DefinitionError,
        ("cycle", "w -> w")),
    # --- running, params ---
    Bad("run-unknown-workflow", lambda e: e.run("godo"), UnknownNameError, ("'godo'", "did you mean 'good'")),
    Bad("param-unknown-name", lambda e: e.run("good", {"nn": 2}), ParamError, ("'nn'", "did you mean 'n'")),
    Bad("param-not-storable", lambda e: e.run("good", {"n": threading.Lock()}), ParamError, ("'n'", "lock")),
    Bad("run-params-not-mapping", lambda e: e.run("good", "n=3"), ParamError, ("'good'", "mapping", "str")),
    Bad("run-unknown-version", lambda e: e.run("good", version=7), UnknownNameError, ("version '7'",)),
    # --- restart ---
    Bad("restart-unknown-step", lambda e: e.restart("good", 1, from_step="q"), UnknownNameError, ("step 'q'",)),
    Bad("restart-unknown-iteration", lambda e: e.restart("good", 1, from_step="f", iteration=9), UnknownNameError,
        ("iteration '9'",)),
    Bad("restart-non-foreach-iteration", lambda e: e.restart("good", 1, from_step="p", iteration=0), ParamError,
        ("'p'", "not inside a foreach")),
    Bad("restart-iteration-without-step", lambda e: e.restart("good", 1, iteration=0), ParamError,
        ("from_step",)),
    Bad("restart-unknown-instance", lambda e: e.restart("good", 42), UnknownNameError, ("instance '42'",)),
    Bad("restart-unknown-workflow", lambda e: e.restart("goood"), UnknownNameError, ("'goood'", "'good'")),
    Bad("restart-never-run", lambda e: e.restart("idle"), StateError, ("'idle'", "no instance")),
    # --- reading ---
    Bad("results-unknown-workflow", lambda e: e.results("nope", "f"), UnknownNameError, ("workflow 'nope'",)),
    Bad("results-unknown-step", lambda e: e.results("good", "g"), UnknownNameError, ("step 'g'",)),
    Bad("results-unknown-instance", lambda e: e.results("good", "f", instance=5), UnknownNameError,
        ("instance '5'",)),
    Bad("instance-unknown-id", lambda e: e.instance("good", 99), UnknownNameError, ("instance '99'",)),
    Bad("sql-unknown-table", lambda e: e.sql("SELECT * FROM attempt_logz"), MaestroError,
        ("SQL error", "attempt_logz")),
    Bad("breakpoint-unknown-step", lambda e: e.set_breakpoint("good.q"), UnknownNameError, ("step 'q'",)),
    Bad("breakpoint-no-step", lambda e: e.set_breakpoint("good"), ParamError, ("'good'", "WORKFLOW.STEP")),
]


def counts(engine: Engine) -> dict[str, int]:
    return {t: engine.store.rows(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


@pytest.fixture
def prepared(engine, namespace) -> Engine:
    namespace["f"] = lambda x: x
    namespace["p"] = lambda f: sum(f)
    engine.define("good", GOOD)
    engine.define("idle", "steps:\n  - id: a\n    noop: true\n")
    assert engine.run("good").status.value == "SUCCEEDED"
    engine.flush()
    return engine


def test_the_table_is_big_enough():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_a_one_line_typed_error_and_stores_nothing(prepared, case):
    before = counts(prepared)
    with pytest.raises(MaestroError) as info:
        case.call(prepared)
    error = info.value
    message = str(error)
    assert isinstance(error, case.error), f"{type(error).__name__}: {message}"
    assert "\n" not in message and message.strip() == message and message
    for text in case.culprit:
        assert text.lower() in message.lower(), message
    if case.line is not None:
        assert f"line {case.line}" in message, message
        assert getattr(error, "line", None) == case.line
    prepared.flush()
    assert counts(prepared) == before


def test_a_bad_executor_name_fails_before_the_file_is_created(tmp_path):
    path = tmp_path / "never.duckdb"
    with pytest.raises(ParamError, match=r"unknown executor 'thread'; use 'inline', 'threads'") as info:
        Engine(str(path), {}, executor="thread")
    assert "\n" not in str(info.value)
    assert not path.exists()


def test_a_step_that_fails_is_not_an_api_error(prepared, namespace):
    """The counterpart: a failing step is recorded, not raised, so the table above means something."""
    namespace["p"] = lambda f: 1 / 0
    before = counts(prepared)
    instance = prepared.run("good")
    assert instance.status.value == "FAILED"
    assert counts(prepared)["attempt_log"] > before["attempt_log"]


def test_sub_workflows_calling_each_other_in_a_cycle_are_refused(engine):
    engine.define("outer", "steps:\n  - id: a\n    noop: true\n")
    engine.define("inner", "steps:\n  - id: b\n    workflow: outer\n")
    with pytest.raises(DefinitionError, match="cycle: outer -> inner -> outer"):
        engine.define("outer", "steps:\n  - id: a\n    workflow: inner\n")
    assert engine.definition("outer").step("a").kind == "noop"
