"""The `${...}` sandbox: what compiles, what is refused, how evaluation fails."""

from __future__ import annotations

from typing import Any

import pytest

from maestro_nb.errors import DefinitionError, ExpressionError
from maestro_nb.models.expressions import (
    SAFE_BUILTINS,
    Expression,
    compile_expression,
    is_template,
    parse_template,
)

SCOPE: dict[str, Any] = {
    "lr": 0.01,
    "depth": 5,
    "xs": [3, 1, 2],
    "best": {"score": 0.95, "name": "m1"},
    "load": {"rows": 1000},
    "n_rows": 10,
    "i": 3,
    "label": "run",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("n_rows // 3", 3),
        ("n_rows % 3", 1),
        ("2 ** depth", 32),
        ("-lr", -0.01),
        ("n_rows / 4", 2.5),
        ("lr * 10 > 0.05", True),
        ("1 < depth <= 5", True),
        ("depth != 5 or lr == 0.01", True),
        ("not (depth in xs)", True),
        ("label is not None", True),
        ("'big' if n_rows > 5 else 'small'", "big"),
        ('best["score"] > 0.9', True),
        ("xs[0]", 3),
        ("xs[-1]", 2),
        ("xs[1:]", [1, 2]),
        ("xs[::-1]", [2, 1, 3]),
        ("[x * depth for x in xs]", [15, 5, 10]),
        ("[x for x in xs if x > lr]", [3, 1, 2]),
        ("{x: x * i for x in range(2)}", {0: 0, 1: 3}),
        ("{x % 2 for x in xs}", {0, 1}),
        ("sum(x * i for x in xs)", 18),
        ("[(a, b) for a in range(i) for b in range(a)]", [(1, 0), (2, 0), (2, 1)]),
        ("[[a * b for b in xs] for a in range(2)]", [[0, 0, 0], [3, 1, 2]]),
        ("len(xs)", 3),
        ("list(range(1, i + 1))", [1, 2, 3]),
        ("min(xs) + max(xs)", 4),
        ("abs(-depth)", 5),
        ("round(2.567, 2)", 2.57),
        ("sorted(xs)", [1, 2, 3]),
        ("sorted(xs, reverse=True)", [3, 2, 1]),
        ("any(x > 2 for x in xs) and all(xs)", True),
        ("dict(a=1, **load)", {"a": 1, "rows": 1000}),
        ("list(zip(xs, range(3)))", [(3, 0), (1, 1), (2, 2)]),
        ("[*xs, 4]", [3, 1, 2, 4]),
        ("str(depth) + label", "5run"),
        ("int('7') + float('0.5')", 7.5),
        ("True and None is None", True),
        ("(1, 2) + (3,)", (1, 2, 3)),
        ("{'k': [1, {2}]}", {"k": [1, {2}]}),
        ("list(enumerate(xs))[1]", (1, 1)),
        ("list(reversed(xs))", [2, 1, 3]),
        ("'%s-%d' % (label, depth)", "run-5"),
    ],
)
def test_allowed_constructs_evaluate(source: str, expected: Any) -> None:
    assert compile_expression(source).evaluate(SCOPE) == expected


@pytest.mark.parametrize(
    ("source", "culprit"),
    [
        ("__import__('os')", "__import__"),
        ("__import__('os').system('ls')", ".system"),
        ("__builtins__", "__builtins__"),
        ("__name__", "__name__"),
        ("xs.append(1)", ".append"),
        ("best.keys()", ".keys"),
        ("().__class__.__bases__", ".__"),
        ("label.__class__", ".__class__"),
        ("lambda: 1", "lambda"),
        ("(lambda x: x)(1)", "lambda"),
        ("sorted(xs, key=lambda x: -x)", "lambda"),
        ("open('/etc/passwd')", "open"),
        ("eval('1')", "eval"),
        ("exec('x = 1')", "exec"),
        ("getattr(xs, 'append')", "getattr"),
        ("globals()", "globals"),
        ("vars()", "vars"),
        ("type(xs)", "type"),
        ("load_data()", "load_data"),
        ("xs[0]()", "calling"),
        ("(y := 3)", ":="),
        ("f'{lr}'", "f-string"),
        ("1 << 1000", "LShift"),
    ],
)
def test_refused_constructs(source: str, culprit: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    message = str(info.value)
    assert "\n" not in message
    assert culprit in message
    assert message.startswith("${")
    assert "not allowed" in message


def test_disallowed_call_lists_the_allowed_ones() -> None:
    with pytest.raises(ExpressionError, match=r"calling 'open' is not allowed; allowed: .*\blen\b.*\brange\b"):
        compile_expression("open('x')")


@pytest.mark.parametrize("source", ["", "   "])
def test_empty_expression(source: str) -> None:
    with pytest.raises(ExpressionError, match="empty expression"):
        compile_expression(source)


@pytest.mark.parametrize("source", ["1 +", "a b", "x = 1", "import os", "(", "def f(): pass"])
def test_syntax_errors_are_one_line(source: str) -> None:
    with pytest.raises(ExpressionError, match="invalid syntax") as info:
        compile_expression(source)
    assert "\n" not in str(info.value)


def test_expression_error_is_a_definition_error() -> None:
    assert issubclass(ExpressionError, DefinitionError)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("1 + 2", set()),
        ("lr * depth", {"lr", "depth"}),
        ("len(xs) + max(xs)", {"xs"}),
        ('best["score"] > threshold', {"best", "threshold"}),
        ("[x * k for x in xs]", {"xs", "k"}),
        ("[x for x in xs] + [x]", {"xs", "x"}),  # the comprehension's x does not leak
        ("[y for x in xs for y in x if y > cut]", {"xs", "cut"}),
        ("{k: v for k, v in pairs}", {"pairs"}),
        ("[x for x in x]", {"x"}),  # the first iterable reads the enclosing scope
        ("[[x + y for y in ys] for x in xs]", {"xs", "ys"}),
        ("sum(a for a in range(n))", {"n"}),
        ("None if flag else True", {"flag"}),
        ("sorted(xs, key=len)", {"xs"}),
    ],
)
def test_names_are_the_free_variables(source: str, names: set[str]) -> None:
    assert compile_expression(source).names == frozenset(names)


