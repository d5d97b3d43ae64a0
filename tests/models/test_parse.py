"""Definitions: the SPEC example, foreach shapes, digests, and a table of bad inputs."""

from __future__ import annotations

import dataclasses
import json
from textwrap import dedent
from typing import Any

import pytest

from maestro_nb.errors import DefinitionError, ExpressionError, UnknownNameError
from maestro_nb.models.definition import (
    FailureMode,
    Foreach,
    IterationSpace,
    RetryPolicy,
    StepDefinition,
    WorkflowDefinition,
)
from maestro_nb.models.expressions import Expression
from maestro_nb.models.parse import parse_definition

# SPEC section 2, verbatim.
SPEC_YAML = """\
description: Tune a model over a grid
params:                  # workflow params with defaults; overridable at start
  n_rows: 1000
steps:
  - id: load
    run: load_data       # name of a callable in the kernel namespace, looked up when the step starts
  - id: train
    after: [load]
    foreach:             # cross product: 3 x 3 = 9 iterations
      lr: [0.001, 0.01, 0.1]
      depth: [3, 5, 8]
    concurrency: 4
    run: train           # train(data, lr, depth): arguments bound by name
    params:
      data: ${load}      # an expression: the output of step `load`
    retry: {limit: 2}
  - id: best
    after: [train]
    run: pick_best       # pick_best(train): the iteration outputs, in iteration order
  - id: publish
    after: [best]
    if: ${best["score"] > 0.9}   # false -> the step is SKIPPED, not failed
    sql: CREATE OR REPLACE TABLE best_model AS SELECT 1
"""

SPEC_DICT: dict[str, Any] = {
    "description": "Tune a model over a grid",
    "params": {"n_rows": 1000},
    "steps": [
        {"id": "load", "run": "load_data"},
        {
            "id": "train",
            "after": ["load"],
            "foreach": {"lr": [0.001, 0.01, 0.1], "depth": [3, 5, 8]},
            "concurrency": 4,
            "run": "train",
            "params": {"data": "${load}"},
            "retry": {"limit": 2},
        },
        {"id": "best", "after": ["train"], "run": "pick_best"},
        {
            "id": "publish",
            "after": ["best"],
            "if": '${best["score"] > 0.9}',
            "sql": "CREATE OR REPLACE TABLE best_model AS SELECT 1",
        },
    ],
}

# The same content as SPEC_YAML, written differently: flow style, other comments, other
# spacing, keys in another order.
SPEC_YAML_RESTYLED = """\
# a comment at the top
params: {n_rows: 1000}
description:   "Tune a model over a grid"
steps:
- {id: load, run: load_data}
- id: train
  run: train
  after:
  - load
  retry:
    limit: 2     # two more attempts
  params: {data: "${load}"}
  concurrency: 4
  foreach: {lr: [0.001, 0.01, 0.1], depth: [3, 5, 8]}

- {id: best, after: [train], run: pick_best}
- id: publish
  sql: "CREATE OR REPLACE TABLE best_model AS SELECT 1"
  after: [best]
  if: '${best["score"] > 0.9}'
"""

NESTED_YAML = """\
params:
  scale: 2
steps:
  - id: prepare
    run: prepare
  - id: outer
    after: prepare
    foreach:
      i: [1, 2, 3]
    steps:
      - id: inner
        foreach:
          x: ${range(1, i + 1)}
        run: compute
        params:
          value: ${x * i * scale}
          data: ${prepare}
      - id: summarize
        after: [inner]
        run: summarize
        params:
          total: ${sum(inner)}
  - id: report
    after: [outer]
    noop: true
"""


def _without_lines(step: StepDefinition) -> StepDefinition:
    return dataclasses.replace(step, line=None, body=tuple(_without_lines(s) for s in step.body))


@pytest.fixture(scope="module")
def spec() -> WorkflowDefinition:
    return parse_definition("tune", SPEC_YAML)


# --------------------------------------------------------------------------- SPEC example


def test_spec_example_steps(spec: WorkflowDefinition) -> None:
    assert spec.name == "tune"
    assert spec.description == "Tune a model over a grid"
    assert dict(spec.params) == {"n_rows": 1000}
    assert spec.step_ids == ("load", "train", "best", "publish")
    assert [s.id for s in spec.steps] == list(spec.step_ids)
    assert {s.id: s.kind for s in spec.steps} == {
        "load": "run", "train": "run", "best": "run", "publish": "sql",
    }
    assert spec.step("load").target == "load_data"
    assert spec.step("train").target == "train"
    assert spec.step("best").target == "pick_best"
    assert spec.step("publish").target == "CREATE OR REPLACE TABLE best_model AS SELECT 1"
    assert spec.failure_mode is FailureMode.FAIL_AFTER_RUNNING  # Maestro's default
    assert spec.source == SPEC_YAML
    assert len(spec.digest) == 16


