"""Appends: a few rows go in with parameters, many through Arrow, and both store the same values."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from maestro_nb.store import store as store_module
from maestro_nb.store.store import Columns, Store


def attempt_row(seq: int) -> tuple:
    """One attempt_log row, in column order, with the awkward values a run produces."""
    tricky = seq % 3 == 0
    return (
        seq + 2**40, "wf-ü", seq, 1, f"step {seq}", "" if tricky else f"{seq}/0",
        None if tricky else json.dumps({"i": seq, "name": "naïve"}), seq % 4 + 1, "SUCCEEDED",
        None if tricky else "before", [] if tricky else [seq, 2**31 - 1], json.dumps({"x": [1, 2.5, None]}),
        None if tricky else json.dumps("output\n\"quoted\""), "boom" if tricky else None,
        ["CREATED", "RUNNING", "SUCCEEDED"], [1.0, 2.5, 1e300] if tricky else [0.0],
        "ValueError" if tricky else None, None, [] if tricky else ["output", "params"],
    )


def event_row(seq: int) -> tuple:
    return (seq, datetime(2026, 12, 2, 20, 0, 0, seq), None if seq % 2 else "wf", seq, 1, None, "0", None,
            "step", json.dumps({"status": "SUCCEEDED"}))


class Recording:
    """Stands in for a DuckDB connection and keeps how each statement it runs begins."""

    def __init__(self, conn, statements: list[str]):
        self.conn, self.statements = conn, statements

    def execute(self, sql: str, *args):
        self.statements.append(" ".join(sql.split()[:4]))
        if "SELECT * FROM batch" in sql:
            batch = sys._getframe(1).f_locals["batch"]  # noqa: F841 - the caller's, for DuckDB's scan
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)


@pytest.mark.parametrize("count", [1, 4, 5, 64, 300])
def test_rows_by_parameters_and_through_arrow_store_the_same_values(tmp_path, monkeypatch, count: int) -> None:
    attempts = [attempt_row(seq) for seq in range(count)]
    events = [event_row(seq) for seq in range(count)]
    numbered = Columns.of_rows(attempts)
    numbered.columns[0] = range(2**40, 2**40 + count)  # the journal numbers its rows with a range
    stored = {}
    for given, batch in (("rows", attempts), ("columns", numbered)):
        for way, few_rows in (("parameters", 10**6), ("arrow", 0)):
            monkeypatch.setattr(store_module, "_FEW_ROWS", few_rows)
            monkeypatch.setattr(store_module, "_FEW_ROWS_BEFORE_ARROW", few_rows)
            store = Store(tmp_path / f"{given}-{way}.duckdb")
            try:
                store.append_together([("attempt_log", batch), ("event_log", events)])
                stored[given, way] = [store.rows(f"SELECT * FROM {table} ORDER BY seq")
                                      for table in ("attempt_log", "event_log")]
            finally:
                store.close()
    assert all(tables == [attempts, events] for tables in stored.values()), stored.keys()


def test_columns_read_as_their_rows_and_join_with_rows_in_order() -> None:
    rows = [attempt_row(seq) for seq in range(6)]
    first, second = Columns.of_rows(rows[:2]), Columns.of_rows(rows[2:4])
    assert list(first) == rows[:2] and len(first) == 2 and bool(Columns([])) is False
    assert list(first + second) == rows[:4]
    assert list(first + rows[2:6]) == list(rows[:2] + second + rows[4:]) == rows
    assert list(Columns([]) + rows[:2]) == list([] + first) == list(first + []) == rows[:2]
    numbered = Columns([range(3, 5), ["a", "b"]]) + Columns([range(5, 6), ["c"]])
    assert list(numbered) == [(3, "a"), (4, "b"), (5, "c")]


def test_a_few_rows_go_in_by_parameters_and_many_through_arrow(tmp_path) -> None:
    store = Store(tmp_path / "state.duckdb")
    statements: list[str] = []
    store.conn = Recording(store.conn, statements)
    try:
        store.append("attempt_log", [attempt_row(1), attempt_row(2)])
        store.append("attempt_log", [attempt_row(seq) for seq in range(3, 103)])
        assert statements == ["INSERT INTO attempt_log VALUES", "INSERT INTO attempt_log SELECT"]
        assert store.rows("SELECT count(*) FROM attempt_log") == [(102,)]
    finally:
        store.conn = store.conn.conn
        store.close()


FIRST_RUN = """
import sys
from maestro_nb.engine.engine import Engine
loaded = lambda: sorted(name for name in ("networkx", "pandas", "pyarrow") if name in sys.modules)
namespace = {"one": lambda: 1, "plus": lambda one: one + 1}
with Engine(sys.argv[1], namespace) as engine:
    engine.define("w", "steps:\\n  - id: one\\n    run: one\\n  - id: plus\\n    after: [one]\\n    run: plus\\n")
    engine.run("w")
    print(loaded())
    assert engine.sql("SELECT status FROM instances").status.tolist() == ["SUCCEEDED"]
    print(loaded())
"""


@pytest.mark.slow
def test_a_small_first_run_needs_neither_pyarrow_nor_pandas(tmp_path) -> None:
    """Importing them costs most of a fresh kernel's first result; engine.sql() still brings pandas."""
    done = subprocess.run([sys.executable, "-c", FIRST_RUN, str(tmp_path / "state.duckdb")], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.splitlines() == ["[]", "['pandas', 'pyarrow']"]
