"""`%workflow db [PATH] [--fresh]`: which DuckDB file holds the kernel's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .display import Text

if TYPE_CHECKING:
    from .kernel import KernelSession

__all__ = ["db"]


def db(session: KernelSession, path: str | None = None, *, fresh: bool = False) -> Text:
    """Show the state file, or switch to another (`:memory:` allowed); `fresh` empties it first."""
    if path is not None or fresh:
        session.open(path, fresh=fresh)
    engine = session.engine
    workflows = len(engine.workflows)
    paused = len(engine.paused())
    lines = [f"state file {engine.path}" + (" (fresh)" if fresh else "")
             + f": {workflows} workflow{'s' if workflows != 1 else ''}, "
             + f"{len(engine.breakpoints())} breakpoint{'s' if len(engine.breakpoints()) != 1 else ''}, "
             + f"{paused} paused attempt{'s' if paused != 1 else ''}"]
    lines += [f"found unfinished: {line}" for line in engine.recovery_report]
    if engine.recovery_report:
        lines.append("%workflow recover runs them on")
    return Text(lines)
