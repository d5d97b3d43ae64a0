"""Small table values: rows of many values in one shared table per shape, read back as themselves."""

from __future__ import annotations

import gc
import json
import os
import weakref
from contextlib import contextmanager

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from maestro_nb.engine.engine import Engine
from maestro_nb.store.small import ID_COLUMN, MAX_ROWS
from maestro_nb.store.store import Store
from maestro_nb.store.values import ValueCodec


def frame_for(i: int) -> pd.DataFrame:
    return pd.DataFrame({"i": [i] * 5, "x": np.arange(5) * 0.5 + i, "name": [f"r{i}-{k}" for k in range(5)],
                         "flag": [True, False, True, False, bool(i % 2)]})


def sweep(engine: Engine, namespace: dict, n: int, fn=frame_for) -> None:
    namespace["make"] = fn
    engine.define("w", {"steps": [{"id": "t", "foreach": {"i": f"${{range({n})}}"}, "run": "make"}]})
    assert engine.run("w").status.value == "SUCCEEDED"


@contextmanager
def reopened(tmp_path, n: int, fn=frame_for):
    """An engine on a file that a sweep of `n` iterations of `fn` was stored in, by another
    engine closed since: what it reads comes from the file."""
    namespace: dict = {}
    path = str(tmp_path / "s.duckdb")
    with Engine(path, namespace) as engine:
        sweep(engine, namespace, n, fn)
    with Engine(path, {}) as engine:
        yield engine


def test_small_frames_share_one_table_and_come_back_equal_after_reopening(tmp_path):
    path = str(tmp_path / "s.duckdb")
    namespace: dict = {}
    with Engine(path, namespace) as engine:
        sweep(engine, namespace, 300)
        shapes = engine.sql("SELECT table_name FROM value_shapes")
        assert shapes.table_name.tolist() == ["value_rows_1"]  # one shape, one table for 300 values
        own = engine.sql("SELECT count(*) AS n FROM information_schema.tables"
                         " WHERE regexp_full_match(table_name, 'value_[0-9]+')").n[0]
        assert own == 0
    with Engine(path, {}) as engine:
        frame = engine.results("w", "t")
        assert len(frame) == 300
        for i in (0, 7, 299):
            pd.testing.assert_frame_equal(frame.output[i], frame_for(i))


def test_sql_reads_a_small_value_through_table_values(tmp_path):
    namespace: dict = {}
    with Engine(str(tmp_path / "s.duckdb"), namespace) as engine:
        sweep(engine, namespace, 4)
        marker = json.loads(engine.sql("SELECT output FROM attempts WHERE iteration = '2'").output[0])
        assert marker["$maestro"] == "table" and marker["name"].startswith("small_")
        (table, value_id), = engine.sql("SELECT table_name, value_id FROM table_values WHERE name = ?",
                                        [marker["name"]]).itertuples(index=False)
        rows = engine.sql(f"SELECT * EXCLUDE (__value_id) FROM {table} WHERE __value_id = ? ORDER BY rowid",
                          [int(value_id)])
        pd.testing.assert_frame_equal(rows, frame_for(2))


def test_many_small_frames_cost_little_file(tmp_path):
    namespace: dict = {}
    sizes = {}
    for n in (200, 2000):
        path = str(tmp_path / f"s{n}.duckdb")
        with Engine(path, namespace) as engine:
            sweep(engine, namespace, n)
        sizes[n] = os.path.getsize(path)
    per_frame = (sizes[2000] - sizes[200]) / 1800
    assert per_frame <= 2048, f"{per_frame:.0f} bytes of file per small frame"


def test_big_frames_stay_tables_of_their_own(tmp_path):
    namespace: dict = {}
    big = pd.DataFrame({"a": range(MAX_ROWS + 1)})
    with Engine(str(tmp_path / "s.duckdb"), namespace) as engine:
        sweep(engine, namespace, 2, fn=lambda i: big + i)
        names = [json.loads(t)["name"] for t in engine.sql("SELECT output FROM attempts ORDER BY iteration").output]
        assert all(n.startswith("value_") for n in names)
        assert int(engine.sql(f"SELECT sum(a) AS s FROM {names[1]}").s[0]) == int(big.a.sum()) + MAX_ROWS + 1


