"""A DataFrame's index in the state file: DuckDB tables have none, so it is kept as columns.

The default index (0, 1, ... unnamed) is not stored. A range is written as its bounds in the
value's marker; any other index as leading columns `__index_level_N__` (made unique against
the frame's own columns), with the levels' names in the marker.
"""

from __future__ import annotations

from typing import Any

__all__ = ["index_spec", "with_index_columns", "index_levels", "restore_index"]


def index_spec(table: Any) -> dict[str, Any] | None:
    """How to rebuild a DataFrame's index, unless it is the default one (0, 1, ... unnamed) or
    the table is Arrow's: a range as its bounds; any other index as the columns that hold its
    levels (`__index_level_N__`, made unique against the frame's own), with the levels' names."""
    if not type(table).__module__.startswith("pandas"):
        return None
    import pandas as pd

    index = table.index
    if type(index) is pd.RangeIndex:
        if index.start == 0 and index.step == 1 and index.name is None:
            return None
        return {"range": [index.start, index.stop, index.step], "names": [_name(index.name)]}
    taken = {str(c) for c in table.columns}
    columns = []
    for level in range(index.nlevels):
        column = f"__index_level_{level}__"
        while column in taken:
            column = "_" + column
        columns.append(column)
    return {"columns": columns, "names": [_name(n) for n in index.names]}


def _name(name: Any) -> Any:
    """An index level's name as JSON holds it (other names as their text)."""
    return name if name is None or type(name) in (str, int, float, bool) else str(name)


def with_index_columns(frame: Any, spec: dict[str, Any]) -> Any:
    """The frame with its index levels as leading columns, named as `spec` says (a range
    index needs none)."""
    if "columns" not in spec:
        return frame.reset_index(drop=True)
    return frame.reset_index(names=spec["columns"])


def restore_index(frame: Any, spec: dict[str, Any]) -> Any:
    """The frame read back from the state file, with the index `spec` describes."""
    import pandas as pd

    if "range" in spec:
        frame.index = pd.RangeIndex(*spec["range"], name=spec["names"][0])
        return frame
    frame = frame.set_index(spec["columns"])
    frame.index.names = spec["names"]
    return frame


def index_levels(frame: Any, spec: dict[str, Any]) -> list[tuple[str, Any]]:
    """(column, level) of each index level `spec` stores as a column (none for a range)."""
    if "columns" not in spec:
        return []
    index = frame.index
    return [(column, index.get_level_values(level)) for level, column in enumerate(spec["columns"])]
