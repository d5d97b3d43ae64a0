"""User mistakes as one-line `UsageError`s, and the small parsers the magics share."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError

from ..errors import DefinitionError, MaestroError

__all__ = ["usage_errors", "one_line", "parse_overrides", "parse_value", "split_target"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def one_line(exc: MaestroError, source: str | None = None) -> str:
    """The error's message on one line; a definition error also quotes its YAML line."""
    message = " ".join(exc.message.split("\n")[0].split())
    line = getattr(exc, "line", None)
    if isinstance(exc, DefinitionError) and source is not None and line is not None:
        lines = source.splitlines()
        if 1 <= line <= len(lines) and lines[line - 1].strip():
            message += f"  [line {line}: {lines[line - 1].strip()}]"
    return message


@contextmanager
def usage_errors(source: str | None = None) -> Iterator[None]:
    """Turn every MaestroError raised inside into a one-line UsageError (no traceback)."""
    try:
        yield
    except MaestroError as exc:
        raise UsageError(one_line(exc, source)) from exc


def parse_value(text: str) -> Any:
    """A value typed on a magic line: JSON if it parses, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_overrides(items: Sequence[str], what: str = "param") -> dict[str, Any]:
    """`k=v` words as a dict; v is JSON, or a plain string when it is not valid JSON."""
    found: dict[str, Any] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq:
            raise UsageError(f"{item!r}: give a {what} as NAME=VALUE (VALUE is JSON or text), e.g. lr=0.1")
        if not _IDENTIFIER.match(name):
            raise UsageError(f"{item!r}: {name!r} is not a {what} name (letters, digits and _)")
        if name in found:
            raise UsageError(f"{item!r}: {what} {name!r} is given twice")
        found[name] = parse_value(text)
    return found


def split_target(target: str, *, step_required: bool = True) -> tuple[str, str | None]:
    """`WORKFLOW.STEP` (or just `WORKFLOW` when the step is optional) as a pair."""
    workflow, dot, step = target.partition(".")
    if not workflow or (dot and not step) or (step_required and not dot):
        form = "WORKFLOW.STEP" if step_required else "WORKFLOW or WORKFLOW.STEP"
        raise UsageError(f"{target!r}: name a step as {form}, e.g. tune.train")
    return workflow, (step or None)
