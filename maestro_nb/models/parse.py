"""Turn YAML text or a dict into a validated WorkflowDefinition; nothing is stored here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Set
from dataclasses import replace
from types import MappingProxyType
from typing import Any, NoReturn

from ..errors import DefinitionError, ExpressionError, nearest
from .definition import (
    MAX_ITERATIONS,
    MAX_ITERATIONS_CEILING,
    STEP_KINDS,
    FailureMode,
    Foreach,
    RetryPolicy,
    StepDefinition,
    WorkflowDefinition,
)
from .expressions import Expression, parse_template
from .graph import DiGraph

__all__ = ["parse_definition", "WORKFLOW_KEYS", "STEP_KEYS", "MAX_DEFINITION_CHARS", "MAX_DEFINITION_VALUES",
           "MAX_DEFINITION_DEPTH"]

WORKFLOW_KEYS = ("description", "params", "steps", "failure_mode")
STEP_KEYS = ("id", "description", "after", "if", "params", "foreach", "concurrency", "max_iterations", "retry",
             "failure_mode") + STEP_KINDS
RETRY_KEYS = ("limit", "backoff", "platform_limit")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")

Position = tuple[int | None, int | None]


def _position(node: Any, key: Any = None, item: int | None = None) -> Position:
    """1-based (line, column) of a ruamel node, of one of its keys, or of one of its items."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None, None
    try:
        if item is not None:
            line, column = lc.item(item)
        elif key is not None:
            line, column = lc.key(key)
        else:
            line, column = lc.line, lc.col
    except (KeyError, IndexError, TypeError):
        line, column = lc.line, lc.col
    return line + 1, column + 1


