"""The DAG with live statuses, drawn in the kernel as SVG (no JavaScript needed).

Steps are laid out in layers, one per topological generation, top to bottom; a step
inside a foreach body hangs below its foreach (a dashed edge). Each node is coloured by its
step status and shows its foreach counts (done / paused / failed / of N); a red dot marks a
step with breakpoints. The layout of a workflow version is computed once and cached.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets

from ..models.graph import DiGraph
from ..readmodel import StepView

__all__ = ["dag_svg", "DagWidget", "STATUS_COLOURS", "counts_text", "layout_key"]

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 188, 58, 28, 34, 12

# (fill, stroke) by status: green done, amber paused, blue running, red failed, grey not yet.
STATUS_COLOURS = {
    "SUCCEEDED": ("#d8f3dc", "#2d6a4f"),
    "COMPLETED_WITH_ERROR": ("#fde2c8", "#b35c00"),
    "PAUSED": ("#ffe8a3", "#b08900"),
    "RUNNING": ("#d0e4ff", "#1d5fbf"),
    "EVALUATING_PARAMS": ("#d0e4ff", "#1d5fbf"),
    "INITIALIZED": ("#d0e4ff", "#1d5fbf"),
    "CREATED": ("#d0e4ff", "#1d5fbf"),
    "USER_FAILED": ("#ffd6d6", "#b3261e"),
    "FATALLY_FAILED": ("#ffd6d6", "#b3261e"),
    "PLATFORM_FAILED": ("#ffd6d6", "#b3261e"),
    "INTERRUPTED": ("#ffd6d6", "#b3261e"),
    "STOPPED": ("#e2e2e2", "#555555"),
    "SKIPPED": ("#f1f1f1", "#888888"),
    "UNSATISFIED": ("#f1f1f1", "#888888"),
    "BLOCKED": ("#f1f1f1", "#888888"),
}
_NOT_YET = ("#ffffff", "#9a9a9a")
_DONE = ("SUCCEEDED", "SKIPPED", "COMPLETED_WITH_ERROR")
_FAILED = ("USER_FAILED", "FATALLY_FAILED", "PLATFORM_FAILED", "INTERRUPTED")


def counts_text(step: StepView) -> str:
    """`3 done / 6 paused / 0 failed / of 9` for iterations; the status alone for a plain step."""
    if not step.iterations:
        return step.status.replace("_", " ").lower()
    c = step.counts
    done = sum(c.get(s, 0) for s in _DONE)
    failed = sum(c.get(s, 0) for s in _FAILED)
    total = step.total if step.total is not None else sum(c.values())
    return f"{done} done / {c.get('PAUSED', 0)} paused / {failed} failed / of {total}"


@dataclass(frozen=True)
class _Layout:
    width: int
    height: int
    at: dict[str, tuple[int, int]]  # step id -> top-left corner
    edges: tuple[tuple[str, str, bool], ...]  # (from, to, into a foreach body)


def _layout(steps: Sequence[StepView]) -> _Layout:
    graph: DiGraph[str] = DiGraph()
    edges = []
    for step in steps:
        graph.add_node(step.id)
    for step in steps:
        for before in step.after:
            edges.append((before, step.id, False))
        if step.parent is not None and not step.after:  # the first steps of a foreach body
            edges.append((step.parent, step.id, True))
    graph.add_edges((a, b) for a, b, _ in edges)
    order = {step.id: n for n, step in enumerate(steps)}
    layers = [sorted(layer, key=order.__getitem__) for layer in graph.topological_generations()]
    widest = max((len(layer) for layer in layers), default=1)
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X
    at = {}
    for row, layer in enumerate(layers):
        span = len(layer) * NODE_W + (len(layer) - 1) * GAP_X
        left = (width - span) // 2
        for col, step_id in enumerate(layer):
            at[step_id] = (left + col * (NODE_W + GAP_X), MARGIN + row * (NODE_H + GAP_Y))
    height = MARGIN * 2 + len(layers) * NODE_H + max(len(layers) - 1, 0) * GAP_Y
    return _Layout(width, height, at, tuple(edges))


def layout_key(steps: Sequence[StepView]) -> tuple:
    """What the layout depends on: the steps and their edges, not their statuses."""
    return tuple((s.id, s.parent, s.after) for s in steps)


def dag_svg(steps: Sequence[StepView], title: str = "", layout: _Layout | None = None) -> str:
    """The DAG as one SVG element: nodes coloured by status, counts, breakpoints as red dots."""
    layout = layout or _layout(steps)
    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="maestro-dag" width="{layout.width}" '
             f'height="{layout.height}" viewBox="0 0 {layout.width} {layout.height}" '
             f'font-family="sans-serif" role="img" aria-label="{esc(title or "workflow DAG")}">',
             '<defs><marker id="maestro-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/>'
             '</marker></defs>']
    for a, b, body in layout.edges:
        (ax, ay), (bx, by) = layout.at[a], layout.at[b]
        dash = ' stroke-dasharray="4 3"' if body else ""
        parts.append(f'<line x1="{ax + NODE_W // 2}" y1="{ay + NODE_H}" x2="{bx + NODE_W // 2}" y2="{by}" '
                     f'stroke="#777" stroke-width="1.3"{dash} marker-end="url(#maestro-arrow)"/>')
    for step in steps:
        x, y = layout.at[step.id]
        fill, stroke = STATUS_COLOURS.get(step.status, _NOT_YET)
        parts.append(f'<g class="maestro-node" data-step="{esc(step.id)}" data-status="{esc(step.status)}">'
                     f'<title>{esc(step.id)}: {esc(step.label)} ({esc(step.status)})</title>'
                     f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="1.6"/>'
                     f'<text x="{x + 10}" y="{y + 19}" font-size="13" font-weight="bold" fill="#222">'
                     f'{esc(_cut(step.id, 22))}</text>'
                     f'<text x="{x + 10}" y="{y + 35}" font-size="10.5" fill="#444">{esc(_cut(step.label, 30))}</text>'
                     f'<text x="{x + 10}" y="{y + 50}" font-size="10.5" fill="{stroke}">'
                     f'{esc(counts_text(step))}</text>')
        if step.breakpoints:
            ids = ", ".join(str(i) for i in step.breakpoints)
            parts.append(f'<circle class="maestro-breakpoint" cx="{x + NODE_W - 11}" cy="{y + 11}" r="6" '
                         f'fill="#d62828"><title>breakpoint {ids}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


class DagWidget(widgets.HTML):
    """The DAG of the instance shown, redrawn when its statuses change (laid out once per shape)."""

    _key: tuple = ()
    _layout: _Layout | None = None

    def show(self, steps: Sequence[StepView], title: str = "") -> None:
        key = layout_key(steps)
        if key != self._key or self._layout is None:
            self._key, self._layout = key, _layout(steps)
        svg = dag_svg(steps, title, self._layout)
        if svg != self.value:
            self.value = svg
