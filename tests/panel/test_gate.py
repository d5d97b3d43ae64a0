"""Approval gates: a breakpoint set with gate=True, approve (resume) and reject (skip), the
decision and comment in the events view, and refusals that change nothing."""

from __future__ import annotations

import json

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import ParamError, StateError
from maestro_nb.readmodel import ReadModel

GATED = {"steps": [
    {"id": "report", "run": "report"},
    {"id": "publish", "after": ["report"], "run": "publish"},
    {"id": "notify", "after": ["publish"], "run": "notify"},
]}


@pytest.fixture
def gated(engine, namespace):
    namespace.update(report=lambda: 0.5, publish=lambda report: {"published": report},
                     notify=lambda publish: publish)
    engine.define("pub", GATED)
    return engine


def gate_events(engine: Engine) -> list[tuple]:
    frame = engine.sql("SELECT instance_id, step_id, detail FROM events WHERE kind = 'gate' ORDER BY recorded_at")
    return [(r.instance_id, r.step_id, json.loads(r.detail)) for r in frame.itertuples()]


def test_approve_resumes_and_records_the_decision(gated):
    bp = gated.set_breakpoint("pub.publish", gate=True)
    gated.run("pub")
    (a,) = gated.paused()
    view = ReadModel(gated).paused().items[0]
    assert view.gate and ReadModel(gated).breakpoints()[0].gate
    gated.approve(a, comment="numbers look right")
    assert gated.paused() == []
    assert gated.step_status("pub", "notify") == "SUCCEEDED"
    assert gate_events(gated) == [(1, "publish", {"decision": "approved", "comment": "numbers look right",
                                                  "breakpoints": [bp.id]})]


def test_reject_skips(gated):
    gated.set_breakpoint("pub.publish", gate=True)
    gated.run("pub")
    gated.reject(gated.paused(), comment="wrong quarter")
    assert gated.step_status("pub", "publish") == "SKIPPED"
    assert gated.step_status("pub", "notify") == "UNSATISFIED"
    assert gate_events(gated)[0][2]["decision"] == "rejected"


def test_gate_survives_reopening(db_path, namespace, gated):
    gated.set_breakpoint("pub.publish", gate=True, name="approval")
    gated.run("pub")
    gated.close()
    with Engine(db_path, namespace) as again:
        (bp,) = again.breakpoints()
        assert bp.gate and bp.name == "approval"
        (a,) = again.paused()
        again.approve(a, "after the restart")
        assert again.step_status("pub", "notify") == "SUCCEEDED"
        assert again.sql("SELECT gate FROM breakpoints").gate.tolist() == [True]


def test_refusals_change_nothing(gated):
    gated.set_breakpoint("pub.report")
    gated.run("pub")
    (a,) = gated.paused()
    before = gated.scheduler.revision
    with pytest.raises(StateError, match="not waiting at a gate"):
        gated.approve(a, "ok")
    with pytest.raises(ParamError, match="comment is text"):
        gated.reject(a, comment=3)
    with pytest.raises(ParamError, match="a gate pauses before or after"):
        gated.set_breakpoint("pub.publish", gate=True, pause="error")
    with pytest.raises(ParamError, match="gate is True or False"):
        gated.set_breakpoint("pub.publish", gate="yes")
    assert gated.paused() == [a] and gate_events(gated) == []
    assert len(gated.breakpoints()) == 1
    assert gated.scheduler.revision == before


def test_a_gate_is_not_the_same_breakpoint_as_a_plain_one(gated):
    plain = gated.set_breakpoint("pub.publish")
    gate = gated.set_breakpoint("pub.publish", gate=True)
    assert gate is not plain and gated.set_breakpoint("pub.publish", gate=True) is gate
    assert "gate" in repr(gate)
