"""Bad input through the magics: one UsageError line naming the culprit, and no state changed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from IPython.core.error import UsageError

from maestro_nb.magics.kernel import session_for

from .test_magics import CODE, TUNE

VIEWS = ("workflows", "instances", "steps", "iterations", "attempts", "events", "breakpoints")


@dataclass(frozen=True)
class BadMagic:
    """A magic line (and cell body, for %%workflow) and text its one-line error must hold."""

    id: str
    magic: str
    line: str
    culprit: tuple[str, ...]
    cell: str | None = None


CASES = [
    BadMagic("run-unknown-workflow", "workflow", "run tunee", ("unknown workflow 'tunee'", "did you mean 'tune'")),
    BadMagic("run-unknown-param", "workflow", "run tune nrows=5", ("'nrows'", "did you mean 'n_rows'")),
    BadMagic("run-param-without-value", "workflow", "run tune n_rows", ("n_rows",)),
    BadMagic("run-unknown-option", "workflow", "run tune --bogus", ("--bogus", "%workflow? shows the usage")),
    BadMagic("run-unclosed-quote", "workflow", "run 'tune", ("check the quotes",)),
    BadMagic("unknown-subcommand", "workflow", "frobnicate", ("frobnicate",)),
    BadMagic("status-unknown-workflow", "workflow", "status nope", ("unknown workflow 'nope'",)),
    BadMagic("status-instance-without-name", "workflow", "status --instance 1", ("needs the workflow name",)),
    BadMagic("status-instance-not-a-number", "workflow", "status tune --instance x", ("--instance", "'x'")),
    BadMagic("status-unknown-instance", "workflow", "status tune --instance 99", ("instance '99'",)),
    BadMagic("results-without-step", "workflow", "results tune", ("WORKFLOW.STEP",)),
    BadMagic("results-unknown-step", "workflow", "results tune.nope", ("step 'nope'",)),
    BadMagic("restart-unknown-step", "workflow", "restart tune --from nope", ("step 'nope'",)),
    BadMagic("restart-paused-instance", "workflow", "restart tune", ("restart needs a finished instance",)),
    BadMagic("stop-unknown-workflow", "workflow", "stop nope", ("unknown workflow 'nope'",)),
    BadMagic("timeline-unknown-instance", "workflow", "timeline tune --instance 7", ("instance '7'",)),
    BadMagic("show-version-zero", "workflow", "show tune --version 0", ("version", ">= 1")),
    BadMagic("show-unknown-version", "workflow", "show tune --version 9", ("version '9'",)),
    BadMagic("db-folder-missing", "workflow", "db no/such/folder/x.duckdb", ("folder does not exist",)),
    BadMagic("define-bad-name", "workflow", "bad/name", ("'bad/name'",), cell="steps:\n  - id: a\n    noop: true\n"),
    BadMagic("define-key-typo", "workflow", "w", ("'runn'", "did you mean 'run'"), cell="steps:\n  - id: a\n    runn: f\n"),
    BadMagic("define-python-tag", "workflow", "w", ("!!python/tuple",),
             cell="params:\n  p: !!python/tuple [1, 2]\nsteps:\n  - id: a\n    noop: true\n"),
    BadMagic("define-date", "workflow", "w", ("'day'", "a date"),
             cell="params:\n  day: 2020-01-02\nsteps:\n  - id: a\n    noop: true\n"),
    BadMagic("define-expression-too-long", "workflow", "w", ("1,000 characters",),
             cell="steps:\n  - id: a\n    run: f\n    params:\n      x: ${" + "+".join(["1"] * 600) + "}\n"),
    BadMagic("define-foreach-over-limit", "workflow", "w", ("6 iterations exceed the limit of 5",),
             cell="steps:\n  - id: a\n    noop: true\n    foreach: {x: [1, 2, 3], y: [1, 2]}\n    max_iterations: 5\n"),
    BadMagic("breakpoint-unknown-step", "breakpoint", "tune.nope", ("step 'nope'",)),
    BadMagic("breakpoint-bad-condition", "breakpoint", "tune.train --when 'lr >'", ("invalid syntax",)),
    BadMagic("breakpoint-attribute-condition", "breakpoint", "tune.train --when 'lr.real > 1'", ("attribute",)),
    BadMagic("breakpoint-unknown-name-in-condition", "breakpoint", "tune.train --when 'rate > 1'",
             ("'rate' is not a param",)),
    BadMagic("breakpoint-instance-zero", "breakpoint", "tune.train --instance 0", ("instance", ">= 1")),
    BadMagic("breakpoint-iteration-text", "breakpoint", "tune.train --iteration x", ("iteration 'x'",)),
    BadMagic("breakpoint-name-taken", "breakpoint", "tune.load --as gate", ("'gate'",)),
    BadMagic("breakpoint-delete-unknown", "breakpoint", "delete 999", ("no breakpoint 999",)),
    BadMagic("breakpoint-delete-unknown-step", "breakpoint", "delete tune.nope", ("step 'nope'",)),
    BadMagic("resume-several-without-all", "resume", "tune.train", ("4 paused attempts", "--all")),
    BadMagic("resume-unknown-step", "resume", "tune.nope", ("nope",)),
    BadMagic("resume-instance-not-a-number", "resume", "--instance x", ("--instance", "'x'")),
    BadMagic("skip-unknown-workflow", "skip", "tunee.train --all", ("unknown workflow 'tunee'",)),
    BadMagic("skip-output-without-value", "skip", "tune.train --all --output", ("--output",)),
]


def dump(shell) -> dict[str, list[str]]:
    engine = session_for(shell).engine
    engine.flush()
    return {view: sorted(map(repr, engine.store.rows(f"SELECT * FROM {view}"))) for view in VIEWS}


@pytest.fixture
def tune(shell):
    shell.run_line_magic("workflow", "db state.duckdb")
    shell.run_cell(CODE)
    shell.run_cell_magic("workflow", "tune", TUNE)
    shell.run_line_magic("breakpoint", "tune.train --as gate")
    shell.run_line_magic("workflow", "run tune")
    assert len(shell.user_ns["paused"]) == 4
    return shell


def test_the_table_is_big_enough():
    assert len(CASES) >= 30 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_magic_is_one_usage_error_and_changes_nothing(tune, case):
    before = dump(tune)
    with pytest.raises(UsageError) as info:
        if case.cell is None:
            tune.run_line_magic(case.magic, case.line)
        else:
            tune.run_cell_magic(case.magic, case.line, case.cell)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    for text in case.culprit:
        assert text in message, message
    assert dump(tune) == before
    assert len(tune.user_ns["paused"]) == 4
