"""Expression bounds: what would hang the kernel or exhaust memory fails first, in one line."""

from __future__ import annotations

import pytest

from maestro_nb.errors import ExpressionError
from maestro_nb.models import bounds
from maestro_nb.models.bounds import MAX_INT_BITS, MAX_NESTING, MAX_SOURCE, MAX_WORK
from maestro_nb.models.expressions import compile_expression

# Each of these ran for minutes or hours, or needed gigabytes, before the bounds.
REFUSED_AT_RUN_TIME = [
    pytest.param("9**9**9", "integer of about", id="tower-of-powers"),
    pytest.param("2**(10**6)", "integer of about", id="power"),
    pytest.param("(10**20000) * (10**20000)", "integer of about", id="product-of-big-ints"),
    pytest.param("sum(range(10**14))", "steps of work", id="sum-of-a-huge-range"),
    pytest.param("max(range(10**12))", "steps of work", id="max-of-a-huge-range"),
    pytest.param("sorted(range(10**9))", "steps of work", id="sorted-huge-range"),
    pytest.param("list(range(10**9))", "steps of work", id="list-of-a-huge-range"),
    pytest.param("'a' * 10**10", "sequence of", id="string-times-huge"),
    pytest.param("[0] * 10**9", "sequence of", id="list-times-huge"),
    pytest.param("10**9 * (1,)", "sequence of", id="huge-times-tuple"),
    pytest.param("[x for x in range(10**12)]", "steps of work", id="comprehension"),
    pytest.param("[y for x in range(10**3) for y in range(10**7)]", "steps of work", id="nested-comprehension"),
    pytest.param("[[0] * 10**6 for _ in range(100)]", "steps of work", id="many-big-lists"),
    pytest.param("[*range(10**9)]", "steps of work", id="starred"),
    pytest.param("any(x < 0 for x in range(10**12))", "steps of work", id="generator"),
    pytest.param("sorted([range(10**9)], key=list)", "steps of work", id="builtin-as-key"),
    pytest.param("sum([[0]] * 10**5, [])", "sum adds numbers only", id="quadratic-sum-of-lists"),
    pytest.param("'%0999999999d' % 1", "format width", id="format-width"),
    pytest.param("round(5, -10**7)", "round to at most", id="round-digits"),
    pytest.param("len(range(10**30))", "OverflowError", id="len-overflow"),
]


@pytest.mark.parametrize("source, message", REFUSED_AT_RUN_TIME)
def test_an_expression_that_would_build_too_much_fails_before_it_builds(source, message):
    expression = compile_expression(source)
    with pytest.raises(ExpressionError) as info:
        expression.evaluate({})
    text = str(info.value)
    assert message in text and "\n" not in text
    assert text.startswith("${")


ALLOWED = [
    ("range(1000000)", range(1000000)),
    ("len([x for x in range(10**6)])", 10**6),
    ("sum(range(10**6))", sum(range(10**6))),
    ("2 ** 1000", 2 ** 1000),
    ("'ab' * 3", "ababab"),
    ("[0] * 5", [0] * 5),
    ("sorted([3, 1, 2], key=abs)", [1, 2, 3]),
    ("max(3, 4, 5)", 5),
    ("min([2, 1])", 1),
    ("dict(a=1)", {"a": 1}),
    ("dict([('a', 1)])", {"a": 1}),
    ("str([1, 2])", "[1, 2]"),
    ("'%s-%05d' % ('run', 7)", "run-00007"),
    ("round(3.14159, 2)", 3.14),
    ("[*range(3), *[4]]", [0, 1, 2, 4]),
    ("{k: v for k, v in zip('ab', range(2))}", {"a": 0, "b": 1}),
    ("(-1) ** 10**18", 1),
    ("10 ** -5", 10 ** -5),
    ("sum([0.5, 1], 2)", 3.5),
]


@pytest.mark.parametrize("source, expected", ALLOWED, ids=[s for s, _ in ALLOWED])
def test_ordinary_expressions_are_unaffected(source, expected):
    assert compile_expression(source).evaluate({}) == expected


def test_a_numpy_integer_cannot_repeat_a_sequence_past_the_limit():
    import numpy as np

    with pytest.raises(ExpressionError, match="sequence of 1,000,000,000 items"):
        compile_expression("[0] * n").evaluate({"n": np.int64(10**9)})
    assert compile_expression("'ab' * n").evaluate({"n": np.int64(2)}) == "abab"


def test_a_builtin_is_called_even_when_a_param_shadows_its_name():
    # The sandbox's `sum` is the bounded builtin, whatever the scope holds under that name.
    assert compile_expression("sum([1, 2])").evaluate({"sum": "not callable"}) == 3


def test_the_work_budget_is_per_evaluation(monkeypatch):
    monkeypatch.setattr(bounds, "MAX_WORK", 1_000)
    expression = compile_expression("sum(range(n))")
    for _ in range(3):  # three evaluations of 600 each: the budget is not shared between them
        assert expression.evaluate({"n": 600}) == sum(range(600))


@pytest.mark.parametrize("source", [
    "len([a for a, b in zip(range(10**8), range(10**8))])",  # an iterator with no length: item by item
    "[x + 1 for x in xs]",  # an operation per item: each one counts
    "[len(xs) for x in xs]",  # a call per item
])
def test_work_is_counted_item_by_item_and_operation_by_operation(monkeypatch, source):
    monkeypatch.setattr(bounds, "MAX_WORK", 1_000)
    with pytest.raises(ExpressionError, match="more than 1,000 steps of work"):
        compile_expression(source).evaluate({"xs": list(range(600))})


@pytest.mark.parametrize("source, message", [
    pytest.param("+".join(["1"] * 1000), "may be 1,000 characters long", id="1000-terms"),
    pytest.param("x" * (MAX_SOURCE + 1), "may be 1,000 characters long", id="long-name"),
    pytest.param("+".join(["1"] * 300), f"may nest {MAX_NESTING} levels deep", id="300-terms"),
    pytest.param("[" * 60 + "]" * 60, f"may nest {MAX_NESTING} levels deep", id="deep-lists"),
    pytest.param("-" * 400 + "1", f"may nest {MAX_NESTING} levels deep", id="deep-unary"),
    pytest.param("(" * 300 + "1" + ")" * 300, "invalid syntax", id="deep-parentheses"),
    pytest.param("a\x00b", "invalid syntax", id="null-byte"),
])
def test_too_long_or_too_deep_is_refused_when_compiled_in_one_line(source, message):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_limits_are_the_documented_ones():
    assert (MAX_SOURCE, MAX_NESTING, MAX_WORK, MAX_INT_BITS) == (1_000, 50, 5_000_000, 65_536)
