"""How values are persisted: JSON-native as JSON, tables as DuckDB tables, the rest in memory."""

from __future__ import annotations

import base64
import json
import pickle
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

__all__ = ["ValueCodec", "NOT_PERSISTED", "NotPersisted"]

MARK = "$maestro"


class NotPersisted:
    """Stands for a value that was kept in memory only and is gone after a restart."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<not persisted: {self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotPersisted) and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(self.type_name)


NOT_PERSISTED = NotPersisted


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _is_table(value: Any) -> bool:
    module = type(value).__module__
    return (module.startswith("pandas") and type(value).__name__ == "DataFrame") or (
        module.startswith("pyarrow") and type(value).__name__ == "Table"
    )


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, so that they are JSON-native."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


class ValueCodec:
    """Encodes values into JSON text for the state file and back, never unpickling by default."""

    def __init__(self, store: Store | None, *, pickle_values: bool = False):
        self.store = store
        self.pickle_values = pickle_values
        # Tables already saved, by object: (the object, its fingerprint, the table's name). The
        # same DataFrame bound to many attempts, or flushed again, is stored once.
        self._saved: dict[int, tuple[weakref.ref[Any], Any, str]] = {}

    def storable(self, value: Any) -> bool:
        """True when `value` survives a restart (JSON-native, a table, or pickled by opt-in)."""
        decoded = json.loads(self.encode(value, save_tables=False))
        return not (isinstance(decoded, dict) and decoded.get(MARK) == "memory")

    def encode(self, value: Any, *, save_tables: bool = True) -> str:
        if value is None:
            return "null"
        if isinstance(value, NotPersisted):  # still lost: keep naming what was lost
            return json.dumps({MARK: "memory", "type": value.type_name})
        try:
            return json.dumps(value, allow_nan=True)
        except (TypeError, ValueError):
            pass
        value = _plain(value)
        try:
            return json.dumps(value, allow_nan=True, default=_plain_or_fail)
        except (TypeError, ValueError):
            pass
        if _is_table(value):
            name = self._save_table(value) if save_tables and self.store is not None else "unsaved"
            return json.dumps({MARK: "table", "name": name, "type": _type_name(value)})
        if self.pickle_values:
            try:
                data = base64.b64encode(pickle.dumps(value)).decode()
                return json.dumps({MARK: "pickle", "data": data, "type": _type_name(value)})
            except Exception:  # not picklable: falls through to memory
                pass
        return json.dumps({MARK: "memory", "type": _type_name(value)})

    def encode_params(self, params: dict[str, Any]) -> str:
        if not params:
            return "{}"
        try:
            return json.dumps(params, allow_nan=True)
        except (TypeError, ValueError):
            return "{" + ", ".join(
                f"{json.dumps(k)}: {self.encode(v)}" for k, v in params.items()
            ) + "}"

    def _save_table(self, value: Any) -> str:
        """The table's name in the store, saving it only when this content was not saved yet."""
        fingerprint = _fingerprint(value)
        known = self._saved.get(id(value))
        if known is not None and known[0]() is value and known[1] == fingerprint:
            return known[2]
        name = self.store.save_table(value)
        self._saved[id(value)] = (weakref.ref(value), fingerprint, name)
        return name

    def decode(self, text: str | None) -> Any:
        if text is None:
            return None
        return self._revive(json.loads(text))

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            kind = value.get(MARK)
            if kind == "table" and len(value) == 3:
                table = self.store.load_table(value["name"]) if self.store is not None else None
                if table is None:
                    return NotPersisted(value["type"])
                return table if value["type"].startswith("pandas") else _to_arrow(table)
            if kind == "pickle" and len(value) == 3:
                if not self.pickle_values:
                    return NotPersisted(value["type"] + " (pickled; open with pickle_values=True)")
                return pickle.loads(base64.b64decode(value["data"]))
            if kind == "memory" and len(value) == 2:
                return NotPersisted(value["type"])
            return {k: self._revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value

    def decode_params(self, text: str | None) -> dict[str, Any]:
        return {} if text is None else self.decode(text)


def _plain_or_fail(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"{_type_name(value)} is not JSON-native")
    return plain


def _fingerprint(table: Any) -> Any:
    """Arrow tables are immutable; a DataFrame may change in place, so its content is hashed."""
    if type(table).__module__.startswith("pyarrow"):
        return None
    import pandas as pd

    try:
        content = int(pd.util.hash_pandas_object(table, index=True).sum())
    except TypeError:  # unhashable cells (lists, dicts): never reuse, save every time
        return object()
    return (table.shape, tuple(map(str, table.columns)), content)


def _to_arrow(frame: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)
