"""Values as the faces show them: a short, address-free text, a kind, and the value itself when
it is JSON-native and small enough to edit in a form."""

from __future__ import annotations

import json
import math
import re
import reprlib
from dataclasses import dataclass
from typing import Any

__all__ = ["ValuePreview", "short", "value_kind"]

_ADDRESS = re.compile(r" (object )?at 0x[0-9a-fA-F]+")
EDITABLE_CHARS = 2_000  # a JSON value longer than this is shown, not offered for editing


class _Short(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxstring = 40
        self.maxother = 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 4

    def repr_instance(self, obj: Any, level: int) -> str:
        kind = type(obj)
        shape = getattr(obj, "shape", None)
        if isinstance(shape, tuple) and kind.__module__.split(".")[0] in ("numpy", "pandas", "pyarrow"):
            return f"<{kind.__name__} {'x'.join(str(n) for n in shape)}>"
        text = _ADDRESS.sub("", super().repr_instance(obj, level))
        return text if not text.startswith("<") or text.endswith(">") else f"<{kind.__name__}>"


_short = _Short()


def short(value: Any) -> str:
    """A short, address-free repr for displays."""
    return _short.repr(value)


def value_kind(value: Any) -> str:
    """The kind a form edits a value as: bool, int, float, str, null, list, dict, or the type's name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


@dataclass(frozen=True)
class ValuePreview:
    """How a value is shown: `text` always; `value` (JSON-native) when it can be edited."""

    kind: str
    text: str
    editable: bool
    value: Any = None

    @classmethod
    def of(cls, value: Any) -> ValuePreview:
        kind = value_kind(value)
        text = short(value)
        if kind in ("bool", "int", "str", "null"):
            return cls(kind, text, True, value)
        if kind == "float":  # NaN and infinities have no JSON form: shown, not edited
            return cls(kind, text, math.isfinite(value), value if math.isfinite(value) else None)
        if kind in ("list", "dict"):
            try:
                encoded = json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                return cls(kind, text, False)
            if len(encoded) <= EDITABLE_CHARS:
                return cls(kind, text, True, json.loads(encoded))
        return cls(kind, text, False)

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "text": self.text, "editable": self.editable}
        if self.editable:
            found["value"] = self.value
        return found