def test_frames_of_mixed_shapes_and_types_come_back_as_themselves(tmp_path):
    made = {
        0: pd.DataFrame({"a": [1, 2]}),
        1: pd.DataFrame({"a": [1.5, None]}),  # same column, another type: another shape
        2: pd.DataFrame({"a": ["x", None]}),
        3: pd.DataFrame({"a": [1, "x"]}),  # mixed objects: stored alone, as pandas converts them
        4: pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-01-02"])}),
        5: pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),  # an extension dtype
    }
    with reopened(tmp_path, 6, lambda i: made[i]) as engine:
        frame = engine.results("w", "t")
        for i in (0, 1, 2, 4):
            pd.testing.assert_frame_equal(frame.output[i], made[i], check_dtype=False)
        assert frame.output[3].a.tolist() == ["1", "x"]
        assert frame.output[5].a.tolist()[0] == 1 and pd.isna(frame.output[5].a.tolist()[1])


def test_a_failed_write_stores_no_small_value_and_the_next_flush_does(tmp_path, monkeypatch):
    namespace: dict = {}
    path = str(tmp_path / "s.duckdb")
    engine = Engine(path, namespace)
    try:
        real = engine.store._insert
        failing = {"on": True}

        def insert(table: str, batch) -> None:
            if failing["on"] and table == "attempt_log":
                raise duckdb.IOException("disk full")
            real(table, batch)

        monkeypatch.setattr(engine.store, "_insert", insert)
        with pytest.raises(duckdb.IOException):
            sweep(engine, namespace, 3)
        assert engine.store.rows("SELECT count(*) FROM table_values") == [(0,)]  # rolled back with the rows
        failing["on"] = False
        engine.flush()
        assert engine.sql("SELECT count(*) AS n FROM table_values").n[0] == 3
    finally:
        engine.close()
    with Engine(path, {}) as again:
        frame = again.results("w", "t")
        pd.testing.assert_frame_equal(frame.output[1], frame_for(1))


def test_a_value_without_nulls_reads_back_without_nullable_types_beside_one_with_them(tmp_path):
    made = {0: pd.DataFrame({"a": [1.0, None], "n": [1, 2]}), 1: pd.DataFrame({"a": [1.0, 2.0], "n": [3, 4]})}
    with reopened(tmp_path, 2, lambda i: made[i]) as engine:
        frame = engine.results("w", "t")
        pd.testing.assert_frame_equal(frame.output[1], made[1])
        assert frame.output[0].a.isna().tolist() == [False, True]


def test_whole_numbers_read_back_nullable_only_in_the_value_that_holds_a_null(tmp_path):
    made = {0: pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "b": pd.array([True, None], dtype="boolean")}),
            1: pd.DataFrame({"n": [3, 4], "b": [False, True]})}
    with reopened(tmp_path, 2, lambda i: made[i]) as engine:
        frame = engine.results("w", "t")
        assert engine.sql("SELECT count(*) AS n FROM value_shapes").n[0] == 1  # both in one table
        pd.testing.assert_frame_equal(frame.output[1], made[1])
        assert str(frame.output[0].n.dtype) == "Int64" and frame.output[0].n.isna().tolist() == [False, True]
        assert str(frame.output[0].b.dtype) == "boolean"


def test_results_of_many_small_values_look_each_up_without_a_query(tmp_path, monkeypatch):
    with reopened(tmp_path, 200) as engine:
        lookups = []
        real_rows = Store.rows

        def counted(self, query, *args, **kwargs):
            if "value_index" in query:
                lookups.append(query)
            return real_rows(self, query, *args, **kwargs)

        monkeypatch.setattr(Store, "rows", counted)
        engine.instance("w")  # loading it asks which of its values the file holds: one query for all
        assert len(lookups) <= 1, f"{len(lookups)} index queries to load an instance of 200 values"
        lookups.clear()
        frame = engine.results("w", "t")
        assert len(lookups) <= 1, f"{len(lookups)} index queries for 200 values of one table"
        for i in (0, 123, 199):
            pd.testing.assert_frame_equal(frame.output[i], frame_for(i))


