"""Small table values, stored compactly: rows of many values in one shared table per shape.

A DataFrame or Arrow table with at most `MAX_ROWS` rows and `MAX_COLUMNS` columns is staged
here when it is encoded, and written with the next bulk append, in its transaction: every
staged value of the same Arrow schema goes into one `value_rows_N` table (its columns and a
`__value_id` column) in one INSERT, and `value_index` says where each one is. Reading one back
selects its rows in the order they were written. Each value is named `small_ID`.

A value staged for a write that failed is forgotten (the rows that named it are written again
by the next flush, which stages it anew).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .frames import index_levels, with_index_columns

if TYPE_CHECKING:
    from .store import Store

__all__ = ["SmallTables", "MAX_ROWS", "MAX_COLUMNS", "ID_COLUMN"]

MAX_ROWS = 256
MAX_COLUMNS = 64
ID_COLUMN = "__value_id"


def small_enough(value: Any) -> bool:
    """Whether a table value's size lets it be stored compactly (else it gets a table of its own)."""
    rows, columns = value.shape
    return rows <= MAX_ROWS and 0 < columns <= MAX_COLUMNS


class _Staged:
    __slots__ = ("value_id", "signature", "columns", "arrays", "table", "rows")

    def __init__(self, value_id: int, signature: Any, columns: list[str], arrays: list[Any] | None,
                 table: Any, rows: int):
        self.value_id = value_id
        self.signature = signature  # column names and types: values that may share one batch
        self.columns = columns
        self.arrays = arrays  # a plain DataFrame's columns (see _Snapshot), or None
        self.table = table  # an Arrow table (anything else), or None
        self.rows = rows


class _Stored(weakref.ref):
    """A weak reference to a stored (or staged) value that knows the value's key (its id while it
    lived), its signature and content when stored, and its name: one object per stored value,
    the only one it keeps alive beside the value itself."""

    __slots__ = ("key", "signature", "content", "name")


