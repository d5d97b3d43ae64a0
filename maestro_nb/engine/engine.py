"""The Engine: the public face of the runtime, bound to a state file and a namespace."""

from __future__ import annotations

import json
import os
import threading
from functools import partial
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import DefinitionError, MaestroError, ParamError, StateError, UnknownNameError, nearest
from ..models.definition import WorkflowDefinition
from ..models.expressions import compile_expression
from ..models.graph import DiGraph
from ..models.parse import parse_definition
from ..models.status import InstanceStatus, StepStatus
from ..store import Store, ValueCodec
from ..store.store import DEFAULT_DB, ENV_DB, now
from . import arguments as check
from . import by_hand
from .breakpoints import Breakpoint, BreakpointIndex, check_breakpoint, check_name
from .executors import Executor, make_executor
from .results import results_frame
from .runtime import Attempt, Instance, descendants, parent_ref
from .scheduler import MISSING, Scheduler
from .seeds import drop_for_restart, lost_outputs, read_seeds

__all__ = ["Engine", "Defined"]

T = TypeVar("T")
S = StepStatus
# Any of these when the process died may have been running (an inline step is stored as
# INITIALIZED while it runs): all become INTERRUPTED, and run again as new attempts.
_IN_FLIGHT = ("CREATED", "INITIALIZED", "EVALUATING_PARAMS", "RUNNING")
MAX_COMMENT = 10_000  # characters of a gate decision's comment


@dataclass(frozen=True)
class Defined:
    """The outcome of defining a workflow: its version, and whether that version is new."""

    workflow: str
    version: int
    created: bool
    definition: WorkflowDefinition = field(repr=False)


def default_db_path() -> str:
    return os.environ.get(ENV_DB) or DEFAULT_DB


