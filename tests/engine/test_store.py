"""The state file: documented views, how values are persisted, migrations, locking."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
from importlib import resources
from textwrap import dedent

import pandas as pd
import pyarrow as pa
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.errors import MaestroError, StateError, StoreLockedError
from maestro_nb.models.status import InstanceStatus
from maestro_nb.store.values import NotPersisted

VIEWS = ("workflows", "instances", "steps", "iterations", "attempts", "events", "breakpoints")
UNPICKLED: list[str] = []


class Marker:
    """A picklable object that records every unpickling."""

    def __init__(self, tag: str):
        self.tag = tag

    def __setstate__(self, state):
        UNPICKLED.append(state["tag"])
        self.__dict__.update(state)


def define(engine: Engine, name: str, yaml: str):
    return engine.define(name, dedent(yaml))


def one_step(engine: Engine, namespace: dict, value, name: str = "w") -> None:
    namespace["make"] = lambda: value
    define(engine, name, """
        steps:
          - id: s
            run: make
    """)


# --- views -----------------------------------------------------------------------------------
def test_documented_views_are_queryable_with_engine_sql(engine, namespace):
    namespace["f"] = lambda x: x + 1
    define(engine, "w", """
        description: two steps
        params: {n: 3}
        steps:
          - id: f
            foreach:
              x: ${range(n)}
            run: f
          - id: g
            after: [f]
            noop: true
    """)
    engine.set_breakpoint("w.g", name="gate")
    engine.run("w")
    counts = {view: int(engine.sql(f"SELECT count(*) AS n FROM {view}").n[0]) for view in VIEWS}
    assert counts["workflows"] == 1 and counts["instances"] == 1 and counts["breakpoints"] == 1
    assert counts["iterations"] == 4 and counts["attempts"] == 4
    assert counts["steps"] == 2 and counts["events"] >= 4 * 4
    assert engine.sql("SELECT description FROM workflows").description.tolist() == ["two steps"]
    steps = engine.sql("SELECT step_id, iterations, succeeded, paused FROM steps ORDER BY step_id")
    assert steps.values.tolist() == [["f", 3, 3, 0], ["g", 1, 0, 1]]
    assert engine.sql("SELECT name, step_id FROM breakpoints").values.tolist() == [["gate", "g"]]
    kinds = set(engine.sql("SELECT DISTINCT kind FROM events").kind)
    assert {"status", "breakpoint_set"} <= kinds
    assert engine.sql("SELECT status FROM instances").status.tolist() == ["IN_PROGRESS"]


# --- values ----------------------------------------------------------------------------------
JSON_VALUES = [
    None, True, 0, -7, 2**53, 3.25, "text", "ünïcødé ✓", [], {}, [1, "two", None, [3.5]],
    {"nested": {"deep": [1, {"k": "v"}]}, "flag": False}, float("inf"),
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=[repr(v)[:20] for v in JSON_VALUES])
def test_json_native_outputs_round_trip_through_the_file(db_path, namespace, value):
    with Engine(db_path, namespace) as engine:
        one_step(engine, namespace, value)
        assert engine.run("w").status is InstanceStatus.SUCCEEDED
    with Engine(db_path, {}) as engine:
        [text] = engine.sql("SELECT output FROM attempts").output.tolist()
        assert engine.codec.decode(text) == value
        assert engine.recovery_report == []


def test_nan_output_round_trips(db_path, namespace):
    with Engine(db_path, namespace) as engine:
        one_step(engine, namespace, {"x": float("nan")})
        engine.run("w")
    with Engine(db_path, {}) as engine:
        [text] = engine.sql("SELECT output FROM attempts").output.tolist()
        assert math.isnan(engine.codec.decode(text)["x"])


def test_workflow_params_round_trip(db_path, namespace):
    namespace["f"] = lambda cfg: cfg
    with Engine(db_path, namespace) as engine:
        define(engine, "w", """
            params: {cfg: {a: 1}}
            steps:
              - id: s
                run: f
        """)
        engine.run("w", {"cfg": {"lr": [0.1, 0.2], "name": "x"}})
    with Engine(db_path, {}) as engine:
        params = engine.sql("SELECT params FROM instances").params[0]
        assert json.loads(params) == {"cfg": {"lr": [0.1, 0.2], "name": "x"}}


def test_a_big_dataframe_output_is_a_duckdb_table_and_comes_back_as_a_dataframe(db_path, namespace):
    frame = pd.DataFrame({"a": range(300), "b": [f"x{i}" for i in range(300)]})
    with Engine(db_path, namespace) as engine:
        one_step(engine, namespace, frame)
        engine.run("w")
        marker = json.loads(engine.sql("SELECT output FROM attempts").output[0])
        assert marker["$maestro"] == "table"
        stored = engine.sql(f"SELECT * FROM {marker['name']} ORDER BY a")
        pd.testing.assert_frame_equal(stored, frame)
    with Engine(db_path, {}) as engine:
        [text] = engine.sql("SELECT output FROM attempts").output.tolist()
        back = engine.codec.decode(text)
        assert isinstance(back, pd.DataFrame)
        pd.testing.assert_frame_equal(back, frame)


def test_arrow_output_comes_back_as_arrow(db_path, namespace):
    table = pa.table({"k": [1, 2], "v": [0.5, 1.5]})
    with Engine(db_path, namespace) as engine:
        one_step(engine, namespace, table)
        engine.run("w")
    with Engine(db_path, {}) as engine:
        back = engine.codec.decode(engine.sql("SELECT output FROM attempts").output[0])
        assert isinstance(back, pa.Table)
        assert back.to_pydict() == {"k": [1, 2], "v": [0.5, 1.5]}


def test_dataframe_output_feeds_a_downstream_step_after_reopening(db_path, namespace):
    got = []
    namespace["load"] = lambda: pd.DataFrame({"n": [1, 2, 3]})
    namespace["use"] = lambda load: got.append(load) or int(load.n.sum())
    yaml = """
        steps:
          - id: load
            run: load
          - id: use
            after: [load]
            run: use
    """
    with Engine(db_path, namespace) as engine:
        define(engine, "w", yaml)
        engine.run("w")
    with Engine(db_path, namespace) as engine:
        again = engine.restart("w", from_step="use")
        assert again.status is InstanceStatus.SUCCEEDED
    assert len(got) == 2
    pd.testing.assert_frame_equal(got[1], pd.DataFrame({"n": [1, 2, 3]}))


def test_an_object_output_is_reported_not_persisted_after_reopening(db_path, namespace):
    lock = threading.Lock()  # neither JSON nor picklable
    with Engine(db_path, namespace) as engine:
        one_step(engine, namespace, lock)
        engine.run("w")
        # In the same session the value is still in memory.
        assert engine.results("w", "s").output.tolist() == [lock]
    with Engine(db_path, {}) as engine:
        [value] = engine.results("w", "s").output.tolist()
        assert isinstance(value, NotPersisted)
        assert value.type_name == "_thread.lock"
        assert any("kept in memory only" in line and "w#1" in line for line in engine.recovery_report)


def test_a_restart_recomputes_an_output_that_was_not_persisted(db_path, namespace):
    made = []
    namespace["make"] = lambda: made.append(1) or threading.Lock()
    namespace["use"] = lambda make: type(make).__name__
    yaml = """
        steps:
          - id: make
            run: make
          - id: use
            after: [make]
            run: use
    """
    with Engine(db_path, namespace) as engine:
        define(engine, "w", yaml)
        engine.run("w")
    with Engine(db_path, namespace) as engine:
        again = engine.restart("w", from_step="use")
        assert again.status is InstanceStatus.SUCCEEDED
    assert len(made) == 2  # upstream ran again instead of passing a placeholder on


def test_nothing_is_unpickled_by_default(db_path, namespace):
    UNPICKLED.clear()
    with Engine(db_path, namespace, pickle_values=True) as engine:
        one_step(engine, namespace, Marker("m1"))
        engine.run("w")
        assert json.loads(engine.sql("SELECT output FROM attempts").output[0])["$maestro"] == "pickle"
    with Engine(db_path, {}) as engine:
        [value] = engine.results("w", "s").output.tolist()
        assert isinstance(value, NotPersisted)
        assert "pickle_values=True" in value.type_name
    assert UNPICKLED == []
    with Engine(db_path, {}, pickle_values=True) as engine:
        [value] = engine.results("w", "s").output.tolist()
        assert isinstance(value, Marker) and value.tag == "m1"
    assert set(UNPICKLED) == {"m1"}  # opted in: now it is unpickled


# --- schema --------------------------------------------------------------------------------
def test_schema_version_is_recorded_once_per_migration(db_path):
    files = sorted(
        int(re.match(r"(\d+)_", entry.name).group(1))
        for entry in resources.files("maestro_nb.store.migrations").iterdir()
        if re.match(r"\d+_.*\.sql$", entry.name)
    )
    assert files[:2] == [1, 2]
    with Engine(db_path, {}) as engine:
        assert engine.store.schema_version == files[-1]
    with Engine(db_path, {}) as engine:  # reopening applies nothing twice
        versions = engine.sql("SELECT version FROM schema_migrations ORDER BY version").version.tolist()
        assert versions == files


# --- locking ---------------------------------------------------------------------------------
HOLDER = """
import sys
from maestro_nb.engine.engine import Engine
engine = Engine(sys.argv[1], {})
print("ready", flush=True)
sys.stdin.readline()
engine.close()
"""


def test_a_second_process_gets_a_clear_lock_error_and_read_only_works_when_free(db_path, namespace):
    with Engine(db_path, namespace) as engine:
        one_step(engine, namespace, 42)
        engine.run("w")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            Engine(db_path, {})
        message = str(info.value)
        assert isinstance(info.value, MaestroError)
        assert "\n" not in message
        assert db_path in message and "in use by another process" in message
        assert "close the engine there" in message and "another path" in message
        assert "not even read-only" in message and "read_only=True" not in message
        assert info.value.path == db_path and info.value.pid == str(holder.pid)
        # The advice holds: a read-only open fails the same way while the other process has it.
        with pytest.raises(StoreLockedError, match="in use by another process"):
            Engine(db_path, {}, read_only=True)
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    with Engine(db_path, {}, read_only=True) as viewer:
        assert viewer.sql("SELECT status FROM instances").status.tolist() == ["SUCCEEDED"]
        assert viewer.results("w", "s").output.tolist() == [42]
        with pytest.raises(StateError, match="read-only"):
            viewer.run("w")


def test_steps_view_shows_the_step_level_status(engine, namespace):
    namespace["f"] = lambda i: 1 / (i - 1)
    engine.define("w", {"steps": [
        {"id": "a", "foreach": {"i": [0, 1, 2]}, "run": "f", "failure_mode": "ignore"},
        {"id": "b", "after": ["a"], "noop": True},
        {"id": "c", "foreach": {"i": [1]}, "run": "f", "failure_mode": "fail_after_running"},
        {"id": "d", "after": ["c"], "noop": True},
    ]})
    engine.run("w")
    statuses = dict(engine.sql("SELECT step_id, status FROM steps").values.tolist())
    assert statuses == {"a": "COMPLETED_WITH_ERROR", "b": "SUCCEEDED", "c": "USER_FAILED"}
    blocked = engine.sql("SELECT step_id, detail->>'status' AS s FROM events WHERE kind = 'step'")
    assert ["d", "BLOCKED"] in blocked.values.tolist()


def test_a_failed_flush_rolls_back_and_keeps_its_batch_for_the_next(engine, namespace, monkeypatch):
    namespace["f"] = lambda: 42
    engine.define("w", {"steps": [{"id": "a", "run": "f"}]})
    real_insert = engine.store._insert
    inserted: list[str] = []

    def insert(table, batch):
        inserted.append(table)
        if len(inserted) == 2:  # the second table of the flush's transaction
            raise RuntimeError("disk full")
        real_insert(table, batch)

    monkeypatch.setattr(engine.store, "_insert", insert)
    with pytest.raises(RuntimeError, match="disk full"):
        engine.run("w")
    monkeypatch.undo()
    assert inserted[0] != inserted[1]
    # The rollback undid the first table's insert; the kept batch was written once, afterwards.
    rows = engine.sql("SELECT count(*) AS n, count(DISTINCT seq) AS d FROM attempt_log")
    assert int(rows.n[0]) == int(rows.d[0]) >= 1
    assert engine.sql("SELECT status FROM instances WHERE instance_id = 1").status.tolist() == ["SUCCEEDED"]
    assert engine.run("w").status is InstanceStatus.SUCCEEDED
    assert engine.sql("SELECT status FROM instances WHERE instance_id = 2").status.tolist() == ["SUCCEEDED"]


def test_a_dataframe_bound_to_many_attempts_is_stored_once_until_it_changes(engine, namespace):
    import pandas as pd

    frame = pd.DataFrame({"x": range(100)})
    namespace["load"] = lambda: frame
    namespace["use"] = lambda load, i: int(load.x.sum()) + i
    engine.define("w", {"steps": [
        {"id": "load", "run": "load"},
        {"id": "use", "after": ["load"], "foreach": {"i": list(range(20))}, "run": "use"},
    ]})
    engine.set_breakpoint("w.use", iteration=0)
    engine.run("w")

    def tables() -> int:  # stored table values: small ones are rows of a shared table
        return int(engine.sql("SELECT count(*) AS n FROM table_values").n[0]) + int(engine.sql(
            "SELECT count(*) AS n FROM information_schema.tables WHERE regexp_full_match(table_name, 'value_[0-9]+')"
        ).n[0])

    assert tables() == 1  # the output of load and the param of 20 attempts: one table
    (paused,) = engine.paused()
    paused.params["load"].loc[0, "x"] = 1000  # changed in place: stored again when flushed
    engine.resume(paused)
    assert tables() == 2
    assert engine.results("w", "use").output.tolist()[0] == 4950 + 1000


def test_a_flush_interrupted_by_the_user_is_written_by_the_next(engine, namespace, monkeypatch):
    namespace["f"] = lambda: 1
    engine.define("w", {"steps": [{"id": "a", "run": "f"}]})
    real_insert = engine.store._insert
    calls = []

    def insert(table, batch):
        calls.append(table)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_insert(table, batch)

    monkeypatch.setattr(engine.store, "_insert", insert)
    with pytest.raises(KeyboardInterrupt):
        engine.run("w")
    monkeypatch.undo()
    engine.flush()
    assert engine.sql("SELECT status FROM attempts").status.tolist() == ["SUCCEEDED"]
    assert engine.sql("SELECT instance_id, status FROM instances").values.tolist() == [[1, "SUCCEEDED"]]


def test_two_engines_in_one_process_cannot_both_hold_a_file(db_path, namespace):
    """DuckDB lets one process connect twice; the lock holds within the process all the same."""
    first = Engine(db_path, namespace)
    one_step(first, namespace, 1)
    for read_only in (False, True):
        with pytest.raises(StoreLockedError) as info:
            Engine(db_path, {}, read_only=read_only)
        assert info.value.same_process and "another Engine of this process" in str(info.value)
    relative = os.path.relpath(db_path)  # the same file by another name is the same file
    with pytest.raises(StoreLockedError):
        Engine(relative, {})
    first.run("w")
    first.close()
    with Engine(db_path, {}) as second:  # closing the first frees the file
        assert second.sql("SELECT instance_id FROM instances").instance_id.tolist() == [1]
        second.define("w", {"steps": [{"id": "s", "noop": True}]})
        assert second.run("w").instance_id == 2
    with Engine(db_path, {}, read_only=True) as one, Engine(db_path, {}, read_only=True) as two:
        assert one.sql("SELECT count(*) AS n FROM instances").n[0] == two.sql(
            "SELECT count(*) AS n FROM instances").n[0] == 2


def test_an_engine_dropped_without_close_frees_its_file_once_collected(db_path):
    import gc

    Engine(db_path, {})
    gc.collect()
    with Engine(db_path, {}) as again:
        assert again.sql("SELECT count(*) AS n FROM instances").n[0] == 0


def test_top_instances_is_read_again_after_every_instance_write_and_any_sql(engine, namespace):
    namespace["work"] = lambda: 1
    engine.define("one", {"steps": [{"id": "work", "run": "work"}]})
    engine.run("one")
    store = engine.store
    assert [row[4] for row in store.top_instances("one")] == ["SUCCEEDED"]
    engine.run("one")
    assert [row[1] for row in store.top_instances("one")] == [1, 2]
    store.query("INSERT INTO instance_log SELECT seq + 100, workflow, 7, version, run_id, status, params,"
                " parent, recorded_at FROM instance_log WHERE instance_id = 1 LIMIT 1")
    assert [row[1] for row in store.top_instances("one")] == [1, 2, 7]
    assert [row[1] for row in store.top_instances()] == [1, 2, 7]