def test_spec_example_after_and_graph(spec: WorkflowDefinition) -> None:
    assert spec.step("load").after == ()
    assert spec.step("train").after == ("load",)
    assert spec.step("best").after == ("train",)
    assert spec.step("publish").after == ("best",)
    dag = spec.graph()
    assert dag.topological_generations() == [["load"], ["train"], ["best"], ["publish"]]
    assert set(dag.edges) == {("load", "train"), ("train", "best"), ("best", "publish")}
    assert spec.parent("train") is None
    assert spec.enclosing("train") == ()
    assert spec.siblings(None) == spec.steps


def test_spec_example_foreach_cross_product(spec: WorkflowDefinition) -> None:
    train = spec.step("train")
    assert train.foreach is not None
    assert train.foreach.names == ("lr", "depth")
    assert train.foreach.concurrency == 4
    space = train.foreach.expand({"n_rows": 1000})
    assert isinstance(space, IterationSpace)
    assert len(space) == 9
    expected = [
        {"lr": lr, "depth": depth} for lr in (0.001, 0.01, 0.1) for depth in (3, 5, 8)
    ]  # mixed radix: the first loop is the outermost
    assert [space.loop_params(i) for i in range(9)] == expected
    assert list(space) == expected
    assert space.loop_params(5) == {"lr": 0.01, "depth": 8}
    # the values are plain Python values, not ruamel's scalar subclasses
    assert {type(v) for p in expected for v in space.loop_params(0).values()} == {float, int}
    assert type(space.loop_params(0)["lr"]) is float
    assert "foreach lr, depth" in train.label


@pytest.mark.parametrize(("axes", "items", "plain"), [
    ((("i", range(10**12)),), None, True),
    ((("lr", [0.1, 1]), ("name", ("a", None, True))), None, True),
    ((("lr", [0.1, 1]), ("grid", [1, [2, 3]])), None, False),
    ((("x", [{1, 2}]),), None, False),
    ((), ({"a": 1, "b": "x"}, {"a": 2.5, "b": None}), True),
    ((), ({"a": 1}, {"a": (1, 2)}), False),
])
def test_a_space_knows_whether_every_loop_value_is_plain(axes, items, plain: bool) -> None:
    space = IterationSpace(axes, items)
    assert space.plain is plain
    assert plain is all(type(v) in (int, float, str, bool, type(None))
                        for index in range(min(len(space), 4)) for v in space.loop_params(index).values())


@pytest.mark.parametrize("index", [-1, 9, 100])
def test_iteration_index_out_of_range(spec: WorkflowDefinition, index: int) -> None:
    space = spec.step("train").foreach.expand({})
    with pytest.raises(IndexError, match=f"{index}.*9 iterations"):
        space.loop_params(index)


def test_spec_example_params_if_and_retry(spec: WorkflowDefinition) -> None:
    train = spec.step("train")
    data = train.params["data"]
    assert isinstance(data, Expression) and data.names == frozenset({"load"})
    assert data.evaluate({"load": [1, 2]}) == [1, 2]
    assert train.retry == RetryPolicy(limit=2, backoff=0.0)
    assert spec.step("load").retry == RetryPolicy()
    condition = spec.step("publish").condition
    assert isinstance(condition, Expression)
    assert condition.source == 'best["score"] > 0.9'
    assert condition.names == frozenset({"best"})
    assert condition.evaluate({"best": {"score": 0.95}}) is True
    assert condition.evaluate({"best": {"score": 0.5}}) is False
    assert spec.step("load").condition is None
    assert spec.step("load").foreach is None


def test_retry_counts_platform_failures_apart() -> None:
    wf = parse_definition("w", "steps:\n  - id: a\n    run: f\n    retry: {limit: 1, platform_limit: 3}\n")
    assert wf.step("a").retry == RetryPolicy(limit=1, backoff=0.0, platform_limit=3)
    wf = parse_definition("w", {"steps": [{"id": "a", "run": "f", "retry": {"platform_limit": 0}}]})
    assert wf.step("a").retry == RetryPolicy(limit=0, platform_limit=0)


def test_spec_example_lines(spec: WorkflowDefinition) -> None:
    assert [spec.step(s).line for s in spec.step_ids] == [5, 7, 17, 20]


def test_spec_example_as_a_dict(spec: WorkflowDefinition) -> None:
    from_dict = parse_definition("tune", SPEC_DICT)
    assert from_dict.step_ids == spec.step_ids
    assert tuple(_without_lines(s) for s in spec.steps) == from_dict.steps
    assert all(s.line is None for s in from_dict.steps)
    assert dict(from_dict.params) == dict(spec.params)
    assert from_dict.description == spec.description
    assert from_dict.digest == spec.digest
    space = from_dict.step("train").foreach.expand({})
    assert [space.loop_params(i) for i in range(9)] == list(spec.step("train").foreach.expand({}))


def test_parse_does_not_change_the_dict() -> None:
    import copy

    data = copy.deepcopy(SPEC_DICT)
    parse_definition("tune", data)
    assert data == SPEC_DICT


# --------------------------------------------------------------------------- digests


