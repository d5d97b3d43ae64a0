"""A run keeps what is alive every few hundred attempts out of the garbage collector's
collections, and puts it back when it ends, however it ends."""

from __future__ import annotations

import gc
import weakref

import pytest

import maestro_nb.engine.scheduler as scheduler_module
from maestro_nb.models.status import InstanceStatus


class Node:
    """A reference cycle: only the collector frees it."""

    def __init__(self):
        self.me = self


@pytest.fixture
def freezing(monkeypatch):
    """What is alive is frozen after every attempt started; the process starts with nothing
    frozen, and ends so."""
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(scheduler_module, "ATTEMPTS_PER_FREEZE", 1)
    yield
    gc.unfreeze()


def test_a_busy_run_freezes_what_it_holds_and_unfreezes_it_when_it_ends(engine, namespace, freezing):
    counts, cycle = [], []

    def step(i):
        counts.append(gc.get_freeze_count())
        if i == 0:
            cycle.append(Node())
        elif i == 2:
            dead = weakref.ref(cycle.pop())
            gc.collect()  # the cycle was alive at a freeze: no collection during the run frees it
            cycle.append(dead)
        return i

    namespace["step"] = step
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(5))}, "run": "step"}]})
    instance = engine.run("w")
    assert instance.status is InstanceStatus.SUCCEEDED
    assert engine.results("w", "s").output.tolist() == [0, 1, 2, 3, 4]
    assert counts[0] == 0 and all(count > 0 for count in counts[1:]), counts
    assert gc.get_freeze_count() == 0, "the run left objects frozen"
    dead = cycle[0]
    assert dead() is not None
    gc.collect()
    assert dead() is None, "a cycle that died during the run is not collected after it"


def test_a_run_leaves_what_others_froze_as_it_was(engine, namespace, freezing):
    frozen = Node()
    dead = weakref.ref(frozen)
    gc.freeze()  # as a server does before it forks
    del frozen
    counts = []
    namespace["step"] = lambda i: counts.append(gc.get_freeze_count())
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(5))}, "run": "step"}]})
    engine.run("w")
    gc.collect()
    assert dead() is not None, "the run unfroze what it had not frozen"
    assert max(counts) <= counts[0], "the run froze objects beside another's"


def test_an_interrupted_run_unfreezes_what_it_froze(engine, namespace, freezing):
    counts = []

    def step(i):
        counts.append(gc.get_freeze_count())
        if i == 3:
            raise KeyboardInterrupt

    namespace["step"] = step
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(6))}, "run": "step"}]})
    with pytest.raises(KeyboardInterrupt):
        engine.run("w")
    assert counts[-1] > 0 and gc.get_freeze_count() == 0


def test_a_run_freezes_once_every_few_attempts(engine, namespace, freezing, monkeypatch):
    monkeypatch.setattr(scheduler_module, "ATTEMPTS_PER_FREEZE", 3)
    counts = []
    namespace["step"] = lambda i: counts.append(gc.get_freeze_count())
    engine.define("w", {"steps": [{"id": "s", "foreach": {"i": list(range(8))}, "run": "step"}]})
    engine.run("w")
    assert counts[:3] == [0, 0, 0] and all(count > 0 for count in counts[3:]), counts
    assert gc.get_freeze_count() == 0, "the run left objects frozen"