class SmallTables:
    """The small values of one state file: staged ones, and the shapes already written."""

    def __init__(self, store: Store):
        self.store = store
        self.staged: list[_Staged] = []
        # Values already stored (or staged), by id: one weak reference each, kept while the
        # object lives (a sweep keeps every output alive: each object here is one more for the
        # garbage collector to walk at every full collection).
        self._staged_names: dict[int, _Stored] = {}
        self._known: dict[int, _Stored] = {}
        self._signatures: dict[Any, Any] = {}  # one object per signature, shared by its values
        self._on_collected = self._forget
        self._shapes: dict[str, tuple[int, str]] = {}  # Arrow schema text -> (shape id, table)
        self._next_id = 1
        self._ready = False
        self._cache: dict[str, _TableRead] = {}

    def _load(self) -> None:
        if self._ready:
            return
        if self.store._scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'value_shapes'"):
            for shape_id, table, signature in self.store.rows(
                    "SELECT shape_id, table_name, signature FROM value_shapes"):
                self._shapes[signature] = (shape_id, table)
            self._next_id = (self.store._scalar("SELECT max(value_id) FROM value_index") or 0) + 1
        self._ready = True

    # --- writing ----------------------------------------------------------------------
    def stage(self, value: Any, index: dict[str, Any] | None = None) -> str | None:
        """The name of a small table value, staged for the next write unless this content of
        this object is stored (or staged) already; None when it takes a table of its own.
        `index`: the DataFrame's index as `frames.index_spec` gives it, stored with it."""
        self._load()
        try:
            snapshot = _snapshot(value, index)
        except _NotArrow:
            return None  # objects Arrow cannot hold in one type: a table of its own
        if snapshot is None:
            if ID_COLUMN in (value.columns if hasattr(value, "columns") else value.column_names):
                return None
            signature, content = None, _fingerprint(value)
        else:
            signature = self._signatures.setdefault(snapshot.signature, snapshot.signature)
            content = snapshot.content
        key = id(value)
        for cache in (self._staged_names, self._known):
            known = cache.get(key)
            if known is not None and known() is value and known.signature == signature \
                    and known.content == content:
                return known.name
        value_id = self._next_id
        self._next_id += 1
        name = f"small_{value_id}"
        if snapshot is not None:
            self.staged.append(_Staged(value_id, signature, snapshot.names, snapshot.columns, None, len(value)))
        else:
            import pyarrow as pa

            try:
                table = _as_arrow(value if index is None else with_index_columns(value, index))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                return None
            self.staged.append(_Staged(value_id, None, table.column_names, None, table, table.num_rows))
        try:
            stored = _Stored(value, self._on_collected)
        except TypeError:
            return name
        stored.key, stored.signature, stored.content, stored.name = key, signature, content, name
        self._staged_names[key] = stored
        return name

    def _forget(self, ref: _Stored) -> None:
        for cache in (self._staged_names, self._known):
            if cache.get(ref.key) is ref:
                del cache[ref.key]

    def write(self) -> None:
        """Write every staged value (inside the caller's transaction): one INSERT per shape."""
        if not self.staged:
            return
        import numpy as np
        import pyarrow as pa

        groups: dict[Any, list[_Staged]] = {}
        tables: list[tuple[list[_Staged], Any]] = []
        for item in self.staged:
            if item.arrays is None:
                tables.append(([item], item.table))
            else:
                groups.setdefault(item.signature, []).append(item)
        for items in groups.values():
            names, types = items[0].signature
            columns = [_concat([it.arrays[j] for it in items], dtype) for j, dtype in enumerate(types)]
            tables.append((items, pa.table(columns, names=list(names))))
        by_shape: dict[str, list[tuple[list[_Staged], Any]]] = {}
        for items, table in tables:
            by_shape.setdefault(table.schema.remove_metadata().to_string(), []).append((items, table))
        index_rows: list[tuple[int, int, int]] = []
        conn = self.store.conn
        for signature, parts in by_shape.items():
            shape_id, name = self._shape(signature, parts[0][1])
            batch = pa.concat_tables([t.replace_schema_metadata(None) for _, t in parts], promote_options="none") \
                if len(parts) > 1 else parts[0][1].replace_schema_metadata(None)
            ids = np.concatenate([np.repeat(np.array([it.value_id for it in items], dtype=np.int64),
                                            [it.rows for it in items]) for items, _ in parts])
            batch = batch.append_column(ID_COLUMN, pa.array(ids, type=pa.int64()))  # noqa: F841 - read by DuckDB
            conn.execute(f"INSERT INTO {name} SELECT * FROM batch")
            index_rows += [(it.value_id, shape_id, it.rows) for items, _ in parts for it in items]
        index = pa.table({"value_id": pa.array([r[0] for r in index_rows], pa.int64()),  # noqa: F841
                          "shape_id": pa.array([r[1] for r in index_rows], pa.int32()),
                          "row_count": pa.array([r[2] for r in index_rows], pa.int32())})
        conn.execute("INSERT INTO value_index SELECT * FROM index")

    def _shape(self, signature: str, table: Any) -> tuple[int, str]:
        known = self._shapes.get(signature)
        if known is not None:
            return known
        shape_id = len(self._shapes) + 1
        name = f"value_rows_{shape_id}"
        empty = table.slice(0, 0).replace_schema_metadata(None)  # noqa: F841 - read by DuckDB
        self.store.conn.execute(f"CREATE TABLE {name} AS SELECT *, 0::BIGINT AS {ID_COLUMN} FROM empty")
        self.store.conn.execute("INSERT INTO value_shapes VALUES (?, ?, ?)", [shape_id, name, signature])
        self._shapes[signature] = (shape_id, name)
        return shape_id, name

    def written(self) -> None:
        """The write committed: staged values are stored."""
        self._cache.clear()
        self._known.update(self._staged_names)
        self._staged_names.clear()
        self.staged.clear()

    def lost(self) -> None:
        """The write failed: forget what was staged (and the shapes it may have created)."""
        self._staged_names.clear()
        self.staged.clear()
        self._shapes.clear()
        self._ready = False

    # --- reading ----------------------------------------------------------------------
    def load(self, name: str) -> Any:
        """A small value as a DataFrame, or None when it is not in the file."""
        value_id = _value_id(name)
        if value_id is None:
            return None
        self._load()
        for item in self.staged:  # not written yet: read from memory
            if item.value_id == value_id:
                return _frame(item)
        # A table read already says where its values are: results() of a sweep reads thousands
        # of values of one table, and a query per value (~1 ms) cost more than all the rest.
        # (A list: a write on the driving thread may clear the cache meanwhile.)
        for read in list(self._cache.values()):
            if value_id in read.where:
                break
        else:
            found = self.store.rows("SELECT s.table_name FROM value_index AS v JOIN value_shapes AS s"
                                    " USING (shape_id) WHERE v.value_id = ?", [value_id]) if self._shapes else []
            if not found:
                return None
            read = self._read(found[0][0])
        start, count = read.where.get(value_id, (0, 0))
        found = read.rows.iloc[start:start + count]
        if _copy_on_write():  # a change to the slice copies it: the table read stays as read
            import pandas as pd

            # Not reset_index(): its copy adds a view of the table's column index, whose list
            # of views every later one walks (20,000 values kept: 89 -> 48 us each).
            found.index = pd.RangeIndex(count)
        else:
            found = found.reset_index(drop=True)
        for column in read.nullable:  # as a query of this value alone: nullable only with a NULL in it
            values = found[column]
            if not values.isna().any():
                found[column] = values.astype(values.dtype.numpy_dtype)
        return found

    def missing(self, names: set[str]) -> set[str]:
        """The names among `names` that `load` finds no value for, in one query."""
        ids: dict[int, list[str]] = {}
        missing: set[str] = set()
        for name in names:
            value_id = _value_id(name)
            if value_id is None:
                missing.add(name)
            else:
                ids.setdefault(value_id, []).append(name)
        self._load()
        for item in self.staged:
            ids.pop(item.value_id, None)
        found: set[int] = set()
        if ids and self._shapes:
            found = {value_id for (value_id,) in self.store.rows(
                "SELECT v.value_id FROM value_index AS v JOIN value_shapes AS s USING (shape_id)"
                " WHERE v.value_id IN (SELECT unnest(?))", [sorted(ids)])}
        for value_id in ids.keys() - found:
            missing.update(ids[value_id])
        return missing

    def _read(self, table: str) -> _TableRead:
        """A shape table read whole once (results() reads many values of it); dropped when a
        write adds rows."""
        cached = self._cache.get(table)
        if cached is None:
            import numpy as np

            with self.store._lock:
                frame = self.store.conn.execute(f"SELECT * FROM {table} ORDER BY {ID_COLUMN}, rowid").df()
            ids = frame.pop(ID_COLUMN).to_numpy()
            values, starts, counts = np.unique(ids, return_index=True, return_counts=True)
            nullable = [name for name, dtype in frame.dtypes.items()
                        if hasattr(dtype, "numpy_dtype") and dtype.kind in "iub"]
            cached = self._cache[table] = _TableRead(
                frame, dict(zip(values.tolist(), zip(starts.tolist(), counts.tolist()))), nullable)
        return cached


