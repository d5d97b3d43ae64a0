"""The comm protocol's requests: what each op takes, checked before anything is read or changed.

Every message from the browser goes through `parse_request`, which either returns a `Request`
whose arguments have the types docs/protocol.md gives, or raises `ProtocolError` with one line
saying what is wrong. Nothing here reads the engine: ids and keys are checked against the
engine's state by the handler, still before any change.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import MaestroError

__all__ = ["PROTOCOL", "MAX_BYTES", "OPS", "Request", "ProtocolError", "parse_request", "request_id"]

PROTOCOL = 1
MAX_BYTES = 256 * 1024  # a message's JSON encoding, at most
MAX_ID = 64
MAX_KEYS = 1000
MAX_TEXT = 1000  # targets, names, conditions
_REQUEST_KEYS = frozenset({"protocol", "id", "op", "args"})


class ProtocolError(MaestroError):
    """A message from the browser that does not fit the protocol; it changes nothing."""


class Arg:
    """One argument: its JSON type and limits; `check` returns the value or raises ProtocolError."""

    required = False
    default: Any = None

    def check(self, op: str, name: str, value: Any) -> Any:
        raise NotImplementedError

    def _wrong(self, op: str, name: str, wanted: str, value: Any) -> ProtocolError:
        return ProtocolError(f"{op}: {name} must be {wanted}, not {_shown(value)}")


@dataclass
class Text(Arg):
    required: bool = False
    max: int = MAX_TEXT
    pattern: str | None = None  # a regular expression the whole text must match
    means: str = "a string"
    default: Any = None

    def check(self, op: str, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise self._wrong(op, name, self.means, value)
        if not value or len(value) > self.max:
            raise ProtocolError(f"{op}: {name} must be 1 to {self.max} characters, not {len(value)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise self._wrong(op, name, self.means, value)
        return value


@dataclass
class Choice(Arg):
    choices: tuple[str, ...] = ()
    default: Any = None

    def check(self, op: str, name: str, value: Any) -> Any:
        if value not in self.choices or not isinstance(value, str):
            raise self._wrong(op, name, " or ".join(repr(c) for c in self.choices), value)
        return value


@dataclass
class Integer(Arg):
    required: bool = False
    low: int = 1
    high: int = 2**53
    default: Any = None

    def check(self, op: str, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(op, name, f"an integer from {self.low} to {self.high}", value)
        if not self.low <= value <= self.high:
            raise ProtocolError(f"{op}: {name} must be from {self.low} to {self.high}, not {value}")
        return value


@dataclass
class Flag(Arg):
    default: Any = False

    def check(self, op: str, name: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise self._wrong(op, name, "true or false", value)
        return value


@dataclass
class Json(Arg):
    """Any JSON value (finite numbers only)."""

    required: bool = False
    default: Any = None

    def check(self, op: str, name: str, value: Any) -> Any:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise self._wrong(op, name, "a JSON value", value) from None
        return value


ATTEMPT_KEY = r"[^#/\[\]]+#[0-9]+/[0-9]+/[^/\[\]]+\[[^\[\]]*\]/[0-9]+"


@dataclass
class Keys(Arg):
    required: bool = True

    def check(self, op: str, name: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise self._wrong(op, name, f"a list of 1 to {MAX_KEYS} attempt keys", value)
        if not 1 <= len(value) <= MAX_KEYS:
            raise ProtocolError(f"{op}: {name} must hold 1 to {MAX_KEYS} attempt keys, not {len(value)}")
        key = Text(max=MAX_TEXT, pattern=ATTEMPT_KEY, means="an attempt key (WF#INSTANCE/RUN/STEP[ITERATION]/ATTEMPT)")
        return list(dict.fromkeys(key.check(op, f"{name}[{n}]", k) for n, k in enumerate(value)))


@dataclass
class Loop(Arg):
    """Loop param values to filter by: names to JSON scalars."""

    def check(self, op: str, name: str, value: Any) -> Any:
        if not isinstance(value, dict) or len(value) > 32:
            raise self._wrong(op, name, "an object of at most 32 loop param values", value)
        for k, v in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                raise ProtocolError(f"{op}: {name} has {k!r}, not a param name")
            if not (v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))):
                raise ProtocolError(f"{op}: {name}.{k} must be a number, string, boolean or null, not {_shown(v)}")
        return dict(value)


TARGET = Text(required=True, pattern=r"[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*", means="WORKFLOW.STEP")
ANY_TARGET = Text(required=True, pattern=r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)?",
                  means="WORKFLOW.STEP (or WORKFLOW, for every step at the error point)")
WORKFLOW = Text(required=True, pattern=r"[A-Za-z_][\w-]*", means="a workflow name")
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
KEY = Text(required=True, pattern=ATTEMPT_KEY, means="an attempt key (WF#INSTANCE/RUN/STEP[ITERATION]/ATTEMPT)")

# op -> its arguments. `gate` and other later additions come as new optional arguments.
OPS: dict[str, dict[str, Arg]] = {
    "hello": {},
    "snapshot": {},
    "instance": {"workflow": WORKFLOW, "instance": Integer()},
    "paused": {"workflow": WORKFLOW, "step": Text(pattern=r"[A-Za-z_][\w-]*", means="a step id"),
               "instance": Integer(), "loop": Loop(), "limit": Integer(high=1000, default=200)},
    "set_breakpoint": {"target": ANY_TARGET, "pause": Choice(("before", "after", "error"), default="before"),
                       "when": Text(), "instance": Integer(), "iteration": Text(max=200)},
    "delete_breakpoint": {"id": Integer(required=True), "keep_paused": Flag()},
    "toggle_breakpoint": {"target": TARGET},
    "resume": {"keys": Keys()},
    "step": {"keys": Keys()},
    "skip": {"keys": Keys(), "output": Json()},
    "stop": {"keys": Keys()},
    "retry": {"keys": Keys()},
    "set_param": {"key": KEY, "name": Text(required=True, pattern=NAME, means="a param name"),
                  "value": Json(required=True)},
    "set_output": {"key": KEY, "value": Json(required=True)},
}


@dataclass(frozen=True)
class Request:
    """A request that fits the protocol: its id, op and checked arguments (defaults filled in)."""

    id: str
    op: str
    args: Mapping[str, Any] = field(default_factory=dict)
    given: frozenset[str] = frozenset()  # the argument names the message gave


def request_id(data: Any) -> str | None:
    """The message's id when it is a usable one, for the reply to carry back; else None."""
    if isinstance(data, dict):
        rid = data.get("id")
        if isinstance(rid, str) and 0 < len(rid) <= MAX_ID:
            return rid
    return None