def test_digest_ignores_whitespace_comments_style_and_key_order(spec: WorkflowDefinition) -> None:
    restyled = parse_definition("tune", SPEC_YAML_RESTYLED)
    assert restyled.digest == spec.digest
    assert restyled.source == SPEC_YAML_RESTYLED
    assert tuple(_without_lines(s) for s in restyled.steps) == tuple(_without_lines(s) for s in spec.steps)


def test_digest_does_not_depend_on_the_workflow_name(spec: WorkflowDefinition) -> None:
    assert parse_definition("other", SPEC_YAML).digest == spec.digest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("lr: [0.001, 0.01, 0.1]", "lr: [0.001, 0.01, 0.2]"),
        ("n_rows: 1000", "n_rows: 1001"),
        ("concurrency: 4", "concurrency: 5"),
        ("retry: {limit: 2}", "retry: {limit: 3}"),
        ("run: pick_best", "run: pick_best2"),
        ('best["score"] > 0.9', 'best["score"] > 0.8'),
        ("depth: [3, 5, 8]", "depth: [3, 8, 5]"),
        ("Tune a model over a grid", "Tune a model"),
    ],
)
def test_digest_changes_with_content(spec: WorkflowDefinition, old: str, new: str) -> None:
    assert old in SPEC_YAML
    changed = parse_definition("tune", SPEC_YAML.replace(old, new))
    assert changed.digest != spec.digest


@pytest.mark.parametrize("value, what", [
    ({1: "x", "b": 2}, "the key 1 is not text"),
    ({"p", "q"}, "a set is not a JSON value"),
])
def test_values_json_would_change_are_refused_not_stored_changed(value, what) -> None:
    # A dict source is stored as JSON and read back from it: {1: "x"} would come back as {"1": "x"}.
    with pytest.raises(DefinitionError, match=what):
        parse_definition("w", {"steps": [{"id": "a", "run": "f", "params": {"m": value}}]})


def test_a_range_in_a_dict_source_reads_back_from_the_stored_source_as_the_same_range() -> None:
    first = parse_definition("w", {"steps": [{"id": "a", "run": "f", "foreach": {"x": range(2, 10, 3)}}]})
    again = parse_definition("w", json.loads(first.source))
    assert again.digest == first.digest
    assert [dict(p) for p in again.step("a").foreach.expand({})] == [{"x": 2}, {"x": 5}, {"x": 8}]


# --------------------------------------------------------------------------- foreach shapes


def test_nested_foreach() -> None:
    wf = parse_definition("nested", NESTED_YAML)
    assert wf.step_ids == ("prepare", "outer", "inner", "summarize", "report")
    assert [s.id for s in wf.steps] == ["prepare", "outer", "report"]
    outer = wf.step("outer")
    assert outer.kind == "steps"
    assert outer.target is None
    assert [s.id for s in outer.body] == ["inner", "summarize"]
    assert outer.label == "foreach i: 2 steps"
    assert wf.parent("inner") == "outer" and wf.parent("summarize") == "outer"
    assert wf.parent("outer") is None
    assert wf.enclosing("inner") == ("outer",)
    assert wf.enclosing("outer") == ()
    assert [s.id for s in wf.siblings("outer")] == ["inner", "summarize"]
    assert set(wf.graph("outer").edges) == {("inner", "summarize")}
    assert set(wf.graph().nodes) == {"prepare", "outer", "report"}

    outer_space = outer.foreach.expand({"scale": 2})
    assert list(outer_space) == [{"i": 1}, {"i": 2}, {"i": 3}]
    inner = wf.step("inner")
    loop_values = dict(inner.foreach.loops)["x"]
    assert isinstance(loop_values, Expression) and loop_values.names == frozenset({"i"})
    sizes = [len(inner.foreach.expand({"scale": 2, **p})) for p in outer_space]
    assert sizes == [1, 2, 3]  # iteration i of the outer loop has i inner iterations
    space = inner.foreach.expand({"i": 3})
    assert [space.loop_params(k) for k in range(3)] == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert inner.params["value"].names == frozenset({"x", "i", "scale"})


def test_nested_foreach_body_inherits_failure_mode() -> None:
    source = NESTED_YAML.replace("    foreach:\n      i:", "    failure_mode: ignore\n    foreach:\n      i:")
    wf = parse_definition("nested", source)
    assert wf.step("outer").failure_mode is FailureMode.IGNORE
    assert wf.step("inner").failure_mode is FailureMode.IGNORE
    assert wf.step("report").failure_mode is FailureMode.FAIL_AFTER_RUNNING


def test_list_of_dicts_foreach() -> None:
    wf = parse_definition("grid", dedent("""\
        steps:
          - id: fit
            foreach:
              - {model: linear, alpha: 0.1}
              - {model: tree, depth: 4}
              - {model: linear, alpha: 1.0}
            run: fit
            params:
              tag: ${model}
    """))
    foreach = wf.step("fit").foreach
    assert foreach.loops == ()
    assert foreach.names == ("model", "alpha", "depth")
    space = foreach.expand({})
    assert len(space) == 3
    assert space.loop_params(1) == {"model": "tree", "depth": 4}
    assert list(space) == [
        {"model": "linear", "alpha": 0.1},
        {"model": "tree", "depth": 4},
        {"model": "linear", "alpha": 1.0},
    ]
    assert "foreach model, alpha, depth" in wf.step("fit").label


