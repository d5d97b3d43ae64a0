"""Property tests: generated definitions (DAGs with foreach and `if:`) and the status table."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import StateError
from maestro_nb.models.parse import parse_definition
from maestro_nb.models.status import ALLOWED_TRANSITIONS, StepStatus, check_transition

S = StepStatus


@st.composite
def dags(draw) -> dict:
    """A workflow of noop steps: random `after` edges (always to earlier steps, so acyclic), some
    foreach steps, some `if:` conditions that are true or false."""
    steps = []
    for i in range(draw(st.integers(1, 8))):
        step: dict = {"id": f"s{i}", "noop": True}
        if i:
            after = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3))
            if after:
                step["after"] = [f"s{p}" for p in after]
        condition = draw(st.sampled_from([None, True, False]))
        if condition is not None:
            step["if"] = "${flag}" if condition else "${not flag}"
        size = draw(st.sampled_from([None, 1, 3]))
        if size is not None:
            step["foreach"] = {"x": list(range(size))}
        steps.append(step)
    return {"params": {"flag": True}, "steps": steps}


def expected_statuses(source: dict) -> dict[str, tuple[str, int]]:
    """Maestro's rule: a step none of whose predecessors succeeded ends UNSATISFIED; a false `if:`
    ends it SKIPPED; else it succeeds, once per iteration."""
    found: dict[str, tuple[str, int]] = {}
    for step in source["steps"]:
        after = step.get("after", [])
        iterations = len(step.get("foreach", {}).get("x", [0]))
        if after and not any(found[p][0] == "SUCCEEDED" for p in after):
            found[step["id"]] = ("UNSATISFIED", 1)
        elif step.get("if") == "${not flag}":
            found[step["id"]] = ("SKIPPED", 1)
        else:
            found[step["id"]] = ("SUCCEEDED", iterations)
    return found


@given(dags())
def test_a_generated_definition_parses_and_reads_back_from_its_stored_source(source):
    definition = parse_definition("w", source)
    assert definition.step_ids == tuple(step["id"] for step in source["steps"])
    for step in source["steps"]:
        assert definition.step(step["id"]).after == tuple(step.get("after", ()))
    again = parse_definition("w", json.loads(definition.source))  # what the state file keeps
    as_yaml = parse_definition("w", json.dumps(source))  # JSON is YAML too
    assert again.digest == as_yaml.digest == definition.digest
    for sid in definition.step_ids:  # upstream is the transitive closure of `after`
        closure, stack = set(), list(definition.step(sid).after)
        while stack:
            up = stack.pop()
            if up not in closure:
                closure.add(up)
                stack.extend(definition.step(up).after)
        assert set(definition.upstream(sid)) == closure
        assert all(name in definition.upstream(sid) for name in closure)


@settings(max_examples=25, deadline=None)
@given(dags())
def test_a_generated_definition_runs_to_the_statuses_maestros_rule_gives(source):
    with tempfile.TemporaryDirectory() as folder, Engine(str(Path(folder) / "state.duckdb"), {}) as engine:
        engine.define("w", source)
        instance = engine.run("w")
        assert instance.status.value == "SUCCEEDED"
        rows = engine.sql("SELECT step_id, status, iterations FROM steps").values.tolist()
    assert {sid: (status, n) for sid, status, n in rows} == expected_statuses(source)


STATUSES = st.sampled_from(list(S))


@given(STATUSES, STATUSES)
def test_a_transition_is_allowed_exactly_when_the_table_lists_it(current, new):
    try:
        check_transition(current, new)
    except StateError as exc:
        assert new not in ALLOWED_TRANSITIONS[current]
        assert current.value in str(exc) and new.value in str(exc)
    else:
        assert new in ALLOWED_TRANSITIONS[current]


@given(st.lists(st.integers(0, 100), max_size=40))
def test_any_walk_through_the_table_starts_at_created_and_stops_only_at_a_terminal_status(choices):
    status, walk = S.CREATED, [S.CREATED]
    for choice in choices:
        options = sorted(ALLOWED_TRANSITIONS[status], key=lambda s: s.value)
        if not options:
            break
        status = options[choice % len(options)]
        walk.append(status)
    assert all(b in ALLOWED_TRANSITIONS[a] for a, b in zip(walk, walk[1:]))
    if len(walk) < len(choices) + 1:  # the walk stopped: nothing may follow a terminal status
        assert status.terminal

