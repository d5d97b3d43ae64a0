"""The `${...}` sandbox: an AST whitelist compiled once and evaluated against a plain scope.

No imports, no attribute access (so no dunders), calls only to a few safe builtins, never
`eval` on the kernel namespace.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ExpressionError, nearest
from .bounds import HELPERS, SAFE_BUILTINS, Budget, bounded_tree, check_size

__all__ = ["Expression", "SAFE_BUILTINS", "compile_expression", "parse_template", "is_template"]

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Subscript, ast.Slice, ast.List, ast.Tuple,
    ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.comprehension, ast.keyword, ast.Starred,
    ast.And, ast.Or, ast.Not, ast.Invert, ast.UAdd, ast.USub,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)
_TEMPLATE = re.compile(r"\s*\$\{(.*)\}\s*", re.DOTALL)
_NODE_NAMES = {
    ast.Attribute: "attribute access",
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())


def _shown(source: str) -> str:
    return f"${{{_one_line(source)}}}"


def _free_names(node: ast.AST, bound: frozenset[str] = frozenset()) -> set[str]:
    """Names `node` reads that no enclosing comprehension binds."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) and node.id not in bound else set()
    if isinstance(node, _COMPREHENSIONS):
        free: set[str] = set()
        inner = set(bound)
        for position, generator in enumerate(node.generators):
            # The first iterable is evaluated in the enclosing scope, the rest inside.
            free |= _free_names(generator.iter, bound if position == 0 else frozenset(inner))
            inner |= {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
            for condition in generator.ifs:
                free |= _free_names(condition, frozenset(inner))
        results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for result in results:
            free |= _free_names(result, frozenset(inner))
        return free
    free = set()
    for child in ast.iter_child_nodes(node):
        free |= _free_names(child, bound)
    return free


class Expression:
    """A validated, compiled sandboxed expression; `names` are the free variables it reads."""

    __slots__ = ("source", "names", "_code")

    def __init__(self, source: str, names: frozenset[str], code: Any):
        self.source = source
        self.names = names
        self._code = code

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """Evaluate against `scope`; failures become one-line ExpressionErrors."""
        missing = [n for n in self.names if n not in scope and n not in SAFE_BUILTINS]
        if missing:
            name = sorted(missing)[0]
            hint = nearest(name, scope)
            raise ExpressionError(
                f"{_shown(self.source)}: unknown name {name!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
            )
        try:
            # The scope goes in globals so that comprehensions (their own scopes) can see it.
            env = dict(scope)
            env["__builtins__"] = SAFE_BUILTINS
            env.update(HELPERS)  # after the scope: no param can stand in for them
            env["__b"] = Budget(_shown(self.source))
            return eval(self._code, env)
        except ExpressionError:
            raise
        except Exception as exc:  # the user's expression failed: report it in one line
            detail = _one_line(str(exc))
            raise ExpressionError(
                f"{_shown(self.source)}: {type(exc).__name__}" + (f": {detail}" if detail else "")
            ) from None

    def __repr__(self) -> str:
        return _shown(self.source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def compile_expression(source: str) -> Expression:
    """Parse and whitelist-check `source` (the text inside `${...}`)."""
    source = source.strip()
    if not source:
        raise ExpressionError("empty expression ${}")
    shown = _shown(source)
    check_size(None, source, shown)
    try:
        tree = ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise ExpressionError(f"{shown[:60]}...: nested too deeply to read") from None
    except ValueError:  # a null byte
        raise ExpressionError(f"{shown}: invalid syntax") from None
    except SyntaxError as exc:
        if "${" in source:
            raise ExpressionError(
                f"{shown}: an expression must be the whole value, as ${{...}}"
            ) from None
        detail = "" if exc.msg in ("invalid syntax", None) else f" ({_one_line(exc.msg)})"
        raise ExpressionError(f"{shown}: invalid syntax{detail}") from None
    check_size(tree, source, shown)
    nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Attribute):
            raise ExpressionError(f"{shown}: attribute access '.{node.attr}' is not allowed in expressions")
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            raise ExpressionError(f"{shown}: {what} is not allowed in expressions")
    for node in nodes:
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionError(f"{shown}: name {node.id!r} is not allowed")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in SAFE_BUILTINS
        ):
            allowed = ", ".join(sorted(k for k in SAFE_BUILTINS if k[0].islower()))
            called = repr(node.func.id) if isinstance(node.func, ast.Name) else "the result of an expression"
            raise ExpressionError(f"{shown}: calling {called} is not allowed; allowed: {allowed}")
    free = frozenset(n for n in _free_names(tree) if n not in SAFE_BUILTINS)
    return Expression(source, free, compile(bounded_tree(tree), "<expression>", "eval"))


def is_template(value: Any) -> bool:
    """True when `value` is a whole-value `${...}` string."""
    return isinstance(value, str) and _TEMPLATE.fullmatch(value) is not None


def parse_template(value: Any) -> Any:
    """A `${...}` string becomes an Expression; anything else is returned unchanged."""
    if isinstance(value, str):
        match = _TEMPLATE.fullmatch(value)
        if match:
            return compile_expression(match.group(1))
        if "${" in value:
            raise ExpressionError(
                f"{_one_line(value)!r}: an expression must be the whole value, as ${{...}}"
            )
    return value
