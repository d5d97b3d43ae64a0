"""The scheduler: drives instances until quiescent, checks breakpoints, applies actions.

All state changes happen on the driving thread. Step code runs on the executor; results
come back through `inbox`, and so do actions sent from other threads while a background
run drives. Nothing here polls: a resume puts work in `ready` and the loop picks it up.
"""

from __future__ import annotations

import queue
import time
import traceback
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import ExpressionError, MaestroError, PlatformError, StateError
from ..models.definition import PLAIN, FailureMode
from ..models.failure import Failure, type_name
from ..models.status import InstanceStatus, StepStatus
from ..store import Store, ValueCodec
from .binding import Binder, check_loop_params
from .breakpoints import BreakpointIndex
from .collector import RunCollections
from .controls import MISSING, PauseControls
from .executors import Executor, InlineExecutor
from .journal import Journal
from .paused import PausedIndex
from .runtime import (
    FAILED_CODE,
    HOLD_KEPT,
    HOLD_STEP,
    SKIPPED_CODE,
    STOPPED_CODE,
    Attempt,
    BoundParams,
    Frame,
    Instance,
    Node,
    all_nodes,
    descendants,
    outcome_code,
    root_of,
    with_absent,
)
from .seeds import Seed

__all__ = ["Scheduler", "MISSING"]

S = StepStatus
DEFAULT_WINDOW = 64  # attempts created ahead per foreach without a concurrency limit
FLUSH_INTERVAL = 0.5  # seconds between flushes while a run is busy
FLUSH_ROWS = 50_000
ATTEMPTS_PER_FREEZE = 256  # attempts started between two moves of what is alive out of the collector's way
WRITE_BEHIND = True  # a flush while busy is written by the store's writer thread (Store.append_behind)


