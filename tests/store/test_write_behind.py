"""Writes left behind on the store's writer thread: every later statement sees them, and a write
that fails loses nothing and writes nothing twice."""

from __future__ import annotations

import threading

import pytest

import maestro_nb.engine.scheduler as scheduler_module
from maestro_nb.store import store as store_module
from maestro_nb.store.store import Store

from .test_appends import attempt_row


def test_a_statement_after_a_write_left_behind_sees_its_rows(tmp_path, monkeypatch):
    store = Store(str(tmp_path / "state.duckdb"))
    go = threading.Event()
    real_write, real_wait = Store._write_behind, store_module.wait

    def held_back(self, prepared):  # the writer thread starts only once a reader waits for it
        go.wait(60)
        real_write(self, prepared)

    def waiting(futures):
        go.set()
        return real_wait(futures)

    monkeypatch.setattr(Store, "_write_behind", held_back)
    monkeypatch.setattr(store_module, "wait", waiting)
    try:
        future = store.append_behind([("attempt_log", [attempt_row(n) for n in range(100)])])
        (count,), = store.rows("SELECT count(*) FROM attempt_log")
        assert count == 100, "a read ran before the write it came after"
        assert future.done() and future.exception() is None
    finally:
        go.set()
        store.close()


def test_a_write_behind_that_fails_raises_at_the_next_flush_and_loses_no_row(engine, namespace, monkeypatch):
    namespace["work"] = lambda i: i
    engine.define("wf", {"steps": [{"id": "w", "foreach": {"i": list(range(30))}, "run": "work"}]})
    monkeypatch.setattr(scheduler_module, "FLUSH_INTERVAL", 0)  # every attempt: a flush while busy
    real_write = Store._write_behind
    failures: list[int] = []

    def fails_once(self, prepared):
        if not failures:
            failures.append(1)
            raise OSError("disk full")
        real_write(self, prepared)

    monkeypatch.setattr(Store, "_write_behind", fails_once)
    with pytest.raises(OSError, match="disk full"):
        engine.run("wf")
    monkeypatch.undo()
    rows = engine.sql("SELECT seq, iteration, status FROM attempt_log WHERE step_id = 'w'")
    assert rows.seq.is_unique, "a row was written twice"
    # The failed write held iteration 0's success; the next flush, after iteration 1, raised its
    # error, and the run wrote what it had before it stopped: both, the failed write's rows too.
    assert set(rows[rows.status == "SUCCEEDED"].iteration) == {"0", "1"}


def test_rows_that_name_staged_small_values_are_written_in_place_with_them(tmp_path):
    import pandas as pd

    from maestro_nb.store.values import ValueCodec

    store = Store(str(tmp_path / "state.duckdb"))
    try:
        codec = ValueCodec(store)
        text = codec.encode(pd.DataFrame({"x": [1, 2]}))
        assert store.small.staged
        future = store.append_behind([("attempt_log", [attempt_row(n) for n in range(10)])])
        assert future.done() and not store.small.staged, "the rows were written apart from the values they name"
        assert ValueCodec(store).decode(text).x.tolist() == [1, 2]
    finally:
        store.close()