def test_expression_foreach_values() -> None:
    wf = parse_definition("sweep", dedent("""\
        params:
          n: 4
          seeds: [7, 8]
        steps:
          - id: sizes
            run: sizes
          - id: fit
            after: [sizes]
            foreach:
              k: ${range(n)}
              seed: ${seeds}
              size: ${sizes}
            run: fit
          - id: each
            foreach: "${[{'a': k, 'b': k * n} for k in range(n)]}"
            run: fit
            params:
              total: ${a + b}
    """))
    fit = wf.step("fit").foreach
    assert [name for name, _ in fit.loops] == ["k", "seed", "size"]
    assert all(isinstance(v, Expression) for _, v in fit.loops)
    space = fit.expand({"n": 2, "seeds": [7, 8], "sizes": (10, 20, 30)})
    assert len(space) == 2 * 2 * 3
    assert space.loop_params(0) == {"k": 0, "seed": 7, "size": 10}
    assert space.loop_params(11) == {"k": 1, "seed": 8, "size": 30}
    assert space.loop_params(4) == {"k": 0, "seed": 8, "size": 20}

    each = wf.step("each").foreach
    assert isinstance(each.items, Expression)
    assert each.names == ()  # known only when the step starts
    items = each.expand({"n": 3})
    assert list(items) == [{"a": 0, "b": 0}, {"a": 1, "b": 3}, {"a": 2, "b": 6}]
    assert items.loop_params(2) == {"a": 2, "b": 6}


def test_expression_foreach_that_gives_no_list() -> None:
    wf = parse_definition("bad", {
        "params": {"n": 3},
        "steps": [
            {"id": "a", "foreach": {"x": "${n}"}, "noop": True},
            {"id": "b", "foreach": "${[1, 2]}", "noop": True},
            {"id": "c", "foreach": "${n}", "noop": True},
        ],
    })
    with pytest.raises(ExpressionError, match=r"loop param 'x': \$\{n\} gave a int, not a list") as info:
        wf.step("a").foreach.expand({"n": 3})
    assert "\n" not in str(info.value)
    with pytest.raises(ExpressionError, match=r"item #1 is a int, not a dict"):
        wf.step("b").foreach.expand({})
    with pytest.raises(ExpressionError, match=r"gave a int, not a list of dicts"):
        wf.step("c").foreach.expand({"n": 3})
    with pytest.raises(ExpressionError, match="unknown name 'n'"):
        wf.step("a").foreach.expand({})


def test_empty_expression_foreach_has_no_iterations() -> None:
    wf = parse_definition("w", {"steps": [{"id": "a", "foreach": {"x": "${range(k)}"}, "noop": True}], "params": {"k": 0}})
    space = wf.step("a").foreach.expand({"k": 0})
    assert len(space) == 0 and list(space) == []
    with pytest.raises(IndexError):
        space.loop_params(0)


def test_python_api_accepts_ranges_and_tuples() -> None:
    wf = parse_definition("py", {
        "steps": [
            {"id": "a", "noop": None},
            {"id": "b", "after": ("a",), "foreach": {"i": range(3), "j": (1, 2)}, "run": "f"},
        ],
    })
    assert wf.step("b").after == ("a",)
    space = wf.step("b").foreach.expand({})
    assert len(space) == 6 and space.loop_params(5) == {"i": 2, "j": 2}


def test_step_kinds_and_defaults() -> None:
    wf = parse_definition("kinds", dedent("""\
        failure_mode: fail_after_running
        steps:
          - id: a
            noop: true
          - id: b
            sleep: 0.5
            after: a
          - id: c
            workflow: other-flow
            after: [b]
            failure_mode: ignore
          - id: d
            sql: |
              SELECT 1
            retry: 3
            description: count
    """))
    assert [(s.kind, s.target) for s in wf.steps] == [
        ("noop", None), ("sleep", 0.5), ("workflow", "other-flow"), ("sql", "SELECT 1"),
    ]
    assert type(wf.step("d").target) is str
    assert wf.step("b").after == ("a",)
    assert wf.failure_mode is FailureMode.FAIL_AFTER_RUNNING
    assert wf.step("a").failure_mode is FailureMode.FAIL_AFTER_RUNNING
    assert wf.step("c").failure_mode is FailureMode.IGNORE
    assert wf.step("d").retry == RetryPolicy(limit=3)
    assert wf.step("d").retry.platform_limit == 10  # Maestro's default platform retry limit
    assert wf.step("d").description == "count"
    assert [s.label for s in wf.steps] == ["noop", "sleep 0.5", "workflow other-flow", "sql"]