class Scheduler(Journal, PauseControls):
    """Drives instances; the journal (writes) and pause controls (actions) are mixed in."""

    def __init__(self, store: Store, codec: ValueCodec, executor: Executor,
                 namespace: dict[str, Any], breakpoints: BreakpointIndex):
        self.store = store
        self.codec = codec
        self.executor = executor
        self.namespace = namespace
        self.breakpoints = breakpoints
        self.binder = Binder()
        self.ready: deque[Attempt] = deque()
        self.inbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self.inflight = 0
        self.submitted: dict[Attempt, Any] = {}  # attempts on the executor -> their handles, to cancel
        self.instances: dict[tuple[str, int], Instance] = {}
        self.paused = PausedIndex()  # every paused attempt, in display order
        Journal.__init__(self, store, codec)
        self.results: dict[Attempt, tuple[bool, Any]] = {}  # finished on a worker, not yet handled
        self._settle_queue: dict[Instance, None] = {}
        self.listeners: list[Callable[[str, Any], None]] = []
        self.create_child: Callable[[Attempt], Instance] = _no_children
        self.find_child: Callable[[Attempt], Instance | None] = lambda a: None

    # --- instances ----------------------------------------------------------------------
    def start(self, instance: Instance) -> None:
        """Build the root frame and start every step with no predecessor."""
        self.instances[(instance.workflow, instance.instance_id)] = instance
        scope = dict(instance.params)
        instance.root = Frame(instance, instance.definition.steps, scope, {})
        instance.status = InstanceStatus.IN_PROGRESS
        self.journal_instance(instance)
        self._start_frame(instance.root)
        self._settle_queue[instance] = None

    def _start_frame(self, frame: Frame) -> None:
        for node in list(frame.nodes.values()):
            if node.waiting == 0 and node.status is None:
                self._start_node(node)

    def _start_node(self, node: Node) -> None:
        frame = node.frame
        if frame.instance.failing or frame.instance.stopping:
            return
        step = node.step
        preds = [frame.nodes[p] for p in step.after]
        if any(p.blocked or (p.status is not None and not p.status.complete) for p in preds):
            self._finish_node(node, None, blocked=True)  # a failed predecessor blocks its successors
            return
        if preds and not any(p.leads for p in preds):
            self._node_record(node, S.UNSATISFIED)
            return
        if step.condition is not None:
            try:
                go = bool(step.condition.evaluate(with_absent(frame.scope, frame.absent)))
            except Exception as exc:  # an ExpressionError, or a value with no truth (a Series)
                self._node_record(node, S.FATALLY_FAILED, error=_found("if", exc))
                return
            if not go:
                self._node_record(node, S.SKIPPED)
                return
        node.status = S.CREATED
        if step.foreach is not None:
            try:
                node.space = step.foreach.expand({**with_absent(frame.scope, frame.absent), **frame.loop_params})
                node.total = len(node.space)
            except (ExpressionError, TypeError, ValueError) as exc:
                self._node_record(node, S.FATALLY_FAILED, error=_found("foreach", exc))
                return
        else:
            node.total = 1
        node.plain_loops = (node.space is None or node.space.plain) and PLAIN.issuperset(
            map(type, frame.loop_params.values()))
        node.outcomes = bytearray(node.total)
        node.outputs = [None] * node.total
        if node.total == 0:
            self._finish_node(node, S.SUCCEEDED)
            return
        node.status = S.RUNNING
        self._dispatch(node)

    def _node_record(self, node: Node, status: StepStatus, error: Failure | None = None) -> None:
        """A step that ends without running (skipped, unsatisfied, or failed to expand)."""
        a = Attempt(node, None, node.frame.path, dict(node.frame.loop_params), 1, node.frame.scope)
        if status is S.FATALLY_FAILED:
            a.transition(S.INITIALIZED)
            a.transition(S.EVALUATING_PARAMS)
        a.error = error
        a.transition(status)
        node.outputs = [None]
        node.count_ended(0, status, error)
        if status is S.FATALLY_FAILED:
            mode = node.step.failure_mode
            if mode is FailureMode.IGNORE:
                status = S.COMPLETED_WITH_ERROR
            elif mode is FailureMode.FAIL_IMMEDIATELY:
                self._fail_fast(node.frame.instance)
        self._finish_node(node, status)

    def _window(self, node: Node) -> tuple[int, int]:
        """How many attempts the node may have under way, and how many at most when an ending
        one makes room for more: with no concurrency limit, once a quarter is free (the window
        is filled a batch at a time, not one attempt per ending)."""
        limit = node.step.foreach.concurrency if node.step.foreach is not None else None
        if limit:
            return limit, limit - 1
        window = max(DEFAULT_WINDOW, getattr(self.executor, "window", 0))  # a cluster may want more
        return window, window - window // 4

    def _dispatch(self, node: Node) -> None:
        """Create attempts (or child frames) for the next iterations the window allows.

        Not re-entered for the same node: an iteration that ends at once (a body restored or
        skipped) frees its slot for the loop under way, so the stack does not grow with it."""
        if node.dispatching:
            return
        node.dispatching = True
        try:
            self._fill(node)
        finally:
            node.dispatching = False
        if node.finished == node.total and node.status is S.RUNNING:
            self._finish_node(node, self._aggregate(node))

    def _fill(self, node: Node) -> None:
        instance = node.frame.instance
        if instance.failing or instance.stopping:
            return
        window, node.refill_at = self._window(node)
        queue = self.ready if instance.held is None else instance.held
        self._take_released(node, queue, window)
        seeds = instance.seeds
        while node.active < window and node.next_index < node.total and not instance.failing:
            index = node.next_index
            node.next_index += 1
            key = index if node.is_foreach else None
            iteration = node.iteration_label(key)
            outer = node.frame.loop_params
            if node.space is None:
                loop_params = dict(outer)
            elif outer:
                loop_params = {**outer, **node.space.loop_params(index)}
            else:
                loop_params = node.space.loop_params(index)  # a new dict of its own
            if node.step.kind == "steps":
                node.active += 1
                scope = {**node.frame.scope, **loop_params}
                child = Frame(instance, node.step.body, scope, loop_params, node, index)
                node.children[index] = child
                self._start_frame(child)
                continue
            seed = seeds.get((node.step.id, iteration)) if seeds else None
            if seed is not None and self._restore(node, index, seed):
                continue
            node.active += 1
            if seed is None:  # the usual case: a first attempt, ready to run
                a = Attempt(node, key, iteration, loop_params, 1, node.frame.scope, initialized=True)
                node.live[key] = a
                queue.append(a)
                continue
            number = 1
            if seed.run_id == instance.run_id:
                number = seed.number + (0 if seed.status is S.PAUSED else 1)
            a = Attempt(node, key, iteration, loop_params, number, node.frame.scope)
            node.live[key] = a
            if seed.run_id == instance.run_id:
                a.failures = seed.failures  # a crash, or a user's retry, uses up no retry
                a.platform_failures = seed.platform_failures
            if seed.status is S.PAUSED:
                self._revive_paused(a, seed)
                continue
            if node.step.kind == "workflow" and self._reattach(a, seed):
                continue
            a.transition(S.INITIALIZED)
            queue.append(a)
        self._take_released(node, queue, window)

    @staticmethod
    def _take_released(node: Node, queue: Any, window: int) -> None:
        """Resumed attempts take free slots first: a resume respects the foreach's concurrency."""
        released = node.released
        while released and node.active < window:
            node.active += 1
            queue.append(released.popleft())

    def _restore(self, node: Node, index: int, seed: Seed) -> bool:
        """Take an iteration's outcome from its seed, when it need not run again: a kept success,
        or (recovering the same run) any ending but an interruption."""
        instance = node.frame.instance
        status = seed.status
        ended = status.terminal and status not in (S.INTERRUPTED, S.SUCCEEDED, S.COMPLETED_WITH_ERROR)
        if not seed.kept and not (ended and seed.run_id == instance.run_id):
            return False
        code = outcome_code(status)
        node.outcomes[index] = code
        node.outputs[index] = seed.output if code != FAILED_CODE else None
        node.finished += 1
        node.count_ended(index, status, seed.error if status.failed else None)
        if code == FAILED_CODE and node.step.failure_mode is not FailureMode.IGNORE:
            node.failure = status
            if node.step.failure_mode is FailureMode.FAIL_IMMEDIATELY:
                self._fail_fast(instance)
        elif code == STOPPED_CODE and node.failure is None:
            node.failure = S.STOPPED
        elif status is S.SKIPPED and not node.is_foreach and seed.output is not None:
            node.output_given = True
        return True

    def hold(self, instance: Instance) -> None:
        """A recovered instance: its work waits, unwritten, until it is woken (so opening the file
        again writes nothing new, and retries are not used up)."""
        instance.held = []
        instance.unwritten = []
        instance.journal = instance.unwritten.append

    def wake(self, instance: Instance) -> None:
        """Queue the work a recovered instance (and its sub-workflows) held back."""
        top = root_of(instance)
        for each in [top, *descendants(top)]:
            if each.held is not None:
                each.journal = self.journal
                for a in each.unwritten:
                    self.journal(a)
                self.ready.extend(each.held)
                each.held = each.unwritten = None

    def _revive_paused(self, a: Attempt, seed: Seed) -> None:
        a.history = list(seed.history) or a.history
        a.status = S.PAUSED  # restored as stored: not a transition, nothing new to check
        a.params = BoundParams(seed.params)
        a.output = seed.output
        a.pause_point = seed.pause_point
        a.paused_by = set(seed.paused_by)
        a.error = seed.error
        a.changed = seed.changed
        a.node.active -= 1
        for bp_id in a.paused_by:
            bp = self.breakpoints.by_id.get(bp_id)
            if bp is not None:
                bp.paused.add(a)
        a.paused_by = {i for i in a.paused_by if i in self.breakpoints.by_id or i <= HOLD_KEPT}
        a.queued = False  # nothing new to write: it is stored as it is
        if not a.paused_by:
            try:
                self._check_resumable(a)
            except StateError as exc:  # a value the restart lost: it stays paused, and says why
                a.paused_by = {HOLD_KEPT}
                self.event("resume_refused", {"reason": exc.message}, attempt=a)
        if not a.paused_by:  # every breakpoint that held it was deleted: the deletion resumes it
            self.event("resume", {"breakpoints_deleted": sorted(seed.paused_by)}, attempt=a)
            a.node.released.append(a)
            return
        self.paused.add(a)

    # --- attempts -----------------------------------------------------------------------
    def _start_attempt(self, a: Attempt) -> None:
        instance = a.instance
        if a.status is S.PAUSED:  # released by a resume or a breakpoint deletion
            if instance.failing or instance.stopping:
                self._end_attempt(a, S.STOPPED)
            else:
                self._run_released(a)
            return
        if a.status is not S.INITIALIZED:
            return
        if instance.failing or instance.stopping:
            self._end_attempt(a, S.STOPPED)
            return
        a.transition(S.EVALUATING_PARAMS)
        step = a.node.step
        try:
            call = self._prepare(a)
        except Exception as exc:  # binding failed (an expression, a missing name): the attempt fails
            a.error = Failure.from_exception(exc, keep=True)
            if self._pause_at_error(a):
                return
            a.transition(S.FATALLY_FAILED)
            self._attempt_failed(a, retry=False)
            return
        if (self.breakpoints.by_id or instance.step_traps) and self._check(a, "before"):
            return
        a.transition(S.RUNNING)
        self._run(a, call, step.kind)

    def _run_released(self, a: Attempt) -> None:
        if a.pause_point == "error":  # released (its breakpoint deleted): it fails, as it would have
            self._let_fail(a)
            return
        a.error = None  # a paused attempt's only note is why a condition paused it: spent now
        if a.pause_point == "after":
            self._succeed(a)
            return
        fn = self.namespace.get(a.node.step.target) if a.node.step.kind == "run" else None
        if a.node.step.kind == "run" and not callable(fn):
            a.error = Failure("MaestroError", f"{a.node.step.target!r} is not defined in the kernel namespace")
            a.transition(S.FATALLY_FAILED)
            self._attempt_failed(a, retry=False)
            return
        a.transition(S.RUNNING)
        self._run(a, fn, a.node.step.kind)

    def _let_fail(self, a: Attempt) -> None:
        """End an attempt paused at its error as it would have ended without the breakpoint: its
        failure mode decides what happens to the rest (its retries were spent already)."""
        status = S.FATALLY_FAILED if a.paused_from is S.EVALUATING_PARAMS else S.USER_FAILED
        if a.error is not None:
            a.error = a.error.forget_exception()
        a.transition(status)
        self._finish_iteration(a, status, None)

    def _prepare(self, a: Attempt) -> Callable[[], Any] | None:
        """Bind the attempt's arguments (the params a user changed before a retry win); return
        what the executor will call."""
        step = a.node.step
        scope = a.scope
        if not a.node.plain_loops:
            check_loop_params(self.codec, step, a.loop_params)
        given = {n: a.params[n] for n in a.changed if n in a.params} if a.changed else None
        if step.kind == "run":
            fn = self.namespace.get(step.target)
            if fn is None or not callable(fn):
                from ..errors import nearest

                names = [k for k, v in self.namespace.items() if callable(v) and not k.startswith("_")]
                hint = nearest(step.target, names)
                what = "is not callable" if fn is not None else "is not defined"
                raise MaestroError(
                    f"step {step.id!r}: {step.target!r} {what} in the kernel namespace"
                    + (f"; did you mean {hint!r}?" if hint else ""), step=step.id,
                )
            a.params = BoundParams(self.binder.bind_call(
                step, fn, scope, a.loop_params, a.instance.upstream(step.id), a.instance.all_steps,
                absent=a.node.frame.absent, given=given))
            return fn
        params = self.binder.step_params(step, scope, a.loop_params, a.node.frame.absent)
        if step.kind == "sql":
            a.params = BoundParams({**a.instance.params, **a.loop_params, **params, **(given or {})})
        else:
            a.params = BoundParams({**a.loop_params, **params, **(given or {})})
        return None

    def _run(self, a: Attempt, fn: Callable[[], Any] | None, kind: str) -> None:
        if kind == "noop":
            self._on_done(a, True, None)
        elif kind == "sql":
            try:
                value = self.store.execute_step_sql(a.node.step.target, a.params)
            except Exception as exc:
                self._on_done(a, False, exc)
            else:
                self._on_done(a, True, value)
        elif kind == "workflow":
            # The child is driven by this same loop, so it is not "in flight": a paused child
            # leaves the whole tree quiescent.
            self._start_child(a)
        elif type(self.executor) is InlineExecutor:  # not a subclass: it may do more in submit()
            self._run_here(a, fn, kind)
        else:
            # A partial, not a closure: it pickles cheaply for an executor that ships it elsewhere.
            call = partial(time.sleep, a.node.step.target) if kind == "sleep" else partial(fn, **a.params)
            if self.executor.inline:
                self.executor.submit(call, lambda ok, value: self._on_done(a, ok, value))
            else:
                self.inflight += 1
                self.submitted[a] = self.executor.submit(call, lambda ok, value: self._deliver(a, ok, value))

    def _run_here(self, a: Attempt, fn: Callable[..., Any] | None, kind: str) -> None:
        """The inline executor's work, done here: no call object and callback per attempt."""
        try:
            if kind == "sleep":
                value = time.sleep(a.node.step.target)
            else:
                value = fn(**a.params)
        except Exception as exc:  # the step's own failure
            self._on_done(a, False, exc)
            return
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: recorded, then let through
            self._on_done(a, False, exc)
            raise
        self._on_done(a, True, value)

    def _deliver(self, a: Attempt, ok: bool, value: Any) -> None:
        """From a worker thread: keep the result, then wake the driver. Kept apart from the inbox
        item, so a result survives a KeyboardInterrupt that loses the item in the driver."""
        self.results[a] = (ok, value)
        self.inbox.put(("done", a))

    def redeliver(self) -> None:
        """Queue a wake-up for every result not handled yet (after an interrupted drive)."""
        for a in list(self.results):
            self.inbox.put(("done", a))

    def _reattach(self, a: Attempt, seed: Seed) -> bool:
        """A sub-workflow step cut short while its child was unfinished (paused, say) goes on
        waiting for that same child, rather than starting it again."""
        child = self.find_child(a)
        if child is None:
            return False
        a.params = BoundParams(seed.params)
        a.transition(S.INITIALIZED)
        a.transition(S.EVALUATING_PARAMS)
        a.transition(S.RUNNING)
        a.child = child
        a.instance.children.append(child)
        self.event("reattach", {"child": child.label}, attempt=a)
        return True

    def _start_child(self, a: Attempt) -> None:
        try:
            child = self.create_child(a)
        except MaestroError as exc:
            self._on_done(a, False, exc)
            return
        a.child = child
        a.instance.children.append(child)
        self.start(child)

    def _on_done(self, a: Attempt, ok: bool, value: Any) -> None:
        if a.status is not S.RUNNING:
            return
        if ok:
            a.output = value
            if self.breakpoints.by_id and self._check(a, "after"):  # no breakpoint: nothing to match
                return
            self._succeed(a)
        elif isinstance(value, PlatformError):  # its worker died, or the cluster went away
            a.error = Failure.from_exception(value)
            a.transition(S.PLATFORM_FAILED)
            self._attempt_failed(a, retry=value.retryable, platform=True)
        elif not isinstance(value, Exception):  # the user interrupted the kernel: stop the instance
            a.error = Failure(type_name(value), "interrupted")
            a.transition(S.INTERRUPTED)
            self.event("interrupt", {"error": str(a.error)}, attempt=a)
            self._finish_iteration(a, S.INTERRUPTED, None)
            root = root_of(a.instance)
            if not root.stopping:
                self._stop_tree(root)  # the whole tree: a parent must not retry its stopped child
            self.interrupt()
        else:
            a.error = Failure.from_exception(value, keep=True)
            if a.failures >= a.node.step.retry.limit and self._pause_at_error(a):
                return
            a.error = a.error.forget_exception()
            a.transition(S.USER_FAILED)
            self._attempt_failed(a, retry=True)

    def _succeed(self, a: Attempt) -> None:
        a.transition(S.SUCCEEDED)
        self._finish_iteration(a, S.SUCCEEDED, a.output)

    def _attempt_failed(self, a: Attempt, retry: bool, platform: bool = False) -> None:
        """Retry a failed attempt while its budget lasts (platform failures have their own, and
        retry at once), else end its iteration."""
        step = a.node.step
        spent = a.platform_failures >= step.retry.platform_limit if platform else a.failures >= step.retry.limit
        if retry and not spent and not (a.instance.failing or a.instance.stopping):
            nxt = Attempt(a.node, a.index, a.iteration, a.loop_params, a.number + 1, a.scope)
            nxt.failures = a.failures + (not platform)
            nxt.platform_failures = a.platform_failures + platform
            a.node.live[a.index] = nxt
            detail = {"attempt": a.number + 1, "error": str(a.error)}
            if platform:
                detail["platform"] = True
            self.event("retry", detail, attempt=a)
            if step.retry.backoff and not platform:
                time.sleep(step.retry.backoff * (2 ** (a.number - 1)))
            nxt.transition(S.INITIALIZED)
            (self.ready if a.instance.held is None else a.instance.held).append(nxt)
            return
        self._finish_iteration(a, a.status, None)

    def _pause_at_error(self, a: Attempt) -> bool:
        """Break on failure: pause `a`, whose step failed for good, when an `error` breakpoint
        matches; it keeps its live exception while paused. An ending instance does not pause."""
        if not (a.instance.failing or a.instance.stopping) and self._check(a, "error"):
            return True
        a.error = a.error.forget_exception() if a.error is not None else None
        return False

    def _check(self, a: Attempt, point: str) -> bool:
        """The breakpoint check: pause `a` if any breakpoint (or a step trap) matches."""
        matched = self.breakpoints.matching(a, point) if self.breakpoints.by_id else ()
        if not matched and not (point == "before" and a.instance.step_traps):
            return False  # the common case: one dict lookup, nothing built
        hold: set[int] = {bp.id for bp in matched}
        if point == "before" and a.instance.step_traps:
            hold |= self._take_trap(a)
        if not hold:
            return False
        a.pause_point = point
        a.paused_by = hold
        a.transition(S.PAUSED)
        for bp in matched:
            bp.paused.add(a)
        a.node.active -= 1
        self.paused.add(a)
        self._pause_pending = True
        self.notify("paused", a)
        self._dispatch(a.node)  # a paused attempt holds no concurrency slot, at either point
        return True

    def _take_trap(self, a: Attempt) -> set[int]:
        """A step hold: `a` is the first attempt of the step after one resumed with step=True
        (every iteration of a foreach; the entry steps of a foreach body). A retry is not."""
        if a.number != 1:
            return set()
        hit = [trap for trap in a.instance.step_traps if _trapped(a, *trap)]
        for frame, _, index in hit:
            if frame is a.node.frame and (not a.node.is_foreach or index is not None):
                a.instance.step_traps.remove((frame, _, index))
        return {HOLD_STEP} if hit else set()

    def _end_attempt(self, a: Attempt, status: StepStatus, output: Any = None) -> None:
        a.transition(status)
        self._finish_iteration(a, status, output)

    # --- completion ---------------------------------------------------------------------
    def _finish_iteration(self, a: Attempt, status: StepStatus, output: Any) -> None:
        """An iteration's last attempt ended; every caller counted it as active first."""
        a.node.active -= 1
        self._complete_index(a.node, a.index, status, output, a.error if status.failed else None)

    def _complete_index(self, node: Node, key: int | None, status: StepStatus, output: Any,
                        error: Failure | None = None) -> None:
        index = key or 0
        node.live.pop(key, None)
        code = outcome_code(status)
        node.outcomes[index] = code
        node.outputs[index] = output
        node.finished += 1
        node.count_ended(index, status, error)
        instance = node.frame.instance
        if code == FAILED_CODE and node.step.failure_mode is not FailureMode.IGNORE:
            node.failure = status
            if node.step.failure_mode is FailureMode.FAIL_IMMEDIATELY:
                self._fail_fast(instance)
        elif code == STOPPED_CODE and node.failure is None:
            node.failure = S.STOPPED
        if node.finished == node.total:
            self._finish_node(node, self._aggregate(node))
        elif node.released or (node.active <= node.refill_at and node.next_index < node.total):
            self._dispatch(node)

    def _aggregate(self, node: Node) -> StepStatus:
        if node.failure is not None:
            return node.failure
        if not node.is_foreach and node.outcomes[0] == SKIPPED_CODE:
            return S.SKIPPED
        if FAILED_CODE in node.outcomes:
            return S.COMPLETED_WITH_ERROR
        return S.SUCCEEDED

    def _finish_node(self, node: Node, status: StepStatus | None, blocked: bool = False) -> None:
        node.status = status
        node.blocked = blocked
        self.event("step", {"status": "BLOCKED" if blocked else status.value}, node=node)
        frame = node.frame
        if status in (S.SUCCEEDED, S.COMPLETED_WITH_ERROR) or (status is S.SKIPPED and node.output_given):
            frame.scope[node.step.id] = node.output()
        elif status in (S.SKIPPED, S.UNSATISFIED):
            frame.absent.add(node.step.id)  # it did not run: expressions downstream read it as None
        frame.remaining -= 1
        last = frame.remaining == 0  # decided now: a successor that ends at once finishes the frame
        for successor in frame.successors[node.step.id]:
            successor.waiting -= 1
            if successor.waiting == 0 and successor.status is None:
                self._start_node(successor)
        if last:
            self._finish_frame(frame)

    def _finish_frame(self, frame: Frame) -> None:
        parent = frame.parent
        if parent is None:
            self._settle_queue[frame.instance] = None
            return
        failure = None
        for node in frame.nodes.values():
            if node.blocked or (node.status is not None and not node.status.complete):
                failure = node.status if node.status is not None else S.USER_FAILED
                break
        sinks = frame.sinks()
        output = sinks[0].output() if len(sinks) == 1 else {n.step.id: n.output() for n in sinks}
        parent.active -= 1
        status = failure or S.SUCCEEDED
        # A body has no attempt row of its own: its ending is recorded for the state file's views.
        self.event("iteration", {"status": status.value}, node=parent, iteration=frame.path)
        self._complete_index(parent, frame.parent_index, status, None if failure else output)

    def _fail_fast(self, instance: Instance) -> None:
        if instance.failing:
            return
        instance.failing = True
        self.event("fail_immediately", {}, instance=instance)
        self._settle_queue[instance] = None

    # --- quiescence ---------------------------------------------------------------------
    def settle(self) -> None:
        """Give every touched instance its status once nothing more can run for it."""
        deferred: dict[Instance, None] = {}
        while self._settle_queue:  # settling one instance can touch another (a child, its parent)
            batch = list(self._settle_queue)
            self._settle_queue.clear()
            for instance in batch:
                if self._settle_instance(instance):
                    deferred[instance] = None
        self._settle_queue.update(deferred)

    def _settle_instance(self, instance: Instance) -> bool:
        """Settle one instance; True when it is still busy and must be settled later."""
        if instance.status.terminal:
            return False
        root = instance.root
        if root_of(instance).held is not None:
            return True  # recovered and not woken yet: it neither settles nor advances
        ending = instance.failing or instance.stopping
        if ending:
            self._stop_waiting(instance)  # first: it tells the sub-workflows to stop
            self._cancel_running(instance)
        if any(a.instance is instance for a in self.ready) or self._has_inflight(instance):
            return True
        if ending:
            status = InstanceStatus.STOPPED if instance.stopping else InstanceStatus.FAILED
        elif root.remaining > 0:
            return False  # paused, or blocked behind a paused attempt
        else:
            failed = any(
                n.blocked or (n.status is not None and not n.status.complete) for n in all_nodes(root)
            )
            stopped = any(n.status is S.STOPPED for n in all_nodes(root))
            status = InstanceStatus.SUCCEEDED
            if failed:
                status = InstanceStatus.STOPPED if stopped and not any(
                    n.status is not None and n.status.failed for n in all_nodes(root)
                ) else InstanceStatus.FAILED
        instance.status = status
        self.journal_instance(instance)
        self.notify("instance", instance)
        if instance.parent is not None:
            self._child_done(instance)
        return False

    def _stop_waiting(self, instance: Instance) -> None:
        """End what waits in an instance that fails or stops: paused attempts, resumed ones not yet
        run, held work; and its sub-workflow instances, which stop with it."""
        with self.paused.batch():
            for a in [a for a in self.paused.ordered(instance.workflow, instance.instance_id) if a.instance is instance]:
                self._release_hold(a)
                a.node.released.append(a)
        self.wake(instance)  # held work goes to the loop, which stops it
        for node in all_nodes(instance.root):
            while node.released:
                a = node.released.popleft()
                node.active += 1
                a.transition(S.STOPPED)
                self._finish_iteration(a, S.STOPPED, None)
        for child in instance.children:
            if not child.status.terminal and not child.stopping:
                child.stopping = True
                self.event("stop_instance", {"parent": instance.label}, instance=child)
                self._settle_queue[child] = None

    def _cancel_running(self, instance: Instance) -> None:
        """Withdraw the instance's attempts from the executor (a Dask cluster's futures): each one
        withdrawn before its result came back ends STOPPED; the others are handled as they end."""
        for a in [a for a in self.submitted if a.instance is instance and a not in self.results]:
            if self.executor.cancel(self.submitted[a]):
                del self.submitted[a]
                self.inflight -= 1
                a.transition(S.STOPPED)
                self._finish_iteration(a, S.STOPPED, None)

    def _child_done(self, child: Instance) -> None:
        a = child.parent
        self._settle_queue[a.instance] = None  # the parent may have waited for this child
        if a.status is S.RUNNING and (a.instance.stopping or a.instance.failing):
            a.transition(S.STOPPED)  # stopped along with its parent, not failed
            self._finish_iteration(a, S.STOPPED, None)
            return
        if child.status is InstanceStatus.SUCCEEDED:
            sinks = child.root.sinks()
            self._on_done(a, True, {n.step.id: n.output() for n in sinks})
        else:
            self._on_done(a, False, MaestroError(f"sub-workflow {child.label} ended {child.status.value}"))

    def _has_inflight(self, instance: Instance, children: bool = True) -> bool:
        """A step of the instance runs on the executor (or, with `children`, a sub-workflow it
        waits on has not ended: the parent settles after its children)."""
        if children and any(not child.status.terminal for child in instance.children):
            return True
        if self.inflight == 0:  # the usual case, and cheap: paused attempts are many
            return False
        return any(a.status is S.RUNNING and a.node.step.kind != "workflow"
                   for node in all_nodes(instance.root) for a in node.live.values())

    def notify(self, kind: str, subject: Any) -> None:
        """Tell the listeners (displays) what changed; they run on this thread and must not block."""
        for listener in self.listeners:
            try:
                listener(kind, subject)
            except Exception:  # a display callback must never break a run
                traceback.print_exc()

    # --- the loop -----------------------------------------------------------------------
    def drive(self) -> None:
        """Run until quiescent: nothing ready, nothing in flight, nothing in the inbox.

        Changes are flushed when a pause is pending and the ready queue has drained, every
        FLUSH_INTERVAL seconds while busy, and at quiescence: never one row at a time. The inbox
        (results from workers, actions from other threads) is answered after every attempt.
        What is alive every ATTEMPTS_PER_FREEZE attempts started stays out of the garbage
        collector's collections until the drive ends (see `collector`).
        """
        collections = RunCollections()
        try:
            self._drive(collections)
        finally:
            collections.ended()

    def _drive(self, collections: RunCollections) -> None:
        ready = self.ready
        inbox = self.inbox
        started = 0
        while True:
            while ready:
                self._start_attempt(ready.popleft())
                started += 1
                if started >= ATTEMPTS_PER_FREEZE:
                    started = 0
                    collections.freeze_alive()
                while not inbox.empty():  # results and actions are answered between attempts, not at the end
                    self.handle(inbox.get())
                if (self._dirty or self._ended) and (
                    (self._pause_pending and not ready)
                    or len(self._dirty) + len(self._ended) >= FLUSH_ROWS  # attempt rows the flush would write
                    or time.monotonic() - self._last_flush >= FLUSH_INTERVAL
                ):
                    self.flush(behind=WRITE_BEHIND)  # the run goes on while DuckDB writes
            self.settle()
            if ready:  # settling (a sub-workflow ending) can make its parent's successors ready
                continue
            if self.inflight == 0 and self.inbox.empty():
                break
            if self._pause_pending:
                self.flush()
            self.executor.send()  # an executor may hold calls until the driver is about to wait
            pending = self._dirty or self._ended or self._events or self._dirty_instances
            try:
                if pending:
                    wait = FLUSH_INTERVAL - (time.monotonic() - self._last_flush)
                    item = self.inbox.get(timeout=max(wait, 0.001))
                else:
                    item = self.inbox.get()
            except queue.Empty:
                self.flush()
                continue
            self.handle(item)
        self.settle()
        self.flush()

    def handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "done":
            a = item[1]
            result = self.results.get(a)
            if result is None:  # handled already, through a duplicate wake-up
                return
            self.inflight -= 1
            try:
                self._on_done(a, *result)
            finally:
                if a.status is S.RUNNING and a.node.step.kind != "workflow":
                    self.inflight += 1  # interrupted before it was handled: keep it for redelivery
                else:
                    self.results.pop(a, None)
                    self.submitted.pop(a, None)
        elif kind == "call":
            _, fn, future = item
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

def _no_children(a: Attempt) -> Instance:
    raise MaestroError("sub-workflows need an Engine")


def _trapped(a: Attempt, frame: Frame, steps: frozenset[str], index: int | None) -> bool:
    """Whether a step trap set in `frame` on `steps` catches `a`."""
    node = a.node
    if node.frame is frame:
        return node.step.id in steps and (index is None or a.index in (None, index))
    while node.frame.parent is not None and not node.step.after:  # an entry step of a foreach body
        node = node.frame.parent
        if node.frame is frame:
            return node.step.id in steps
    return False


def _found(where: str, error: Exception) -> Failure:
    """A failure the engine found while starting a step (its `if:`, its foreach values)."""
    text = error.message if isinstance(error, ExpressionError) else f"{type(error).__name__}: {error}"
    return Failure(type_name(error), f"{where}: {text}")
