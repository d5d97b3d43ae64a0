"""The kind of a param value, so a mutation cannot silently turn a number into text."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["kind_of", "same_kind"]


def kind_of(value: Any) -> str:
    """A value's kind in a user's words: 'a number', 'text', 'a list', 'a table'..."""
    if value is None:
        return "None"
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "a boolean"
    if isinstance(value, numbers.Real):  # int, float and numpy's numbers: an int is a fine float
        return "a number"
    if isinstance(value, (str, bytes)):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    module = type(value).__module__.split(".")[0]
    if module in ("pandas", "pyarrow") and type(value).__name__ in ("DataFrame", "Table"):
        return "a table"
    return f"a {type(value).__name__}"


def same_kind(old: Any, new: Any) -> bool:
    """Whether `new` may replace `old` without forcing: the same kind, or either is None."""
    return old is None or new is None or kind_of(old) == kind_of(new)
