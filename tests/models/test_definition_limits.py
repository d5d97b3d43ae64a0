"""Definition checks stay near-linear, and what would blow them up is refused first."""

from __future__ import annotations

import json
import sys

import pytest

from maestro_nb.errors import DefinitionError
from maestro_nb.models.parse import MAX_DEFINITION_DEPTH, MAX_DEFINITION_VALUES, parse_definition


def chain(n: int, nested: bool = False) -> dict:
    """n steps in a chain; each reads the first step and the one before it (the worst case for a
    search of what is upstream), optionally inside a foreach body."""
    steps = [{"id": f"s{i}", "run": "f", **({"after": [f"s{i - 1}"], "params": {"x": f"${{s0 + s{i - 1}}}"}}
                                          if i else {})} for i in range(n)]
    if nested:
        return {"steps": [{"id": "loop", "foreach": {"k": [1, 2]}, "steps": steps}]}
    return {"steps": steps}


def calls(fn) -> int:
    """How many functions `fn` calls (Python and C): a count of work that load cannot change."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("shape", ["dict", "yaml", "nested"])
def test_checking_a_definition_grows_linearly_with_its_steps(shape):
    def parse(n: int):
        source = chain(n, nested=shape == "nested")
        text = json.dumps(source) if shape == "yaml" else source  # JSON is YAML
        return lambda: parse_definition("w", text)

    small, large = calls(parse(400)), calls(parse(1600))
    assert large < 4.4 * small, (small, large)  # 4x the steps: about 4x the work, not 16x


def test_a_long_chain_is_checked_in_full():
    definition = parse_definition("w", chain(3000))
    assert "s0" in definition.upstream("s2999") and "s2999" not in definition.upstream("s0")
    assert len(definition.upstream("s2999")) == 2999
    with pytest.raises(DefinitionError, match="step 's5' is not upstream of 's3'"):
        broken = chain(10)
        broken["steps"][3]["params"]["x"] = "${s5}"
        parse_definition("w", broken)


def test_an_alias_bomb_is_refused_before_it_is_expanded():
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        lines.append(f"  a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    text = "params:\n  bomb:\n" + "\n".join("  " + line for line in lines) + "\nsteps:\n  - id: s\n    noop: true\n"
    assert len(text) < 800
    with pytest.raises(DefinitionError, match=f"more than {MAX_DEFINITION_VALUES:,} values"):
        parse_definition("w", text)
    assert calls(lambda: _refused(text)) < 9 ** 8 // 100  # refused long before 43 million values


def _refused(text: str) -> None:
    with pytest.raises(DefinitionError):
        parse_definition("w", text)


def test_aliases_that_stay_small_are_fine():
    text = ("params:\n  base: &base {lr: 0.1, depth: 3}\n  copy: *base\nsteps:\n  - id: s\n    run: f\n"
            "    params:\n      cfg: *base\n")
    definition = parse_definition("w", text)
    assert definition.params["copy"] == {"lr": 0.1, "depth": 3}


def test_nesting_is_refused_past_the_limit_in_yaml_and_in_a_dict():
    deep: list = []
    for _ in range(MAX_DEFINITION_DEPTH + 5):
        deep = [deep]
    with pytest.raises(DefinitionError, match=f"more than {MAX_DEFINITION_DEPTH} levels"):
        parse_definition("w", {"params": {"p": deep}, "steps": [{"id": "a", "noop": True}]})
    text = "params:\n  p: " + "[" * 5000 + "]" * 5000 + "\nsteps:\n  - id: a\n    noop: true\n"
    with pytest.raises(DefinitionError, match=f"more than {MAX_DEFINITION_DEPTH} levels"):
        parse_definition("w", text)
