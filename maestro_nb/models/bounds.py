"""Bounds on what a `${...}` expression may build and how much work it may do.

Python cannot interrupt one C call (`9**9**9` runs for hours, and Ctrl-C waits for it), so
sizes are checked *before* a value is built: the sandbox compiles each expression with its
`+ * ** %` operations, builtin calls and comprehension loops routed through the checks below.
One evaluation may iterate over, build and operate on at most MAX_WORK items in all (each item
iterated or built, and each checked operation or call, costs one); an integer may hold at most
MAX_INT_BITS bits; a string or sequence at most MAX_WORK items. The source itself is bounded
(MAX_SOURCE characters, MAX_NESTING levels) and checked when the expression is compiled.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ExpressionError

__all__ = ["SAFE_BUILTINS", "MAX_SOURCE", "MAX_NESTING", "MAX_WORK", "MAX_INT_BITS", "Budget", "bounded_tree", "check_size",
           "HELPERS"]

MAX_SOURCE = 1_000  # characters in one expression
MAX_NESTING = 50  # levels of the expression's syntax tree
MAX_WORK = 5_000_000  # items iterated or built, and operations done, by one evaluation
MAX_INT_BITS = 65_536  # bits of an integer an expression builds (about 19,700 digits)
MAX_ROUND_DIGITS = 1_000

SAFE_BUILTINS: dict[str, Any] = {
    f.__name__: f
    for f in (len, range, min, max, sum, abs, round, sorted, any, all, int, float, str, bool,
              list, tuple, dict, set, zip, enumerate, reversed)
}
SAFE_BUILTINS.update({"True": True, "False": False, "None": None})

_SEQUENCES = (str, bytes, list, tuple)
_BINARY = {ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.Mod: "%"}
_FORMAT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class Budget:
    """The work one evaluation may still do; every check below spends from it."""

    __slots__ = ("left", "shown")

    def __init__(self, shown: str):
        self.left = MAX_WORK
        self.shown = shown  # the expression as messages show it

    def fail(self, what: str) -> ExpressionError:
        return ExpressionError(f"{self.shown}: {what}; compute large values in a step's code instead")

    def spend(self, items: int) -> None:
        self.left -= items
        if self.left < 0:
            raise self.fail(f"the expression does more than {MAX_WORK:,} steps of work")


def check_size(tree: ast.Expression | None, source: str, shown: str) -> None:
    """Refuse an expression too long (before it is parsed) or too deeply nested (once parsed) to
    compile and check safely."""
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"{shown[:60]}...: an expression may be {MAX_SOURCE:,} characters long, "
                              f"not {len(source):,}; compute large values in a step's code instead")
    stack = [(tree, 0)] if tree is not None else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ExpressionError(f"{shown[:60]}...: an expression may nest {MAX_NESTING} levels deep; "
                                  "split it, or compute it in a step's code")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Bounded(ast.NodeTransformer):
    """Routes size-changing operations, builtin calls and comprehension loops through HELPERS."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        op = _BINARY.get(type(node.op))
        if op is None:
            return node
        return _helper("__op", ast.Constant(op), node.left, node.right)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        # Builtins are called by name (never through a param that shadows one), and bounded.
        call = _helper("__call", ast.Constant(node.func.id), *node.args)
        call.keywords = node.keywords
        return call

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.iter = _helper("__iter", node.iter)
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        node.value = _helper("__iter", node.value)
        return node


def _helper(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=[ast.Name("__b", ast.Load()), *args], keywords=[])


def bounded_tree(tree: ast.Expression) -> ast.Expression:
    """`tree` with every operation that can grow a value checked first (see HELPERS)."""
    return ast.fix_missing_locations(_Bounded().visit(tree))


