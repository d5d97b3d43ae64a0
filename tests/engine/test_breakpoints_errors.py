"""Bad input to breakpoints and paused-attempt actions: a typed one-line error, a hint where a
name was mistyped, and stored state unchanged."""

from __future__ import annotations

import pytest

from maestro_nb.errors import ExpressionError, MaestroError, ParamError, StateError, UnknownNameError

from .bp_support import SWEEP, Calls, row_counts, sweep_steps


@pytest.fixture
def sweep(engine, namespace):
    """`wf` defined, one breakpoint on wf.train, instance 1 paused at its three iterations."""
    sweep_steps(namespace, Calls())
    engine.define("wf", SWEEP)
    engine.set_breakpoint("wf.train", name="tr")
    engine.run("wf")
    return engine


def refused(engine, action, error: type[MaestroError], text: str) -> MaestroError:
    """Run `action`, expecting `error` with `text`; check that nothing changed."""
    before = (row_counts(engine), [bp.id for bp in engine.breakpoints()], engine.paused())
    with pytest.raises(error, match=text) as info:
        action(engine)
    assert isinstance(info.value, MaestroError)
    assert "\n" not in info.value.message and str(info.value) == info.value.message
    assert (row_counts(engine), [bp.id for bp in engine.breakpoints()], engine.paused()) == before
    return info.value


BAD_BREAKPOINTS = [
    ("unknown-workflow", dict(target="wff.train"), UnknownNameError, "unknown workflow 'wff'; did you mean 'wf'"),
    ("unknown-step", dict(target="wf.trian"), UnknownNameError, "unknown step 'trian'; did you mean 'train'"),
    ("no-step", dict(target="wf"), ParamError, "WORKFLOW.STEP"),
    ("syntax", dict(when="lr >"), ExpressionError, "invalid syntax"),
    ("unknown-name", dict(when="lrr > 0.05"), ParamError, "'lrr' is not a param of wf.train; did you mean 'lr'"),
    ("import", dict(when="__import__('os')"), ExpressionError, "not allowed"),
    ("attribute", dict(when="lr.real > 0"), ExpressionError, "attribute access"),
    ("pause-point", dict(pause="middle"), ParamError, "pause point 'middle' is not one of: before, after, error"),
    ("pause-point-type", dict(pause=None), ParamError, "pause point None is not one of"),
    ("every-step-before", dict(target="wf", pause="before"), ParamError, "WORKFLOW.STEP"),
    ("every-step-iteration", dict(target="wf", pause="error", iteration=0), ParamError, "iteration scope needs a step"),
    ("when-not-text", dict(when=3), ParamError, "when must be text, not int 3"),
    ("version-0", dict(version=0), ParamError, "versions 1 to 1, not 0"),
    ("version-9", dict(version=9), ParamError, "versions 1 to 1, not 9"),
    ("instance-0", dict(instance=0), ParamError, "instance must be a whole number >= 1"),
    ("instance-text", dict(instance="2"), ParamError, "instance must be a whole number >= 1"),
    ("instance-bool", dict(instance=True), ParamError, "instance must be a whole number >= 1"),
    ("run-negative", dict(run=-1), ParamError, "run must be a whole number >= 1"),
    ("iteration-text", dict(iteration="x"), ParamError, "iteration 'x' must be an index"),
    ("iteration-negative", dict(iteration=-1), ParamError, "iteration '-1' must be an index"),
    ("iteration-not-foreach", dict(target="wf.best", iteration=0), ParamError, "not inside a foreach"),
    ("name-not-identifier", dict(name="1st"), ParamError, "must be an identifier"),
    ("name-taken", dict(name="tr", pause="after"), ParamError, "named 'tr' exists already"),
    ("same-settings-other-name", dict(name="other"), ParamError,
     "breakpoint 1 on wf.train has these settings already, named 'tr'; use it, or delete it first"),
]


@pytest.mark.parametrize("kwargs, error, text", [c[1:] for c in BAD_BREAKPOINTS], ids=[c[0] for c in BAD_BREAKPOINTS])
def test_bad_breakpoint_is_refused_and_changes_nothing(sweep, kwargs, error, text):
    kwargs = dict(kwargs)
    target = kwargs.pop("target", "wf.train")
    refused(sweep, lambda e: e.set_breakpoint(target, **kwargs), error, text)


def test_a_good_breakpoint_does_add_a_row(sweep):
    """The counterpart of the table above: the row count check is not vacuous."""
    b, a, e = row_counts(sweep)
    sweep.set_breakpoint("wf.best", when="len(train) > 2")
    assert row_counts(sweep) == (b + 1, a, e + 1)


def test_deleting_twice(sweep):
    (bp,) = sweep.breakpoints()
    sweep.delete_breakpoint(bp)
    refused(sweep, lambda e: e.delete_breakpoint(bp), StateError, f"no breakpoint {bp.id}")
    refused(sweep, lambda e: e.delete_breakpoint("wf.train"), StateError, "no breakpoint on wf.train")


def test_deleting_unknown_breakpoints(sweep):
    refused(sweep, lambda e: e.delete_breakpoint("trr"), StateError, "named 'trr' \\(did you mean 'tr'\\?\\)")
    refused(sweep, lambda e: e.delete_breakpoint(99), StateError, "no breakpoint 99")
    refused(sweep, lambda e: e.delete_breakpoint("wf.best"), StateError, "no breakpoint on wf.best")
    refused(sweep, lambda e: e.delete_breakpoint("wf.bets"), UnknownNameError, "did you mean 'best'")


def test_acting_on_what_is_not_paused(sweep):
    done = sweep.paused(lr=0.1)[0]
    sweep.resume(done)
    for action in (sweep.resume, sweep.skip, sweep.stop_attempts, sweep.retry):
        refused(sweep, lambda e: action(done), StateError, "train\\[1\\] \\(attempt 1\\) is not paused; it is SUCCEEDED")
    refused(sweep, lambda e: e.resume([]), StateError, "nothing is paused there")
    refused(sweep, lambda e: e.resume(e.paused(lr=0.5)), StateError, "nothing is paused there")


def test_a_batch_with_one_bad_attempt_changes_nothing(sweep):
    done = sweep.paused(lr=0.1)[0]
    sweep.resume(done)
    refused(sweep, lambda e: e.resume(e.paused() + [done]), StateError, "is not paused")
    assert len(sweep.paused()) == 2


def test_skip_with_an_output_that_cannot_be_stored(sweep):
    (a,) = sweep.paused(lr=0.2)
    refused(sweep, lambda e: e.skip(a, output=lambda: 0), ParamError, "output cannot take a")
    assert a.status.value == "PAUSED"


def test_mutating_to_a_value_of_the_wrong_kind(sweep):
    (a,) = sweep.paused(lr=0.2)
    refused(sweep, lambda e: e.set_param(a, "lr", {1, 2}), ParamError, "cannot take a builtins.set")
    refused(sweep, lambda e: e.set_param(a, "nope", 1), UnknownNameError, "unknown param 'nope'")
    refused(sweep, lambda e: e.set_output(a, 3), StateError, "paused before its step ran")
    assert a.params == {"load": [1, 2], "lr": 0.2}
