"""Showing an instance of a reopened state file: what it reports lost, and what it reads back."""

from __future__ import annotations

import threading
from textwrap import dedent

import pandas as pd
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.engine.seeds import lost_outputs, read_seeds


class Model:
    """A picklable output that is not JSON-native."""

    def __init__(self, size: int):
        self.size = size


OUTPUTS = {  # step id -> what its step returns
    "plain": lambda: {"x": 1},
    "in_memory": threading.Lock,  # neither JSON nor picklable
    "pickled": lambda: Model(3),
    "small": lambda: pd.DataFrame({"a": [1, 2]}),
    "small_gone": lambda: pd.DataFrame({"b": ["x"]}),
    "big": lambda: pd.DataFrame({"n": range(1000)}),
    "big_gone": lambda: pd.DataFrame({"m": range(1000)}),
    "marker_key": lambda: {"$maestro": "a user's own key"},
    "none": lambda: None,
}


def every_kind(db_path: str) -> None:
    """One instance whose steps return each kind of output; then two of its stored tables
    are taken out of the file."""
    namespace = {f"make_{sid}": make for sid, make in OUTPUTS.items()}
    namespace["make_many"] = lambda i: threading.Lock()
    steps = "".join(f"  - id: {sid}\n    run: make_{sid}\n" for sid in OUTPUTS)
    steps += "  - id: many\n    foreach:\n      i: [0, 1, 2]\n    run: make_many\n"
    with Engine(db_path, namespace, pickle_values=True) as engine:
        engine.define("w", "steps:\n" + steps)
        assert engine.run("w").status.value == "SUCCEEDED"
        named = dict(engine.store.rows("SELECT step_id, output->>'name' FROM iterations"
                                       " WHERE step_id IN ('small_gone', 'big_gone')"))
        engine.store.conn.execute("DELETE FROM value_index WHERE value_id = ?",
                                  [int(named["small_gone"].removeprefix("small_"))])
        engine.store.conn.execute(f"DROP TABLE {named['big_gone']}")


def lost_by_seeds(engine: Engine, instance) -> list[tuple[str, str]]:
    """What reading every output back finds lost (as a recovery does)."""
    seeds = read_seeds(engine.store, engine.codec, instance)
    return sorted(key for key, seed in seeds.items() if seed.lost)


@pytest.mark.parametrize("pickle_values", [False, True])
def test_lost_outputs_are_those_reading_every_output_back_finds(db_path, pickle_values):
    every_kind(db_path)
    with Engine(db_path, {}, pickle_values=pickle_values) as engine:
        instance = engine.instance("w")
        expected = [("big_gone", ""), ("in_memory", ""), ("many", "0"), ("many", "1"), ("many", "2"),
                    ("small_gone", "")] + ([] if pickle_values else [("pickled", "")])
        assert lost_by_seeds(engine, instance) == sorted(expected)
        assert sorted(lost_outputs(engine.store, engine.codec, instance)) == sorted(expected)


def test_the_report_of_a_reopened_instance_names_the_lost_outputs(db_path):
    every_kind(db_path)
    with Engine(db_path, {}) as engine:
        engine.instance("w")
        assert engine.recovery_report == [
            "w#1: outputs of big_gone, in_memory, many[0], many[1], many[2], pickled, small_gone were kept "
            "in memory only and will be computed again"]


def test_showing_a_reopened_instance_reads_back_no_output(db_path, monkeypatch):
    frames = {"make": lambda i: pd.DataFrame({"i": [i, i + 1]}), "whole": lambda: pd.DataFrame({"n": range(500)})}
    with Engine(db_path, frames) as engine:
        engine.define("w", dedent("""
            steps:
              - id: each
                foreach:
                  i: [0, 1, 2, 3]
                run: make
              - id: one
                run: whole
        """))
        engine.run("w")
    with Engine(db_path, {}) as engine:
        loaded = []
        load_table = engine.store.load_table
        monkeypatch.setattr(engine.store, "load_table", lambda name: loaded.append(name) or load_table(name))
        instance = engine.instance("w")
        assert loaded == []
        assert engine.recovery_report == []
        assert engine.status_word(instance) == "SUCCEEDED"
        results = engine.results("w", "each")
        assert len(loaded) == 4
        for i in range(4):
            pd.testing.assert_frame_equal(results.output[i], pd.DataFrame({"i": [i, i + 1]}))
        pd.testing.assert_frame_equal(engine.results("w", "one").output[0], pd.DataFrame({"n": range(500)}))


def test_a_restart_of_a_reopened_instance_keeps_the_outputs_it_can_read(db_path):
    calls = []
    namespace = {"make": lambda i: calls.append(i) or pd.DataFrame({"i": [i]}),
                 "hold": lambda: calls.append("hold") or threading.Lock()}
    definition = dedent("""
        steps:
          - id: each
            foreach:
              i: [0, 1]
            run: make
          - id: keep
            run: hold
    """)
    with Engine(db_path, namespace) as engine:
        engine.define("w", definition)
        engine.run("w")
    calls.clear()
    with Engine(db_path, namespace) as engine:
        engine.instance("w")
        again = engine.restart("w", from_step="keep")
        assert again.status.value == "SUCCEEDED"
        assert calls == ["hold"]
        pd.testing.assert_frame_equal(engine.results("w", "each").output[1], pd.DataFrame({"i": [1]}))
