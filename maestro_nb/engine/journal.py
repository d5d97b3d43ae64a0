"""The write side of the scheduler: changes are queued here and flushed in bulk.

Mixed into Scheduler. Nothing is written per transition: an attempt is queued once until the
next flush, which appends one Arrow batch per table.
"""

from __future__ import annotations

import time
from typing import Any

from ..store import Store, ValueCodec
from ..store.store import now
from ..store.values import clean_text, safe_json
from .runtime import Attempt, Instance, Node, parent_ref

__all__ = ["Journal"]


class Journal:
    def __init__(self, store: Store, codec: ValueCodec):
        self.store = store
        self.codec = codec
        self._dirty: list[Attempt] = []
        self._dirty_instances: dict[Instance, None] = {}
        self._events: list[tuple] = []
        self._not_created: list[tuple] = []  # attempt rows marking iterations a new run will redo
        self._last_flush = time.monotonic()
        self._pause_pending = False
        self.revision = 0  # counts changes, so that a display can tell cheaply whether to redraw

    def journal(self, attempt: Attempt) -> None:
        self.revision += 1
        if not attempt.queued:
            attempt.queued = True
            self._dirty.append(attempt)

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

    def flush(self) -> None:
        """Write every change since the last flush: one bulk append per table, in one transaction.
        If the write fails (or is interrupted), everything stays queued for the next flush."""
        dirty, self._dirty = self._dirty, []
        instances = list(self._dirty_instances)
        self._dirty_instances.clear()
        events, self._events = self._events, []
        marks, self._not_created = self._not_created, []
        try:
            self._write(dirty, instances, events, marks)
        except BaseException:
            for a in dirty:
                a.queued = True
            self._dirty = dirty + self._dirty
            self._dirty_instances = dict.fromkeys(instances) | self._dirty_instances
            self._events = events + self._events
            self._not_created = marks + self._not_created
            raise
        for a in dirty:
            a.queued = False
        self._last_flush = time.monotonic()
        self._pause_pending = False

    def _write(self, dirty: list[Attempt], instances: list[Instance], events: list[tuple],
               marks: list[tuple]) -> None:
        rows = []
        if marks:  # before the run's own rows: an attempt written in the same flush comes after
            first = self.store.next_seq(len(marks))
            rows += [(first + i,) + mark[1:] for i, mark in enumerate(marks)]
        if dirty:
            first = self.store.next_seq(len(dirty))
            encode, encode_params = self.codec.encode, self.codec.encode_params
            for offset, a in enumerate(dirty):
                inst = a.instance
                loop_params, params = a.loop_params, a.params
                loop_text = encode_params(loop_params)
                # A step bound to its loop params alone: the same JSON text, encoded once.
                same = params == loop_params and (len(params) < 2 or list(params) == list(loop_params))
                error = a.error
                rows.append((
                    first + offset, inst.workflow, inst.instance_id, inst.run_id, a.node.step.id,
                    a.iteration, loop_text, a.number,
                    a.status.value, a.pause_point, sorted(a.paused_by) if a.paused_by else None,
                    loop_text if same else encode_params(params), encode(a.output),
                    None if error is None else clean_text(error.message), a.transition_names(), a.times,
                    None if error is None else clean_text(error.type),
                    None if error is None else clean_text(error.traceback),
                    sorted(a.changed) if a.changed else None,
                ))
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
        self.store.append_together(
            [("attempt_log", rows), ("event_log", events), ("instance_log", inst_rows)]
        )
