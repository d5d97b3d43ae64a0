"""What the magics show: deterministic `text/plain` and `text/html`, the DAG as Mermaid.

Nothing here reads the clock or shows an id that changes between runs: nbval compares these
outputs verbatim. Timings appear only in `%workflow timeline` (a DataFrame).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models.definition import StepDefinition, WorkflowDefinition
from ..models.status import StepStatus
from ..readmodel.values import short

__all__ = ["Text", "Table", "DagView", "RunView", "StepLine", "short", "attempt_label", "loop_text"]

MERMAID = "text/vnd.mermaid"
DAG = "application/vnd.maestro-nb.dag+json"  # the lab extension's live DAG view (docs/protocol.md)
_STATUS_ORDER = {status.value: n for n, status in enumerate(StepStatus)}
_CSS = "border-collapse:collapse;font-family:var(--jp-code-font-family,monospace);font-size:12px"
_CELL = "padding:1px 8px;text-align:left;border-bottom:1px solid #ddd"
_COLORS = {"SUCCEEDED": "#2e7d32", "PAUSED": "#b26a00", "RUNNING": "#1565c0", "SKIPPED": "#666",
           "UNSATISFIED": "#666", "STOPPED": "#6a1b9a", "USER_FAILED": "#c62828",
           "PLATFORM_FAILED": "#c62828",
           "FATALLY_FAILED": "#c62828", "INTERRUPTED": "#c62828", "COMPLETED_WITH_ERROR": "#ef6c00",
           "paused": "#b26a00", "FAILED": "#c62828", "IN_PROGRESS": "#1565c0"}


def loop_text(loop_params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={short(v)}" for k, v in loop_params.items())


def attempt_label(workflow: str, instance_id: int, step: str, iteration: str) -> str:
    """`workflow#instance step[iteration]`, the identity shown everywhere."""
    return f"{workflow}#{instance_id} {step}" + (f"[{iteration}]" if iteration else "")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _status_html(word: str) -> str:
    color = _COLORS.get(word)
    return f'<span style="color:{color}">{_esc(word)}</span>' if color else _esc(word)


class _Bundle:
    """A display object: `_repr_mimebundle_` from `plain()` and, when given, `html()`."""

    def plain(self) -> str:
        raise NotImplementedError

    def html(self) -> str | None:
        return None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self.plain()}
        rich = self.html()
        if rich is not None:
            bundle["text/html"] = rich
        return bundle

    def __repr__(self) -> str:
        return self.plain()


@dataclass(repr=False)
class Text(_Bundle):
    """A few lines of plain text (messages)."""

    lines: list[str]

    def plain(self) -> str:
        return "\n".join(self.lines)


@dataclass(repr=False)
class Table(_Bundle):
    """A title and rows, aligned in text/plain and as an HTML table."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]]
    empty: str = "nothing to show"
    status_column: str | None = None
    footer: list[str] = field(default_factory=list)

    def plain(self) -> str:
        if not self.rows:
            return "\n".join([f"{self.title}: {self.empty}", *self.footer])
        cells = [[str(c) for c in self.columns]] + [[str(c) for c in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = [self.title] + ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        return "\n".join(lines + self.footer)

    def html(self) -> str:
        if not self.rows:
            return f"<div><b>{_esc(self.title)}</b>: {_esc(self.empty)}</div>" + _footer_html(self.footer)
        status_at = list(self.columns).index(self.status_column) if self.status_column in self.columns else -1
        head = "".join(f'<th style="{_CELL}">{_esc(c)}</th>' for c in self.columns)
        body = "".join(
            "<tr>" + "".join(
                f'<td style="{_CELL}">{_status_html(str(c)) if i == status_at else _esc(c)}</td>'
                for i, c in enumerate(row)
            ) + "</tr>" for row in self.rows
        )
        return (f"<div><b>{_esc(self.title)}</b>"
                f'<table style="{_CSS}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                f"{_footer_html(self.footer)}</div>")


def _footer_html(lines: list[str]) -> str:
    return "".join(f"<div>{_esc(line)}</div>" for line in lines)


# --- the DAG --------------------------------------------------------------------------------
def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


@dataclass(repr=False)
class DagView(_Bundle):
    """A workflow's DAG: Mermaid for JupyterLab >= 4.1, indented text elsewhere.

    `statuses` maps step ids to a status word (an instance's progress); `breakpoints` marks steps.
    """

    definition: WorkflowDefinition
    heading: str
    statuses: Mapping[str, str] = field(default_factory=dict)
    breakpoints: frozenset[str] = frozenset()
    dag: dict[str, Any] | None = None  # the DAG view's payload (maestro_nb.comm.dag_payload)

    def _steps(self) -> Iterable[tuple[int, StepDefinition]]:
        def visit(steps: tuple[StepDefinition, ...], depth: int) -> Iterable[tuple[int, StepDefinition]]:
            for step in steps:
                yield depth, step
                yield from visit(step.body, depth + 1)

        return visit(self.definition.steps, 0)

    def plain(self) -> str:
        rows = []
        for depth, step in self._steps():
            name = "  " * depth + step.id + (" *" if step.id in self.breakpoints else "")
            extra = []
            if step.after:
                extra.append("after " + ", ".join(step.after))
            if step.condition is not None:
                extra.append(f"if {step.condition.source}")
            if step.id in self.statuses:
                extra.append(self.statuses[step.id])
            rows.append((name, step.label, "; ".join(extra)))
        width = max((len(r[0]) for r in rows), default=0)
        label_width = max((len(r[1]) for r in rows), default=0)
        lines = [self.heading]
        if self.definition.description:
            lines.append(f"  {self.definition.description}")
        lines += [f"  {n.ljust(width)}  {label.ljust(label_width)}  {extra}".rstrip() for n, label, extra in rows]
        if self.breakpoints:
            lines.append("  (* breakpoint)")
        return "\n".join(lines)

    def mermaid(self) -> str:
        ids = {step.id: f"n{i}" for i, (_, step) in enumerate(self._steps())}
        lines = ["flowchart TD"]
        classes: dict[str, list[str]] = {}

        def node(step: StepDefinition) -> str:
            label = f"{step.id}<br/><small>{_mermaid_text(html.escape(step.label))}</small>"
            if step.id in self.statuses:
                label += f"<br/>{_mermaid_text(html.escape(self.statuses[step.id]))}"
            return f'{ids[step.id]}["{label}"]'

        def visit(steps: tuple[StepDefinition, ...], indent: str) -> None:
            for step in steps:
                if step.body:
                    lines.append(f'{indent}subgraph {ids[step.id]} ["{_mermaid_text(step.id + ": " + step.label)}"]')
                    visit(step.body, indent + "  ")
                    lines.append(f"{indent}end")
                else:
                    lines.append(indent + node(step))
                word = self.statuses.get(step.id, "").split(" ")[0]
                css = _mermaid_class(word)
                if css:
                    classes.setdefault(css, []).append(ids[step.id])
                if step.id in self.breakpoints:
                    classes.setdefault("breakpoint", []).append(ids[step.id])
            for step in steps:
                for upstream in step.after:
                    lines.append(f"{indent}{ids[upstream]} --> {ids[step.id]}")

        visit(self.definition.steps, "  ")
        styles = {"done": "fill:#e8f5e9,stroke:#2e7d32", "paused": "fill:#fff3e0,stroke:#b26a00",
                  "failed": "fill:#ffebee,stroke:#c62828", "running": "fill:#e3f2fd,stroke:#1565c0",
                  "breakpoint": "stroke:#c62828,stroke-width:3px,stroke-dasharray:4"}
        for css, members in classes.items():
            lines.append(f"  classDef {css} {styles[css]}")
            lines.append(f"  class {','.join(members)} {css}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.plain(), MERMAID: self.mermaid()}
        if self.dag is not None:
            bundle[DAG] = self.dag
        return bundle


def _mermaid_class(word: str) -> str | None:
    if word in ("SUCCEEDED", "SKIPPED", "UNSATISFIED"):
        return "done"
    if word == "PAUSED":
        return "paused"
    if word in ("USER_FAILED", "PLATFORM_FAILED", "FATALLY_FAILED", "INTERRUPTED", "STOPPED",
                "COMPLETED_WITH_ERROR"):
        return "failed"
    if word in ("RUNNING", "CREATED", "INITIALIZED", "EVALUATING_PARAMS"):
        return "running"
    return None


# --- a run --------------------------------------------------------------------------------------
NOT_STARTED = StepStatus.NOT_CREATED.value  # an iteration a restart will redo, not begun in this run


def _word(status: str) -> str:
    return "not started" if status == NOT_STARTED else status


@dataclass(repr=False)
class StepLine:
    """One step of an instance: its iterations counted by status, and the first error."""

    step: str
    depth: int
    label: str
    counts: dict[str, int]
    iterations: bool  # a foreach, or inside one: show counts, not one status
    error: str | None = None

    @property
    def _started(self) -> bool:
        """Some iteration has begun in the current run (NOT_CREATED: a restart will redo it)."""
        return any(status != NOT_STARTED for status in self.counts)

    @property
    def text(self) -> str:
        if not self._started:
            return "not started"
        ordered = sorted(self.counts.items(), key=lambda kv: _STATUS_ORDER.get(kv[0], 99))
        if not self.iterations and len(ordered) == 1 and ordered[0][1] == 1:
            return ordered[0][0]
        total = sum(self.counts.values())
        return f"{total} iteration{'s' if total != 1 else ''}: " + ", ".join(f"{n} {_word(s)}" for s, n in ordered)

    def html(self) -> str:
        if not self._started:
            return _esc(self.text)
        ordered = sorted(self.counts.items(), key=lambda kv: _STATUS_ORDER.get(kv[0], 99))
        if not self.iterations and len(ordered) == 1 and ordered[0][1] == 1:
            return _status_html(ordered[0][0])
        total = sum(self.counts.values())
        parts = ", ".join(f"{n} {_status_html(_word(s))}" for s, n in ordered)
        return f"{total} iteration{'s' if total != 1 else ''}: {parts}"

    @property
    def word(self) -> str:
        """The one status that best sums the step up, for colouring."""
        for status in ("PAUSED", "USER_FAILED", "PLATFORM_FAILED", "FATALLY_FAILED", "INTERRUPTED", "RUNNING",
                       "STOPPED", "COMPLETED_WITH_ERROR"):
            if status in self.counts:
                return status
        if not self._started:
            return ""
        return min(self.counts, key=lambda s: _STATUS_ORDER.get(s, 99))


@dataclass(repr=False)
class RunView(_Bundle):
    """An instance after a run, a resume or a restart: its steps and what is paused."""

    heading: str
    status: str
    steps: list[StepLine]
    paused: list[str]  # the first few, described
    hints: list[str] = field(default_factory=list)
    paused_total: int = 0  # how many are paused in all
    dag: dict[str, Any] | None = None  # the DAG view's payload (maestro_nb.comm.dag_payload)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(super()._repr_mimebundle_(include, exclude))
        if self.dag is not None:
            bundle[DAG] = self.dag
        return bundle

    @property
    def _more(self) -> int:
        return max(self.paused_total - len(self.paused), 0)

    def plain(self) -> str:
        width = max((len("  " * s.depth + s.step) for s in self.steps), default=0)
        lines = [f"{self.heading}: {self.status}"]
        for s in self.steps:
            lines.append(f"  {('  ' * s.depth + s.step).ljust(width)}  {s.text}".rstrip())
            if s.error:
                lines.append(f"  {' ' * width}  error: {s.error}")
        if self.paused:
            lines.append(f"paused ({len(self.paused) + self._more}):")
            lines += [f"  {p}" for p in self.paused]
            if self._more:
                lines.append(f"  ... and {self._more} more")
        return "\n".join(lines + self.hints)

    def html(self) -> str:
        rows = []
        for s in self.steps:
            pad = f"padding-left:{8 + 16 * s.depth}px"
            error = f'<div style="color:#c62828">{_esc(s.error)}</div>' if s.error else ""
            rows.append(f'<tr><td style="{_CELL};{pad}">{_esc(s.step)}</td>'
                        f'<td style="{_CELL}">{s.html()}{error}</td></tr>')
        paused = ""
        if self.paused:
            items = "".join(f"<li><code>{_esc(p)}</code></li>" for p in self.paused)
            if self._more:
                items += f"<li>... and {self._more} more</li>"
            total = len(self.paused) + self._more
            paused = f"<div>paused ({total}):<ul style=\"margin:0\">{items}</ul></div>"
        return (f"<div><b>{_esc(self.heading)}</b>: {_status_html(self.status)}"
                f'<table style="{_CSS}"><tbody>{"".join(rows)}</tbody></table>'
                f"{paused}{_footer_html(self.hints)}</div>")


@dataclass(repr=False)
class Views(_Bundle):
    """Several displays shown as one output."""

    parts: list[_Bundle]

    def plain(self) -> str:
        return "\n".join(p.plain() for p in self.parts)

    def html(self) -> str:
        return "".join(p.html() or f"<pre>{_esc(p.plain())}</pre>" for p in self.parts)