class Engine:
    """Workflows, instances and breakpoints over one DuckDB state file.

    `namespace` is where `run:` callables are looked up by name when an attempt starts
    (in a notebook, the kernel's user namespace). `executor` runs step code: 'inline' (the
    default), 'threads' (a pool of `workers` threads, default one per CPU) or an Executor.
    Opening a file whose instances were cut short marks their in-flight attempts INTERRUPTED;
    `recover()` runs them again.
    """

    def __init__(self, db: str | os.PathLike[str] | None = None, namespace: dict[str, Any] | None = None,
                 *, executor: str | Executor | None = None, workers: int | None = None,
                 read_only: bool = False, pickle_values: bool = False):
        executor = make_executor(executor, workers)  # a bad name fails before the state file is touched
        self.store = Store(db if db is not None else default_db_path(), read_only=read_only)
        self.namespace = namespace if namespace is not None else {}
        self.codec = ValueCodec(self.store, pickle_values=pickle_values)
        self.read_only = read_only
        self._definitions: dict[tuple[str, int], WorkflowDefinition] = {}
        self._latest: dict[str, int] = {}
        self._next_instance: dict[str, int] = {}
        self._lock = threading.RLock()
        self._driver: threading.Thread | None = None
        self.breakpoint_index = BreakpointIndex()
        self.scheduler = Scheduler(self.store, self.codec, executor, self.namespace,
                                   self.breakpoint_index)
        self.scheduler.create_child = self._create_child
        self.recovery_report: list[str] = []
        self._recovering: list[Instance] = []
        self._orphans: dict[str, tuple[str, int]] = {}
        self.scheduler.find_child = self._find_child
        try:
            self._load()
        except BaseException:
            self.store.close()  # the file is not left held by an engine nobody can close
            raise

    @property
    def path(self) -> str:
        return self.store.path

    # --- driving ------------------------------------------------------------------------
    def _act(self, fn: Callable[[], T], *, drive: bool = True, background: bool = False) -> T:
        """Apply `fn` on the driving thread, then (if `drive`) run until quiescent; then tell the
        listeners (live displays) that the state may have changed.

        What `fn` changed is in the state file when this returns (a crash right after loses
        nothing): a background driver flushes it before it answers, and so does a call that
        starts one before the driver starts."""
        try:
            return self._apply(partial(self._batched, fn), drive=drive, background=background)
        finally:
            self.scheduler.notify("action", None)

    def _batched(self, fn: Callable[[], T]) -> T:
        with self.scheduler.paused.batch():  # an action on many paused attempts: one pass per step
            return fn()

    def _apply(self, fn: Callable[[], T], *, drive: bool, background: bool) -> T:
        if self.read_only and drive:
            raise StateError(f"state file {self.path} is open read-only")
        me = threading.current_thread()
        with self._lock:
            driver = self._driver
            if driver is me:
                return fn()
            if driver is not None:
                future: Future[T] = Future()
                self.scheduler.inbox.put(("call", lambda: self._flushed(fn), future))
            else:
                self._driver = me
                future = None  # type: ignore[assignment]
        if future is not None:
            return future.result()
        try:
            result = fn()
        except BaseException:
            # Serve what other threads queued meanwhile, and run what the action did release.
            self._drive_until_quiet(bool(self.scheduler.ready))
            raise
        if background and drive:
            self.scheduler.flush()  # what the call did is on disk before it returns
            thread = threading.Thread(target=self._drive_in_background, name="maestro-driver", daemon=True)
            with self._lock:
                self._driver = thread
            thread.start()
            return result
        self._drive_until_quiet(drive)
        return result

    def _flushed(self, fn: Callable[[], T]) -> T:
        result = fn()
        self.scheduler.flush()
        return result

    def _drive_until_quiet(self, drive: bool) -> None:
        """Drive (or just flush) until quiescent, then give up the driver role, never leaving
        an action queued behind."""
        if drive:
            self.scheduler.notify("drive", None)  # live faces look at the rate while it drives
        try:
            while True:
                if drive:
                    self.scheduler.drive()
                else:
                    self.scheduler.flush()
                with self._lock:
                    if self.scheduler.inbox.empty():
                        self._driver = None
                        return
                drive = True
        except BaseException as exc:
            try:  # keep what happened up to the interruption: it is in the state file
                if isinstance(exc, KeyboardInterrupt):
                    self.scheduler.interrupt()
                self.scheduler.settle()
                self.scheduler.flush()
            except Exception:
                pass
            with self._lock:
                self._driver = None
                stranded = []
                while not self.scheduler.inbox.empty():
                    stranded.append(self.scheduler.inbox.get())
                self.scheduler.redeliver()  # steps that finished meanwhile: the next drive takes them
            for item in stranded:
                if item[0] == "call":
                    item[2].set_exception(exc)
            raise

    def _drive_in_background(self) -> None:
        self._drive_until_quiet(True)

    @property
    def busy(self) -> bool:
        """True while a background run is driving."""
        return self._driver is not None

    def use_executor(self, executor: str | Executor, *, workers: int | None = None) -> None:
        """Run step code on another executor from now on: 'inline', 'threads' (with `workers`
        threads; default one per CPU) or an Executor. Not while a background run drives."""
        new = make_executor(executor, workers)
        with self._lock:
            if self._driver is not None:
                raise StateError("a run is going on in the background; wait for it (engine.wait()) "
                                 "before changing the executor")
            old, self.scheduler.executor = self.scheduler.executor, new
        old.shutdown()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run to become quiescent; False on timeout."""
        driver = self._driver
        if driver is None or driver is threading.current_thread():
            return True
        driver.join(timeout)
        return not driver.is_alive()

    # --- definitions --------------------------------------------------------------------
    def define(self, name: str, source: str | Mapping[str, Any]) -> Defined:
        """Parse, validate and store a definition; an unchanged body keeps its version."""
        definition = parse_definition(name, source)
        self._check_sub_workflows(definition)

        def store() -> Defined:
            latest = self.store.latest_version(name)
            if latest is not None and latest[1] == definition.digest:
                return Defined(name, latest[0], False, self._definitions.setdefault((name, latest[0]), definition))
            version = (latest[0] if latest else 0) + 1
            self.store.add_version(name, version, definition.digest, definition.source, definition.description)
            self._definitions[(name, version)] = definition
            self._latest[name] = version
            return Defined(name, version, True, definition)

        return self._act(store, drive=False)

    def _check_sub_workflows(self, definition: WorkflowDefinition) -> None:
        """Sub-workflow steps name stored workflows, and no workflow ends up calling itself."""
        def calls(d: WorkflowDefinition) -> list[tuple[str, str]]:
            return [(d.name, d.step(s).target) for s in d.step_ids if d.step(s).kind == "workflow"]

        graph: DiGraph[str] = DiGraph()
        for caller, callee in calls(definition):
            if callee != definition.name and callee not in self._latest:
                raise UnknownNameError("workflow", callee, self._known_workflows(), workflow=definition.name)
            graph.add_edge(caller, callee)
        if not graph:
            return
        for other in self._latest:
            if other != definition.name:
                graph.add_edges(calls(self.definition(other)))
        cycle = graph.find_cycle(definition.name)
        if cycle is None:
            return
        path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        raise DefinitionError(f"sub-workflows call each other in a cycle: {path}", workflow=definition.name)

    def _known_workflows(self) -> list[str]:
        return sorted(self._latest)

    def _known(self, workflow: Any) -> None:
        """Fail unless `workflow` names a stored workflow (naming the nearest one)."""
        check.text(workflow, "workflow")
        if workflow not in self._latest:
            raise UnknownNameError("workflow", workflow, self._known_workflows())

    def definition(self, workflow: str, version: int | None = None) -> WorkflowDefinition:
        """A stored definition (the latest version by default)."""
        self._known(workflow)
        version = self._latest[workflow] if check.whole_number(version, "version") is None else version
        key = (workflow, version)
        if key not in self._definitions:
            source = self.store.definition_source(workflow, version)
            if source is None:
                raise UnknownNameError("version", str(version), [str(v) for v in range(1, self._latest[workflow] + 1)],
                                       workflow=workflow)
            data: Any = source
            if source.lstrip().startswith("{"):
                try:
                    data = json.loads(source)
                except ValueError:
                    pass
            self._definitions[key] = parse_definition(workflow, data)
        return self._definitions[key]

    def latest_version(self, workflow: str) -> int:
        """The newest version of a workflow's definition."""
        if workflow not in self._latest:
            raise UnknownNameError("workflow", workflow, self._known_workflows())
        return self._latest[workflow]

    @property
    def workflows(self) -> list[str]:
        return self._known_workflows()

    # --- instances ----------------------------------------------------------------------
    def _check_params(self, definition: WorkflowDefinition, params: Mapping[str, Any] | None) -> dict[str, Any]:
        values = dict(definition.params)
        if params is not None and not isinstance(params, Mapping):
            raise ParamError(f"params of workflow {definition.name!r} must be a mapping of name: value, "
                             f"not {type(params).__name__}", workflow=definition.name)
        for name, value in (params or {}).items():
            if name not in definition.params:
                hint = nearest(str(name), definition.params)
                known = ", ".join(definition.params) or "none"
                raise ParamError(
                    f"workflow {definition.name!r} has no param {name!r}"
                    + (f"; did you mean {hint!r}?" if hint else f"; its params: {known}"),
                    workflow=definition.name,
                )
            problem = self.codec.problem(value)
            if problem is not None:
                raise ParamError(
                    f"param {name!r}: {problem} cannot be stored; "
                    "use JSON-native values (numbers, text, lists, dicts with text keys) or a DataFrame",
                    workflow=definition.name,
                )
            values[name] = value
        return values

    def _new_instance(self, workflow: str, params: Mapping[str, Any] | None, version: int | None,
                      parent: Attempt | None = None) -> Instance:
        definition = self.definition(workflow, version)
        values = self._check_params(definition, params)
        instance_id = self._next_instance.get(workflow, 1)
        self._next_instance[workflow] = instance_id + 1
        return Instance(definition, version or self._latest[workflow], instance_id, 1, values,
                        self.scheduler.journal, parent)

    def _create_child(self, a: Attempt) -> Instance:
        return self._new_instance(a.node.step.target, a.params, None, parent=a)

    def run(self, workflow: str, params: Mapping[str, Any] | None = None, *, version: int | None = None,
            background: bool = False) -> Instance:
        """Start an instance and run it until quiescent (or in the background)."""
        self._known(workflow)
        check.whole_number(version, "version", " (1 is the first version)")

        def start() -> Instance:
            instance = self._new_instance(workflow, params, version)
            self.scheduler.start(instance)
            return instance

        return self._act(start, background=background)

    def instance(self, workflow: str, instance_id: int | None = None) -> Instance:
        """A live instance; the latest of `workflow` by default."""
        self._known(workflow)
        check.whole_number(instance_id, "instance")
        ids = sorted(i for (w, i) in self.scheduler.instances if w == workflow)
        if instance_id is None:
            # Instances finished in an earlier session are in the file, not yet in memory.
            stored = self._next_instance.get(workflow, 1) - 1
            if not ids and stored < 1:
                raise StateError(f"workflow {workflow!r} has no instance yet; run it first", workflow=workflow)
            instance_id = max(ids[-1] if ids else 0, stored)
        found = self.scheduler.instances.get((workflow, instance_id))
        if found is None:
            found = self._load_instance(workflow, instance_id)
        return found

    def instances(self, workflow: str | None = None) -> list[Instance]:
        return [i for (w, _), i in sorted(self.scheduler.instances.items()) if workflow in (None, w)]

    def stop(self, workflow: str, instance_id: int | None = None) -> Instance:
        """Stop an instance: paused and queued attempts end STOPPED, nothing new starts."""
        instance = self.instance(workflow, instance_id)
        self._act(lambda: self.scheduler.stop_instance(instance))
        return instance

    def restart(self, workflow: str, instance_id: int | None = None, *, from_step: str | None = None,
                iteration: int | str | None = None, background: bool = False) -> Instance:
        """A new run of a finished instance that keeps every upstream success.

        By default the failed and incomplete steps run again; `from_step` re-runs that step and
        everything downstream of it; with `iteration`, only that iteration of `from_step` (and
        what is downstream of the step) runs again.
        """
        check.text(from_step, "from_step", optional=True)
        if iteration is not None and (isinstance(iteration, bool) or not isinstance(iteration, (int, str))):
            raise ParamError(f"iteration must be an index such as 3 or a path such as '2/0', not {iteration!r}")
        instance = self.instance(workflow, instance_id)
        definition = instance.definition
        if from_step is not None:
            definition.step(from_step)
        if iteration is not None:
            if from_step is None:
                raise ParamError("restart of an iteration needs the step: from_step=STEP, iteration=K")
            if definition.step(from_step).foreach is None and not definition.enclosing(from_step):
                raise ParamError(f"step {from_step!r} is not inside a foreach; it has no iterations",
                                 step=from_step)

        def begin() -> Instance:
            if not instance.status.terminal:
                raise StateError(
                    f"{instance.label} is {self._status_word(instance)}; restart needs a finished instance "
                    "(resume or stop it first)", workflow=workflow,
                )
            self.scheduler.flush()
            seeds = read_seeds(self.store, self.codec, instance)
            before = dict(seeds)
            if from_step is not None:
                drop_for_restart(seeds, definition, from_step, None if iteration is None else str(iteration))
            fresh = Instance(definition, instance.version, instance.instance_id, instance.run_id + 1,
                             instance.params, self.scheduler.journal)
            fresh.seeds = seeds
            self.scheduler.not_created(fresh, [  # what the new run redoes shows as not started in it
                (step_id, it, seed.loop_params) for (step_id, it), seed in before.items()
                if (step_id, it) not in seeds or not seeds[(step_id, it)].kept])
            self.scheduler.event("restart", {"run": fresh.run_id, "from_step": from_step,
                                             "iteration": iteration}, instance=fresh)
            self.scheduler.start(fresh)
            return fresh

        return self._act(begin, background=background)

    # --- state file: loading and recovery ------------------------------------------------
    def _load(self) -> None:
        self._latest.update(self.store.latest_versions())
        for workflow, top in self.store.last_instance_ids().items():
            self._next_instance[workflow] = top + 1
        for row in self.store.active_breakpoints():
            bp_id, name, workflow, step, version, instance_id, run_id, it, point, condition, gate = row
            try:
                compiled = compile_expression(condition) if condition else None
            except MaestroError as exc:  # stored before a limit it breaks: the file still opens
                self.recovery_report.append(f"breakpoint {bp_id} on {workflow}.{step} is left out: {exc.message}")
                continue
            self.breakpoint_index.add(Breakpoint(
                bp_id, workflow, step, point, version, instance_id, run_id, it, compiled, name, bool(gate),
            ))
        self._next_breakpoint = self.store.last_breakpoint_id() + 1
        unfinished = self.store.unfinished_instances()
        if not unfinished or self.read_only:
            return
        interrupted = self.store.interrupt_in_flight(_IN_FLIGHT, S.INTERRUPTED.value, now().timestamp())
        if interrupted:
            self.recovery_report.append(f"{interrupted} attempt(s) in flight were marked INTERRUPTED")
        self._orphans = {parent: (workflow, instance_id) for workflow, instance_id, parent in unfinished
                         if parent is not None}
        for workflow, instance_id, parent in unfinished:
            if parent is None:
                self._recover_one(workflow, instance_id, recovering=True)
        for workflow, instance_id in self._orphans.values():  # no parent attempt asked for them
            self._recover_one(workflow, instance_id, orphan=True)
        self._orphans = {}
        self.scheduler.flush()

    def _recover_one(self, workflow: str, instance_id: int, **how: bool) -> None:
        """Load one unfinished instance; one that cannot be (its definition, stored by an older
        version, breaks a rule made since) is reported and left as it is: the file still opens."""
        try:
            instance = self._load_instance(workflow, instance_id, **how)
        except MaestroError as exc:
            self.recovery_report.append(f"{workflow}#{instance_id} cannot be recovered: {exc.message}")
            return
        if how.get("recovering"):
            self._recovering.append(instance)

    def _find_child(self, a: Attempt) -> Instance | None:
        """While recovering: the unfinished sub-workflow instance `a` (its parent attempt) ran."""
        found = self._orphans.pop(parent_ref(a), None)
        if found is None:
            return None
        return self._load_instance(*found, recovering=True, parent=a)

    def _load_instance(self, workflow: str, instance_id: int, recovering: bool = False,
                       orphan: bool = False, parent: Attempt | None = None) -> Instance:
        row = self.store.instance_row(workflow, instance_id)
        if row is None:
            known = [str(i) for (w, i) in self.scheduler.instances if w == workflow]
            raise UnknownNameError("instance", str(instance_id), known, workflow=workflow)
        version, run_id, status, params = row
        definition = self.definition(workflow, version)
        instance = Instance(definition, version, instance_id, run_id, self.codec.decode_params(params),
                            self.scheduler.journal, parent)
        instance.status = InstanceStatus(status)
        if orphan:  # its parent attempt ended, or starts a new child: this one is over
            self.store.stop_paused(workflow, instance_id, S.STOPPED.value, now().timestamp())
            instance.status = InstanceStatus.STOPPED
            self.scheduler.journal_instance(instance)
            self.scheduler.instances[(workflow, instance_id)] = instance
            return instance
        if recovering:
            seeds = read_seeds(self.store, self.codec, instance)
            missed = [key for key, seed in seeds.items() if seed.lost]
        else:  # only shown: nothing needs its outputs read back now
            missed = lost_outputs(self.store, self.codec, instance)
        lost = sorted(f"{sid}[{it}]" if it else sid for sid, it in missed)
        if lost:
            shown = ", ".join(lost[:10]) + (f" and {len(lost) - 10} more" if len(lost) > 10 else "")
            self.recovery_report.append(
                f"{instance.label}: outputs of {shown} were kept in memory only and will be computed again")
        if recovering:
            instance.seeds = seeds
            self.scheduler.hold(instance)  # nothing runs until recover(), or an action on this instance
            self.scheduler.start(instance)
        else:
            self.scheduler.instances[(workflow, instance_id)] = instance
        return instance

    def recover(self) -> list[Instance]:
        """Run the instances found unfinished when the file was opened until quiescent."""
        def wake() -> None:
            for instance in self._recovering:
                self.scheduler.wake(instance)

        self._act(wake)
        return list(self._recovering)

    # --- breakpoints --------------------------------------------------------------------
    def _split_target(self, target: str, *, every_step: bool = False) -> tuple[str, str | None]:
        """`WORKFLOW.STEP` as a pair; with `every_step`, a bare `WORKFLOW` is (workflow, None)."""
        if not isinstance(target, str):
            raise ParamError(f"name a step as 'WORKFLOW.STEP', not {type(target).__name__} {target!r}")
        workflow, dot, step = target.partition(".")
        if not dot and every_step and workflow:
            self.definition(workflow)
            return workflow, None
        if not dot or not step:
            raise ParamError(f"{target!r}: name a step as WORKFLOW.STEP")
        definition = self.definition(workflow)
        definition.step(step)
        return workflow, step

    def _new_breakpoint(self, target: str, when: str | None, pause: str, version: int | None,
                        instance: int | None, run: int | None, iteration: int | str | None,
                        name: str | None, gate: bool = False) -> Breakpoint:
        """A breakpoint from validated settings, not yet numbered or stored."""
        check.text(when, "when", optional=True)
        check.text(name, "name", optional=True)
        check.whole_number(version, "version", kind_only=True)
        check.whole_number(instance, "instance")
        check.whole_number(run, "run")
        workflow, step = self._split_target(target, every_step=pause == "error")
        iteration, condition = check_breakpoint(
            self.definition(workflow), step, pause=pause, when=when, version=version,
            latest=self._latest[workflow], instance=instance, run=run, iteration=iteration,
            namespace=self.namespace, gate=gate,
        )
        if name is not None:
            check_name(name, set())
        return Breakpoint(0, workflow, step, pause, version, instance, run, iteration, condition, name, gate)

    def same_breakpoint(self, target: str, *, when: str | None = None, pause: str = "before",
                        version: int | None = None, instance: int | None = None, run: int | None = None,
                        iteration: int | str | None = None, gate: bool = False) -> Breakpoint | None:
        """The breakpoint `set_breakpoint` with these settings would return without creating one."""
        return self.breakpoint_index.same_as(
            self._new_breakpoint(target, when, pause, version, instance, run, iteration, None, gate))

    def set_breakpoint(self, target: str, *, when: str | None = None, pause: str = "before",
                       version: int | None = None, instance: int | None = None, run: int | None = None,
                       iteration: int | str | None = None, name: str | None = None,
                       gate: bool = False) -> Breakpoint:
        """Pause every attempt of WORKFLOW.STEP that reaches the pause point from now on: `before`
        its step runs, `after` it returned, or at its `error` (break on failure; a bare WORKFLOW
        target then covers every step of it). A `gate` is an approval gate: its attempts wait
        for `approve` (they go on) or `reject` (they are skipped), each with a comment.

        Settings identical to an existing breakpoint's (target, scope, pause point, condition)
        return that breakpoint, as Maestro's upsert does: re-running a cell makes no copy.
        """
        wanted = self._new_breakpoint(target, when, pause, version, instance, run, iteration, name, gate)

        def add() -> Breakpoint:
            existing = self.breakpoint_index.same_as(wanted)
            if existing is not None:
                if name is not None and name != existing.name:
                    raise ParamError(
                        f"breakpoint {existing.id} on {existing.target} has these settings already"
                        f"{f', named {existing.name!r}' if existing.name else ''}; use it, or delete it first",
                        workflow=existing.workflow, step=existing.step)
                return existing
            if name is not None:
                check_name(name, {bp.name for bp in self.breakpoint_index if bp.name})
            bp = wanted
            bp.id = self._next_breakpoint
            self._next_breakpoint += 1
            self._store_breakpoint(bp, active=True)
            self.scheduler.add_breakpoint(bp)
            detail = {"id": bp.id, "step": bp.step, "pause_point": pause, "when": when}
            if gate:
                detail["gate"] = True
            self.scheduler.event("breakpoint_set", detail, workflow=bp.workflow)
            return bp

        return self._act(add, drive=False)

    def _store_breakpoint(self, bp: Breakpoint, active: bool) -> None:
        self.store.append("breakpoint_log", [(
            self.store.next_seq(), bp.id, bp.name, bp.workflow, bp.step, bp.version, bp.instance_id,
            bp.run_id, bp.iteration, bp.pause_point, bp.condition.source if bp.condition else None,
            active, now(), bp.gate,
        )])

    def breakpoints(self) -> list[Breakpoint]:
        return list(self.breakpoint_index)

    def find_breakpoints(self, selector: str | int | Breakpoint) -> list[Breakpoint]:
        """Breakpoints by id, by name, or every one on WORKFLOW.STEP."""
        check.selector(selector, Breakpoint)
        if isinstance(selector, Breakpoint):
            found = [selector] if selector.id in self.breakpoint_index.by_id else []
            what = f"breakpoint {selector.id}"
        elif isinstance(selector, int) or (isinstance(selector, str) and selector.isdigit()):
            bp = self.breakpoint_index.by_id.get(int(selector))
            found = [bp] if bp else []
            what = f"breakpoint {selector}"
        elif "." in selector:
            workflow, step = self._split_target(selector)
            found = self.breakpoint_index.on_step(workflow, step)
            what = f"breakpoint on {selector}"
        else:
            found = [bp for bp in self.breakpoint_index if bp.name == selector]
            what = f"breakpoint named {selector!r}"
            if not found and selector in self._latest:  # a workflow: its breakpoints on every step
                found = self.breakpoint_index.on_step(selector, None)
                what = f"breakpoint named {selector!r}, nor one on every step of workflow {selector!r}"
            if not found:
                names = [bp.name for bp in self.breakpoint_index if bp.name]
                hint = nearest(selector, names)
                if hint:
                    what += f" (did you mean {hint!r}?)"
        if not found:
            raise StateError(f"no {what}; %breakpoint list shows the active ones")
        return sorted(found, key=lambda bp: bp.id)

    def delete_breakpoint(self, selector: str | int | Breakpoint, *, keep_paused: bool = False,
                          background: bool = False) -> list[Attempt]:
        """Delete breakpoints; attempts no other breakpoint holds resume unless `keep_paused`."""
        found = self.find_breakpoints(selector)

        def delete() -> list[Attempt]:
            released: list[Attempt] = []
            for bp in found:
                if bp.id not in self.breakpoint_index.by_id:
                    raise StateError(f"breakpoint {bp.id} was deleted already")
            for bp in found:
                self._store_breakpoint(bp, active=False)
                self.scheduler.event("breakpoint_deleted", {"id": bp.id, "keep_paused": keep_paused},
                                     workflow=bp.workflow)
                released += self.scheduler.delete_breakpoint(bp, keep_paused)
            return released

        return self._act(delete, background=background)

    # --- paused attempts ----------------------------------------------------------------
    def paused(self, workflow: str | None = None, step: str | None = None, instance: int | None = None,
               **loop_params: Any) -> list[Attempt]:
        """Every paused attempt, optionally filtered by workflow, step, instance and loop params."""
        return list(self.scheduler.paused.select(workflow, instance, step, loop_params=loop_params))

    def _many(self, attempts: Attempt | Iterable[Attempt]) -> list[Attempt]:
        items = check.attempts(attempts)
        if not items:
            raise StateError("nothing is paused there; %breakpoint list and `paused` show what is")
        return items

    def resume(self, attempts: Attempt | Iterable[Attempt], *, step: bool = False,
               background: bool = False) -> list[Attempt]:
        """Resume paused attempts (each one alone: others stay paused) and run until quiescent."""
        items = self._many(attempts)

        def release() -> list[Attempt]:
            for a in items:
                self.scheduler._require_paused(a)
                self.scheduler._require_resumable(a)
            for a in items:
                self.scheduler.resume(a, step=step)
            return items

        return self._act(release, background=background)

    def skip(self, attempts: Attempt | Iterable[Attempt], output: Any = MISSING) -> list[Attempt]:
        """End paused attempts SKIPPED; with `output`, successors see it as the step's output."""
        items = self._many(attempts)

        def skip_all() -> list[Attempt]:
            for a in items:
                self.scheduler._require_paused(a)
                if output is not MISSING:
                    self.scheduler._check_storable(a, "output", output)
            for a in items:
                self.scheduler.skip(a, output)
            return items

        return self._act(skip_all)

    def stop_attempts(self, attempts: Attempt | Iterable[Attempt]) -> list[Attempt]:
        """End paused attempts STOPPED; their successors do not run."""
        items = self._many(attempts)

        def stop_all() -> list[Attempt]:
            for a in items:
                self.scheduler._require_paused(a)
            for a in items:
                self.scheduler.stop_attempt(a)
            return items

        return self._act(stop_all)

    def retry(self, attempts: Attempt | Iterable[Attempt]) -> list[Attempt]:
        """Replace paused attempts by new ones, bound afresh and checked against breakpoints again."""
        items = self._many(attempts)

        def retry_all() -> list[Attempt]:
            for a in items:
                self.scheduler._require_paused(a)
            for a in items:
                self.scheduler.retry(a)
            return items

        return self._act(retry_all)

    def fail(self, attempts: Attempt | Iterable[Attempt]) -> list[Attempt]:
        """Let attempts paused at their error fail, as their failure mode says (fail the instance,
        end the step COMPLETED_WITH_ERROR, ...), and run until quiescent."""
        items = self._many(attempts)

        def fail_all() -> list[Attempt]:
            for a in items:
                self.scheduler._require_error_pause(a)
            for a in items:
                self.scheduler.fail(a)
            return items

        return self._act(fail_all)

    def set_param(self, attempt: Attempt, name: str, value: Any, *, force: bool = False) -> None:
        """Change one bound argument of an attempt paused before its step runs (or at its error,
        for the retry). A value of another kind (text for a number) is refused unless `force`."""
        check.attempts(attempt)
        check.text(name, "the param's name")
        if not isinstance(force, bool):
            raise ParamError(f"force is True or False, not {force!r}")
        self._act(lambda: self.scheduler.set_param(attempt, name, value, force), drive=False)

    def set_params(self, attempt: Attempt, values: Mapping[str, Any], *, force: bool = False) -> None:
        """Change several bound arguments at once: each is checked as `set_param` checks it, and
        either all change or (one refused) none does."""
        if not isinstance(force, bool):
            raise ParamError(f"force is True or False, not {force!r}")
        if not isinstance(values, Mapping):
            raise ParamError(f"values is a mapping of param name: value, not {type(values).__name__}")
        items = dict(values)

        def change() -> None:
            for name, value in items.items():
                self.scheduler.check_param(attempt, name, value, force)
            for name, value in items.items():
                self.scheduler.set_param(attempt, name, value, force)

        self._act(change, drive=False)

    # --- approval gates -----------------------------------------------------------------
    def approve(self, attempts: Attempt | Iterable[Attempt], comment: str | None = None, *,
                background: bool = False) -> list[Attempt]:
        """Approve attempts waiting at a gate: the decision and `comment` go to the timeline (the
        `events` view, kind 'gate'), then they go on as resumed ones do."""
        return self._decide(attempts, True, comment, background)

    def reject(self, attempts: Attempt | Iterable[Attempt], comment: str | None = None) -> list[Attempt]:
        """Reject attempts waiting at a gate: the decision and `comment` go to the timeline, then
        they end SKIPPED (their successors see no output)."""
        return self._decide(attempts, False, comment, False)

    def _decide(self, attempts: Attempt | Iterable[Attempt], approve: bool, comment: str | None,
                background: bool) -> list[Attempt]:
        if comment is not None and not isinstance(comment, str):
            raise ParamError(f"comment is text, not {type(comment).__name__}")
        if comment is not None and len(comment) > MAX_COMMENT:
            raise ParamError(f"a comment holds at most {MAX_COMMENT} characters, not {len(comment)}")
        items = self._many(attempts)
        for a in items:
            if not isinstance(a, Attempt):
                raise ParamError(f"expected paused attempts (engine.paused()), not {type(a).__name__}")

        def decide_all() -> list[Attempt]:
            for a in items:
                self.scheduler.require_gate(a, approve)
            for a in items:
                self.scheduler.decide(a, approve, comment)
            return items

        return self._act(decide_all, background=background)

    def call(self, attempt: Attempt) -> Any:
        """Call the step's current function with the attempt's params and return its value. Nothing
        is recorded: the attempt stays paused, as it was. (At a failure to bind, binds afresh.)"""
        fn, params = self.call_target(attempt)
        return fn(**params)

    def call_target(self, attempt: Attempt) -> tuple[Callable[..., Any], dict[str, Any]]:
        """What `call` calls: the step's current function and its keyword arguments."""
        return by_hand.target(self.scheduler, self._paused_attempt(attempt))

    def debug(self, attempt: Attempt, debugger: Callable[[], Any] | None = None) -> Any:
        """Open the post-mortem debugger on the attempt's live traceback; without one (after a
        restart, or a failure to bind), run the step's current function under the debugger with
        the attempt's params. `debugger` makes a pdb.Pdb-like debugger (default: pdb.Pdb)."""
        if debugger is not None and not callable(debugger):
            raise ParamError(f"debugger makes a pdb.Pdb-like debugger (a class such as pdb.Pdb), "
                             f"not {type(debugger).__name__}")
        return by_hand.debug(self.scheduler, self._paused_attempt(attempt), debugger)

    def _paused_attempt(self, attempt: Any) -> Attempt:
        if not isinstance(attempt, Attempt):
            raise ParamError(f"expected a paused attempt (engine.paused()[0]), not {type(attempt).__name__}")
        self.scheduler._require_paused(attempt)
        return attempt

    def set_output(self, attempt: Attempt, value: Any) -> None:
        """Change the output of an attempt paused after its step ran."""
        check.attempts(attempt)
        self._act(lambda: self.scheduler.set_output(attempt, value), drive=False)

    def flush(self) -> None:
        """Write every pending change to the state file now (on the driving thread, if one runs)."""
        self._act(self.scheduler.flush, drive=False)

    # --- reading ------------------------------------------------------------------------
    def panel(self, workflow: str | None = None, instance: int | None = None, **options: Any) -> Any:
        """The live workflow panel (ipywidgets) over this engine: an instance (the latest by
        default) with its DAG, progress, paused attempts, breakpoints and approval gates."""
        from ..panel import Panel  # a face over the engine: imported only when asked for

        return Panel(self, workflow, instance, **options)

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """Run SQL over the state (views: workflows, instances, steps, iterations, attempts,
        events, breakpoints) and return a pandas DataFrame."""
        check.text(query, "query")
        if not self.busy:
            self.flush()
        return self.store.query(query, params)

    def results(self, workflow: str, step: str, instance: int | None = None) -> Any:
        """A DataFrame, one row per iteration of a step (per iteration and body step for a foreach
        of steps): its loop params as it ran with them, status, attempt, `changed` (the params a
        user changed, when any was) and the output's fields."""
        check.text(step, "step")
        definition = self.definition(workflow)
        definition.step(step)
        inst = self.instance(workflow, instance)
        inst.definition.step(step)
        if not self.busy:
            self.flush()
        return results_frame(self, inst, step)

    def _status_word(self, instance: Instance) -> str:
        if instance.status is InstanceStatus.IN_PROGRESS and any(
                self.scheduler.paused.count_in(each.workflow, each.instance_id)
                for each in (instance, *descendants(instance))):
            return "paused"
        return instance.status.value

    def status_word(self, instance: Instance) -> str:
        """The instance status as users see it: 'paused' for an IN_PROGRESS instance with pauses."""
        return self._status_word(instance)

    def step_status(self, workflow: str, step: str, instance: int | None = None) -> str:
        """A step's status in an instance (the latest by default), as the `steps` view has it:
        PAUSED while an iteration is paused, its ending once it ended (or BLOCKED behind a failed
        step), RUNNING in between, and NOT_CREATED before it starts in the current run."""
        self.definition(workflow).step(step)
        if instance is not None and (isinstance(instance, bool) or not isinstance(instance, int)):
            raise ParamError(f"instance is a whole number, not {instance!r}", workflow=workflow)
        inst = self.instance(workflow, instance)
        if not self.busy:
            self.flush()
        frame = self.store.query("SELECT status FROM steps WHERE workflow = ? AND instance_id = ? AND step_id = ?",
                                 [workflow, inst.instance_id, step])
        return str(frame.status[0]) if len(frame) else StepStatus.NOT_CREATED.value

    def progress(self, instance: Instance) -> list[tuple[str, str, int, str | None]]:
        """(step, status, iterations, first error line) for every step of `instance` that has begun."""
        if not self.busy:
            self.flush()
        return self.store.step_progress(instance.workflow, instance.instance_id)

    def close(self) -> None:
        """Flush and close the state file."""
        if self._driver is not None:
            self.wait()
        if not self.read_only:
            self.scheduler.flush()
        self.scheduler.executor.shutdown()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