# --- the checks the compiled expression calls -------------------------------------------------
def _int_bits(budget: Budget, bits: float) -> None:
    if bits > MAX_INT_BITS:
        raise budget.fail(f"it would build an integer of about {bits:,.0f} bits (the limit is {MAX_INT_BITS:,})")
    budget.spend(int(bits) // 64)


def _length(budget: Budget, items: int) -> None:
    if items > MAX_WORK:
        raise budget.fail(f"it would build a sequence of {items:,} items (the limit is {MAX_WORK:,})")
    budget.spend(items)


def _is_int(value: Any) -> bool:
    """A Python int (or bool), or a numpy integer: what can repeat a sequence."""
    return isinstance(value, int) or (type(value).__module__ == "numpy" and hasattr(value, "__index__")
                                      and not hasattr(value, "__len__"))


def _op(budget: Budget, op: str, a: Any, b: Any) -> Any:
    budget.left -= 1
    if budget.left < 0:
        budget.spend(0)  # raises
    if op == "+":
        if isinstance(a, int) and isinstance(b, int):
            _int_bits(budget, max(a.bit_length(), b.bit_length()) + 1)
        elif isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
            _length(budget, len(a) + len(b))
        return a + b
    if op == "*":
        if isinstance(a, int) and isinstance(b, int):
            _int_bits(budget, a.bit_length() + b.bit_length())
        elif isinstance(a, _SEQUENCES) and _is_int(b):
            _length(budget, len(a) * max(int(b), 0))
        elif _is_int(a) and isinstance(b, _SEQUENCES):
            _length(budget, len(b) * max(int(a), 0))
        return a * b
    if op == "**":
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            _int_bits(budget, b * math.log2(abs(a)))
        return a ** b
    if isinstance(a, (str, bytes)):  # printf-style formatting: a width can be huge
        text = a if isinstance(a, str) else a.decode("latin-1")
        for width, precision in _FORMAT.findall(text):
            for n in (width, precision):
                if n == "*" or len(n) > 7:
                    raise budget.fail(f"a format width or precision of {n!r} is not allowed")
    return a % b


def _take(budget: Budget, items: Any) -> Any:
    """`items` for iteration, its length spent at once when known, else item by item."""
    try:
        size = len(items)
    except OverflowError:
        raise budget.fail("it iterates over more items than can be counted") from None
    except TypeError:
        return _counted(budget, iter(items))
    budget.spend(size)
    return items


def _counted(budget: Budget, items: Any) -> Any:
    for item in items:
        budget.left -= 1
        if budget.left < 0:
            budget.spend(0)  # raises
        yield item


_CONSUMERS = frozenset({"list", "tuple", "set", "dict", "sorted", "sum", "min", "max", "any", "all", "str"})


def _call(budget: Budget, name: str, *args: Any, **kwargs: Any) -> Any:
    budget.spend(1)
    fn = SAFE_BUILTINS[name]
    if name in _CONSUMERS:
        if name == "str":
            if args and isinstance(args[0], (list, tuple, dict, set, frozenset)):
                budget.spend(len(args[0]))
        elif args and not (name == "dict" and isinstance(args[0], Mapping)):
            if name in ("min", "max") and len(args) > 1:
                budget.spend(len(args))
            else:
                args = (_take(budget, args[0]), *args[1:])
        if name == "sum" and (len(args) > 1 or "start" in kwargs):
            start = args[1] if len(args) > 1 else kwargs["start"]
            if not isinstance(start, (int, float)):
                raise budget.fail("sum adds numbers only; join lists with a comprehension")
        key = kwargs.get("key")
        if key is not None and getattr(key, "__name__", None) in _CONSUMERS and SAFE_BUILTINS.get(key.__name__) is key:
            kwargs["key"] = _bound_builtin(budget, key.__name__)
    elif name == "round":
        digits = args[1] if len(args) > 1 else kwargs.get("ndigits")
        if _is_int(digits) and abs(digits) > MAX_ROUND_DIGITS:
            raise budget.fail(f"round to at most {MAX_ROUND_DIGITS:,} digits, not {digits:,}")
    return fn(*args, **kwargs)


def _bound_builtin(budget: Budget, name: str) -> Callable[..., Any]:
    return lambda *args, **kwargs: _call(budget, name, *args, **kwargs)


HELPERS: dict[str, Any] = {"__op": _op, "__call": _call, "__iter": _take}