def test_params_keep_nested_expressions() -> None:
    wf = parse_definition("w", {
        "params": {"k": 2},
        "steps": [{"id": "a", "run": "f", "params": {"cfg": {"x": "${k + 1}", "ys": [1, "${k}"]}, "plain": "text"}}],
    })
    params = wf.step("a").params
    assert params["plain"] == "text"
    assert params["cfg"]["x"] == Expression("k + 1", frozenset({"k"}), None)
    assert isinstance(params["cfg"]["ys"][1], Expression)
    with pytest.raises(TypeError):
        params["plain"] = "changed"  # type: ignore[index]


def test_unknown_step_lookups_name_the_step() -> None:
    wf = parse_definition("tune", SPEC_YAML)
    for lookup in (wf.step, wf.parent, wf.enclosing, wf.siblings):
        with pytest.raises(UnknownNameError, match=r"unknown step 'trian'; did you mean 'train'\?") as info:
            lookup("trian")
        assert info.value.step == "trian" and info.value.workflow == "tune"


def test_foreach_dataclass_is_usable_directly() -> None:
    foreach = Foreach(loops=(("a", (1, 2)), ("b", range(3))))
    assert foreach.names == ("a", "b")
    assert len(foreach.expand({})) == 6


# --------------------------------------------------------------------------- bad inputs

SPEC_STEPS = """\
params:
  n_rows: 1000
steps:
  - id: load
    run: load_data
  - id: train
    after: [load]
    foreach:
      lr: [0.001, 0.01]
    run: train
    params:
      data: ${load}
"""


def _spec_with(old: str, new: str) -> str:
    assert old in SPEC_STEPS
    return SPEC_STEPS.replace(old, new, 1)


D, E = DefinitionError, ExpressionError

