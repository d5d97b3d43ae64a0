"""Checks on the arguments of the Engine's public methods: a wrong type is one ParamError that
names the argument, raised before anything is looked up or changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ParamError
from .runtime import Attempt

__all__ = ["whole_number", "text", "selector", "attempts", "MAX_NUMBER"]

MAX_NUMBER = 2**31 - 1  # versions, instances and runs are stored as 32-bit integers


def _shown(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown[:40] + '...' if len(shown) > 40 else shown}"


def whole_number(value: Any, what: str, hint: str = "", *, kind_only: bool = False) -> int | None:
    """`value` if it is None or a whole number from 1 to MAX_NUMBER (never a bool, a float or text);
    `kind_only` leaves the range to a check that knows more (a version's, say)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"{what} must be a whole number >= 1{hint}, not {_shown(value)}")
    if kind_only:
        return value
    if value < 1:
        raise ParamError(f"{what} must be a whole number >= 1{hint}, not {value}")
    if value > MAX_NUMBER:
        raise ParamError(f"{what} must be a whole number up to {MAX_NUMBER:,}, not {value:,}")
    return value


def text(value: Any, what: str, *, optional: bool = False) -> str | None:
    """`value` if it is text (or None, when `optional`)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ParamError(f"{what} must be text, not {_shown(value)}")
    return value


def selector(value: Any, breakpoint_type: type) -> Any:
    """A breakpoint selector: a Breakpoint, its id, its name, or WORKFLOW.STEP."""
    if isinstance(value, breakpoint_type) or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return whole_number(value, "a breakpoint id")
    raise ParamError(f"a breakpoint is named by its id, its name or WORKFLOW.STEP, not {_shown(value)}")


def attempts(value: Any) -> list[Attempt]:
    """One attempt or an iterable of attempts (what `engine.paused()` and `paused` give)."""
    if isinstance(value, Attempt):
        return [value]
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise ParamError(f"attempts must be paused attempts (from engine.paused(), or the `paused` variable), "
                         f"not {_shown(value)}")
    items = list(value)
    for item in items:
        if not isinstance(item, Attempt):
            raise ParamError(f"attempts must be paused attempts (from engine.paused(), or the `paused` variable); "
                             f"one is {_shown(item)}")
    return list(dict.fromkeys(items))