def parse_request(data: Any) -> Request:
    """Check a message against the protocol; ProtocolError (one line) when it does not fit."""
    if not isinstance(data, dict):
        raise ProtocolError(f"a message is a JSON object, not {_shown(data)}")
    try:
        size = len(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError):
        raise ProtocolError("a message is plain JSON (no NaN or infinite numbers)") from None
    if size > MAX_BYTES:
        raise ProtocolError(f"message of {size} bytes is over the {MAX_BYTES} byte limit")
    version = data.get("protocol")
    if version != PROTOCOL or isinstance(version, bool):
        raise ProtocolError(f"protocol {_shown(version)} is not supported; this kernel speaks protocol {PROTOCOL}"
                            " (reload the page after upgrading maestro_nb)")
    extra = sorted(set(data) - _REQUEST_KEYS)
    if extra:
        raise ProtocolError(f"unknown field {extra[0]!r} in a request; a request has protocol, id, op, args")
    rid = data.get("id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID:
        raise ProtocolError(f"id must be a string of 1 to {MAX_ID} characters, not {_shown(rid)}")
    op = data.get("op")
    if not isinstance(op, str) or op not in OPS:
        from ..errors import nearest

        hint = nearest(op, OPS) if isinstance(op, str) else None
        raise ProtocolError(f"unknown op {_shown(op)}" + (f"; did you mean {hint!r}?" if hint else
                                                          f"; ops: {', '.join(OPS)}"))
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(f"{op}: args must be an object, not {_shown(args)}")
    spec = OPS[op]
    unknown = sorted(set(args) - set(spec))
    if unknown:
        known = ", ".join(spec) or "no arguments"
        raise ProtocolError(f"{op}: unknown argument {unknown[0]!r} ({op} takes {known})")
    checked: dict[str, Any] = {}
    for name, arg in spec.items():
        if name in args:
            checked[name] = arg.check(op, name, args[name])
        elif arg.required:
            raise ProtocolError(f"{op}: missing argument {name!r}")
        else:
            checked[name] = arg.default
    return Request(rid, op, checked, frozenset(args))


def _shown(value: Any) -> str:
    """A value in an error message: its JSON type and a short text."""
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}" if value is not None else kind
