"""What the widget families share: closing a widget with everything it holds, so a rebuilt part
of the panel leaves no comm behind (in the kernel or the frontend)."""

from __future__ import annotations

import ipywidgets as widgets

__all__ = ["close_tree"]


def close_tree(widget: widgets.Widget) -> None:
    """Close a widget, its children, and its layout and style (widgets of their own)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    for part in ("layout", "style"):
        owned = getattr(widget, part, None)
        if isinstance(owned, widgets.Widget):
            owned.close()
    widget.close()
