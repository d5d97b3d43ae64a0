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

__all__ = ["Expression", "SAFE_BUILTINS", "compile_expression", "parse_template", "is_template"]

SAFE_BUILTINS: dict[str, Any] = {
    f.__name__: f
    for f in (len, range, min, max, sum, abs, round, sorted, any, all, int, float, str, bool,
              list, tuple, dict, set, zip, enumerate, reversed)
}
SAFE_BUILTINS.update({"True": True, "False": False, "None": None})

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Subscript, ast.Slice, ast.List, ast.Tuple,
    ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.comprehension, ast.keyword, ast.Starred,
    ast.And, ast.Or, ast.Not, ast.Invert, ast.UAdd, ast.USub,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)
_TEMPLATE = re.compile(r"^\s*\$\{(.*)\}\s*$", re.DOTALL)


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
                f"${{{self.source}}}: unknown name {name!r}"
                + (f"; did you mean {hint!r}?" if hint else "")
            )
        try:
            # The scope goes in globals so that comprehensions (their own scopes) can see it.
            env = dict(scope)
            env["__builtins__"] = SAFE_BUILTINS
            return eval(self._code, env)
        except ExpressionError:
            raise
        except Exception as exc:  # the user's expression failed: report it in one line
            raise ExpressionError(f"${{{self.source}}}: {type(exc).__name__}: {exc}") from None

    def __repr__(self) -> str:
        return f"${{{self.source}}}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def compile_expression(source: str) -> Expression:
    """Parse and whitelist-check `source` (the text inside `${...}`)."""
    source = source.strip()
    if not source:
        raise ExpressionError("empty expression ${}")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"${{{source}}}: invalid syntax ({exc.msg})") from None
    bound: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            what = "attribute access" if isinstance(node, ast.Attribute) else type(node).__name__
            raise ExpressionError(f"${{{source}}}: {what} is not allowed in expressions")
        if isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise ExpressionError(f"${{{source}}}: name {node.id!r} is not allowed")
            (bound if isinstance(node.ctx, ast.Store) else names).add(node.id)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in SAFE_BUILTINS:
                called = node.func.id if isinstance(node.func, ast.Name) else "this"
                allowed = ", ".join(sorted(k for k in SAFE_BUILTINS if k[0].islower()))
                raise ExpressionError(
                    f"${{{source}}}: calling {called!r} is not allowed; allowed: {allowed}"
                )
    free = frozenset(n for n in names - bound if n not in SAFE_BUILTINS)
    return Expression(source, free, compile(tree, "<expression>", "eval"))


def is_template(value: Any) -> bool:
    return isinstance(value, str) and _TEMPLATE.match(value) is not None


def parse_template(value: Any) -> Any:
    """A `${...}` string becomes an Expression; anything else is returned unchanged."""
    if isinstance(value, str):
        match = _TEMPLATE.match(value)
        if match:
            return compile_expression(match.group(1))
        if "${" in value:
            raise ExpressionError(f"{value!r}: an expression must be the whole value, as ${{...}}")
    return value
