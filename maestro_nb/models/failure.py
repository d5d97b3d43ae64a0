"""Why an attempt failed, as plain data: the exception's type, message and traceback."""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass, field, replace

__all__ = ["Failure", "type_name"]


def type_name(error: BaseException) -> str:
    """The exception's class as Python prints it: bare for builtins, ours and the notebook's."""
    cls = type(error)
    if cls.__module__ in ("builtins", "__main__", "maestro_nb.errors"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed: the exception's `type` name, its `message` and the formatted
    `traceback` (None when the engine itself found the problem, such as a missing argument).

    `exception` is the live exception object while the process that raised it runs and the
    attempt is paused at its error; it is never stored, so it is None after a restart.
    """

    type: str
    message: str
    traceback: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_exception(cls, error: BaseException, *, keep: bool = False) -> Failure:
        """The failure an exception describes; `keep` holds on to the exception object itself
        (never to one of maestro_nb's own errors, whose traceback is the engine's)."""
        from ..errors import MaestroError

        if isinstance(error, MaestroError):  # ours: the message says it all, the stack is the engine's
            return cls(type_name(error), error.message)
        text = "".join(tb.format_exception(type(error), error, error.__traceback__)).rstrip()
        return cls(type_name(error), str(error), text, error if keep else None)

    @classmethod
    def from_stored(cls, type_: str | None, message: str | None, traceback: str | None) -> Failure | None:
        """A failure read back from the state file (files older than schema 5 kept one text)."""
        if message is None:
            return None
        if type_ is None:
            first, _, rest = message.partition("\n")
            return cls("", first, rest or None)
        return cls(type_, message, traceback)

    def forget_exception(self) -> Failure:
        """The same failure without the live exception (and the frames it keeps alive)."""
        return self if self.exception is None else replace(self, exception=None)

    @property
    def line(self) -> str:
        """`Type: message`, first line only, trailing blanks cut: what displays show."""
        return str(self).split("\n", 1)[0].rstrip()

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.type else self.message
