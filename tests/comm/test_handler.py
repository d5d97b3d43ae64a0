"""The comm handler: every malformed, hostile or stale message gets an error reply and changes
nothing; good ones act through the engine; snapshots and replies fit the protocol's schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from maestro_nb.comm import Handler, snapshot
from maestro_nb.comm.schema import MAX_BYTES

from .protocol_schema import check_reply, check_snapshot

SWEEP = """
params:
  n: 3
steps:
  - id: load
    run: load
  - id: fit
    after: [load]
    foreach:
      alpha: [0.1, 0.2, 0.3]
    run: fit
  - id: best
    after: [fit]
    run: best
"""


@pytest.fixture
def paused_engine(engine, namespace):
    """`sweep` defined and run with a breakpoint on fit: three attempts paused before it."""
    namespace["load"] = lambda n: list(range(n))
    namespace["fit"] = lambda load, alpha: alpha * len(load)
    namespace["best"] = lambda fit: max(fit)
    engine.define("sweep", SWEEP)
    engine.set_breakpoint("sweep.fit")
    engine.run("sweep")
    assert len(engine.paused()) == 3
    return engine


@pytest.fixture
def handler(paused_engine):
    return Handler(lambda: paused_engine)


def state(engine) -> Any:
    """Everything a message could change, as plain data."""
    found = snapshot(engine)
    found["params"] = [(a.label, dict(a.params)) for a in engine.paused()]
    return copy.deepcopy(found)


def req(op: str, args: Any = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"protocol": 1, "id": "r1", "op": op, **extra}
    if args is not None:
        message["args"] = args
    return message


KEY = "sweep#1/1/fit[1]/1"

HOSTILE: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "JSON object"),
    ("a bare string", "resume", "JSON object"),
    ("null", None, "JSON object"),
    ("no protocol", {"id": "r1", "op": "hello"}, "protocol"),
    ("protocol 2", {"protocol": 2, "id": "r1", "op": "hello"}, "protocol"),
    ("protocol as text", {"protocol": "1", "id": "r1", "op": "hello"}, "protocol"),
    ("protocol true", {"protocol": True, "id": "r1", "op": "hello"}, "protocol"),
    ("no id", {"protocol": 1, "op": "hello"}, "id must be"),
    ("numeric id", {"protocol": 1, "id": 7, "op": "hello"}, "id must be"),
    ("empty id", {"protocol": 1, "id": "", "op": "hello"}, "id must be"),
    ("long id", {"protocol": 1, "id": "x" * 65, "op": "hello"}, "id must be"),
    ("unknown op", req("resumee", {"keys": [KEY]}), "did you mean 'resume'"),
    ("op not a string", req(5), "unknown op"),
    ("extra top-level field", req("hello", extra_field=1), "unknown field"),
    ("args a list", req("resume", [KEY]), "args must be an object"),
    ("unknown argument", req("resume", {"keys": [KEY], "all": True}), "unknown argument 'all'"),
    ("hello with args", req("hello", {"x": 1}), "unknown argument"),
    ("missing keys", req("resume", {}), "missing argument 'keys'"),
    ("keys a string", req("resume", {"keys": KEY}), "list of 1 to 1000"),
    ("keys empty", req("resume", {"keys": []}), "1 to 1000"),
    ("too many keys", req("stop", {"keys": [KEY] * 1001}), "1 to 1000"),
    ("key not a key", req("resume", {"keys": ["fit[1]"]}), "attempt key"),
    ("key a number", req("retry", {"keys": [3]}), "attempt key"),
    ("stale key", req("resume", {"keys": ["sweep#1/1/fit[9]/1"]}), "is not paused"),
    ("one stale key among good ones", req("resume", {"keys": [KEY, "sweep#1/1/fit[7]/1"]}), "is not paused"),
    ("unknown workflow key", req("skip", {"keys": ["nope#1/1/fit[1]/1"]}), "is not paused"),
    ("old run's key", req("stop", {"keys": ["sweep#1/2/fit[1]/1"]}), "is not paused"),
    ("target without step", req("set_breakpoint", {"target": "sweep"}), "name a step as WORKFLOW.STEP"),
    ("toggle without step", req("toggle_breakpoint", {"target": "sweep"}), "WORKFLOW.STEP"),
    ("unknown step", req("set_breakpoint", {"target": "sweep.fitt"}), "did you mean 'fit'"),
    ("unknown workflow", req("toggle_breakpoint", {"target": "swep.fit"}), "unknown workflow"),
    ("bad pause point", req("set_breakpoint", {"target": "sweep.fit", "pause": "during"}), "'before' or 'after' or 'error'"),
    ("bad condition", req("set_breakpoint", {"target": "sweep.load", "when": "alpha >"}), ""),
    ("instance zero", req("set_breakpoint", {"target": "sweep.load", "instance": 0}), "from 1"),
    ("instance as text", req("instance", {"workflow": "sweep", "instance": "1"}), "integer"),
    ("instance a float", req("instance", {"workflow": "sweep", "instance": 1.5}), "integer"),
    ("instance a boolean", req("instance", {"workflow": "sweep", "instance": True}), "integer"),
    ("unknown instance", req("instance", {"workflow": "sweep", "instance": 99}), "99"),
    ("unknown breakpoint id", req("delete_breakpoint", {"id": 42}), "no breakpoint 42"),
    ("breakpoint id as text", req("delete_breakpoint", {"id": "1"}), "integer"),
    ("keep_paused not a flag", req("delete_breakpoint", {"id": 1, "keep_paused": "yes"}), "true or false"),
    ("limit too big", req("paused", {"workflow": "sweep", "limit": 5000}), "1 to 1000"),
    ("loop not an object", req("paused", {"workflow": "sweep", "loop": [1]}), "loop"),
    ("loop value an object", req("paused", {"workflow": "sweep", "loop": {"alpha": {"x": 1}}}), "loop.alpha"),
    ("paused unknown step", req("paused", {"workflow": "sweep", "step": "fut"}), "did you mean 'fit'"),
    ("set_param wrong kind", req("set_param", {"key": KEY, "name": "alpha", "value": "abc"}), "alpha"),
    ("set_param unknown param", req("set_param", {"key": KEY, "name": "beta", "value": 1.0}), "beta"),
    ("set_param bad name", req("set_param", {"key": KEY, "name": "a b", "value": 1.0}), "param name"),
    ("set_param no value", req("set_param", {"key": KEY, "name": "alpha"}), "missing argument 'value'"),
    ("set_output before the step ran", req("set_output", {"key": KEY, "value": 1}), "before its step ran"),
    ("oversized payload", req("set_param", {"key": KEY, "name": "alpha", "value": "x" * MAX_BYTES}),
     "byte limit"),
    ("NaN value", req("set_param", {"key": KEY, "name": "alpha", "value": float("nan")}), "plain JSON"),
    ("script in a target", req("toggle_breakpoint", {"target": "<script>alert(1)</script>"}), "WORKFLOW.STEP"),
    ("huge target", req("toggle_breakpoint", {"target": "a." + "b" * 2000}), "1 to 1000 characters"),
]


@pytest.mark.parametrize("message, expected", [(m, e) for _, m, e in HOSTILE], ids=[n for n, _, _ in HOSTILE])
def test_a_bad_message_gets_an_error_reply_and_changes_nothing(handler, paused_engine, message, expected):
    before = state(paused_engine)
    answer = handler.handle(message)
    check_reply(answer)
    assert answer["ok"] is False, answer
    assert expected in answer["error"]
    assert "\n" not in answer["error"]
    assert answer["id"] == (message.get("id") if isinstance(message, dict) and isinstance(message.get("id"), str)
                            and 0 < len(message["id"]) <= 64 else None)
    assert state(paused_engine) == before


def test_there_are_at_least_thirty_hostile_messages():
    assert len(HOSTILE) >= 30


def test_a_deeply_nested_output_is_stored_as_given_or_refused_whole(handler, paused_engine):
    """JSON nested 200 deep is valid JSON: skip takes it as the output, or refuses it cleanly."""
    before = state(paused_engine)
    output = json.loads("[" * 200 + "]" * 200)
    answer = handler.handle(req("skip", {"keys": [KEY], "output": output}))
    check_reply(answer)
    if not answer["ok"]:
        assert state(paused_engine) == before
    else:
        assert answer["result"] == {"done": 1}


def test_hello_and_snapshot_fit_the_schema(handler, paused_engine):
    answer = handler.handle(req("hello"))
    check_reply(answer)
    snap = answer["result"]
    check_snapshot(snap)
    assert snap["paused"]["total"] == 3
    assert [p["key"] for p in snap["paused"]["items"]] == [f"sweep#1/1/fit[{i}]/1" for i in (0, 1, 2)]
    fit = next(s for s in snap["details"][0]["steps"] if s["id"] == "fit")
    assert fit["status"] == "PAUSED" and fit["counts"] == {"PAUSED": 3} and fit["breakpoints"] == [1]
    assert snap["breakpoints"][0]["step"] == "fit"
    assert handler.handle(req("snapshot"))["result"] == snap


def test_no_engine_yet_is_an_empty_snapshot():
    answer = Handler(lambda: None, lambda: None).handle(req("hello"))  # type: ignore[arg-type,return-value]
    check_reply(answer)
    check_snapshot(answer["result"])
    assert answer["result"]["state_file"] is None


def test_set_param_then_resume_runs_the_iteration_with_the_new_value(handler, paused_engine):
    answer = handler.handle(req("set_param", {"key": KEY, "name": "alpha", "value": 2.0}))
    check_reply(answer)
    assert answer["ok"], answer
    assert answer["result"]["params"]["alpha"] == {"kind": "float", "text": "2.0", "editable": True, "value": 2.0}
    answer = handler.handle(req("resume", {"keys": [KEY]}))
    assert answer["ok"] and answer["result"] == {"done": 1}
    assert len(paused_engine.paused()) == 2
    assert paused_engine.results("sweep", "fit")["output"].tolist()[1] == 6.0


def test_each_action_acts_on_the_attempts_it_names(handler, paused_engine):
    keys = [f"sweep#1/1/fit[{i}]/1" for i in (0, 1, 2)]
    assert handler.handle(req("skip", {"keys": [keys[0]], "output": 0.5}))["result"] == {"done": 1}
    assert handler.handle(req("step", {"keys": [keys[1]]}))["result"] == {"done": 1}
    assert handler.handle(req("retry", {"keys": [keys[2]]}))["ok"]
    # retried: a new attempt, paused again by the breakpoint
    assert [a.label for a in paused_engine.paused()] == ["sweep#1 fit[2]"]
    assert handler.handle(req("stop", {"keys": ["sweep#1/1/fit[2]/2"]}))["result"] == {"done": 1}
    assert paused_engine.paused() == []
    statuses = paused_engine.results("sweep", "fit")["status"].tolist()
    assert statuses == ["SKIPPED", "SUCCEEDED", "STOPPED"]  # iterations 0, 1, 2


def test_toggle_sets_then_deletes_and_releases(handler, paused_engine):
    answer = handler.handle(req("toggle_breakpoint", {"target": "sweep.best"}))
    check_reply(answer)
    assert answer["result"]["set"]["step"] == "best" and answer["result"]["set"]["pause_point"] == "before"
    answer = handler.handle(req("toggle_breakpoint", {"target": "sweep.fit"}))
    assert answer["result"] == {"deleted": [1], "released": 3}
    # fit ran; best is held by the breakpoint just set
    assert [a.label for a in paused_engine.paused()] == ["sweep#1 best"]
    answer = handler.handle(req("delete_breakpoint", {"id": 2}))
    assert answer["result"] == {"released": 1}
    assert paused_engine.instance("sweep").status.value == "SUCCEEDED"


def test_set_breakpoint_twice_returns_the_same_one(handler, paused_engine):
    first = handler.handle(req("set_breakpoint", {"target": "sweep.best", "when": "fit is not None"}))
    again = handler.handle(req("set_breakpoint", {"target": "sweep.best", "when": "fit is not None"}))
    assert first["ok"] and first["result"] == again["result"]
    assert first["result"]["when"] == "fit is not None"
    assert len(paused_engine.breakpoints()) == 2


def test_paused_pages_and_filters_by_loop_param(handler):
    answer = handler.handle(req("paused", {"workflow": "sweep", "loop": {"alpha": 0.2}}))
    check_reply(answer)
    assert [p["key"] for p in answer["result"]["items"]] == ["sweep#1/1/fit[1]/1"]
    answer = handler.handle(req("paused", {"workflow": "sweep", "step": "fit", "limit": 2}))
    assert len(answer["result"]["items"]) == 2 and answer["result"]["total"] == 3


def test_instance_view_fits_the_schema(handler):
    answer = handler.handle(req("instance", {"workflow": "sweep"}))
    check_reply(answer)
    assert answer["result"]["instance"] == 1 and answer["result"]["word"] == "paused"