def _kind_of(value: Any) -> str:
    """What a YAML value is, in YAML's words, for messages."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


def _is_list(value: Any) -> bool:
    """A YAML sequence, or a list or tuple given through the Python API."""
    return isinstance(value, (list, tuple))


class _Parser:
    """One parse of one definition: remembers the step ids seen and where expressions are."""

    def __init__(self, name: str):
        self.workflow = name
        self.seen: set[str] = set()
        self.positions: dict[int, Position] = {}  # id(Expression) -> where it was written

    def fail(self, message: str, node: Any = None, key: Any = None, step: str | None = None,
             *, item: int | None = None, error: type[DefinitionError] = DefinitionError) -> NoReturn:
        line, column = _position(node, key, item) if node is not None else (None, None)
        raise error(message, workflow=self.workflow, step=step, line=line, column=column)

    def check_keys(self, node: Mapping, allowed: tuple[str, ...], what: str, step: str | None = None) -> None:
        for key in node:
            if key not in allowed:
                hint = nearest(str(key), allowed)
                suggestion = f"; did you mean {hint!r}?" if hint else f"; allowed: {', '.join(allowed)}"
                self.fail(f"unknown key {key!r} in {what}{suggestion}", node, key, step)

    def expression(self, value: Any, node: Any, key: Any, step: str, where: str) -> Any:
        """`value` compiled if it is a `${...}` string; a bad one fails naming step and field."""
        try:
            parsed = parse_template(value)
        except ExpressionError as exc:
            self.fail(f"step {step!r}, {where}: {exc.message}", node, key, step, error=ExpressionError)
        if isinstance(parsed, Expression):
            self.positions[id(parsed)] = _position(node, key)
        return _scalar(parsed)

    def values(self, value: Any, node: Any, key: Any, step: str, where: str) -> Any:
        """Plain data with every `${...}` string inside it compiled, recursively."""
        if isinstance(value, Mapping):
            return MappingProxyType({k: self.values(v, value, k, step, where) for k, v in value.items()})
        if _is_list(value):
            return [self.values(v, node, key, step, where) for v in value]
        return self.expression(value, node, key, step, where)

    def workflow_body(self, data: Any) -> WorkflowDefinition:
        if data is None:
            self.fail("the workflow definition is empty; give at least a 'steps' list")
        if not isinstance(data, Mapping):
            self.fail(f"a workflow definition is a mapping with a 'steps' list, not {_kind_of(data)}", data)
        self.check_keys(data, WORKFLOW_KEYS, "the workflow")
        if "steps" not in data:
            self.fail("the workflow has no 'steps' list", data)
        params = data.get("params")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            self.fail(f"params must be a mapping of name: default value, not {_kind_of(params)}", data, "params")
        for pname in params:
            if not isinstance(pname, str) or not IDENTIFIER.match(pname):
                self.fail(f"param name {pname!r} is not a valid identifier", params, pname)
            if isinstance(params[pname], str) and "${" in params[pname]:
                self.fail(f"param {pname!r}: workflow param defaults cannot be expressions", params, pname)
        description = data.get("description") or ""
        if not isinstance(description, str):
            self.fail("description must be text", data, "description")
        failure_mode = self.failure_mode(data, None, FailureMode.FAIL_AFTER_RUNNING)
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
        allowed = [m.value for m in FailureMode]
        if isinstance(value, str) and value in allowed:
            return FailureMode(value)
        hint = nearest(str(value), allowed)
        self.fail(
            ("" if step is None else f"step {step!r}: ")
            + f"failure_mode {value!r} is not one of {', '.join(allowed)}"
            + (f"; did you mean {hint!r}?" if hint else ""),
            node, "failure_mode", step,
        )

    def steps(self, items: Any, parent_node: Any, key: str, parent: str | None,
              failure_mode: FailureMode) -> tuple[StepDefinition, ...]:
        where = "the workflow" if parent is None else f"foreach step {parent!r}"
        if not _is_list(items) or not items:
            self.fail(f"'steps' of {where} must be a non-empty list of steps, not {_kind_of(items)}",
                      parent_node, key, parent)
        steps = tuple(self.step(item, items, i, failure_mode) for i, item in enumerate(items))
        ids = [s.id for s in steps]
        known = set(ids)
        for step, item in zip(steps, items):
            for upstream in step.after:
                if upstream == step.id:
                    self.fail(f"step {step.id!r} cannot run after itself", item, "after", step.id)
                if upstream not in known:
                    hint = nearest(upstream, ids)
                    self.fail(
                        f"step {step.id!r} runs after unknown step {upstream!r}"
                        + (f"; did you mean {hint!r}?" if hint else "")
                        + ("" if parent is None else f" (after names steps inside {where})"),
                        item, "after", step.id,
                    )
        dag: DiGraph[str] = DiGraph()
        for sid in ids:
            dag.add_node(sid)
        dag.add_edges((u, s.id) for s in steps for u in s.after)
        cycle = dag.find_cycle()
        if cycle is None:
            return steps
        nodes = [edge[0] for edge in cycle]
        start = min(range(len(nodes)), key=lambda i: ids.index(nodes[i]))  # the first one defined
        nodes = nodes[start:] + nodes[:start]
        path = nodes + [nodes[0]]
        first = items[ids.index(path[0])]
        self.fail(f"cycle in {where}: {' -> '.join(path)}", first, "after", path[0])

    def step(self, item: Any, items: Any, position: int, failure_mode: FailureMode) -> StepDefinition:
        if not isinstance(item, Mapping):
            self.fail(f"step #{position + 1} must be a mapping with an 'id', not {_kind_of(item)}",
                      items, item=position)
        step_id = _scalar(item.get("id"))
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
        target = item[kind] if kind == "steps" else _scalar(item[kind])
        if kind == "run" and (not isinstance(target, str) or not IDENTIFIER.match(target)):
            self.fail(f"step {step_id!r}: run names a callable in the kernel, e.g. run: train", item, kind, step_id)
        if kind in ("sql", "workflow") and (not isinstance(target, str) or not target.strip()):
            self.fail(f"step {step_id!r}: {kind} must be text", item, kind, step_id)
        if kind == "workflow" and not NAME.match(target):
            self.fail(f"step {step_id!r}: {target!r} is not a workflow name", item, kind, step_id)
        if kind == "sleep" and (isinstance(target, bool) or not isinstance(target, (int, float)) or target < 0):
            self.fail(f"step {step_id!r}: sleep takes a number of seconds >= 0, not {target!r}", item, kind, step_id)
        if kind == "noop":
            target = None
        if kind == "steps" and "foreach" not in item:
            self.fail(f"step {step_id!r}: a list of 'steps' is the body of a foreach; add 'foreach'",
                      item, kind, step_id)

        after = item.get("after", [])
        if isinstance(after, str):
            after = [after]
        if not _is_list(after) or not all(isinstance(a, str) for a in after):
            self.fail(f"step {step_id!r}: after must be a step id or a list of step ids, not {after!r}",
                      item, "after", step_id)
        after = [str(a) for a in after]
        if len(set(after)) != len(after):
            self.fail(f"step {step_id!r}: after lists a step twice", item, "after", step_id)

        params = item.get("params")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            self.fail(f"step {step_id!r}: params must be a mapping of argument: value, not {_kind_of(params)}",
                      item, "params", step_id)
        for pname in params:
            if not isinstance(pname, str) or not IDENTIFIER.match(pname):
                self.fail(f"step {step_id!r}: param name {pname!r} is not an identifier", params, pname, step_id)
        bound = MappingProxyType(
            {str(k): self.values(v, params, k, step_id, f"param {k!r}") for k, v in params.items()}
        )

        condition = None
        if "if" in item:
            condition = self.expression(item["if"], item, "if", step_id, "if")
            if not isinstance(condition, Expression):
                self.fail(f"step {step_id!r}: if takes an expression, e.g. if: ${{x > 1}}", item, "if", step_id)

        foreach = None
        if "foreach" in item:
            foreach = self.foreach(item, step_id)
        else:
            for key in ("concurrency", "max_iterations"):
                if key in item:
                    self.fail(f"step {step_id!r}: {key} applies to a foreach step", item, key, step_id)

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
        foreach = self.foreach_values(item, step_id)
        limit = _scalar(item.get("max_iterations", MAX_ITERATIONS))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ITERATIONS_CEILING:
            self.fail(f"step {step_id!r}: max_iterations must be a whole number from 1 to "
                      f"{MAX_ITERATIONS_CEILING:,}, not {limit!r}", item, "max_iterations", step_id)
        foreach = replace(foreach, max_iterations=limit)
        static = [values for _, values in foreach.loops if not isinstance(values, Expression)]
        if len(static) == len(foreach.loops):  # known now: refused before anything is stored
            try:
                if foreach.loops:
                    size = 1
                    for values in static:
                        size *= len(values)
                        foreach.check_size(size)
                elif isinstance(foreach.items, tuple):
                    foreach.check_size(len(foreach.items))
            except ExpressionError as exc:
                self.fail(f"step {step_id!r}: foreach: {exc.message}", item, "foreach", step_id)
        return foreach

    def foreach_values(self, item: Mapping, step_id: str) -> Foreach:
        spec = item["foreach"]
        concurrency = _scalar(item.get("concurrency"))
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            self.fail(f"step {step_id!r}: concurrency must be a whole number >= 1, not {concurrency!r}",
                      item, "concurrency", step_id)
        if isinstance(spec, str):
            items = self.expression(spec, item, "foreach", step_id, "foreach")
            if not isinstance(items, Expression):
                self.fail(f"step {step_id!r}: foreach takes a mapping of loop params, a list of dicts, "
                          "or an expression",
                          item, "foreach", step_id)
            return Foreach(items=items, concurrency=concurrency)
        if _is_list(spec):
            if not spec or not all(isinstance(x, Mapping) and x for x in spec):
                self.fail(f"step {step_id!r}: a foreach list must hold non-empty mappings of loop params",
                          item, "foreach", step_id)
            for entry in spec:
                for name in entry:
                    self.loop_name(name, entry, step_id)
                    self.literal(entry[name], entry, name, step_id)
            return Foreach(items=tuple(MappingProxyType(_plain(x)) for x in spec), concurrency=concurrency)
        if not isinstance(spec, Mapping) or not spec:
            self.fail(f"step {step_id!r}: foreach takes a mapping of loop params, e.g. foreach: {{lr: [0.1, 0.2]}}",
                      item, "foreach", step_id)
        loops = []
        for name, values in spec.items():
            self.loop_name(name, spec, step_id)
            values = self.expression(values, spec, name, step_id, f"loop param {name!r}")
            if isinstance(values, Expression):
                loops.append((name, values))
                continue
            if isinstance(values, range) and len(values):
                loops.append((name, values))
                continue
            if not _is_list(values) or not values:
                self.fail(f"step {step_id!r}: loop param {name!r} needs a non-empty list or an expression "
                          f"such as ${{range(10)}}, not {_kind_of(values)}", spec, name, step_id)
            self.literal(values, spec, name, step_id)
            loops.append((name, tuple(_plain(values))))
        return Foreach(loops=tuple(loops), concurrency=concurrency)

    def literal(self, value: Any, node: Any, key: Any, step_id: str) -> None:
        """Fail if plain loop data hides a `${...}`: only a whole loop value may be an expression."""
        if isinstance(value, Mapping):
            value = list(value.values())
        if _is_list(value):
            for v in value:
                self.literal(v, node, key, step_id)
        elif isinstance(value, str) and "${" in value:
            self.fail(
                f"step {step_id!r}, loop param {key!r}: {' '.join(value.split())!r} is not evaluated inside "
                f"a list; make the whole value an expression, e.g. {key}: ${{[a, b]}}",
                node, key, step_id, error=ExpressionError,
            )

    def loop_name(self, name: Any, node: Any, step_id: str) -> None:
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            self.fail(f"step {step_id!r}: loop param {name!r} is not an identifier", node, name, step_id)

    def retry(self, item: Mapping, step_id: str) -> RetryPolicy:
        spec = _scalar(item.get("retry"))
        if spec is None:
            return RetryPolicy()
        if isinstance(spec, int) and not isinstance(spec, bool):
            spec = {"limit": spec}
        if not isinstance(spec, Mapping):
            self.fail(f"step {step_id!r}: retry takes a mapping such as {{limit: 2}}, not {_kind_of(spec)}",
                      item, "retry", step_id)
        self.check_keys(spec, RETRY_KEYS, f"retry of step {step_id!r}", step_id)
        limit = _scalar(spec.get("limit", 0))
        backoff = _scalar(spec.get("backoff", 0.0))
        platform_limit = _scalar(spec.get("platform_limit", RetryPolicy.platform_limit))
        for key, value in (("limit", limit), ("platform_limit", platform_limit)):
            node = spec if key in spec and hasattr(spec, "lc") else item
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.fail(f"step {step_id!r}: retry {key} must be a whole number >= 0, not {value!r}",
                          node, key if node is spec else "retry", step_id)
        node = spec if "backoff" in spec and hasattr(spec, "lc") else item
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 0:
            self.fail(f"step {step_id!r}: retry backoff must be seconds >= 0, not {backoff!r}",
                      node, "backoff" if node is spec else "retry", step_id)
        return RetryPolicy(limit=limit, backoff=float(backoff), platform_limit=platform_limit)


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses (ScalarFloat, ScalarInt, ScalarBoolean, ...) as plain values."""
    if isinstance(value, bool) or value is None:
        return value
    module = type(value).__module__
    if not module.startswith("ruamel."):
        return value
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "ScalarBoolean":
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _plain(value: Any) -> Any:
    """ruamel's commented containers and scalars as plain dicts, lists and values."""
    if isinstance(value, Mapping):
        return {_scalar(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return _scalar(value)


def _canonical(value: Any) -> Any:
    """A JSON form of definition data (checked by _check_shape) in which equal content gives equal text."""
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, range):  # read back from the stored source as the same lazy range
        return f"${{range({value.start}, {value.stop}, {value.step})}}"
    return value


def _text(value: Any) -> str:
    return json.dumps(_canonical(value), sort_keys=True, default=repr)


MAX_DEFINITION_CHARS = 1_000_000  # YAML text of one definition
MAX_DEFINITION_VALUES = 200_000  # values in one definition, with YAML aliases expanded
MAX_DEFINITION_DEPTH = 64  # levels of nested mappings and lists
_PLAIN_TYPES = (str, int, float, bool, type(None), range)


def _check_shape(name: str, data: Any) -> None:
    """Refuse, before anything walks it, a definition too big once its YAML aliases are expanded
    (an alias bomb), too deeply nested, holding itself, or holding values that JSON cannot store
    as themselves (dates, sets, bytes, non-text keys, YAML tags). Linear in the distinct values."""
    sizes: dict[int, tuple[int, int]] = {}  # id(container) -> (values under it, levels under it)
    open_ids: set[int] = set()
    stack: list[tuple[Any, Any, Any, bool]] = [(data, None, None, False)]
    while stack:
        node, parent, key, done = stack.pop()
        if done:
            children = _children(node)
            count = len(children) + sum(sizes[id(c)][0] for _, c in children if id(c) in sizes)
            depth = 1 + max((sizes[id(c)][1] for _, c in children if id(c) in sizes), default=0)
            open_ids.discard(id(node))
            sizes[id(node)] = (count, depth)
            if count > MAX_DEFINITION_VALUES:
                _refuse(name, f"the definition holds more than {MAX_DEFINITION_VALUES:,} values once its "
                              "YAML aliases are expanded", parent, key)
            if depth > MAX_DEFINITION_DEPTH:
                _refuse(name, f"the definition nests more than {MAX_DEFINITION_DEPTH} levels deep", parent, key)
            continue
        tag = getattr(getattr(node, "tag", None), "value", None)
        if tag is not None or type(node).__name__ == "TaggedScalar":
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            _refuse(name, f"{_where(key)}the YAML tag {shown} is not allowed: a definition holds plain values "
                          "(quote a value to keep it as text)", parent, key)
        if isinstance(node, Mapping) or _is_list(node):
            if id(node) in sizes:
                continue
            if id(node) in open_ids:
                _refuse(name, f"{_where(key)}a value contains itself", parent, key)
            open_ids.add(id(node))
            stack.append((node, parent, key, True))
            for child_key, child in _children(node):
                if isinstance(node, Mapping) and not isinstance(child_key, str):
                    _refuse(name, f"{_where(key)}the key {child_key!r} is not text (JSON keys are text)", node, child_key)
                stack.append((child, node, child_key, False))
        elif not isinstance(node, _PLAIN_TYPES):
            what = _kind_of(node) if not isinstance(node, Set) else "a set"
            _refuse(name, f"{_where(key)}{what} is not a JSON value; write it as text, a number, a list or "
                          "a mapping with text keys", parent, key)


def _children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, Mapping):
        return list(node.items())
    if _is_list(node):
        return list(enumerate(node))
    return []


def _where(key: Any) -> str:
    return f"{key!r}: " if isinstance(key, str) else ""


def _refuse(name: str, message: str, parent: Any, key: Any) -> NoReturn:
    line = column = None
    if parent is not None:
        line, column = _position(parent, key) if isinstance(parent, Mapping) else _position(parent, item=key)
    raise DefinitionError(message, workflow=name, line=line, column=column)


def _load_yaml(name: str, text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except RecursionError:
        raise DefinitionError(f"invalid YAML: nested more than {MAX_DEFINITION_DEPTH} levels deep",
                              workflow=name) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join((exc.problem or exc.context or "invalid YAML").split())
        raise DefinitionError(
            f"invalid YAML: {problem}", workflow=name,
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from None
    except YAMLError as exc:
        lines = str(exc).strip().splitlines() or ["invalid YAML"]
        raise DefinitionError(f"invalid YAML: {lines[0]}", workflow=name) from None


def parse_definition(name: str, source: str | Mapping[str, Any]) -> WorkflowDefinition:
    """Parse and validate a definition from YAML text or a dict."""
    if not isinstance(name, str) or not NAME.match(name):
        raise DefinitionError(
            f"workflow name {name!r} must start with a letter or _ and hold only letters, digits, _ and -"
        )
    if isinstance(source, str):
        if not source.strip():
            raise DefinitionError("the workflow definition is empty; give at least a 'steps' list", workflow=name)
        if len(source) > MAX_DEFINITION_CHARS:
            raise DefinitionError(f"the definition is {len(source):,} characters long; the limit is "
                                  f"{MAX_DEFINITION_CHARS:,}", workflow=name)
        data = _load_yaml(name, source)
    elif isinstance(source, Mapping):
        data = source
    else:
        raise DefinitionError(f"a definition is YAML text or a dict, not {_kind_of(source)}", workflow=name)
    _check_shape(name, data)
    parser = _Parser(name)
    definition = parser.workflow_body(data)
    _check_references(definition, parser.positions)
    canonical = _text(_plain(data))
    text = source if isinstance(source, str) else canonical
    return _with(definition, source=text, digest=hashlib.sha256(canonical.encode()).hexdigest()[:16])


def _with(definition: WorkflowDefinition, **changes: Any) -> WorkflowDefinition:
    return replace(definition, **changes)


def _expressions(step: StepDefinition) -> list[tuple[str, Expression]]:
    found: list[tuple[str, Expression]] = []

    def walk(where: str, value: Any) -> None:
        if isinstance(value, Expression):
            found.append((where, value))
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(where, v)
        elif isinstance(value, (list, tuple)):
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


def _check_references(definition: WorkflowDefinition, positions: Mapping[int, Position]) -> None:
    """Every name an expression reads is a workflow param, an upstream step or a loop param.

    Loop params of a foreach whose items come from an expression are known only when it
    runs, so inside one an unknown name is allowed (a step id still has to be upstream).
    Each name is looked up where it may be, never by listing everything a step can see: a
    chain of n steps is checked in about n steps, not n^2.
    """
    params = set(definition.params)
    for step_id in definition.step_ids:
        step = definition.step(step_id)
        found = _expressions(step)
        if not found:
            continue
        outer_loops: set[str] = set()
        dynamic = False
        for sid in definition.enclosing(step_id):
            loop = definition.step(sid).foreach
            outer_loops |= set(loop.names)
            dynamic = dynamic or isinstance(loop.items, Expression)
        upstream = definition.upstream(step_id)
        own_loops = set(step.foreach.names) if step.foreach else set()
        own_dynamic = step.foreach is not None and isinstance(step.foreach.items, Expression)
        for where, expr in found:
            # A step's `if:` is decided once for the whole step, before any iteration exists.
            per_iteration = where.startswith("param")
            mine = own_loops if per_iteration else set()
            open_names = dynamic or (own_dynamic and per_iteration)
            for name in sorted(expr.names):
                if name in params or name in outer_loops or name in mine or name in upstream:
                    continue
                if name in definition.step_ids:
                    siblings = {s.id for s in definition.siblings(definition.parent(step_id))}
                    if name in siblings and name != step_id:
                        problem = f"step {name!r} is not upstream of {step_id!r}; add it to 'after'"
                    else:
                        problem = f"step {name!r} is not upstream of {step_id!r}, so its output is not visible here"
                elif open_names:
                    continue
                else:
                    hint = nearest(name, params | outer_loops | mine | set(upstream))
                    problem = f"unknown name {name!r}" + (f"; did you mean {hint!r}?" if hint else "")
                line, column = positions.get(id(expr), (step.line, None))
                raise ExpressionError(
                    f"step {step_id!r}, {where}: {expr!r}: {problem}",
                    workflow=definition.name, step=step_id, line=line, column=column,
                )
