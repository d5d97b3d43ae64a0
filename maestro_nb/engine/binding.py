"""Argument binding: step params, then loop params, then upstream outputs, then workflow params."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..errors import ParamError
from ..models.definition import PLAIN, StepDefinition
from ..models.expressions import Expression
from ..store.values import ValueCodec

__all__ = ["Binder", "evaluate_value", "check_loop_params"]


def check_loop_params(codec: ValueCodec, step: StepDefinition, loop_params: Mapping[str, Any]) -> None:
    """An iteration whose loop values cannot be stored (a set, a range) fails, not the flush."""
    if PLAIN.issuperset(map(type, loop_params.values())):
        return  # the usual case: numbers and text
    for name, value in loop_params.items():
        problem = codec.problem(value)
        if problem is not None:
            raise ParamError(
                f"step {step.id!r}: loop param {name!r} is {problem}, which cannot be stored; foreach "
                "values must be JSON-native (numbers, text, lists, dicts with text keys)", step=step.id,
            )


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
    """Binds arguments for attempts. Signatures are cached per callable; names are resolved for
    every attempt, since what is in scope differs between instances (a skipped upstream step)."""

    def __init__(self) -> None:
        self._signatures: dict[Callable[..., Any], tuple[tuple[tuple[str, bool], ...], bool]] = {}
        self._constants: dict[int, tuple[StepDefinition, dict[str, Any], dict[str, Any]]] = {}

    def step_params(self, step: StepDefinition, scope: Mapping[str, Any], loop_params: Mapping[str, Any],
                    absent: Collection[str] = ()) -> dict[str, Any]:
        """The step's own params, expressions evaluated against scope and loop params (`absent`:
        upstream steps that did not run, which read as None)."""
        split = self._constants.get(id(step))
        if split is None or split[0] is not step:
            constants = {k: v for k, v in step.params.items() if not _has_expression(v)}
            expressions = {k: v for k, v in step.params.items() if k not in constants}
            split = self._constants[id(step)] = (step, constants, expressions)
        _, constants, expressions = split
        if not expressions:
            return dict(constants)
        env = {**dict.fromkeys(absent), **scope, **loop_params} if loop_params or absent else scope
        values = dict(constants)
        for name, value in expressions.items():
            values[name] = evaluate_value(value, env)
        return values

    def bind_call(self, step: StepDefinition, fn: Callable[..., Any], scope: Mapping[str, Any],
                  loop_params: Mapping[str, Any], upstream: frozenset[str],
                  all_steps: frozenset[str], *, absent: Collection[str] = (),
                  given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Keyword arguments for `fn`, by name, in SPEC's order of precedence (`absent`: upstream
        steps that did not run; in expressions they read as None, as arguments they are unbound).
        `given` (values a user set on an earlier attempt) comes before all of it."""
        own = self.step_params(step, scope, loop_params, absent)
        if given:
            own.update(given)
        spec = self._signatures.get(fn)
        if spec is None:
            spec = self._signatures[fn] = self._signature(step, fn)
        names, takes_all = spec
        kwargs: dict[str, Any] = {}
        for name, required in names:
            if name in own:
                kwargs[name] = own[name]
            elif name in loop_params:
                kwargs[name] = loop_params[name]
            elif name in scope and (name in upstream or name not in all_steps):
                kwargs[name] = scope[name]
            elif required:
                raise _missing(step, name, loop_params, scope, upstream, all_steps)
        if takes_all:
            for name, value in loop_params.items():
                kwargs.setdefault(name, value)
            for name, value in own.items():
                kwargs.setdefault(name, value)
        return kwargs

    @staticmethod
    def _signature(step: StepDefinition, fn: Callable[..., Any]) -> tuple[tuple[tuple[str, bool], ...], bool]:
        """(name, required) of every argument bindable by name, and whether fn takes **kwargs."""
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return (), True
        names: list[tuple[str, bool]] = []
        takes_all = False
        for name, param in signature.parameters.items():
            if param.kind is param.VAR_KEYWORD:
                takes_all = True
            elif param.kind is param.POSITIONAL_ONLY:
                if param.default is param.empty:
                    raise ParamError(
                        f"step {step.id!r}: {step.target}() has positional-only argument {name!r}; "
                        "arguments are bound by name",
                        step=step.id,
                    )
            elif param.kind is not param.VAR_POSITIONAL:
                names.append((name, param.default is param.empty))
        return tuple(names), takes_all


def _missing(step: StepDefinition, name: str, loop_params: Mapping[str, Any], scope: Mapping[str, Any],
             upstream: frozenset[str], all_steps: frozenset[str]) -> ParamError:
    looked = [
        f"step params ({', '.join(step.params) or 'none'})",
        f"loop params ({', '.join(loop_params) or 'none'})",
        f"upstream outputs ({', '.join(sorted(upstream)) or 'none'})",
        f"workflow params ({', '.join(k for k in scope if k not in all_steps) or 'none'})",
    ]
    return ParamError(
        f"step {step.id!r}: {step.target}() is missing argument {name!r}; looked in " + ", ".join(looked),
        step=step.id,
    )