def test_a_frame_read_back_is_its_own_a_change_to_it_reaches_no_other_read(tmp_path):
    with reopened(tmp_path, 3) as engine:
        first = engine.results("w", "t").output
        first[1].loc[0, "x"] = -1.0
        first[1]["name"] = "changed"
        first[2].index = pd.RangeIndex(10, 15)
        again = engine.results("w", "t").output
        for i in range(3):
            pd.testing.assert_frame_equal(again[i], frame_for(i))
        pd.testing.assert_frame_equal(first[0], frame_for(0))


def test_an_arrow_table_output_comes_back_as_arrow(tmp_path):
    with reopened(tmp_path, 2, lambda i: pa.table({"a": [i, None], "b": ["p", "q"]})) as engine:
        back = engine.results("w", "t").output[1]
        assert isinstance(back, pa.Table) and back.column("a").to_pylist() == [1, None]


def test_frames_of_other_numpy_dtypes_and_text_come_back_with_their_dtypes(tmp_path):
    made = {
        0: pd.DataFrame({"b": [True, False], "u": np.array([1, 255], dtype=np.uint8),
                         "k": np.array([-1, 7], dtype=np.int8)}),
        1: pd.DataFrame({"f": np.array([0.5, np.nan], dtype=np.float32), "g": [np.nan, 1.5]}),
        2: pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None]), "d": pd.to_timedelta([1, 2], unit="s")}),
        3: pd.DataFrame({"t": np.array(["2024-01-01T01:02:03.000004", "NaT"], dtype="datetime64[us]")}),
        4: pd.DataFrame({"s": ["a", None], "w": ["é", "日本"]}),
        5: pd.DataFrame({"a": np.array([], dtype=np.int64)}),
    }
    with reopened(tmp_path, len(made), lambda i: made[i]) as engine:
        names = [json.loads(t)["name"] for t in engine.sql("SELECT output FROM attempts ORDER BY iteration").output]
        assert all(name.startswith("small_") for name in names)
        frame = engine.results("w", "t")
        for i, expected in made.items():
            pd.testing.assert_frame_equal(frame.output[i], expected)


def test_a_frame_changed_in_place_is_stored_anew_and_an_unchanged_one_once(tmp_path):
    path = str(tmp_path / "s.duckdb")
    store = Store(path)
    try:
        codec = ValueCodec(store)
        frame = frame_for(1)
        first = codec.encode(frame)
        store.append_together([])  # written
        assert codec.encode(frame) == first
        frame.loc[0, "x"] = 99.0  # a number changed in place
        numbers = codec.encode(frame)
        frame.loc[1, "name"] = "changed"  # then only a text cell, before the write
        text = codec.encode(frame)
        store.append_together([])
        assert len({first, numbers, text}) == 3
        assert codec.encode(frame) == text
    finally:
        store.close()
    store = Store(path)
    try:
        codec = ValueCodec(store)
        expected = frame_for(1)
        pd.testing.assert_frame_equal(codec.decode(first), expected)
        expected.loc[0, "x"] = 99.0
        pd.testing.assert_frame_equal(codec.decode(numbers), expected)
        expected.loc[1, "name"] = "changed"
        pd.testing.assert_frame_equal(codec.decode(text), expected)
    finally:
        store.close()


@pytest.fixture
def store(tmp_path):
    """A state file of its own; closed after the test."""
    opened = Store(str(tmp_path / "s.duckdb"))
    yield opened
    opened.close()


def test_frames_whose_columns_cannot_share_a_shape_table_get_tables_of_their_own(store):
    codec = ValueCodec(store)
    clashing = pd.DataFrame({ID_COLUMN: [1], "a": [2]})
    repeated = pd.DataFrame([[1, 2]], columns=["a", "a"])
    names = [json.loads(codec.encode(f))["name"] for f in (clashing, repeated)]
    assert all(name.startswith("value_") for name in names)
    store.append_together([])
    assert int(codec.decode(codec.encode(clashing))[ID_COLUMN][0]) == 1


def test_a_stored_frame_that_is_collected_is_forgotten(store):
    codec = ValueCodec(store)
    staged, written = frame_for(1), frame_for(2)
    codec.encode(written)
    store.append_together([])
    codec.encode(staged)
    del staged, written
    gc.collect()
    store.append_together([])
    assert not store.small._known and not store.small._staged_names


