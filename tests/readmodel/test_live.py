"""The watcher: a face hears about every change, at a bounded rate, and never about nothing."""

from __future__ import annotations

import threading
import time

import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import ParamError
from maestro_nb.readmodel import ReadModel
from maestro_nb.readmodel.live import Watcher

DEADLINE = 60.0


class Recorder:
    """Counts the calls, and keeps what the read model showed at each."""

    def __init__(self, model: ReadModel, workflow: str | None = None):
        self.model = model
        self.workflow = workflow
        self.calls = 0
        self.seen: list = []
        self.changed = threading.Condition()

    def __call__(self) -> None:
        view = self.model.instance(self.workflow) if self.workflow else None
        with self.changed:
            self.calls += 1
            self.seen.append(view)
            self.changed.notify_all()

    def wait_for(self, predicate) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout=DEADLINE), "the face was never told"


def test_an_action_on_an_idle_engine_wakes_the_face_once(engine):
    engine.define("w", {"steps": [{"id": "a", "noop": True}]})
    recorder = Recorder(ReadModel(engine))
    watcher = Watcher(engine, recorder)
    try:
        engine.set_breakpoint("w.a")
        recorder.wait_for(lambda: recorder.calls >= 1)
        watcher.poke()  # nothing moved since: no call
        time.sleep(watcher.interval * 3)  # a quiet spell: the absence of a call is what is tested
        assert recorder.calls == 1
    finally:
        watcher.close()


def test_a_background_sweep_is_followed_at_the_rate_and_ends_on_the_final_state(db_path):
    engine = Engine(db_path, {"work": lambda i: time.sleep(0.0005) or i}, executor="threads")
    engine.define("big", {"steps": [{"id": "work", "foreach": {"i": "${range(4000)}"}, "run": "work"}]})
    recorder = Recorder(ReadModel(engine), "big")
    started = time.monotonic()
    watcher = Watcher(engine, recorder, rate=20)
    try:
        engine.run("big", background=True)
        assert engine.wait(timeout=300)
        recorder.wait_for(lambda: recorder.seen and recorder.seen[-1].status == "SUCCEEDED")
        elapsed = time.monotonic() - started
    finally:
        watcher.close()
    # Each call is followed by a full interval: no more calls than the time allows.
    assert 1 <= recorder.calls <= elapsed / watcher.interval + 1
    [work] = recorder.seen[-1].steps
    assert dict(work.counts) == {"SUCCEEDED": 4000}
    engine.close()


def test_a_failing_face_is_reported_and_keeps_being_called(engine, capsys):
    engine.define("w", {"steps": [{"id": "a", "noop": True}]})
    calls = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("face broke")

    watcher = Watcher(engine, broken)
    try:
        engine.set_breakpoint("w.a")
        deadline = time.monotonic() + DEADLINE
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.run("w")
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        watcher.close()
    assert len(calls) >= 2
    assert "face broke" in capsys.readouterr().err


def test_close_removes_the_listener_and_stops_the_calls(engine):
    engine.define("w", {"steps": [{"id": "a", "noop": True}]})
    recorder = Recorder(ReadModel(engine))
    watcher = Watcher(engine, recorder)
    watcher.close()
    assert watcher.closed and watcher._listener not in engine.scheduler.listeners
    engine.run("w")
    time.sleep(watcher.interval * 3)  # a quiet spell: the absence of a call is what is tested
    assert recorder.calls == 0


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_a_rate_that_is_not_positive_is_refused(engine, rate):
    with pytest.raises(ParamError, match="positive"):
        Watcher(engine, lambda: None, rate=rate)
