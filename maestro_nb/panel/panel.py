"""The workflow panel: one instance's status, DAG, progress, paused attempts (with their editor
and the approval gate) and breakpoints, live, with buttons that call the Engine.

One thread draws: the read model's `Watcher` calls `_draw` after the engine's state moved (at
most `rate` times a second), and every input of the panel (a click, a selection, a filter)
only asks it to (`request`). A draw reads the read model and sets the widgets under
`hold_sync`, so each widget sends one update. A button's action runs on the thread that
delivered the click; whatever it raises becomes one line in the message line, and the
Engine's actions check everything before they change anything.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..errors import ParamError, StateError
from ..readmodel import InstanceSummary, InstanceView, PausedPage, PausedView, ReadModel, StepView
from ..readmodel.live import Watcher
from .actions import Actions, one_line_error
from .breakpoints import BreakpointsBox
from .controls import InstanceControls
from .dag import DagWidget
from .editor import ParamEditor
from .gate import GateBox
from .paused import PausedTable
from .progress import ProgressBars
from .util import close_tree

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..engine.runtime import Attempt

__all__ = ["Panel"]

_STYLE = ("<style>.maestro-paused-table select{font-family:var(--jp-code-font-family,monospace);"
          "font-size:12px}</style>")


class Panel(widgets.VBox):
    """The live panel over one engine: `Panel(engine, workflow=None, instance=None)` shows that
    instance (by default the latest when it opens, or the first to start after); the selector
    shows the others, and new ones as they start."""

    def __init__(self, engine: Engine, workflow: str | None = None, instance: int | None = None, *,
                 session: Any = None, rate: float = 10.0, live: bool = True, background: bool = False):
        if workflow is not None:
            engine.definition(workflow)  # an unknown name fails here, with a hint, before anything is built
        if instance is not None:
            if workflow is None:
                raise ParamError("an instance number needs its workflow: panel(WORKFLOW, instance=N)")
            if isinstance(instance, bool) or not isinstance(instance, int):
                raise ParamError(f"instance is a whole number, not {instance!r}", workflow=workflow)
            engine.instance(workflow, instance)
        elif workflow is None and not engine.workflows:
            raise StateError("no workflow is defined yet; define one (%%workflow NAME) first")
        if not rate > 0:
            raise ParamError(f"rate must be a positive number of updates a second, not {rate!r}")
        self.engine = engine
        self.model = ReadModel(engine)
        self.actions = Actions(engine, session)
        self.workflow = workflow
        self.background = background
        self.choice: tuple[str, int] | None = (workflow, instance) if instance is not None else None
        self.shown: InstanceView | None = None  # the instance as last drawn
        self.steps: tuple[StepView, ...] = ()
        self._message = ("", False)
        self._lock = threading.RLock()
        self._drawn = threading.Condition(self._lock)
        self._local = threading.local()  # `drawing` on the thread that draws: its own changes are no input
        self._requests = 0
        self._drawn_state = (-1, -1)  # (engine revision, requests) of the last draw
        self.draws = 0  # how many times it was drawn, and the seconds it took (the benchmark reports them)
        self.draw_seconds = 0.0

        self.header = widgets.HTML("")
        self.instances = widgets.Dropdown(options=[], description="instance", layout=widgets.Layout(width="18em"))
        self.instances.observe(self._picked, names="value")
        self.message = widgets.HTML("")
        self.dag = DagWidget()
        self.progress = ProgressBars()
        self.paused = PausedTable(self.request, self._act)
        self.editor = ParamEditor(self._apply, self._call)
        self.controls = InstanceControls(self._stop, self._restart)
        self.gate = GateBox(self._decide)
        self.breakpoints = BreakpointsBox(self._delete, self._add)
        super().__init__([
            widgets.HTML(_STYLE), widgets.HBox([self.header, self.instances]), self.controls, self.message,
            widgets.HBox([self.dag, self.progress]),
            widgets.HTML("<b>paused attempts</b>"), self.paused,
            widgets.HBox([self.editor, self.gate]), self.breakpoints,
        ])
        self._draw()
        self.watcher = Watcher(engine, self._draw, rate=rate, name="maestro-panel") if live else None

    # --- drawing -------------------------------------------------------------------------
    def request(self) -> None:
        """Ask for a redraw (an input of the panel changed); the drawing thread takes it."""
        if getattr(self._local, "drawing", False):
            return  # the draw's own setting of a widget
        with self._lock:
            self._requests += 1
        if self.watcher is not None and not self.watcher.closed:
            self.watcher.poke(force=True)
        else:
            self._draw()

    watcher: Watcher | None = None

    def wait_drawn(self, timeout: float = 30.0) -> bool:
        """Wait until the panel shows the engine's current state and every input so far."""
        with self._drawn:
            return self._drawn.wait_for(
                lambda: self._drawn_state == (self.engine.scheduler.revision, self._requests), timeout)

    def _draw(self) -> None:
        with self._lock:
            began = time.perf_counter()
            state = (self.engine.scheduler.revision, self._requests)
            self._local.drawing = True
            try:
                with self._held():
                    self._render()
            except Exception as exc:  # a failed draw must not end the updates: say why, in one line
                self.message.value = _message_html(f"the panel could not be drawn: {one_line_error(exc)}", True)
            finally:
                self._local.drawing = False
            self._drawn_state = state
            self.draws += 1
            self.draw_seconds += time.perf_counter() - began
            self._drawn.notify_all()

    @contextmanager
    def _held(self) -> Iterator[None]:
        with ExitStack() as stack:
            for w in (self.header, self.instances, self.message, self.dag, self.paused.table, self.paused.step,
                      self.paused.count):
                stack.enter_context(w.hold_sync())
            yield

    def _target(self) -> tuple[list[InstanceSummary], InstanceSummary | None]:
        summaries = self.model.instances(self.workflow)
        if self.choice is not None:
            found = [s for s in summaries if (s.workflow, s.instance_id) == self.choice]
            if found:
                return summaries, found[0]
        # The latest instance (the one started last in this session, else the last stored), and
        # from then on that one: a later run shows up in the selector.
        live = [i for i in list(self.engine.scheduler.instances.values())
                if i.parent is None and self.workflow in (None, i.workflow)]
        latest = (live[-1].workflow, live[-1].instance_id) if live else \
            ((summaries[-1].workflow, summaries[-1].instance_id) if summaries else None)
        found = [s for s in summaries if (s.workflow, s.instance_id) == latest]
        if not found:
            return summaries, None
        self.choice = latest
        return summaries, found[0]

    def _render(self) -> None:
        summaries, target = self._target()
        options = [(s.label, (s.workflow, s.instance_id)) for s in summaries]
        if list(self.instances.options) != options:
            self.instances.options = options
        wanted = (target.workflow, target.instance_id) if target else None
        if self.instances.value != wanted:
            self.instances.value = wanted
        self.instances.layout.display = "" if len(options) > 1 else "none"
        workflow = target.workflow if target else (self.workflow or self.engine.workflows[-1])
        if target is not None:
            view = self.model.instance_view(self.engine.instance(target.workflow, target.instance_id))
            steps = view.steps
        else:
            view = None
            steps = next(w.steps for w in self.model.workflows() if w.name == workflow)
        self.shown, self.steps, self.current_workflow = view, steps, workflow
        self.header.value = _header(view, workflow)
        self.dag.show(steps, f"{workflow} DAG")
        self.progress.show(view, steps)
        page = PausedPage((), 0)
        step_ids = [s.id for s in steps]
        self.controls.show(view, step_ids)
        if view is not None:
            try:
                loop = self.paused.loop_filter()
            except ParamError as exc:
                self._message = (exc.message, True)
            else:
                page = self.model.paused(view.workflow, self.paused.step_filter, view.instance_id,
                                         limit=PausedTable.LIMIT, previews=False, **loop)
        self.paused.show(page, step_ids, view.paused if view else 0)
        selected = self._selected_view()
        self.editor.show(selected)
        self.gate.show(selected)
        self.breakpoints.show(workflow, step_ids, self.model.breakpoints())
        text, error = self._message
        self.message.value = _message_html(text, error)

    def _selected_view(self) -> PausedView | None:
        key = self.paused.selected
        if key is None:
            return None
        a = self.model.find_paused(key)  # the listed rows have no previews of its values
        return self.model.paused_view(a) if a is not None else None

    def _picked(self, change: Any) -> None:
        if getattr(self._local, "drawing", False) or change["new"] is None:
            return
        self.choice = tuple(change["new"])  # type: ignore[assignment]
        self.request()

    # --- actions -------------------------------------------------------------------------
    def _guard(self, action: Callable[[], str]) -> None:
        """Run a button's action; its outcome, or its error, becomes the message line. What the
        action changes is drawn once, with the message (a long action is drawn as it goes too)."""
        with self.watcher.acting() if self.watcher is not None else nullcontext():
            try:
                self._message = (action(), False)
            except Exception as exc:  # never into the comm: one line in the panel, nothing changed
                self._message = (one_line_error(exc), True)
            self.request()

    def _selected_attempt(self) -> Attempt:
        key = self.paused.selected
        if key is None:
            raise StateError("select a paused attempt first")
        found = self.model.find_paused(key)
        if found is None:
            raise StateError(f"{key} is no longer paused")
        return found

    def _matching(self) -> list[Attempt]:
        view = self.shown
        if view is None:
            raise StateError("no instance is shown")
        return self.engine.paused(view.workflow, self.paused.step_filter, view.instance_id,
                                  **self.paused.loop_filter())

    def _act(self, verb: str, every: bool) -> None:
        self._guard(lambda: self.actions.act(verb, self._matching() if every else [self._selected_attempt()]))

    def _apply(self) -> None:
        def apply() -> str:
            a = self._selected_attempt()
            changes = self.editor.changes()
            if not changes:
                return "nothing to apply: no param was changed"
            return self.actions.set_params(a, changes)

        self._guard(apply)

    def _call(self) -> None:
        self._guard(lambda: self.actions.call(self._selected_attempt()))

    def _shown_instance(self) -> InstanceView:
        if self.shown is None:
            raise StateError("no instance is shown")
        return self.shown

    def _stop(self) -> None:
        self._guard(lambda: self.actions.stop(self._shown_instance().workflow, self._shown_instance().instance_id))

    def _restart(self) -> None:
        def restart() -> str:
            view = self._shown_instance()
            from_step, iteration = self.controls.settings()
            return self.actions.restart(view.workflow, view.instance_id, from_step, iteration)

        self._guard(restart)

    def _decide(self, verb: str) -> None:
        self._guard(lambda: self.actions.act(verb, [self._selected_attempt()], self.gate.comment.value.strip()))

    def _add(self) -> None:
        def add() -> str:
            step, point, when, gate = self.breakpoints.settings()
            if step is None and point != "error":
                raise ParamError("a breakpoint on every step breaks on failure only: choose pause 'error', "
                                 "or a step")
            return self.actions.add_breakpoint(self.current_workflow, step, point, when, gate)

        self._guard(add)

    def _delete(self, bp_id: int) -> None:
        self._guard(lambda: self.actions.delete_breakpoint(bp_id))

    current_workflow: str = ""

    # --- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        """Deterministic (nbval compares it): the instance and its status, no ids or addresses."""
        try:
            _, target = self._target()
        except Exception:
            target = None
        if target is None:
            return f"<workflow panel: {self.workflow or self.current_workflow}, not run yet>"
        if self.background:
            return (f"<workflow panel: {target.label} (version {target.version}, run {target.run_id}), "
                    "run in the background>")
        paused = f" ({target.paused} paused)" if target.paused else ""
        return f"<workflow panel: {target.label}, {target.word.lower().replace('_', ' ')}{paused}>"

    def close(self) -> None:
        """Stop listening to the engine and close the panel's widgets."""
        if self.watcher is not None:
            self.watcher.close()
        if "_lock" not in self.__dict__:  # refused in __init__ (ipywidgets closes it when collected)
            super().close()
            return
        with self._lock:
            for child in self.children:
                close_tree(child)
            self.layout.close()
            super().close()


def _header(view: InstanceView | None, workflow: str) -> str:
    if view is None:
        return f"<b>{html.escape(workflow)}</b>: not run yet"
    paused = f", {view.paused} paused" if view.paused else ""
    return (f"<b>{html.escape(view.label)}</b> (version {view.version}, run {view.run_id}): "
            f"<span class='maestro-status'>{html.escape(view.word)}</span>{paused}")


def _message_html(text: str, error: bool) -> str:
    if not text:
        return ""
    colour = "#b3261e" if error else "#2d6a4f"
    return f"<span class='maestro-message' style='color:{colour}'>{html.escape(text)}</span>"