def _value_id(name: str) -> int | None:
    """The id in a small value's name `small_ID`, or None for any other name."""
    number = name[len("small_"):]
    return int(number) if name.startswith("small_") and number.isdigit() else None


def _copy_on_write() -> bool:
    """Whether pandas copies a frame taken out of another before it changes (always from
    pandas 3; by opt-in in pandas 2, which a user may switch at any time)."""
    if _pandas_major() >= 3:
        return True
    import pandas as pd

    return pd.options.mode.copy_on_write is True


@functools.cache
def _pandas_major() -> int:
    import pandas as pd

    return int(pd.__version__.split(".")[0])


class _TableRead:
    """A shape table as read: its rows, where each value's rows are (start, count), and the
    columns of whole numbers or booleans that pandas read as nullable (a NULL somewhere)."""

    __slots__ = ("rows", "where", "nullable")

    def __init__(self, rows: Any, where: dict[int, tuple[int, int]], nullable: list[str]):
        self.rows = rows
        self.where = where
        self.nullable = nullable


class _NotArrow(Exception):
    """A column of objects that Arrow cannot hold in one type."""


_NUMPY_KINDS = frozenset("biufMm")  # numbers, booleans, datetimes and durations: kept as their bytes


class _Snapshot:
    """A plain DataFrame's columns as they are when it is staged, and what tells that content
    from a later one of the same object: its names and types (`signature`) and `content`, one
    hash of every column's values (numeric columns by their bytes, text by its strings)."""

    __slots__ = ("names", "columns", "signature", "content")

    def __init__(self, names: list[str], columns: list[Any], signature: Any, content: int):
        self.names = names
        self.columns = columns  # numeric columns' bytes (their dtype is in the signature), or Arrow arrays
        self.signature = signature
        self.content = content


