"""Bad input through the Engine API: a typed one-line error naming the culprit, nothing stored."""

from __future__ import annotations

import os
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
    StoreLockedError,
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



def alias_bomb() -> str:
    """Seven levels of nine aliases each: 700 bytes of YAML, 4.7 million values expanded."""
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        lines.append(f"  a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "params:\n  bomb:\n" + "\n".join("  " + line for line in lines) + "\nsteps:\n  - id: s\n    noop: true\n"


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def cyclic() -> dict:
    source: dict = {"params": {}, "steps": [{"id": "a", "noop": True}]}
    source["params"]["me"] = source
    return source


def one_param(value: Any) -> dict:
    return {"steps": [{"id": "a", "run": "f", "params": {"x": value}}]}


def before(engine: Engine) -> Any:
    """A paused attempt at a `before` pause (its params can change)."""
    return engine.paused(step="h")[0]


def after(engine: Engine) -> Any:
    """A paused attempt at an `after` pause (its output can change)."""
    return engine.paused(step="a")[0]


HELD = """\
steps:
  - id: h
    foreach: {x: [1, 2]}
    run: f
  - id: a
    run: one
"""
EXPRESSION_STEP = "steps:\n  - id: a\n    run: f\n    params:\n      x: %s\n"

CASES += [
    # --- definitions: size, shape and values JSON cannot hold as themselves ---
    Bad("yaml-alias-bomb", defining(alias_bomb()), DefinitionError, ("more than 200,000 values", "aliases")),
    Bad("yaml-nested-5000", defining("params:\n  p: " + "[" * 5000 + "]" * 5000 + "\nsteps: []\n"),
        DefinitionError, ("nested more than 64 levels",)),
    Bad("yaml-too-long", defining("description: '" + "x" * 1_000_001 + "'\nsteps: []\n"), DefinitionError,
        ("characters long", "1,000,000")),
    Bad("yaml-tag-python-tuple", defining("params:\n  p: !!python/tuple [1, 2]\nsteps: []\n"), DefinitionError,
        ("'p'", "!!python/tuple", "not allowed"), 2),
    Bad("yaml-tag-python-name", defining("params:\n  p: !!python/name:os.system\nsteps: []\n"), DefinitionError,
        ("'p'", "!!python/name:os.system"), 2),
    Bad("yaml-tag-apply", defining("steps:\n  - id: a\n    run: f\n    params:\n"
                                   "      x: !!python/object/apply:os.system [ls]\n"), DefinitionError,
        ("'x'", "!!python/object/apply:os.system"), 5),
    Bad("yaml-tag-local", defining("params:\n  p: !secret key\nsteps: []\n"), DefinitionError, ("'p'", "!secret"), 2),
    Bad("yaml-tag-str", defining("params:\n  p: !!str 5\nsteps: []\n"), DefinitionError, ("'p'", "quote"), 2),
    Bad("yaml-binary", defining("params:\n  p: !!binary aGVsbG8=\nsteps: []\n"), DefinitionError,
        ("'p'", "not a JSON value"), 2),
    Bad("yaml-date-default", defining("params:\n  day: 2020-01-02\nsteps: []\n"), DefinitionError,
        ("'day'", "a date", "write it as text"), 2),
    Bad("yaml-timestamp-param", defining("steps:\n  - id: a\n    run: f\n    params:\n"
                                         "      at: 2020-01-02 10:00:00\n"), DefinitionError, ("'at'", "a datetime"), 5),
    Bad("yaml-set", defining("params:\n  p: !!set {a, b}\nsteps: []\n"), DefinitionError, ("'p'", "a set"), 2),
    Bad("yaml-int-key", defining("steps:\n  - id: a\n    run: f\n    params:\n      x: {1: one}\n"),
        DefinitionError, ("the key 1 is not text",), 5),
    Bad("dict-cycle", lambda e: e.define("w", cyclic()), DefinitionError, ("'me'", "contains itself")),
    Bad("dict-set-value", lambda e: e.define("w", one_param({1, 2})), DefinitionError, ("'x'", "a set")),
    Bad("dict-int-key", lambda e: e.define("w", one_param({1: "one"})), DefinitionError, ("the key 1",)),
    Bad("dict-function-value", lambda e: e.define("w", one_param(print)), DefinitionError,
        ("'x'", "not a JSON value")),
    Bad("dict-bytes-value", lambda e: e.define("w", one_param(b"raw")), DefinitionError, ("'x'", "a bytes")),
    Bad("dict-deep-nesting", lambda e: e.define("w", one_param(deep(100_000))), DefinitionError,
        ("more than 64 levels",)),
    Bad("dict-too-many-values", lambda e: e.define("w", one_param(list(range(200_001)))), DefinitionError,
        ("more than 200,000 values",)),
    Bad("definition-name-none", lambda e: e.define(None, GOOD), DefinitionError, ("workflow name None",)),
    Bad("definition-name-int", lambda e: e.define(5, GOOD), DefinitionError, ("workflow name 5",)),
    Bad("definition-name-slash", lambda e: e.define("a/b", GOOD), DefinitionError, ("'a/b'",)),
    # --- definitions: foreach limits ---
    Bad("max-iterations-zero", defining("steps:\n  - id: a\n    noop: true\n    foreach: {x: [1]}\n"
                                        "    max_iterations: 0\n"), DefinitionError, ("'a'", "max_iterations", "0"), 5),
    Bad("max-iterations-text", defining("steps:\n  - id: a\n    noop: true\n    foreach: {x: [1]}\n"
                                        "    max_iterations: many\n"), DefinitionError, ("'many'",), 5),
    Bad("max-iterations-bool", defining("steps:\n  - id: a\n    noop: true\n    foreach: {x: [1]}\n"
                                        "    max_iterations: true\n"), DefinitionError, ("max_iterations", "True"), 5),
    Bad("max-iterations-over-ceiling", defining("steps:\n  - id: a\n    noop: true\n    foreach: {x: [1]}\n"
                                                "    max_iterations: 1000000000\n"), DefinitionError,
        ("from 1 to 100,000,000",), 5),
    Bad("max-iterations-without-foreach", defining("steps:\n  - id: a\n    noop: true\n    max_iterations: 5\n"),
        DefinitionError, ("'a'", "max_iterations applies to a foreach"), 4),
    Bad("foreach-literal-product-over-limit", defining(
        "steps:\n  - id: a\n    noop: true\n    foreach: {x: [1, 2, 3], y: [1, 2]}\n    max_iterations: 5\n"),
        DefinitionError, ("'a'", "6 iterations exceed the limit of 5"), 4),
    Bad("foreach-items-over-limit", defining(
        "steps:\n  - id: a\n    noop: true\n    foreach: [{x: 1}, {x: 2}]\n    max_iterations: 1\n"),
        DefinitionError, ("2 iterations exceed the limit of 1",), 4),
    # --- expressions in definitions ---
    Bad("expression-too-long", defining(EXPRESSION_STEP % ("${" + "+".join(["1"] * 1000) + "}")), ExpressionError,
        ("'a'", "1,000 characters"), 5),
    Bad("expression-too-deep", defining(EXPRESSION_STEP % ("${" + "+".join(["1"] * 300) + "}")), ExpressionError,
        ("'a'", "nest 50 levels"), 5),
    Bad("expression-deep-lists", defining(EXPRESSION_STEP % ("'${" + "[" * 80 + "]" * 80 + "}'")), ExpressionError,
        ("nest 50 levels",), 5),
    Bad("expression-lambda", defining(EXPRESSION_STEP % "'${(lambda: 1)()}'"), ExpressionError, ("lambda",), 5),
    Bad("expression-fstring", defining(EXPRESSION_STEP % "'${f\"{1}\"}'"), ExpressionError, ("f-string",), 5),
    Bad("expression-walrus", defining(EXPRESSION_STEP % "'${(y := 1)}'"), ExpressionError, ("assignment",), 5),
    Bad("expression-dunder", defining(EXPRESSION_STEP % "'${__builtins__}'"), ExpressionError, ("'__builtins__'",), 5),
    Bad("expression-call-open", defining(EXPRESSION_STEP % "'${open(\"/etc/passwd\")}'"), ExpressionError,
        ("calling 'open' is not allowed",), 5),
    Bad("expression-call-result", defining(EXPRESSION_STEP % "'${[len][0]([1])}'"), ExpressionError,
        ("calling the result of an expression",), 5),
    Bad("expression-empty", defining(EXPRESSION_STEP % "'${}'"), ExpressionError, ("empty expression",), 5),
    Bad("expression-inside-text", defining(EXPRESSION_STEP % "'run ${n} now'"), ExpressionError,
        ("must be the whole value",), 5),
    Bad("expression-null-byte", lambda e: e.define("w", one_param("${a\x00b}")), ExpressionError,
        ("invalid syntax",)),
    Bad("expression-if-too-deep", defining("steps:\n  - id: a\n    noop: true\n    if: ${"
                                           + "-" * 60 + "1}\n"), ExpressionError, ("nest 50 levels",), 4),
    Bad("expression-foreach-unknown-name", defining("steps:\n  - id: a\n    noop: true\n    foreach:\n"
                                                    "      x: ${range(count)}\n"), ExpressionError,
        ("unknown name 'count'",), 5),
    Bad("param-default-expression", defining("params:\n  p: ${1 + 1}\nsteps: []\n"), DefinitionError,
        ("'p'", "cannot be expressions"), 2),
    # --- breakpoint conditions (--when) ---
    Bad("when-syntax", lambda e: e.set_breakpoint("good.f", when="x >"), ExpressionError, ("invalid syntax",)),
    Bad("when-attribute", lambda e: e.set_breakpoint("good.f", when="x.real > 1"), ExpressionError,
        ("attribute access",)),
    Bad("when-import", lambda e: e.set_breakpoint("good.f", when="__import__('os')"), ExpressionError,
        ("'__import__'",)),
    Bad("when-too-long", lambda e: e.set_breakpoint("good.f", when=" or ".join(["x > 1"] * 300)),
        ExpressionError, ("1,000 characters",)),
    Bad("when-unknown-name", lambda e: e.set_breakpoint("good.f", when="y > 1"), ParamError,
        ("'y' is not a param of good.f",)),
    Bad("when-not-text", lambda e: e.set_breakpoint("good.f", when=5), ParamError, ("when must be text",)),
    # --- Python API: wrong types and values ---
    Bad("resume-text", lambda e: e.resume("foo"), ParamError, ("attempts", "str 'foo'")),
    Bad("retry-text", lambda e: e.retry("x"), ParamError, ("attempts", "str 'x'")),
    Bad("resume-none", lambda e: e.resume(None), ParamError, ("attempts", "None")),
    Bad("resume-int", lambda e: e.resume(5), ParamError, ("attempts", "int 5")),
    Bad("resume-empty", lambda e: e.resume([]), StateError, ("nothing is paused there",)),
    Bad("skip-mixed-list", lambda e: e.skip([before(e), "x"]), ParamError, ("one is str 'x'",)),
    Bad("stop-attempts-dict", lambda e: e.stop_attempts({"a": 1}), ParamError, ("attempts", "dict")),
    Bad("set-breakpoint-int-target", lambda e: e.set_breakpoint(5), ParamError, ("WORKFLOW.STEP", "int 5")),
    Bad("set-breakpoint-name-int", lambda e: e.set_breakpoint("good.f", name=5), ParamError, ("name must be text",)),
    Bad("set-breakpoint-name-not-identifier", lambda e: e.set_breakpoint("good.f", name="a b"), ParamError,
        ("'a b'", "identifier")),
    Bad("set-breakpoint-name-taken", lambda e: e.set_breakpoint("good.f", name="gate"), ParamError,
        ("'gate'", "exists already")),
    Bad("set-breakpoint-version-text", lambda e: e.set_breakpoint("good.f", version="1"), ParamError,
        ("version", "str '1'")),
    Bad("set-breakpoint-version-bool", lambda e: e.set_breakpoint("good.f", version=True), ParamError,
        ("version", "bool True")),
    Bad("set-breakpoint-version-zero", lambda e: e.set_breakpoint("good.f", version=0), ParamError,
        ("versions 1 to 1, not 0",)),
    Bad("set-breakpoint-version-unknown", lambda e: e.set_breakpoint("good.f", version=9), ParamError,
        ("versions 1 to 1", "9")),
    Bad("set-breakpoint-instance-huge", lambda e: e.set_breakpoint("good.f", instance=2**40), ParamError,
        ("instance", "up to 2,147,483,647")),
    Bad("set-breakpoint-instance-float", lambda e: e.set_breakpoint("good.f", instance=1.0), ParamError,
        ("instance", "float 1.0")),
    Bad("set-breakpoint-run-zero", lambda e: e.set_breakpoint("good.f", run=0), ParamError, ("run", "0")),
    Bad("set-breakpoint-pause-int", lambda e: e.set_breakpoint("good.f", pause=5), ParamError, ("pause point 5",)),
    Bad("set-breakpoint-pause-typo", lambda e: e.set_breakpoint("good.f", pause="aftr"), ParamError,
        ("'aftr'", "before, after")),
    Bad("set-breakpoint-iteration-bool", lambda e: e.set_breakpoint("good.f", iteration=True), ParamError,
        ("iteration 'True'",)),
    Bad("set-breakpoint-iteration-plain-step", lambda e: e.set_breakpoint("good.p", iteration=0), ParamError,
        ("'p' is not inside a foreach",)),
    Bad("set-breakpoint-unknown-workflow", lambda e: e.set_breakpoint("gooood.f"), UnknownNameError,
        ("workflow 'gooood'", "did you mean 'good'")),
    Bad("run-version-text", lambda e: e.run("good", version="1"), ParamError, ("version", "str '1'")),
    Bad("run-version-bool", lambda e: e.run("good", version=True), ParamError, ("version", "bool True")),
    Bad("run-version-zero", lambda e: e.run("good", version=0), ParamError, ("version", ">= 1", "not 0")),
    Bad("run-version-float", lambda e: e.run("good", version=1.0), ParamError, ("version", "float 1.0")),
    Bad("run-workflow-int", lambda e: e.run(5), ParamError, ("workflow must be text", "int 5")),
    Bad("run-workflow-list", lambda e: e.run(["good"]), ParamError, ("workflow must be text", "list")),
    Bad("run-params-int-name", lambda e: e.run("good", {1: 2}), ParamError, ("no param 1",)),
    Bad("run-param-int-keyed-dict", lambda e: e.run("good", {"n": {1: 2}}), ParamError,
        ("'n'", "the key 1", "cannot be stored")),
    Bad("run-param-set", lambda e: e.run("good", {"n": {1, 2}}), ParamError, ("'n'", "a set")),
    Bad("run-param-range", lambda e: e.run("good", {"n": range(3)}), ParamError, ("'n'", "a range")),
    Bad("run-param-deep-list", lambda e: e.run("good", {"n": deep(100_000)}), ParamError,
        ("'n'", "nested more than 100 levels")),
    Bad("run-param-surrogate", lambda e: e.run("good", {"n": "\ud800"}), ParamError, ("'n'", "surrogate")),
    Bad("run-param-date", lambda e: e.run("good", {"n": __import__("datetime").date(2020, 1, 2)}), ParamError,
        ("'n'", "datetime.date")),
    Bad("delete-breakpoint-none", lambda e: e.delete_breakpoint(None), ParamError, ("breakpoint", "None")),
    Bad("delete-breakpoint-float", lambda e: e.delete_breakpoint(3.5), ParamError, ("breakpoint", "float 3.5")),
    Bad("delete-breakpoint-bool", lambda e: e.delete_breakpoint(True), ParamError, ("breakpoint", "bool True")),
    Bad("delete-breakpoint-unknown-id", lambda e: e.delete_breakpoint(999), StateError, ("no breakpoint 999",)),
    Bad("delete-breakpoint-unknown-name", lambda e: e.delete_breakpoint("gaet"), StateError,
        ("'gaet'", "did you mean 'gate'")),
    Bad("delete-breakpoint-unknown-step", lambda e: e.delete_breakpoint("good.q"), UnknownNameError, ("step 'q'",)),
    Bad("instance-id-text", lambda e: e.instance("good", "1"), ParamError, ("instance", "str '1'")),
    Bad("instance-id-zero", lambda e: e.instance("good", 0), ParamError, ("instance", "0")),
    Bad("stop-instance-negative", lambda e: e.stop("good", -1), ParamError, ("instance", "-1")),
    Bad("stop-unknown-workflow", lambda e: e.stop("nope"), UnknownNameError, ("workflow 'nope'",)),
    Bad("restart-iteration-float", lambda e: e.restart("good", 1, from_step="f", iteration=1.5), ParamError,
        ("iteration", "1.5")),
    Bad("restart-from-step-int", lambda e: e.restart("good", 1, from_step=5), ParamError, ("from_step", "int 5")),
    Bad("restart-unfinished", lambda e: e.restart("held", 1), StateError, ("held#1", "restart needs a finished")),
    Bad("results-step-int", lambda e: e.results("good", 5), ParamError, ("step must be text",)),
    Bad("sql-not-text", lambda e: e.sql(5), ParamError, ("query must be text",)),
    Bad("sql-syntax", lambda e: e.sql("SELEC 1"), MaestroError, ("SQL error",)),
    Bad("definition-version-zero", lambda e: e.definition("good", 0), ParamError, ("version", "0")),
    Bad("definition-version-text", lambda e: e.definition("good", "2"), ParamError, ("version", "str '2'")),
    # --- mutations of paused attempts ---
    Bad("set-param-set", lambda e: e.set_param(before(e), "x", {1, 2}), ParamError, ("param 'x'",)),
    Bad("set-param-int-keyed-dict", lambda e: e.set_param(before(e), "x", {1: 2}), ParamError, ("param 'x'",)),
    Bad("set-param-deep-list", lambda e: e.set_param(before(e), "x", deep(100_000)), ParamError, ("param 'x'",)),
    Bad("set-param-surrogate", lambda e: e.set_param(before(e), "x", "\ud800"), ParamError, ("param 'x'",)),
    Bad("set-param-lock", lambda e: e.set_param(before(e), "x", threading.Lock()), ParamError, ("param 'x'",)),
    Bad("set-param-marker-lookalike-ok-but-name-int", lambda e: e.set_param(before(e), 5, 1), ParamError,
        ("the param's name must be text",)),
    Bad("set-param-unknown-name", lambda e: e.set_param(before(e), "y", 1), UnknownNameError, ("param 'y'",)),
    Bad("set-param-at-after-pause", lambda e: e.set_param(after(e), "x", 1), StateError,
        ("paused after its step ran",)),
    Bad("set-param-not-an-attempt", lambda e: e.set_param("held.h", "x", 1), ParamError, ("attempts", "str")),
    Bad("set-output-at-before-pause", lambda e: e.set_output(before(e), 1), StateError, ("before",)),
    Bad("set-output-set", lambda e: e.set_output(after(e), {1, 2}), ParamError, ("output",)),
    Bad("set-output-not-an-attempt", lambda e: e.set_output(None, 1), ParamError, ("attempts", "None")),
    Bad("skip-output-set", lambda e: e.skip(before(e), output={1, 2}), ParamError, ("output",)),
    Bad("skip-output-range", lambda e: e.skip(after(e), output=range(3)), ParamError, ("output",)),
]


def garbage_file(engine: Engine) -> str:
    path = os.path.join(os.path.dirname(engine.path), "notes.duckdb")
    with open(path, "w") as out:
        out.write("not a database\n")
    return path


CASES += [
    # --- state files: held, not a database, nowhere ---
    Bad("state-file-held-by-this-process", lambda e: Engine(e.path, {}), StoreLockedError,
        ("another Engine of this process", "close that one")),
    Bad("state-file-held-read-only", lambda e: Engine(e.path, {}, read_only=True), StoreLockedError,
        ("another Engine of this process",)),
    Bad("state-file-not-a-database", lambda e: Engine(garbage_file(e), {}), MaestroError,
        ("cannot open state file", "notes.duckdb")),
    Bad("state-file-is-a-folder", lambda e: Engine(os.path.dirname(e.path), {}), MaestroError,
        ("cannot open state file",)),
    Bad("state-file-folder-missing", lambda e: Engine(os.path.join(os.path.dirname(e.path), "no", "x.duckdb"), {}),
        MaestroError, ("cannot open state file",)),
    Bad("state-file-read-only-missing", lambda e: Engine(os.path.join(os.path.dirname(e.path), "gone.duckdb"), {},
                                                         read_only=True), MaestroError, ("cannot open state file",)),
]


def counts(engine: Engine) -> dict[str, int]:
    return {t: engine.store.rows(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


VIEWS = ("workflows", "instances", "steps", "iterations", "attempts", "events", "breakpoints")


def dump(engine: Engine) -> dict[str, list[str]]:
    """Every row of every documented view, after a flush: the whole state a user can see."""
    engine.flush()
    return {view: sorted(map(repr, engine.store.rows(f"SELECT * FROM {view}"))) for view in VIEWS}


@pytest.fixture
def prepared(engine, namespace) -> Engine:
    namespace["f"] = lambda x: x
    namespace["p"] = lambda f: sum(f)
    namespace["one"] = lambda: 1
    engine.define("good", GOOD)
    engine.define("idle", "steps:\n  - id: a\n    noop: true\n")
    engine.define("held", HELD)
    assert engine.run("good").status.value == "SUCCEEDED"
    engine.set_breakpoint("held.h", name="gate")
    engine.set_breakpoint("held.a", pause="after")
    engine.run("held")
    assert len(engine.paused()) == 3
    engine.flush()
    return engine


def test_the_table_is_big_enough():
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_a_one_line_typed_error_and_stores_nothing(prepared, case):
    before = dump(prepared)
    paused = [(a, a.status, dict(a.params), a.output) for a in prepared.paused()]
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
    assert dump(prepared) == before
    assert [(a, a.status, dict(a.params), a.output) for a in prepared.paused()] == paused


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
