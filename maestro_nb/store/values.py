"""How values are persisted: JSON-native as JSON, tables as DuckDB tables, the rest in memory.

Every value comes back as itself: JSON text is written only for a value JSON holds exactly
(numpy numbers and arrays as the numbers and lists they are, tuples as lists), and a user dict
that holds the marker key is escaped, so that no user value reads back as a codec marker, a
table or a pickle. Anything else is a table, a pickle (by opt-in) or named as kept in memory.
"""

from __future__ import annotations

import base64
import json
import pickle
import weakref
from typing import TYPE_CHECKING, Any

from .frames import index_spec, restore_index, with_index_columns
from .small import small_enough

if TYPE_CHECKING:
    from .store import Store

__all__ = ["ValueCodec", "NOT_PERSISTED", "NotPersisted", "MAX_DEPTH", "native_text", "safe_json", "clean_text"]

MARK = "$maestro"
MARK_TEXT = '"$maestro"'  # the marker key as JSON text: json.dumps writes it exactly so
MAX_DEPTH = 100  # containers nested deeper are not stored: reading them back could overflow the stack
_SCALARS = frozenset({str, int, float, bool, type(None)})
_TEXT = frozenset({str})
_quote = json.encoder.encode_basestring_ascii  # what json.dumps writes for text (ensure_ascii)
_NATIVE = frozenset({str, int, float, bool, dict, list, tuple})  # types JSON may hold (never a table)


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
    """numpy scalars as Python numbers and numpy arrays as (nested) lists."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    return value


def _plain_or_fail(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"{_type_name(value)} is not JSON-native")
    return plain


def _keys_are_text(value: Any, depth: int = 0) -> bool:
    """No dict in `value` (a dict, list or tuple) has a key that is not text (JSON would read the
    key 1 back as "1"), and no container nests deeper than MAX_DEPTH."""
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, dict):
        if not _TEXT.issuperset(map(type, value)) and not all(isinstance(k, str) for k in value):
            return False
        value = value.values()
    if _SCALARS.issuperset(map(type, value)):  # the usual case, decided at C speed
        return True
    return all(_keys_are_text(v, depth + 1) for v in value if isinstance(v, (dict, list, tuple)))


def _encoder(ascii: bool) -> Any:
    """json.dumps(value, default=_plain_or_fail, ensure_ascii=ascii, check_circular=False), made
    once: json.dumps builds its C encoder on every call, which costs more than the encoding of
    a small value (a cycle still fails, as a RecursionError)."""
    from json import encoder

    quote = encoder.encode_basestring_ascii if ascii else encoder.encode_basestring
    if encoder.c_make_encoder is None:  # an interpreter without the C accelerator
        slow = json.JSONEncoder(default=_plain_or_fail, ensure_ascii=ascii, check_circular=False)
        return lambda value: slow.encode(value)
    make = encoder.c_make_encoder(None, _plain_or_fail, quote, None, ": ", ", ", False, False, True)
    return lambda value: "".join(make(value, 0))


_ENCODERS = {True: _encoder(True), False: _encoder(False)}


def _dumps(value: Any, ascii: bool = True) -> str:
    return _ENCODERS[ascii](value)


def native_text(value: Any) -> str | None:
    """JSON text that reads back as `value`, or None when JSON cannot hold it. Never raises.

    The marker test is a substring search on the text already made, so the common value pays
    nothing for it; only a dict that holds the marker key is escaped (see `_escape`)."""
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None
    kind = type(value)
    if kind is dict:  # the usual case, a flat dict of names: decided at C speed
        if not (_TEXT.issuperset(map(type, value)) and _SCALARS.issuperset(map(type, value.values()))
                or _keys_are_text(value)):
            return None
    elif (kind is list or isinstance(value, (dict, list, tuple))) and not _keys_are_text(value):
        return None
    if "\\ud" in text:  # a surrogate: fine in a pair, refused by DuckDB's JSON when unpaired
        try:
            _dumps(value, ascii=False).encode()
        except UnicodeEncodeError:
            return None
    if MARK_TEXT in text:
        text = _dumps(_escape(value))
    return text


def _marker_kind(value: dict[str, Any]) -> str | None:
    """Which of the codec's markers a decoded dict is ("dict", "table", "pickle", "memory"), or
    None for a dict of the user's own (one that only shares the marker key is escaped)."""
    kind = value.get(MARK)
    size = len(value)
    if (kind == "dict" and size == 2 or kind == "table" and (size == 3 or size == 4 and "index" in value)
            or kind == "pickle" and size == 3 or kind == "memory" and size == 2):
        return kind
    return None