def _snapshot(value: Any, index: dict[str, Any] | None = None) -> _Snapshot | None:
    """A plain DataFrame's columns, taken now (the frame may change in place before the write),
    after the columns that hold its `index` if it has any; None for Arrow tables, extension
    dtypes other than text, and column names that are not text, are repeated or clash with
    ID_COLUMN. Raises _NotArrow for a column of mixed objects."""
    if not type(value).__module__.startswith("pandas"):
        return None
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    names, columns, types, content = [], [], [], []
    for name, values in _column_values(value, index):
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS:
            column = np.asarray(values).tobytes()  # one copy: immutable, and hashed as it is
            content.append(column)
        else:
            if isinstance(dtype, pd.StringDtype):
                column = values.__arrow_array__()  # pandas' own Arrow data: no copy, immutable
                content.append(tuple(column.to_pylist()))  # its strings: exact however it is sliced
            elif dtype == object:
                try:
                    column = pa.array(values, from_pandas=True)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                    raise _NotArrow() from None
                content.append(tuple(b if b is None else b.to_pybytes() for b in column.buffers()))
            else:
                return None
            dtype = column.type
        names.append(name)
        columns.append(column)
        types.append(dtype)
    if not all(type(name) is str for name in names) or len(set(names)) < len(names) or ID_COLUMN in names:
        return None
    return _Snapshot(names, columns, (tuple(names), tuple(types)), hash(tuple(content)))


def _column_values(value: Any, index: dict[str, Any] | None) -> Iterator[tuple[Any, Any]]:
    """(name, values) of each column of a DataFrame (after the columns that hold its `index`):
    a numpy array, or pandas' extension array for an extension dtype."""
    if index is None and hasattr(value, "_iter_column_arrays"):
        # pandas' own arrays of the columns, in order: about 2.5 us for a 5x3 frame, where one
        # Series per column (`items()`, the public way) costs about 37.
        return zip(_column_names(value.columns), value._iter_column_arrays())
    import numpy as np

    items = value.items() if index is None else [*index_levels(value, index), *value.items()]
    return ((name, series.to_numpy() if isinstance(series.dtype, np.dtype) else series.array)
            for name, series in items)


def _column_names(columns: Any) -> list[Any]:
    """A column Index's labels as a list. pandas keeps text labels in Arrow: read there they
    cost about 2 us for three, where iterating the Index (one Python call per label) costs 5."""
    data = getattr(columns._values, "_pa_array", None)
    if data is not None:  # pyarrow is loaded: pandas made this array with it
        import pyarrow as pa

        if isinstance(data, pa.ChunkedArray) and not data.null_count and (  # NA: as pandas gives it
                pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
            return data.to_pylist()
    return list(columns)


def _concat(parts: list[Any], dtype: Any) -> Any:
    """One Arrow array of a column across the staged values of one signature."""
    import numpy as np
    import pyarrow as pa

    if isinstance(dtype, np.dtype):  # numbers: one buffer of every value's bytes
        return pa.array(np.frombuffer(b"".join(parts), dtype=dtype), from_pandas=True)
    chunks = [chunk for part in parts for chunk in (part.chunks if isinstance(part, pa.ChunkedArray) else [part])]
    column = pa.concat_arrays(chunks) if chunks else pa.array([], type=dtype)
    if pa.types.is_large_string(column.type):  # pandas' text: the same shape table as other text
        column = column.cast(pa.string())
    return column


def _fingerprint(value: Any) -> Any:
    """What tells a changed DataFrame from the one stored (None for an immutable Arrow table)."""
    if not type(value).__module__.startswith("pandas"):
        return None
    from .values import _fingerprint as hashed

    return hashed(value)


def _frame(item: _Staged) -> Any:
    import pandas as pd

    if item.table is not None:
        return item.table.to_pandas()
    import numpy as np

    types = item.signature[1]
    return pd.DataFrame({c: np.frombuffer(a, dtype=t).copy() if isinstance(a, bytes) else a.to_pandas()
                         for c, a, t in zip(item.columns, item.arrays, types)})


def _as_arrow(value: Any) -> Any:
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    return pa.Table.from_pandas(value, preserve_index=False)