# (workflow name, source, error class, fragments the message must hold, line or None)
BAD_INPUTS = [
    # malformed YAML: line and column of the problem
    pytest.param("wf", "steps:\n\t- id: a\n", D, ["invalid YAML", "'\\t'"], (2, 1), id="yaml-tab"),
    pytest.param("wf", "steps:\n  - id: a\n    run: f\n   after: x\n", D, ["invalid YAML"], (4, 4), id="yaml-indent"),
    pytest.param("wf", "steps: [\n  {id: a, noop: true}\n", D, ["invalid YAML", "']'"], (3, 1), id="yaml-unclosed-flow"),
    pytest.param("wf", "steps:\n  - id: a\n    run: f: g\n", D, ["invalid YAML", "mapping values"], (3, 11), id="yaml-colon"),
    pytest.param("wf", "steps:\n  - id: a\n    noop: true\n    noop: false\n", D, ["invalid YAML", "duplicate key", "noop"], (4, 5), id="yaml-duplicate-key"),
    pytest.param("wf", "steps:\n  - id: a\n    sql: 'select 1\n", D, ["invalid YAML", "end of stream"], (4, 1), id="yaml-unclosed-quote"),
    # unknown keys, with the nearest valid key as a hint
    pytest.param("wf", _spec_with("    after: [load]\n", "    after: [load]\n    retyr: 2\n"), D, ["'retyr'", "step 'train'", "did you mean 'retry'?"], (8, 5), id="unknown-step-key-hint"),
    pytest.param("wf", "step:\n  - {id: a, noop: true}\n", D, ["'step'", "the workflow", "did you mean 'steps'?"], (1, 1), id="unknown-workflow-key-hint"),
    pytest.param("wf", _spec_with("    run: load_data\n", "    run: load_data\n    colour: red\n"), D, ["'colour'", "step 'load'", "allowed: id,"], (6, 5), id="unknown-step-key-no-hint"),
    pytest.param("wf", _spec_with("    run: train\n", "    run: train\n    retry: {limt: 2}\n"), D, ["'limt'", "retry of step 'train'", "did you mean 'limit'?"], (11, 13), id="unknown-retry-key"),
    pytest.param("wf", {"steps": [{"id": "a", "noop": True, "paramz": {}}]}, D, ["'paramz'", "did you mean 'params'?"], None, id="unknown-key-dict-source"),
    # step ids
    pytest.param("wf", _spec_with("  - id: train\n", "  - id: load\n"), D, ["duplicate step id 'load'"], (6, 5), id="duplicate-id"),
    pytest.param("wf", dedent("""\
        steps:
          - id: prep
            noop: true
          - id: outer
            foreach: {i: [1, 2]}
            steps:
              - id: work
                run: f
              - id: prep
                noop: true
    """), D, ["duplicate step id 'prep'", "unique across the workflow"], (9, 9), id="duplicate-id-nested-vs-top"),
    pytest.param("wf", "steps:\n  - run: f\n", D, ["step #1", "no 'id'"], (2, 5), id="missing-id"),
    pytest.param("wf", "steps:\n  - id: my-step\n    run: f\n", D, ["'my-step'", "identifier"], (2, 5), id="id-not-identifier"),
    pytest.param("wf", "steps:\n  - id: 12\n    run: f\n", D, ["step id 12"], (2, 5), id="id-a-number"),
    # after
    pytest.param("wf", _spec_with("after: [load]", "after: [laod]"), D, ["step 'train'", "unknown step 'laod'", "did you mean 'load'?"], (7, 5), id="unknown-after-hint"),
    pytest.param("wf", dedent("""\
        steps:
          - id: prep
            noop: true
          - id: outer
            foreach: {i: [1, 2]}
            steps:
              - id: work
                run: f
                after: prep
    """), D, ["step 'work'", "unknown step 'prep'", "inside foreach step 'outer'"], (9, 9), id="unknown-after-nested"),
    pytest.param("wf", _spec_with("after: [load]", "after: [load, train]"), D, ["step 'train'", "cannot run after itself"], (7, 5), id="self-dependency"),
    pytest.param("wf", _spec_with("after: [load]", "after: [load, load]"), D, ["step 'train'", "twice"], (7, 5), id="after-twice"),
    pytest.param("wf", _spec_with("after: [load]", "after: 3"), D, ["step 'train'", "after must be a step id"], (7, 5), id="after-a-number"),
    # cycles, named by their path
    pytest.param("wf", dedent("""\
        steps:
          - id: a
            noop: true
            after: b
          - id: b
            noop: true
            after: a
    """), D, ["cycle in the workflow: a -> b -> a"], (4, 5), id="cycle-2"),
    pytest.param("wf", dedent("""\
        steps:
          - id: z
            noop: true
          - id: c
            noop: true
            after: [b, z]
          - id: a
            noop: true
            after: c
          - id: b
            noop: true
            after: a
    """), D, ["cycle in the workflow: c -> a -> b -> c"], (6, 5), id="cycle-3"),
    pytest.param("wf", dedent("""\
        steps:
          - id: outer
            foreach: {i: [1, 2]}
            steps:
              - id: p
                noop: true
                after: q
              - id: q
                noop: true
                after: p
    """), D, ["cycle in foreach step 'outer': p -> q -> p"], (7, 9), id="cycle-nested"),
    # bad expressions
    pytest.param("wf", _spec_with("${load}", "${load +}"), E, ["step 'train'", "param 'data'", "invalid syntax"], (12, 7), id="expr-syntax"),
    pytest.param("wf", _spec_with("${load}", "${load.shape}"), E, ["step 'train'", "'.shape'", "attribute access"], (12, 7), id="expr-attribute"),
    pytest.param("wf", _spec_with("${load}", "${__builtins__}"), E, ["step 'train'", "'__builtins__'", "not allowed"], (12, 7), id="expr-dunder"),
    pytest.param("wf", _spec_with("${load}", "${__import__('os')}"), E, ["step 'train'", "'__import__'", "not allowed"], (12, 7), id="expr-import"),
    pytest.param("wf", _spec_with("${load}", "${open('x')}"), E, ["step 'train'", "calling 'open' is not allowed"], (12, 7), id="expr-disallowed-call"),
    pytest.param("wf", _spec_with("${load}", "${n_row * 2}"), E, ["step 'train'", "unknown name 'n_row'", "did you mean 'n_rows'?"], (12, 7), id="expr-unknown-name-hint"),
    pytest.param("wf", _spec_with("${load}", "${lr + bogus}"), E, ["step 'train'", "param 'data'", "unknown name 'bogus'"], (12, 7), id="expr-unknown-name"),
    pytest.param("wf", _spec_with("after: [load]\n", "if: ${train > 1}\n    after: [load]\n"), E, ["step 'train'", "if", "step 'train' is not upstream"], (7, 5), id="expr-reads-itself"),
    pytest.param("wf", dedent("""\
        steps:
          - id: a
            run: f
          - id: b
            run: g
            params:
              x: ${a}
    """), E, ["step 'b'", "param 'x'", "step 'a' is not upstream of 'b'", "add it to 'after'"], (7, 7), id="expr-step-not-upstream"),
    pytest.param("wf", dedent("""\
        steps:
          - id: a
            run: f
          - id: b
            after: a
            foreach: {i: [1, 2]}
            steps:
              - id: c
                run: g
                params: {x: "${a}", y: "${d}"}
              - id: d
                run: h
    """), E, ["step 'c'", "param 'y'", "step 'd' is not upstream of 'c'"], (10, 29), id="expr-nested-not-upstream"),
    pytest.param("wf", dedent("""\
        steps:
          - id: outer
            foreach: {i: [1, 2]}
            steps:
              - id: inner
                foreach: {x: "${range(1, j + 1)}"}
                run: f
    """), E, ["step 'inner'", "loop param 'x'", "unknown name 'j'"], (6, 19), id="expr-inner-loop-unknown"),
    pytest.param("wf", _spec_with("after: [load]\n", "after: [load]\n    if: true\n"), D, ["step 'train'", "if takes an expression"], (8, 5), id="if-not-expression"),
    pytest.param("wf", _spec_with("${load}", "prefix ${load}"), E, ["step 'train'", "param 'data'", "must be the whole value"], (12, 7), id="template-mid-string"),
    pytest.param("wf", _spec_with("${load}", "${load} suffix"), E, ["step 'train'", "must be the whole value"], (12, 7), id="template-then-text"),
    pytest.param("wf", _spec_with("lr: [0.001, 0.01]", "lr: [0.001, '${n_rows}']"), E, ["step 'train'", "loop param 'lr'", "not evaluated inside a list"], (9, 7), id="template-inside-loop-list"),
    # wrong types
    pytest.param("wf", _spec_with("    run: train\n", "    concurrency: 0\n    run: train\n"), D, ["step 'train'", "concurrency", ">= 1", "0"], (10, 5), id="concurrency-zero"),
    pytest.param("wf", _spec_with("    run: train\n", "    concurrency: '4'\n    run: train\n"), D, ["step 'train'", "concurrency", "'4'"], (10, 5), id="concurrency-text"),
    pytest.param("wf", _spec_with("    run: load_data\n", "    run: load_data\n    concurrency: 2\n"), D, ["step 'load'", "concurrency applies to a foreach"], (6, 5), id="concurrency-without-foreach"),
    pytest.param("wf", _spec_with("    run: train\n", "    run: train\n    retry: {limit: -1}\n"), D, ["step 'train'", "retry limit", "-1"], (11, 13), id="retry-limit-negative"),
    pytest.param("wf", _spec_with("    run: train\n", "    run: train\n    retry: {limit: 1, backoff: soon}\n"), D, ["step 'train'", "backoff", "'soon'"], (11, 23), id="retry-backoff-text"),
    pytest.param("wf", _spec_with("    run: train\n", "    run: train\n    retry: {platform_limit: 1.5}\n"), D, ["step 'train'", "retry platform_limit", "1.5"], (11, 13), id="retry-platform-limit-fraction"),
    pytest.param("wf", _spec_with("    run: train\n", "    run: train\n    retry: often\n"), D, ["step 'train'", "retry takes a mapping"], (11, 5), id="retry-not-mapping"),
    pytest.param("wf", "steps:\n  - id: nap\n    sleep: x\n", D, ["step 'nap'", "sleep", "'x'"], (3, 5), id="sleep-text"),
    pytest.param("wf", "steps:\n  - id: nap\n    sleep: -1\n", D, ["step 'nap'", "sleep", ">= 0"], (3, 5), id="sleep-negative"),
    pytest.param("wf", _spec_with("    params:\n      data: ${load}\n", "    params: [data]\n"), D, ["step 'train'", "params must be a mapping", "a list"], (11, 5), id="step-params-a-list"),
    pytest.param("wf", "params: [a, b]\nsteps:\n  - {id: a, noop: true}\n", D, ["params must be a mapping", "a list"], (1, 1), id="workflow-params-a-list"),
    pytest.param("wf", "params:\n  n: ${1 + 1}\nsteps:\n  - {id: a, noop: true}\n", D, ["param 'n'", "cannot be expressions"], (2, 3), id="workflow-param-expression"),
    pytest.param("wf", "params:\n  my-param: 1\nsteps:\n  - {id: a, noop: true}\n", D, ["'my-param'", "identifier"], (2, 3), id="workflow-param-name"),
    pytest.param("wf", _spec_with("      data: ${load}", "      my data: ${load}"), D, ["step 'train'", "'my data'", "identifier"], (12, 7), id="step-param-name"),
    pytest.param("wf", _spec_with("      lr: [0.001, 0.01]\n", ""), D, ["step 'train'", "foreach takes a mapping"], (8, 5), id="foreach-empty-mapping"),
    pytest.param("wf", "steps:\n  - id: fit\n    foreach: []\n    run: f\n", D, ["step 'fit'", "non-empty mappings"], (3, 5), id="foreach-empty-list"),
    pytest.param("wf", "steps:\n  - id: fit\n    foreach: [{a: 1}, 2]\n    run: f\n", D, ["step 'fit'", "non-empty mappings"], (3, 5), id="foreach-list-not-dicts"),
    pytest.param("wf", _spec_with("lr: [0.001, 0.01]", "lr: 0.1"), D, ["step 'train'", "loop param 'lr'", "non-empty list", "a number"], (9, 7), id="loop-param-not-a-list"),
    pytest.param("wf", _spec_with("lr: [0.001, 0.01]", "lr: []"), D, ["step 'train'", "loop param 'lr'", "non-empty list"], (9, 7), id="loop-param-empty-list"),
    pytest.param("wf", _spec_with("lr: [0.001, 0.01]", "learning-rate: [1]"), D, ["step 'train'", "'learning-rate'", "identifier"], (9, 7), id="loop-param-name"),
    pytest.param("wf", "steps:\n  - id: a\n    foreach: text\n    run: f\n", D, ["step 'a'", "foreach takes"], (3, 5), id="foreach-text"),
    # kinds
    pytest.param("wf", _spec_with("    run: load_data\n", "    run: load_data\n    sql: SELECT 1\n"), D, ["step 'load'", "both 'run' and 'sql'"], (6, 5), id="two-kinds"),
    pytest.param("wf", _spec_with("    run: load_data\n", "    description: loads\n"), D, ["step 'load'", "needs one of: run, sql, noop, sleep, workflow"], (4, 5), id="no-kind"),
    pytest.param("wf", "steps:\n  - id: a\n    steps:\n      - {id: b, noop: true}\n", D, ["step 'a'", "add 'foreach'"], (3, 5), id="steps-without-foreach"),
    pytest.param("wf", "steps:\n  - id: a\n    foreach: {i: [1]}\n    steps: []\n", D, ["foreach step 'a'", "non-empty list of steps"], (4, 5), id="nested-steps-empty"),
    pytest.param("wf", "steps:\n  - id: a\n    run: my.func\n", D, ["step 'a'", "run names a callable"], (3, 5), id="run-not-identifier"),
    pytest.param("wf", "steps:\n  - id: a\n    workflow: 'no such/flow'\n", D, ["step 'a'", "'no such/flow'", "not a workflow name"], (3, 5), id="subworkflow-name"),
    pytest.param("wf", "steps:\n  - id: a\n    sql: '  '\n", D, ["step 'a'", "sql must be text"], (3, 5), id="sql-blank"),
    # failure modes
    pytest.param("wf", _spec_with("    run: load_data\n", "    run: load_data\n    failure_mode: ignor\n"), D, ["step 'load'", "'ignor'", "did you mean 'ignore'?"], (6, 5), id="failure-mode-hint"),
    pytest.param("wf", "failure_mode: fail_fast\nsteps:\n  - {id: a, noop: true}\n", D, ["failure_mode 'fail_fast'", "fail_immediately"], (1, 1), id="workflow-failure-mode"),
    # workflow names
    pytest.param("1st", SPEC_STEPS, D, ["workflow name '1st'"], None, id="name-leading-digit"),
    pytest.param("my flow", SPEC_STEPS, D, ["workflow name 'my flow'"], None, id="name-space"),
    pytest.param("", SPEC_STEPS, D, ["workflow name ''"], None, id="name-empty"),
    pytest.param("flow\n", SPEC_STEPS, D, ["workflow name 'flow\\n'"], None, id="name-trailing-newline"),
    pytest.param(None, SPEC_STEPS, D, ["workflow name None"], None, id="name-none"),
    # bodies
    pytest.param("wf", "", D, ["definition is empty"], None, id="body-empty"),
    pytest.param("wf", "  \n\n", D, ["definition is empty"], None, id="body-blank"),
    pytest.param("wf", "# steps will come later\n", D, ["definition is empty"], None, id="body-only-comments"),
    pytest.param("wf", "- a\n- b\n", D, ["a mapping with a 'steps' list", "not a list"], (1, 1), id="body-a-list"),
    pytest.param("wf", "just some text\n", D, ["a mapping with a 'steps' list", "not text"], None, id="body-text"),
    pytest.param("wf", ["steps"], D, ["YAML text or a dict", "not a list"], None, id="body-python-list"),
    pytest.param("wf", "description: nothing yet\n", D, ["no 'steps' list"], (1, 1), id="body-without-steps"),
    pytest.param("wf", "steps: load\n", D, ["'steps' of the workflow", "non-empty list", "not text"], (1, 1), id="steps-not-a-list"),
    pytest.param("wf", "steps: []\n", D, ["'steps' of the workflow", "non-empty list"], (1, 1), id="steps-empty"),
    pytest.param("wf", "steps:\n  - {id: a, noop: true}\n  - just text\n", D, ["step #2", "must be a mapping", "not text"], (3, 5), id="step-not-a-mapping"),
]


@pytest.mark.parametrize(("name", "source", "error", "fragments", "where"), BAD_INPUTS)
def test_bad_input(name: Any, source: Any, error: type[DefinitionError], fragments: list[str],
                   where: tuple[int, int] | None) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition(name, source)
    exc = info.value
    message = str(exc)
    assert type(exc) is error, message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    if where is None:
        assert exc.line is None and exc.column is None, message
    else:
        assert (exc.line, exc.column) == where, message
        assert message.startswith(f"line {where[0]}, column {where[1]}: ")
    if name == "wf":
        assert exc.workflow == "wf"


def test_bad_input_table_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 30
    assert len({p.id for p in BAD_INPUTS}) == len(BAD_INPUTS)


@pytest.mark.parametrize(
    ("source", "step"),
    [
        (_spec_with("after: [load]", "after: [laod]"), "train"),
        (_spec_with("${load}", "${load.x}"), "train"),
        (_spec_with("  - id: train\n", "  - id: load\n"), "load"),
        ("steps:\n  - id: nap\n    sleep: x\n", "nap"),
    ],
)
def test_errors_carry_the_step(source: str, step: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition("wf", source)
    assert info.value.step == step