def test_a_staged_frame_reads_back_with_its_dtypes_before_the_write(store):
    codec = ValueCodec(store)
    frame = pd.DataFrame({"i": np.array([1, 2], dtype=np.int16), "f": [np.nan, 0.5], "b": [True, False],
                          "t": pd.to_datetime(["2024-01-01", None]), "s": ["a", None]})
    text = codec.encode(frame)
    frame.loc[0, "f"] = 7.0  # changed after it was encoded: the staged value is the frame as it was
    expected = frame.copy()
    expected.loc[0, "f"] = np.nan
    pd.testing.assert_frame_equal(codec.decode(text), expected)
    store.append_together([])
    pd.testing.assert_frame_equal(codec.decode(text), expected)


def stored_before_and_after(store, frame, row, column, value):
    """The codec and the frame's text when stored, and again after one cell changed in place
    (each written): unchanged, the stored value is reused; changed, it is stored anew."""
    codec = ValueCodec(store)
    first = codec.encode(frame)
    store.append_together([])
    assert codec.encode(frame) == first
    frame.loc[row, column] = value
    second = codec.encode(frame)
    store.append_together([])
    assert second != first
    return codec, first, second


def test_a_nan_that_becomes_a_number_in_place_is_stored_anew(store):
    frame = pd.DataFrame({"g": [np.nan, 1.5], "s": ["a", "b"]})
    codec, first, second = stored_before_and_after(store, frame, 0, "g", 2.0)
    assert codec.decode(first).g.isna().tolist() == [True, False]
    pd.testing.assert_frame_equal(codec.decode(second), frame)


def test_text_sliced_from_a_bigger_frame_changed_in_place_is_stored_anew(store):
    big = pd.DataFrame({"n": range(1000), "s": [f"r{k}" for k in range(1000)]})
    frame = big.iloc[10:15].reset_index(drop=True)  # its text is a slice of the big frame's Arrow data
    codec, first, second = stored_before_and_after(store, frame, 2, "s", "changed")
    assert codec.decode(first).s.tolist() == ["r10", "r11", "r12", "r13", "r14"]
    pd.testing.assert_frame_equal(codec.decode(second), frame)


def test_an_object_column_changed_in_place_is_stored_anew(store):
    frame = pd.DataFrame({"s": pd.Series(["a", "b", None], dtype=object)})
    codec, first, second = stored_before_and_after(store, frame, 1, "s", "c")
    assert codec.decode(first).s.tolist()[:2] == ["a", "b"]
    assert codec.decode(second).s.tolist()[:2] == ["a", "c"]


def test_a_stored_frame_is_remembered_by_one_weak_reference(store):
    codec = ValueCodec(store)
    frames = [frame_for(i) for i in range(3)]
    for frame in frames:
        codec.encode(frame)
    store.append_together([])
    for frame in frames:  # nothing else kept per value: a sweep keeps every output alive
        known = store.small._known[id(frame)]
        assert isinstance(known, weakref.ref) and known() is frame
        assert not gc.is_tracked(known.content) and not gc.is_tracked(known.name)


@pytest.mark.parametrize("frame", [
    frame_for(3),
    pd.DataFrame({"t": pd.to_datetime(["2024-01-01", None]), "d": pd.to_timedelta([1, 2], unit="s"),
                  "o": np.array([b"x", None], dtype=object), "c": pd.Categorical(["a", "b"])}),
    pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})[["b", "a"]],  # a frame taken out of another
    pd.DataFrame(np.arange(6).reshape(2, 3), columns=["x", "y", "z"]),  # one 2D block
    pd.DataFrame({1: [1], "1": ["one"]}),
    pd.DataFrame([[1, 2]], columns=pd.Index(["a", None], dtype="string[pyarrow]")),  # a label that is NA
    pd.DataFrame([[1, 2]], columns=pd.Index(["a", "b"], dtype="large_string[pyarrow]")),
])
def test_a_frames_columns_are_read_as_its_series_give_them(frame):
    """The snapshot reads pandas' own column arrays (far cheaper than a Series per column):
    they must be the values, names, types and order `items()` gives."""
    from maestro_nb.store.small import _column_values

    read = list(_column_values(frame, None))
    assert [name for name, _ in read] == list(frame.columns)
    for (_, values), (_, series) in zip(read, frame.items()):
        assert values.dtype == series.dtype
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufMm":
            assert np.asarray(values).tobytes() == series.to_numpy().tobytes()
        else:
            assert list(values) == list(series.array)
