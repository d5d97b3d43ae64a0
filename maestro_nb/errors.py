"""The exceptions maestro_nb raises: one root, a few typed subclasses."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "MaestroError",
    "DefinitionError",
    "ExpressionError",
    "UnknownNameError",
    "ParamError",
    "StateError",
    "StoreLockedError",
    "PlatformError",
]


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name`, if any is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class MaestroError(Exception):
    """Root of every error maestro_nb raises on purpose; the message is one line."""

    def __init__(self, message: str, *, workflow: str | None = None, step: str | None = None):
        super().__init__(message)
        self.message = message
        self.workflow = workflow
        self.step = step


class DefinitionError(MaestroError):
    """A workflow definition is invalid; `line`/`column` are 1-based when known."""

    def __init__(
        self,
        message: str,
        *,
        workflow: str | None = None,
        step: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ):
        where = f"line {line}, column {column}: " if line is not None and column is not None else (
            f"line {line}: " if line is not None else ""
        )
        super().__init__(where + message, workflow=workflow, step=step)
        self.line = line
        self.column = column


class ExpressionError(DefinitionError):
    """A `${...}` expression is not allowed by the sandbox, or failed to evaluate."""


class UnknownNameError(MaestroError):
    """A workflow, step, breakpoint or variable name that does not exist."""

    def __init__(
        self, kind: str, name: str, candidates: Iterable[str] = (), *, workflow: str | None = None
    ):
        candidates = list(candidates)
        hint = nearest(name, candidates)
        message = f"unknown {kind} {name!r}"
        if hint is not None:
            message += f"; did you mean {hint!r}?"
        elif candidates:
            shown = ", ".join(sorted(candidates)[:8])
            message += f"; known: {shown}"
        super().__init__(message, workflow=workflow, step=name if kind == "step" else None)
        self.kind = kind
        self.name = name
        self.suggestion = hint


class ParamError(MaestroError):
    """A parameter override, a bound argument or a mutation is invalid."""


class StateError(MaestroError):
    """An action does not fit the current state (resume what is not paused, a bad transition)."""


class StoreLockedError(MaestroError):
    """The state file is held by another process, or by another Engine of this process."""

    def __init__(self, path: str, *, pid: str | None = None, same_process: bool = False):
        if same_process:
            message = (f"state file {path} is open in another Engine of this process; close that one first "
                       "(engine.close(), or %workflow db PATH in a notebook) or use another path")
        else:
            holder = f" (PID {pid})" if pid else ""
            message = (f"state file {path} is in use by another process{holder}; close the engine there "
                       "(engine.close(), or end that kernel) or use another path (maestro_nb.Engine(db=...) "
                       "or %workflow db PATH): DuckDB cannot open a file, not even read-only, "
                       "while another process holds it")
        super().__init__(message)
        self.path = path
        self.pid = pid
        self.same_process = same_process


class PlatformError(MaestroError):
    """Step code could not run to its end for a reason outside it (its worker died, the cluster
    went away): the attempt ends PLATFORM_FAILED, not USER_FAILED. `retryable` is False when no
    retry could run (the cluster is gone)."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable
