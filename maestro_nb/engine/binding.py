"""Argument binding: step params, then loop params, then upstream outputs, then workflow params."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ParamError
from ..models.definition import StepDefinition
from ..models.expressions import Expression

__all__ = ["Binder", "evaluate_value"]

_STEP, _LOOP, _SCOPE = 0, 1, 2


def evaluate_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """A param value with every Expression inside it evaluated."""
    if isinstance(value, Expression):
        return value.evaluate(scope)
    if isinstance(value, Mapping):
        return {k: evaluate_value(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_value(v, scope) for v in value]
    return value


def _has_expression(value: Any) -> bool:
    if isinstance(value, Expression):
        return True
    if isinstance(value, Mapping):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return False


class Binder:
    """Binds arguments for attempts; plans are cached per (step, callable)."""

    def __init__(self) -> None:
        self._plans: dict[tuple[int, Any], tuple[list[tuple[str, int]], bool]] = {}
        self._constants: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def step_params(self, step: StepDefinition, scope: Mapping[str, Any], loop_params: Mapping[str, Any]) -> dict[str, Any]:
        """The step's own params, expressions evaluated against scope and loop params."""
        split = self._constants.get(id(step))
        if split is None:
            constants = {k: v for k, v in step.params.items() if not _has_expression(v)}
            expressions = {k: v for k, v in step.params.items() if k not in constants}
            split = self._constants[id(step)] = (constants, expressions)
        constants, expressions = split
        if not expressions:
            return dict(constants)
        env = {**scope, **loop_params} if loop_params else scope
        values = dict(constants)
        for name, value in expressions.items():
            values[name] = evaluate_value(value, env)
        return values

    def bind_call(self, step: StepDefinition, fn: Callable[..., Any], scope: Mapping[str, Any],
                  loop_params: Mapping[str, Any], upstream: frozenset[str],
                  all_steps: frozenset[str]) -> dict[str, Any]:
        """Keyword arguments for `fn`, by name, in SPEC's order of precedence."""
        own = self.step_params(step, scope, loop_params)
        key = (id(step), fn)
        cached = self._plans.get(key)
        if cached is None:
            cached = self._plans[key] = self._plan(step, fn, scope, loop_params, upstream, all_steps)
        plan, takes_all = cached
        kwargs: dict[str, Any] = {}
        for name, source in plan:
            if source == _STEP:
                kwargs[name] = own[name]
            elif source == _LOOP:
                kwargs[name] = loop_params[name]
            else:
                kwargs[name] = scope[name]
        if takes_all:
            for name, value in loop_params.items():
                kwargs.setdefault(name, value)
            for name, value in own.items():
                kwargs.setdefault(name, value)
        return kwargs

    def _plan(self, step: StepDefinition, fn: Callable[..., Any], scope: Mapping[str, Any],
              loop_params: Mapping[str, Any], upstream: frozenset[str],
              all_steps: frozenset[str]) -> tuple[list[tuple[str, int]], bool]:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return [], True
        plan: list[tuple[str, int]] = []
        takes_all = False
        for name, param in signature.parameters.items():
            if param.kind is param.VAR_KEYWORD:
                takes_all = True
                continue
            if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
                if param.kind is param.POSITIONAL_ONLY and param.default is param.empty:
                    raise ParamError(
                        f"step {step.id!r}: {step.target}() has positional-only argument {name!r}; "
                        "arguments are bound by name",
                        step=step.id,
                    )
                continue
            if name in step.params:
                plan.append((name, _STEP))
            elif name in loop_params:
                plan.append((name, _LOOP))
            elif name in scope and (name in upstream or name not in all_steps):
                plan.append((name, _SCOPE))
            elif param.default is param.empty:
                looked = [
                    f"step params ({', '.join(step.params) or 'none'})",
                    f"loop params ({', '.join(loop_params) or 'none'})",
                    f"upstream outputs ({', '.join(sorted(upstream)) or 'none'})",
                    f"workflow params ({', '.join(k for k in scope if k not in all_steps) or 'none'})",
                ]
                raise ParamError(
                    f"step {step.id!r}: {step.target}() is missing argument {name!r}; looked in "
                    + ", ".join(looked),
                    step=step.id,
                )
        return plan, takes_all
