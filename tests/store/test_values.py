"""The value codec, property-tested: whatever a step returns comes back as itself, or is named lost."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maestro_nb.store import Store
from maestro_nb.store.values import MARK, NotPersisted, ValueCodec, _names_of_ints_or_text, native_text

# Text that may be the marker key, or look like a marker's fields.
KEYS = st.one_of(st.text(max_size=8), st.sampled_from([MARK, "type", "name", "data", "items", "$maestro "]))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",))),  # unpaired surrogates: not JSON
    st.sampled_from([MARK, "memory", "table", "pickle", "dict", "value_1"]),
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=20)
NUMPY = st.one_of(
    st.integers(-2**63, 2**63 - 1).map(np.int64), st.floats(allow_nan=False, width=32).map(np.float32),
    st.floats(allow_nan=False).map(np.float64), st.booleans().map(np.bool_),
    st.lists(st.integers(-1000, 1000), max_size=6).map(np.array),
)
# What a step may return that JSON cannot hold as itself.
OTHER = st.recursive(
    st.one_of(SCALARS, st.sets(st.integers(), max_size=3), st.builds(range, st.integers(0, 5)),
              st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2), st.just("\ud800")),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8,
)


def as_json(value):
    """What JSON gives back for a JSON-native value: tuples and numpy arrays as lists, numbers as numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@given(JSON)
def test_any_json_value_comes_back_equal_even_one_shaped_like_a_marker(value):
    codec = ValueCodec(None, pickle_values=True)
    assert codec.problem(value) is None
    assert codec.decode(codec.encode(value)) == value


@given(NUMPY)
def test_numpy_scalars_and_arrays_come_back_as_the_numbers_and_lists_they_hold(value):
    codec = ValueCodec(None)
    back = codec.decode(codec.encode(value))
    assert back == as_json(value) and type(back) in (int, float, bool, list)


@given(st.lists(NUMPY, max_size=3) | st.dictionaries(st.text(max_size=3), NUMPY, max_size=3))
def test_numpy_values_inside_containers_come_back_as_numbers(value):
    codec = ValueCodec(None)
    expected = [as_json(v) for v in value] if isinstance(value, list) else {k: as_json(v) for k, v in value.items()}
    assert codec.decode(codec.encode(value)) == expected


@given(OTHER)
def test_any_value_comes_back_as_itself_or_as_named_lost_never_as_something_else(value):
    codec = ValueCodec(None)
    text = codec.encode(value)  # never raises
    back = codec.decode(text)
    if codec.problem(value) is None:
        assert back == value
    else:
        assert isinstance(back, NotPersisted)


FRAMES = st.lists(
    st.tuples(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5)),
    min_size=1, max_size=6,
).map(lambda rows: pd.DataFrame(rows, columns=["i", "x", "s"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FRAMES)
def test_a_dataframe_comes_back_equal_from_the_state_file(tmp_path, frame):
    store = Store(str(tmp_path / "values.duckdb"))
    try:
        codec = ValueCodec(store)
        text = codec.encode(frame)
        again = ValueCodec(store).decode(text)  # another codec: read from the file, not a cache
        pd.testing.assert_frame_equal(again, frame, check_dtype=False)
    finally:
        store.close()


def test_nan_and_infinities_come_back():
    codec = ValueCodec(None)
    back = codec.decode(codec.encode([math.nan, math.inf, -math.inf]))
    assert math.isnan(back[0]) and back[1:] == [math.inf, -math.inf]


INDEXES = {
    "text, named": lambda n: pd.Index([f"k{i}" for i in range(n)], name="key"),
    "integers": lambda n: pd.Index([10 * i + 3 for i in range(n)]),
    "range from 5": lambda n: pd.RangeIndex(5, 5 + n),
    "range, named": lambda n: pd.RangeIndex(0, n, name="row"),
    "dates": lambda n: pd.date_range("2026-01-01", periods=n, name="day"),
    "two levels": lambda n: pd.MultiIndex.from_arrays([[i % 2 for i in range(n)], [f"s{i}" for i in range(n)]],
                                                      names=["parity", None]),
    "clashing with a column": lambda n: pd.Index([i * 2 for i in range(n)]),
}


@pytest.mark.parametrize("rows", [3, 1000], ids=["small", "big"])
@pytest.mark.parametrize("kind", sorted(INDEXES))
def test_a_dataframe_comes_back_with_its_index(tmp_path, kind, rows):
    columns = {"__index_level_0__" if kind == "clashing with a column" else "x": [0.5 * i for i in range(rows)]}
    frame = pd.DataFrame(columns, index=INDEXES[kind](rows))
    store = Store(str(tmp_path / "values.duckdb"))
    try:
        text = ValueCodec(store).encode(frame)
        assert ('"small_' in text) == (rows == 3), "a small frame is stored with others of its shape"
        pd.testing.assert_frame_equal(ValueCodec(store).decode(text), frame, check_freq=False)  # staged
        store.append_together([])  # the write a flush does, staged small tables with it
        again = ValueCodec(store).decode(text)
        pd.testing.assert_frame_equal(again, frame, check_freq=False)  # a date range's step is not data
        assert list(again.index.names) == list(frame.index.names)
    finally:
        store.close()
    reopened = Store(str(tmp_path / "values.duckdb"))  # from the file, after a restart
    try:
        pd.testing.assert_frame_equal(ValueCodec(reopened).decode(text), frame, check_freq=False)
    finally:
        reopened.close()


def test_a_step_output_keeps_its_index_in_results(tmp_path):
    from maestro_nb.engine.engine import Engine

    frame = pd.DataFrame({"score": [0.1, 0.9]}, index=pd.Index(["a", "b"], name="model"))
    with Engine(str(tmp_path / "state.duckdb"), {"make": lambda: frame}) as engine:
        engine.define("wf", {"steps": [{"id": "s", "run": "make"}]})
        engine.run("wf")
    with Engine(str(tmp_path / "state.duckdb"), {}) as engine:
        pd.testing.assert_frame_equal(engine.results("wf", "s")["output"][0], frame)
        assert engine.sql("SELECT count(*) AS n FROM attempts").n[0] == 1


# Params of names to ints and text, the usual loop params, take a short path of their own.
NAMES_TO_INTS_OR_TEXT = st.dictionaries(
    st.one_of(st.text(max_size=8), st.sampled_from([MARK, "i", "name"])),
    st.one_of(st.integers(), st.text(max_size=8), st.sampled_from([MARK, f'"{MARK}"', "\ud800", "a\ud83d\ude00"])),
    max_size=4,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(NAMES_TO_INTS_OR_TEXT)
def test_params_of_ints_and_text_encode_to_the_same_text_as_any_params(params):
    short = _names_of_ints_or_text(params)
    if short is not None:  # where it answers, it answers what the careful path does
        assert short == native_text(params)
        assert ValueCodec(None).decode_params(short) == params
    elif params and native_text(params) is not None:  # it leaves the marker and surrogates to that path
        text = native_text(params)
        assert MARK in text or "\\ud" in text
