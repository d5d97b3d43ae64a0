"""The workflow panel (ipywidgets): a live view of one instance over the read model, with
buttons that call the Engine. `%workflow panel`, `engine.panel()`, or `Panel(engine)`."""

from __future__ import annotations

from .panel import Panel

__all__ = ["Panel"]
