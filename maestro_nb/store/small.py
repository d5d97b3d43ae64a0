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

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

__all__ = ["SmallTables", "MAX_ROWS", "MAX_COLUMNS", "ID_COLUMN"]

MAX_ROWS = 256
MAX_COLUMNS = 64
ID_COLUMN = "__value_id"


def small_enough(value: Any) -> bool:
    """Whether a table value is stored compactly (else it gets a table of its own)."""
    rows, columns = value.shape if hasattr(value, "shape") else (value.num_rows, value.num_columns)
    names = value.columns if hasattr(value, "columns") else value.column_names
    return rows <= MAX_ROWS and 0 < columns <= MAX_COLUMNS and ID_COLUMN not in names


class _Staged:
    __slots__ = ("value_id", "signature", "columns", "arrays", "table", "rows")

    def __init__(self, value_id: int, signature: Any, columns: list[str], arrays: list[Any] | None,
                 table: Any, rows: int):
        self.value_id = value_id
        self.signature = signature  # columns and numpy dtypes: values that may share one batch
        self.columns = columns
        self.arrays = arrays  # numpy arrays by column (a plain DataFrame), or None
        self.table = table  # an Arrow table (anything else), or None
        self.rows = rows


class SmallTables:
    """The small values of one state file: staged ones, and the shapes already written."""

    def __init__(self, store: Store):
        self.store = store
        self.staged: list[_Staged] = []
        self._staged_names: dict[int, tuple[Any, Any, str]] = {}
        # Values already stored, by object: (a weak reference, its fingerprint, its name).
        self._known: dict[int, tuple[Any, Any, str]] = {}
        self._shapes: dict[str, tuple[int, str]] = {}  # Arrow schema text -> (shape id, table)
        self._next_id = 1
        self._ready = False
        self._cache: dict[str, tuple[Any, dict[int, tuple[int, int]]]] = {}

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
    def stage(self, value: Any) -> str | None:
        """The name of a small table value, staged for the next write unless this content of
        this object is stored (or staged) already."""
        self._load()
        key = id(value)
        try:
            arrays = _column_arrays(value)
        except _NotArrow:
            return None  # objects Arrow cannot hold in one type: a table of its own
        fingerprint = _fingerprint(value, arrays)
        for cache in (self._staged_names, self._known):
            known = cache.get(key)
            if known is not None and known[0]() is value and known[1] == fingerprint:
                return known[2]
        value_id = self._next_id
        self._next_id += 1
        name = f"small_{value_id}"
        import pyarrow as pa

        if arrays is not None:
            columns = [str(c) for c in value.columns]
            signature = (tuple(columns), tuple(str(a.type) if isinstance(a, pa.Array) else a.dtype.str
                                               for a in arrays))
            self.staged.append(_Staged(value_id, signature, columns, arrays, None, len(value)))
        else:
            try:
                table = _as_arrow(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                return None
            self.staged.append(_Staged(value_id, None, table.column_names, None, table, table.num_rows))
        try:
            ref = weakref.ref(value, lambda _, key=key: self._forget(key))
        except TypeError:
            return name
        self._staged_names[key] = (ref, fingerprint, name)
        return name

    def _forget(self, key: int) -> None:
        self._known.pop(key, None)

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
            columns = [_concat([it.arrays[j] for it in items]) for j in range(len(items[0].columns))]
            tables.append((items, pa.table(columns, names=items[0].columns)))
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
        number = name[len("small_"):]
        if not number.isdigit():
            return None
        self._load()
        value_id = int(number)
        for item in self.staged:  # not written yet: read from memory
            if item.value_id == value_id:
                return _frame(item)
        found = self.store.rows("SELECT s.table_name FROM value_index AS v JOIN value_shapes AS s USING (shape_id)"
                                " WHERE v.value_id = ?", [value_id]) if self._shapes else []
        if not found:
            return None
        rows, where = self._read(found[0][0])
        start, count = where.get(value_id, (0, 0))
        found = rows.iloc[start:start + count].reset_index(drop=True)
        for column in found.columns:  # as a query of this value alone: nullable only with a NULL in it
            dtype = found[column].dtype
            if hasattr(dtype, "numpy_dtype") and dtype.kind in "iub" and not found[column].isna().any():
                found[column] = found[column].astype(dtype.numpy_dtype)
        return found

    def _read(self, table: str) -> tuple[Any, dict[int, tuple[int, int]]]:
        """A shape table read whole once (results() reads many values of it), and where each
        value's rows are in it; dropped when a write adds rows."""
        cached = self._cache.get(table)
        if cached is None:
            import numpy as np

            with self.store._lock:
                frame = self.store.conn.execute(f"SELECT * FROM {table} ORDER BY {ID_COLUMN}, rowid").df()
            ids = frame.pop(ID_COLUMN).to_numpy()
            values, starts, counts = np.unique(ids, return_index=True, return_counts=True)
            cached = self._cache[table] = (frame, dict(zip(values.tolist(), zip(starts.tolist(), counts.tolist()))))
        return cached


class _NotArrow(Exception):
    """A column of objects that Arrow cannot hold in one type."""


def _column_arrays(value: Any) -> list[Any] | None:
    """A plain DataFrame's columns: numpy arrays, and columns of objects as Arrow arrays (None for
    Arrow tables, extension dtypes, column names that are not text, or duplicated names)."""
    import numpy as np
    import pyarrow as pa

    if not type(value).__module__.startswith("pandas"):
        return None
    columns = value.columns
    if not columns.is_unique or not all(isinstance(c, str) for c in columns):
        return None
    manager = getattr(value, "_mgr", None)
    arrays = getattr(manager, "column_arrays", None)
    if arrays is None:
        arrays = [value.iloc[:, j].to_numpy() for j in range(value.shape[1])]
    if not all(isinstance(a, np.ndarray) and a.dtype.kind in "biufOMm" for a in arrays):
        return None
    found = []
    for a in arrays:
        if a.dtype.kind == "O":
            try:
                found.append(pa.array(a, from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                raise _NotArrow() from None
        else:
            found.append(a.copy())  # the frame may change in place before the write
    return found


def _concat(parts: list[Any]) -> Any:
    import numpy as np
    import pyarrow as pa

    if isinstance(parts[0], pa.Array):
        return parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
    return pa.array(parts[0] if len(parts) == 1 else np.concatenate(parts), from_pandas=True)


def _fingerprint(value: Any, arrays: list[Any] | None) -> Any:
    """What tells a changed DataFrame from the one stored (None for an immutable Arrow table)."""
    if not type(value).__module__.startswith("pandas"):
        return None
    if arrays is None:
        from .values import _fingerprint as hashed

        return hashed(value)
    try:
        return (tuple(value.columns), hash(tuple(a.tobytes() if hasattr(a, "tobytes") else tuple(a.to_pylist())
                                                 for a in arrays)))
    except TypeError:  # unhashable cells: never reused, stored every time
        return object()


def _frame(item: _Staged) -> Any:
    import pandas as pd

    if item.table is not None:
        return item.table.to_pandas()
    return pd.DataFrame({c: a.to_pandas() if hasattr(a, "to_pandas") else a for c, a in zip(item.columns, item.arrays)})


def _as_arrow(value: Any) -> Any:
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value
    return pa.Table.from_pandas(value, preserve_index=False)