def _names_of_ints_or_text(params: dict[str, Any]) -> str | None:
    """The JSON text `native_text` makes of a dict of names to ints and text (a sweep's loop
    params, encoded once per attempt), made without the encoder's per-call set-up; None for
    any other dict, or when the text would need `native_text`'s checks."""
    text, sep = "{", ""
    for name, value in params.items():
        kind = type(value)
        if type(name) is not str or (kind is not int and kind is not str):
            return None
        text = f"{text}{sep}{_quote(name)}: {int.__repr__(value) if kind is int else _quote(value)}"
        sep = ", "
    text += "}"
    if "\\ud" in text or MARK_TEXT in text:  # a surrogate, or the marker: the careful path
        return None
    return text


def _escape(value: Any) -> Any:
    """`value` with every dict that holds the marker key written as {MARK: "dict", "items": pairs}."""
    if isinstance(value, dict):
        if MARK in value:
            return {MARK: "dict", "items": [[k, _escape(v)] for k, v in value.items()]}
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape(v) for v in value]
    return value


def _why(value: Any, depth: int = 0) -> str:
    """What JSON cannot hold in `value`, in a few words ("a set", "a dict with the key 1")."""
    if depth >= MAX_DEPTH:
        return f"a value nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        return "text with an unpaired surrogate character"
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                return f"a dict with the key {key!r} (JSON keys are text)"
            if native_text(inner) is None:
                return _why(inner, depth + 1)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            if native_text(inner) is None:
                return _why(inner, depth + 1)
    return f"a {_type_name(value)}"


