"""The write side of the scheduler: changes are queued here and flushed in bulk.

Mixed into Scheduler. Nothing is written per transition: an attempt is queued once until the
next flush, which appends one Arrow batch per table. An attempt that ends is taken out of the
queue at once, as a record of its last state: the attempt itself is not kept alive for the
flush, so a sweep leaves the garbage collector next to nothing to promote and scan.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from operator import itemgetter
from typing import Any

from ..models.definition import PLAIN
from ..store import Store, ValueCodec
from ..store.store import Columns, now
from ..store.values import clean_text, safe_json
from .runtime import Attempt, Instance, Node, parent_ref

__all__ = ["Journal"]


class Journal:
    def __init__(self, store: Store, codec: ValueCodec):
        self.store = store
        self.codec = codec
        self._dirty: dict[Attempt, None] = {}  # attempts changed since the last flush, not ended
        self._ended: list[tuple] = []  # records of attempts that ended since then (see `_record`)
        self._dirty_instances: dict[Instance, None] = {}
        self._events: list[tuple] = []
        self._not_created: list[tuple] = []  # attempt rows marking iterations a new run will redo
        self._writing: tuple[Future[None], list[tuple[str, list[tuple]]]] | None = None  # a write left behind
        self._unwritten: list[tuple[str, list[tuple]]] = []  # the rows of one that failed
        self._last_flush = time.monotonic()
        self._pause_pending = False
        self.revision = 0  # counts changes, so that a display can tell cheaply whether to redraw

    def journal(self, attempt: Attempt) -> None:
        self.revision += 1
        if attempt.status.terminal:  # its last change: recorded now, the attempt need not be kept
            if attempt.queued is not _ENDED:
                self._dirty.pop(attempt, None)
                attempt.queued = _ENDED
                self._ended.append(self._record(attempt))
        elif not attempt.queued:
            attempt.queued = True
            self._dirty[attempt] = None

    def _record(self, a: Attempt) -> tuple:
        """An attempt's row as it is now, but for its seq and the encoding of its output (done by
        the flush, which stages table outputs in its own transaction). Loop params and params of
        plain values (which cannot change) are encoded here; others are kept, encoded then.
        Params None: the same as the loop params (a step bound to them alone)."""
        inst = a.instance
        loop_params, params = a.loop_params, a.params
        plain = a.node.plain_loops or PLAIN.issuperset(map(type, loop_params.values()))
        loop = self.codec.encode_params(loop_params) if plain else dict(loop_params)
        if params == loop_params and (len(params) < 2 or list(params) == list(loop_params)):
            bound = None
        elif PLAIN.issuperset(map(type, params.values())):
            bound = self.codec.encode_params(params)
        else:
            bound = dict(params)
        error = a.error
        # `status._value_`: the member's own attribute, where `.value` is a property call.
        return (
            inst.workflow, inst.instance_id, inst.run_id, a.node.step.id, a.iteration, loop, a.number,
            a.status._value_, a.pause_point, sorted(a.paused_by) if a.paused_by else None, bound, a.output,
            None if error is None else clean_text(error.message), a.transition_names(), tuple(a.times),
            None if error is None else clean_text(error.type),
            None if error is None else clean_text(error.traceback),
            sorted(a.changed) if a.changed else None,
        )

    def journal_instance(self, instance: Instance) -> None:
        self.revision += 1
        self._dirty_instances[instance] = None

    def not_created(self, instance: Instance, iterations: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Record, in the instance's new run, that these (step, iteration, loop params) will run
        again: until their first attempt exists they read NOT_CREATED, not the old run's result.
        Written with the new run's instance row, in one transaction."""
        at = [time.time()]
        for step_id, iteration, loop_params in iterations:
            self._not_created.append((
                None, instance.workflow, instance.instance_id, instance.run_id, step_id, iteration,
                self.codec.encode_params(loop_params), 0, "NOT_CREATED", None, None, None,
                None, None, ["NOT_CREATED"], at, None, None, None,
            ))

    def event(self, kind: str, detail: dict[str, Any], instance: Instance | None = None,
              attempt: Attempt | None = None, workflow: str | None = None,
              node: Node | None = None, iteration: str | None = None) -> None:
        """Record a timeline event about an attempt, a step (node, or one `iteration` of it), an
        instance or a workflow."""
        self.revision += 1
        step_id = iteration = number = None
        if attempt is not None:
            instance = attempt.instance
            step_id, iteration, number = attempt.step_id, attempt.iteration, attempt.number
        elif node is not None:
            instance = node.frame.instance
            step_id, iteration = node.step.id, node.frame.path if iteration is None else iteration
        self._events.append((
            None, now(), instance.workflow if instance else workflow,
            instance.instance_id if instance else None, instance.run_id if instance else None,
            step_id, iteration, number, kind, safe_json(detail),
        ))

    def flush(self, *, behind: bool = False) -> None:
        """Write every change since the last flush: one bulk append per table, in one transaction.
        If the write fails (or is interrupted), everything stays queued for the next flush.

        `behind`: the rows are numbered and built here, and the store's writer thread inserts and
        commits them while the run goes on (DuckDB does that without the GIL). The next flush
        waits for that write; if it failed, that flush raises its error and the one after
        writes its rows."""
        self._wait_for_write()
        dirty, self._dirty = self._dirty, {}
        ended, self._ended = self._ended, []
        instances = list(self._dirty_instances)
        self._dirty_instances.clear()
        events, self._events = self._events, []
        marks, self._not_created = self._not_created, []
        unwritten, self._unwritten = self._unwritten, []
        try:
            batches = self._rows(ended + [self._record(a) for a in dirty], instances, events, marks)
            if unwritten:  # numbered before these: they go first
                batches = [(table, earlier + rows) for (table, earlier), (_, rows) in zip(unwritten, batches)]
            if behind:
                self._writing = (self.store.append_behind(batches), batches)
            else:
                self.store.append_together(batches)
        except BaseException:
            self._dirty = dirty | self._dirty
            self._ended = ended + self._ended
            self._dirty_instances = dict.fromkeys(instances) | self._dirty_instances
            self._events = events + self._events
            self._not_created = marks + self._not_created
            self._unwritten = unwritten
            raise
        for a in dirty:
            a.queued = False
        self._last_flush = time.monotonic()
        self._pause_pending = False

    def _wait_for_write(self) -> None:
        """Wait for the write the last flush left behind; if it failed, raise its error and keep
        its rows for the next flush."""
        if self._writing is None:
            return
        future, batches = self._writing
        try:
            future.result()
        except BaseException:
            if not future.done():  # interrupted while waiting: the write is still going on
                raise
            self._writing = None
            self._unwritten = batches
            raise
        self._writing = None

    def _rows(self, records: list[tuple], instances: list[Instance], events: list[tuple],
              marks: list[tuple]) -> list[tuple[str, list[tuple] | Columns]]:
        """A flush's rows, numbered, by table: always these three tables, in this order (the
        attempts as Columns)."""
        attempts = Columns([])
        if marks:  # before the run's own rows: an attempt written in the same flush comes after
            first = self.store.next_seq(len(marks))
            attempts = Columns.of_rows([(first + i,) + mark[1:] for i, mark in enumerate(marks)])
        if records:
            attempts += self._attempt_columns(self.store.next_seq(len(records)), records)
        inst_rows = []
        if instances:
            first = self.store.next_seq(len(instances))
            for offset, inst in enumerate(instances):
                inst_rows.append((
                    first + offset, inst.workflow, inst.instance_id, inst.version, inst.run_id,
                    inst.status.value, self.codec.encode_params(inst.params),
                    parent_ref(inst.parent) if inst.parent is not None else None, now(),
                ))
        if events:
            first = self.store.next_seq(len(events))
            events = [(first + i,) + e[1:] for i, e in enumerate(events)]
        return [("attempt_log", attempts), ("event_log", events), ("instance_log", inst_rows)]

    def _attempt_columns(self, first: int, records: list[tuple]) -> Columns:
        """The records' attempt_log rows, numbered from `first`, column by column: a column is
        taken out of all the records at once, with no tuple built per row."""
        columns: list[Any] = [list(map(field, records)) for field in _RECORD_FIELDS]
        loops, bounds, outputs = columns[_LOOP], columns[_PARAMS], columns[_OUTPUT]
        encode, encode_params = self.codec.encode, self.codec.encode_params
        if _TEXT.issuperset(map(type, loops)) and _TEXT_OR_NONE.issuperset(map(type, bounds)):
            # The usual case: params encoded when recorded; only outputs are encoded here.
            columns[_PARAMS] = [loop if bound is None else bound for loop, bound in zip(loops, bounds)]
            columns[_OUTPUT] = ["null" if output is None else encode(output) for output in outputs]
        else:  # row by row, in order: a value encoded here may be a table, named in that order
            for k, (loop, bound, output) in enumerate(zip(loops, bounds, outputs)):
                loop = loops[k] = loop if type(loop) is str else encode_params(loop)
                bounds[k] = loop if bound is None else bound if type(bound) is str else encode_params(bound)
                outputs[k] = encode(output)
        return Columns([range(first, first + len(records)), *columns])


_ENDED = 2  # `Attempt.queued` of an attempt whose last record is taken (truthy: never queued again)
_LOOP, _PARAMS, _OUTPUT = 5, 10, 11  # positions in a record of what the flush may still encode
_RECORD_FIELDS = tuple(itemgetter(k) for k in range(18))  # a record is an attempt_log row but its seq
_TEXT = frozenset({str})
_TEXT_OR_NONE = frozenset({str, type(None)})