def test_comprehension_variable_reused_outside_is_reported_unknown() -> None:
    expr = compile_expression("[x for x in xs] + [x]")
    with pytest.raises(ExpressionError, match="unknown name 'x'"):
        expr.evaluate({"xs": [1]})
    assert expr.evaluate({"xs": [1], "x": 9}) == [1, 9]


def test_unknown_name_at_evaluation_has_a_hint() -> None:
    expr = compile_expression("lr * 2")
    with pytest.raises(ExpressionError) as info:
        expr.evaluate({"lrr": 0.1, "depth": 3})
    assert str(info.value) == "${lr * 2}: unknown name 'lr'; did you mean 'lrr'?"


def test_unknown_name_without_a_close_match() -> None:
    with pytest.raises(ExpressionError, match=r"^\$\{zeta\}: unknown name 'zeta'$"):
        compile_expression("zeta").evaluate({"lr": 0.1})


@pytest.mark.parametrize(
    ("source", "scope", "pattern"),
    [
        ("1 / 0", {}, r"^\$\{1 / 0\}: ZeroDivisionError: division by zero$"),
        ('best["missing"]', {"best": {"score": 1}}, r"KeyError: 'missing'"),
        ("xs[10]", {"xs": [1]}, r"IndexError: list index out of range"),
        ("xs + 1", {"xs": [1]}, r"TypeError: "),
        ("int(label)", {"label": "abc"}, r"ValueError: invalid literal"),
        ("max(xs)", {"xs": []}, r"ValueError: max\(\) "),
        ("best[0]", {"best": {}}, r"KeyError: 0"),
    ],
)
def test_evaluation_errors_are_one_line(source: str, scope: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ExpressionError, match=pattern) as info:
        compile_expression(source).evaluate(scope)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_multi_line_expression_is_reported_on_one_line() -> None:
    expr = compile_expression("(lr\n   + label)")
    assert expr.evaluate({"lr": "a", "label": "b"}) == "ab"
    with pytest.raises(ExpressionError) as info:
        expr.evaluate({"lr": 1, "label": "b"})
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("${(lr + label)}: TypeError")
    with pytest.raises(ExpressionError) as info:
        compile_expression("(1 +\n\n)")
    assert "\n" not in str(info.value)


def test_scope_is_not_mutated_and_builtins_are_not_the_kernels() -> None:
    scope = {"xs": [1, 2]}
    compile_expression("[x for x in xs]").evaluate(scope)
    assert scope == {"xs": [1, 2]}
    assert set(SAFE_BUILTINS) >= {"len", "range", "min", "max", "sum", "abs", "round", "sorted"}
    assert not {"open", "eval", "exec", "getattr", "__import__", "type", "compile"} & set(SAFE_BUILTINS)


def test_scope_can_shadow_a_builtin_name() -> None:
    assert compile_expression("max").evaluate({"max": 7}) == 7


def test_expression_equality_repr_and_hash() -> None:
    a, b = compile_expression(" lr * 2 "), compile_expression("lr * 2")
    assert a == b and hash(a) == hash(b)
    assert a != compile_expression("lr * 3")
    assert repr(a) == "${lr * 2}"
    assert a.source == "lr * 2"


@pytest.mark.parametrize(
    ("value", "template"),
    [
        ("${x}", True),
        ("  ${ x + 1 }  ", True),
        ("${a}${b}", True),  # matches the whole-value form; compiling it is what fails
        ("x", False),
        ("$x", False),
        ("{x}", False),
        ("a ${x}", False),
        ("${x} b", False),
        (3, False),
        (None, False),
    ],
)
def test_is_template(value: Any, template: bool) -> None:
    assert is_template(value) is template


def test_parse_template_compiles_whole_values_only() -> None:
    expr = parse_template("${range(1, i + 1)}")
    assert isinstance(expr, Expression) and expr.names == frozenset({"i"})
    assert list(expr.evaluate({"i": 3})) == [1, 2, 3]
    for plain in ("text", 3, 1.5, None, [1, "${x}"], {"a": "b"}, "$5 and {braces}"):
        assert parse_template(plain) == plain


@pytest.mark.parametrize("value", ["a ${x}", "${x} b", "pre${x}post", "${a} + ${b}", "${a} ${b}"])
def test_embedded_template_is_refused(value: str) -> None:
    with pytest.raises(ExpressionError, match="must be the whole value") as info:
        parse_template(value)
    assert "\n" not in str(info.value)
