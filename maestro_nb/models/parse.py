"""Turn YAML text or a dict into a validated WorkflowDefinition; nothing is stored here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import networkx as nx

from ..errors import DefinitionError, ExpressionError, nearest
from .definition import (
    STEP_KINDS,
    FailureMode,
    Foreach,
    RetryPolicy,
    StepDefinition,
    WorkflowDefinition,
)
from .expressions import Expression, parse_template

__all__ = ["parse_definition", "WORKFLOW_KEYS", "STEP_KEYS"]

WORKFLOW_KEYS = ("description", "params", "steps", "failure_mode")
STEP_KEYS = ("id", "description", "after", "if", "params", "foreach", "concurrency", "retry",
             "failure_mode") + STEP_KINDS
RETRY_KEYS = ("limit", "backoff")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _position(node: Any, key: Any = None) -> tuple[int | None, int | None]:
    """1-based (line, column) of a ruamel node, or of one of its keys."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None, None
    try:
        line, column = lc.key(key) if key is not None else (lc.line, lc.col)
    except (KeyError, IndexError, TypeError):
        line, column = lc.line, lc.col
    return line + 1, column + 1


class _Parser:
    def __init__(self, name: str):
        self.workflow = name
        self.seen: set[str] = set()

    def fail(self, message: str, node: Any = None, key: Any = None, step: str | None = None) -> None:
        line, column = _position(node, key) if node is not None else (None, None)
        raise DefinitionError(message, workflow=self.workflow, step=step, line=line, column=column)

    def check_keys(self, node: Mapping, allowed: tuple[str, ...], what: str, step: str | None = None) -> None:
        for key in node:
            if key not in allowed:
                hint = nearest(str(key), allowed)
                suggestion = f"; did you mean {hint!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                self.fail(f"unknown key {key!r} in {what}{suggestion}", node, key, step)

    def expression(self, value: Any, node: Any, key: Any, step: str | None) -> Any:
        try:
            return parse_template(value)
        except ExpressionError as exc:
            self.fail(f"{key}: {exc.message}", node, key, step)

    def values(self, value: Any, node: Any, key: Any, step: str | None) -> Any:
        """Plain data with every `${...}` string inside it compiled, recursively."""
        if isinstance(value, Mapping):
            return MappingProxyType({k: self.values(v, value, k, step) for k, v in value.items()})
        if isinstance(value, list):
            return [self.values(v, node, key, step) for v in value]
        return self.expression(value, node, key, step)

    def workflow_body(self, data: Any) -> WorkflowDefinition:
        if not isinstance(data, Mapping):
            self.fail(f"a workflow definition is a mapping with a 'steps' list, not {type(data).__name__}", data)
        self.check_keys(data, WORKFLOW_KEYS, "the workflow")
        if "steps" not in data:
            self.fail("the workflow has no 'steps' list", data)
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            self.fail("params must be a mapping of name: default value", data, "params")
        for pname in params:
            if not isinstance(pname, str) or not IDENTIFIER.match(pname):
                self.fail(f"param name {pname!r} is not a valid identifier", params, pname)
            if isinstance(params[pname], str) and "${" in params[pname]:
                self.fail(f"param {pname!r}: workflow param defaults cannot be expressions", params, pname)
        description = data.get("description") or ""
        if not isinstance(description, str):
            self.fail("description must be text", data, "description")
        failure_mode = self.failure_mode(data, None, FailureMode.FAIL_IMMEDIATELY)
        steps = self.steps(data["steps"], data, "steps", None, failure_mode)
        return WorkflowDefinition(
            name=self.workflow,
            steps=steps,
            params=MappingProxyType(_plain(params)),
            description=str(description),
            failure_mode=failure_mode,
        )

    def failure_mode(self, node: Mapping, step: str | None, default: FailureMode) -> FailureMode:
        if "failure_mode" not in node:
            return default
        value = node["failure_mode"]
        try:
            return FailureMode(value)
        except ValueError:
            allowed = [m.value for m in FailureMode]
            hint = nearest(str(value), allowed)
            self.fail(
                f"failure_mode {value!r} is not one of {', '.join(allowed)}"
                + (f"; did you mean {hint!r}?" if hint else ""),
                node, "failure_mode", step,
            )

    def steps(self, items: Any, parent_node: Any, key: str, parent: str | None,
              failure_mode: FailureMode) -> tuple[StepDefinition, ...]:
        where = "the workflow" if parent is None else f"foreach step {parent!r}"
        if not isinstance(items, list) or not items:
            self.fail(f"'steps' of {where} must be a non-empty list of steps", parent_node, key, parent)
        steps = tuple(self.step(item, items, i, failure_mode) for i, item in enumerate(items))
        ids = [s.id for s in steps]
        for step, item in zip(steps, items):
            for upstream in step.after:
                if upstream not in ids:
                    hint = nearest(upstream, ids)
                    self.fail(
                        f"step {step.id!r} runs after unknown step {upstream!r}"
                        + (f"; did you mean {hint!r}?" if hint else "")
                        + ("" if parent is None else f" (after names steps inside {where})"),
                        item, "after", step.id,
                    )
                if upstream == step.id:
                    self.fail(f"step {step.id!r} cannot run after itself", item, "after", step.id)
        dag = nx.DiGraph()
        dag.add_nodes_from(ids)
        dag.add_edges_from((u, s.id) for s in steps for u in s.after)
        try:
            cycle = nx.find_cycle(dag)
        except nx.NetworkXNoCycle:
            return steps
        path = [edge[0] for edge in cycle] + [cycle[0][0]]
        first = items[ids.index(path[0])]
        self.fail(f"cycle in {where}: {' -> '.join(path)}", first, "after", path[0])

    def step(self, item: Any, items: list, position: int, failure_mode: FailureMode) -> StepDefinition:
        if not isinstance(item, Mapping):
            self.fail(f"step #{position + 1} must be a mapping with an 'id', not {type(item).__name__}", items)
        step_id = item.get("id")
        if step_id is None:
            self.fail(f"step #{position + 1} has no 'id'", item)
        if not isinstance(step_id, str) or not IDENTIFIER.match(step_id):
            self.fail(f"step id {step_id!r} must be an identifier (letters, digits, _)", item, "id")
        if step_id in self.seen:
            self.fail(f"duplicate step id {step_id!r}; step ids are unique across the workflow", item, "id", step_id)
        self.seen.add(step_id)
        self.check_keys(item, STEP_KEYS, f"step {step_id!r}", step_id)
        kinds = [k for k in STEP_KINDS if k in item]
        if not kinds:
            self.fail(f"step {step_id!r} needs one of: {', '.join(STEP_KINDS[:-1])}", item, None, step_id)
        if len(kinds) > 1:
            self.fail(f"step {step_id!r} has both {kinds[0]!r} and {kinds[1]!r}; give one", item, kinds[1], step_id)
        kind = kinds[0]
        target = item[kind]
        if kind == "run" and (not isinstance(target, str) or not IDENTIFIER.match(target)):
            self.fail(f"step {step_id!r}: run names a callable in the kernel, e.g. run: train", item, kind, step_id)
        if kind in ("sql", "workflow") and (not isinstance(target, str) or not target.strip()):
            self.fail(f"step {step_id!r}: {kind} must be text", item, kind, step_id)
        if kind == "workflow" and not NAME.match(target):
            self.fail(f"step {step_id!r}: {target!r} is not a workflow name", item, kind, step_id)
        if kind == "sleep" and (isinstance(target, bool) or not isinstance(target, (int, float)) or target < 0):
            self.fail(f"step {step_id!r}: sleep takes a number of seconds >= 0", item, kind, step_id)
        if kind == "noop":
            target = None
        if kind == "steps" and "foreach" not in item:
            self.fail(f"step {step_id!r}: a list of 'steps' is the body of a foreach; add 'foreach'", item, kind, step_id)

        after = item.get("after", [])
        if isinstance(after, str):
            after = [after]
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            self.fail(f"step {step_id!r}: after must be a step id or a list of step ids", item, "after", step_id)
        if len(set(after)) != len(after):
            self.fail(f"step {step_id!r}: after lists a step twice", item, "after", step_id)

        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            self.fail(f"step {step_id!r}: params must be a mapping of argument: value", item, "params", step_id)
        for pname in params:
            if not isinstance(pname, str) or not IDENTIFIER.match(pname):
                self.fail(f"step {step_id!r}: param name {pname!r} is not an identifier", params, pname, step_id)
        bound = MappingProxyType({k: self.values(v, params, k, step_id) for k, v in params.items()})

        condition = None
        if "if" in item:
            condition = self.expression(item["if"], item, "if", step_id)
            if not isinstance(condition, Expression):
                self.fail(f"step {step_id!r}: if takes an expression, e.g. if: ${{x > 1}}", item, "if", step_id)

        foreach = None
        if "foreach" in item:
            foreach = self.foreach(item, step_id)
        elif "concurrency" in item:
            self.fail(f"step {step_id!r}: concurrency applies to a foreach step", item, "concurrency", step_id)

        retry = self.retry(item, step_id)
        mode = self.failure_mode(item, step_id, failure_mode)
        body: tuple[StepDefinition, ...] = ()
        if kind == "steps":
            body = self.steps(target, item, "steps", step_id, mode)
            target = None
        description = item.get("description") or ""
        line, _ = _position(item)
        return StepDefinition(
            id=step_id, kind=kind, target=target.strip() if kind == "sql" else target,
            after=tuple(after), params=bound, condition=condition, foreach=foreach, body=body,
            retry=retry, failure_mode=mode, description=str(description), line=line,
        )

    def foreach(self, item: Mapping, step_id: str) -> Foreach:
        spec = item["foreach"]
        concurrency = item.get("concurrency")
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1):
            self.fail(f"step {step_id!r}: concurrency must be a whole number >= 1", item, "concurrency", step_id)
        if isinstance(spec, str):
            items = self.expression(spec, item, "foreach", step_id)
            if not isinstance(items, Expression):
                self.fail(f"step {step_id!r}: foreach takes a mapping of loop params, a list of dicts, or an expression", item, "foreach", step_id)
            return Foreach(items=items, concurrency=concurrency)
        if isinstance(spec, list):
            if not spec or not all(isinstance(x, Mapping) and x for x in spec):
                self.fail(f"step {step_id!r}: a foreach list must hold non-empty mappings of loop params", item, "foreach", step_id)
            for entry in spec:
                for name in entry:
                    self.loop_name(name, entry, step_id)
            return Foreach(items=tuple(MappingProxyType(_plain(x)) for x in spec), concurrency=concurrency)
        if not isinstance(spec, Mapping) or not spec:
            self.fail(f"step {step_id!r}: foreach takes a mapping of loop params, e.g. foreach: {{lr: [0.1, 0.2]}}", item, "foreach", step_id)
        loops = []
        for name, values in spec.items():
            self.loop_name(name, spec, step_id)
            values = self.expression(values, spec, name, step_id)
            if isinstance(values, Expression):
                loops.append((name, values))
                continue
            if not isinstance(values, list) or not values:
                self.fail(f"step {step_id!r}: loop param {name!r} needs a non-empty list or an expression such as ${{range(10)}}", spec, name, step_id)
            loops.append((name, tuple(_plain(values))))
        return Foreach(loops=tuple(loops), concurrency=concurrency)

    def loop_name(self, name: Any, node: Any, step_id: str) -> None:
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            self.fail(f"step {step_id!r}: loop param {name!r} is not an identifier", node, name, step_id)

    def retry(self, item: Mapping, step_id: str) -> RetryPolicy:
        spec = item.get("retry")
        if spec is None:
            return RetryPolicy()
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = {"limit": spec}
        if not isinstance(spec, Mapping):
            self.fail(f"step {step_id!r}: retry takes a mapping such as {{limit: 2}}", item, "retry", step_id)
        self.check_keys(spec, RETRY_KEYS, f"retry of step {step_id!r}", step_id)
        limit = spec.get("limit", 0)
        backoff = spec.get("backoff", 0.0)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            self.fail(f"step {step_id!r}: retry limit must be a whole number >= 0", spec, "limit", step_id)
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 0:
            self.fail(f"step {step_id!r}: retry backoff must be seconds >= 0", spec, "backoff", step_id)
        return RetryPolicy(limit=limit, backoff=float(backoff))


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _load_yaml(name: str, text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise DefinitionError(
            f"invalid YAML: {problem}", workflow=name,
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from None
    except YAMLError as exc:
        raise DefinitionError(f"invalid YAML: {str(exc).splitlines()[0]}", workflow=name) from None


def parse_definition(name: str, source: str | Mapping[str, Any]) -> WorkflowDefinition:
    """Parse and validate a definition from YAML text or a dict."""
    if not isinstance(name, str) or not NAME.match(name):
        raise DefinitionError(f"workflow name {name!r} must start with a letter and hold only letters, digits, _ and -")
    if isinstance(source, str):
        if not source.strip():
            raise DefinitionError("the workflow definition is empty; give at least a 'steps' list", workflow=name)
        data = _load_yaml(name, source)
    elif isinstance(source, Mapping):
        data = source
    else:
        raise DefinitionError(f"a definition is YAML text or a dict, not {type(source).__name__}", workflow=name)
    definition = _Parser(name).workflow_body(data)
    _check_references(definition)
    canonical = json.dumps(_plain(data), sort_keys=True, default=str)
    text = source if isinstance(source, str) else canonical
    return _with(definition, source=text, digest=hashlib.sha256(canonical.encode()).hexdigest()[:16])


def _with(definition: WorkflowDefinition, **changes: Any) -> WorkflowDefinition:
    from dataclasses import replace

    return replace(definition, **changes)


def _expressions(step: StepDefinition) -> list[tuple[str, Expression]]:
    found: list[tuple[str, Expression]] = []

    def walk(where: str, value: Any) -> None:
        if isinstance(value, Expression):
            found.append((where, value))
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(where, v)
        elif isinstance(value, list):
            for v in value:
                walk(where, v)

    for pname, value in step.params.items():
        walk(f"param {pname!r}", value)
    if step.condition is not None:
        found.append(("if", step.condition))
    if step.foreach is not None:
        for lname, values in step.foreach.loops:
            walk(f"loop param {lname!r}", values)
        walk("foreach", step.foreach.items)
    return found


def _check_references(definition: WorkflowDefinition) -> None:
    """Every name an expression reads is a workflow param, an upstream step or a loop param."""
    for step_id in definition.step_ids:
        step = definition.step(step_id)
        visible = set(definition.params)
        upstream = set()
        chain = definition.enclosing(step_id) + (step_id,)
        for level, sid in enumerate(chain):
            parent = chain[level - 1] if level else None
            upstream |= nx.ancestors(definition.graph(parent), sid)
            if sid != step_id:
                visible |= set(definition.step(sid).foreach.names)
        visible |= upstream
        own_loops = set(step.foreach.names) if step.foreach else set()
        for where, expr in _expressions(step):
            sees = visible | (own_loops if where in ("if",) or where.startswith("param") else set())
            for name in sorted(expr.names - sees):
                if name in definition.step_ids:
                    problem = f"step {name!r} is not upstream of {step_id!r}; add it to 'after'"
                else:
                    hint = nearest(name, sees)
                    problem = f"unknown name {name!r}" + (f"; did you mean {hint!r}?" if hint else "")
                raise ExpressionError(
                    f"step {step_id!r}, {where}: ${{{expr.source}}}: {problem}",
                    workflow=definition.name, step=step_id, line=step.line,
                )