def clean_text(text: str | None) -> str | None:
    """`text` as DuckDB can store it: an unpaired surrogate becomes its escape, e.g. \\ud800."""
    if text is None or text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def safe_json(detail: Any) -> str:
    """JSON text of an event's detail (anything else as its repr) that DuckDB accepts."""
    text = json.dumps(detail, default=repr)
    if "\\ud" in text:
        try:
            json.dumps(detail, default=repr, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            text = json.dumps(_clean_strings(json.loads(text)))
    return text


def _clean_strings(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _clean_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_strings(v) for v in value]
    return value


class ValueCodec:
    """Encodes values into JSON text for the state file and back, never unpickling by default."""

    def __init__(self, store: Store | None, *, pickle_values: bool = False):
        self.store = store
        self.pickle_values = pickle_values
        # Tables already saved, by object: (the object, its fingerprint, the table's name). The
        # same DataFrame bound to many attempts, or flushed again, is stored once.
        self._saved: dict[int, tuple[weakref.ref[Any], Any, str]] = {}
        self._type_texts: dict[type, str] = {}  # a table type's name as JSON text, made once

    def storable(self, value: Any) -> bool:
        """True when `value` survives a restart (JSON-native, a table, or pickled by opt-in)."""
        return self.problem(value) is None

    def problem(self, value: Any) -> str | None:
        """Why `value` would not survive a restart ("a set", ...), or None when it would."""
        if value is None or _is_table(value) or native_text(value) is not None:
            return None
        if isinstance(value, NotPersisted):
            return f"a value that was not persisted ({value.type_name})"
        if self.pickle_values and _pickled(value) is not None:
            return None
        return _why(value)

    def encode(self, value: Any, *, save_tables: bool = True) -> str:
        """JSON text for the state file. Never raises: what cannot be stored is named as lost."""
        if value is None:
            return "null"
        if type(value) not in _NATIVE and _is_table(value):  # never JSON: no need to try
            index = index_spec(value)
            name = self._save_table(value, index) if save_tables and self.store is not None else "unsaved"
            type_text = self._type_texts.get(type(value))
            if type_text is None:
                type_text = self._type_texts[type(value)] = json.dumps(_type_name(value))
            # json.dumps({MARK: "table", "name": name, "type": ..., "index": ...}): the name is plain text
            index_text = "" if index is None else f', "index": {json.dumps(index)}'
            return f'{{"{MARK}": "table", "name": "{name}", "type": {type_text}{index_text}}}'
        text = native_text(value)
        if text is not None:
            return text
        if isinstance(value, NotPersisted):  # still lost: keep naming what was lost
            return json.dumps({MARK: "memory", "type": value.type_name})
        if self.pickle_values:
            data = _pickled(value)
            if data is not None:
                return json.dumps({MARK: "pickle", "data": data, "type": _type_name(value)})
        return json.dumps({MARK: "memory", "type": _type_name(value)})

    def encode_params(self, params: dict[str, Any]) -> str:
        """Params by name as a JSON object, each value encoded as `encode` does."""
        if not params:
            return "{}"
        text = _names_of_ints_or_text(params)
        if text is not None:
            return text
        text = native_text(params)
        if text is not None:
            return text
        return "{" + ", ".join(f"{json.dumps(str(k))}: {self.encode(v)}" for k, v in params.items()) + "}"

    def _save_table(self, value: Any, index: dict[str, Any] | None) -> str:
        """The table's name in the store, saving it only when this content was not saved yet: a
        small one among the rows of others of its shape, a big one as a table of its own (with
        the columns that hold its `index`, see `frames.index_spec`)."""
        if small_enough(value):
            name = self.store.small.stage(value, index)
            if name is not None:
                return name
        fingerprint = _fingerprint(value)
        known = self._saved.get(id(value))
        if known is not None and known[0]() is value and known[1] == fingerprint:
            return known[2]
        name = self.store.save_table(value if index is None else with_index_columns(value, index))
        self._saved[id(value)] = (weakref.ref(value), fingerprint, name)
        return name

    def decode(self, text: str | None) -> Any:
        if text is None:
            return None
        value = json.loads(text)
        return self._revive(value) if MARK_TEXT in text else value

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            kind = _marker_kind(value)
            if kind == "dict":  # a user dict that holds the marker key
                return {key: self._revive(inner) for key, inner in value["items"]}
            if kind == "table":
                table = self.store.load_table(value["name"]) if self.store is not None else None
                if table is None:
                    return NotPersisted(value["type"])
                if "index" in value:
                    table = restore_index(table, value["index"])
                return table if value["type"].startswith("pandas") else _to_arrow(table)
            if kind == "pickle":
                if not self.pickle_values:
                    return NotPersisted(value["type"] + " (pickled; open with pickle_values=True)")
                return pickle.loads(base64.b64decode(value["data"]))
            if kind == "memory":
                return NotPersisted(value["type"])
            return {k: self._revive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value

    def lost_at_top(self, text: str) -> tuple[bool, str | None]:
        """Whether `decode(text)` is a NotPersisted, found without loading a table: (True,
        None) when it is; (False, name) for a table, lost only when the file holds no table of
        that name (`Store.missing_tables`); (False, None) when it is not. As `_revive` decides."""
        if MARK_TEXT not in text:
            return False, None
        value = json.loads(text)
        kind = _marker_kind(value) if isinstance(value, dict) else None
        if kind == "table":
            return (False, value["name"]) if self.store is not None else (True, None)
        if kind == "pickle":
            return not self.pickle_values, None
        return kind == "memory", None

    def decode_params(self, text: str | None) -> dict[str, Any]:
        return {} if text is None else self.decode(text)


def _pickled(value: Any) -> str | None:
    try:
        return base64.b64encode(pickle.dumps(value)).decode()
    except Exception:  # not picklable (or nested too deep): it stays in memory
        return None


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
