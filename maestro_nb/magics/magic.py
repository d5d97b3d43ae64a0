"""The magics: parse arguments with `magic_arguments`, hand off to one module per subcommand family.

Each `_cmd_*` function below is a parser (its decorators) plus a one-line hand-off; the help
that `%workflow?` and `%breakpoint?` print is generated from these parsers.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Int, Unicode, observe

from ..errors import nearest
from . import actions, breakpoints, reports, statefile, workflows
from .kernel import KernelSession, session_for
from .usage import parse_overrides, parse_value, split_target, usage_errors

__all__ = ["MaestroMagics"]

Command = Callable[[KernelSession, Any], Any]


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read {line.strip()!r}: {exc} (check the quotes)") from None


def _parse(command: Command, words: list[str]) -> Any:
    parser = command.parser  # type: ignore[attr-defined]
    try:
        return parser.parse_intermixed_args(words)
    except UsageError as exc:
        error = exc
    try:
        parser.parse_args(words)  # argparse's plain parse often says more precisely what is wrong
    except UsageError as exc:
        error = exc
    name = command.argcmd_name  # type: ignore[attr-defined]
    raise UsageError(f"%{name}: {error}; %{name.split()[0]}? shows the usage") from None


# --- %workflow ---------------------------------------------------------------------------
@magic_arguments(name="workflow run")
@argument("name", help="the workflow to start")
@argument("params", nargs="*", default=[], metavar="NAME=VALUE",
          help="workflow param overrides; VALUE is JSON (0.1, [1, 2], true) or else plain text")
@argument("--background", action="store_true", help="return at once; the display updates as the run goes")
def _cmd_run(session: KernelSession, args: Any) -> Any:
    """Start an instance and run it until every runnable step is done or paused."""
    return workflows.run(session, args.name, parse_overrides(args.params), background=args.background)


@magic_arguments(name="workflow status")
@argument("name", nargs="?", help="a workflow (default: every instance of every workflow)")
@argument("--instance", type=int, metavar="N", help="an instance number (default: the latest)")
def _cmd_status(session: KernelSession, args: Any) -> Any:
    """Show instances, or one instance's steps and paused attempts."""
    if args.name is None and args.instance is not None:
        raise UsageError("%workflow status --instance N needs the workflow name")
    return reports.status(session, args.name, args.instance)


@magic_arguments(name="workflow results")
@argument("target", metavar="WF.STEP", help="the step")
@argument("--instance", type=int, metavar="N", help="an instance number (default: the latest)")
def _cmd_results(session: KernelSession, args: Any) -> Any:
    """Return a DataFrame: one row per iteration, loop params, status, attempt, output fields."""
    workflow, step = split_target(args.target)
    return reports.results(session, workflow, step, args.instance)


@magic_arguments(name="workflow restart")
@argument("name", help="the workflow")
@argument("--instance", type=int, metavar="N", help="an instance number (default: the latest)")
@argument("--from", dest="from_step", metavar="STEP", help="re-run this step and everything after it")
@argument("--iteration", metavar="K", help="with --from, re-run only this iteration of STEP (2, or 2/0 nested)")
@argument("--background", action="store_true", help="return at once; the display updates as the run goes")
def _cmd_restart(session: KernelSession, args: Any) -> Any:
    """Start a new run of a finished instance, keeping every upstream success."""
    return workflows.restart(session, args.name, args.instance, from_step=args.from_step,
                             iteration=args.iteration, background=args.background)


@magic_arguments(name="workflow stop")
@argument("name", help="the workflow")
@argument("--instance", type=int, metavar="N", help="an instance number (default: the latest)")
def _cmd_stop(session: KernelSession, args: Any) -> Any:
    """Stop an instance: its paused and queued attempts end STOPPED."""
    return workflows.stop(session, args.name, args.instance)


@magic_arguments(name="workflow timeline")
@argument("name", help="the workflow")
@argument("--instance", type=int, metavar="N", help="an instance number (default: the latest)")
def _cmd_timeline(session: KernelSession, args: Any) -> Any:
    """Return a DataFrame of every transition and event, with seconds since the first one."""
    return reports.timeline(session, args.name, args.instance)


@magic_arguments(name="workflow show")
@argument("name", help="the workflow")
@argument("--version", type=int, metavar="V", help="a version (default: the latest)")
def _cmd_show(session: KernelSession, args: Any) -> Any:
    """Show a workflow's DAG."""
    return workflows.show(session, args.name, args.version)


@magic_arguments(name="workflow panel")
@argument("name", nargs="?", help="a workflow (default: the one run last)")
@argument("--instance", type=int, metavar="N", help="an instance number (default: the latest)")
def _cmd_panel(session: KernelSession, args: Any) -> Any:
    """Show the live panel: the DAG with statuses, progress, paused attempts to edit and resume,
    breakpoints, approval gates (ipywidgets)."""
    if args.name is None and args.instance is not None:
        raise UsageError("%workflow panel --instance N needs the workflow name")
    return workflows.panel(session, args.name, args.instance)


@magic_arguments(name="workflow recover")
def _cmd_recover(session: KernelSession, args: Any) -> Any:
    """Run on the instances that were unfinished when the state file was opened (after a crash)."""
    return workflows.recover(session)


@magic_arguments(name="workflow db")
@argument("path", nargs="?", help="a DuckDB file, or :memory: (default: show the current one)")
@argument("--fresh", action="store_true", help="delete the file first: start from an empty state")
def _cmd_db(session: KernelSession, args: Any) -> Any:
    """Show or change the state file (default: $MAESTRO_NB_DB, else maestro_nb.duckdb here)."""
    return statefile.db(session, args.path, fresh=args.fresh)


@magic_arguments(name="%workflow")
@argument("name", help="the workflow; the cell body is its YAML definition")
def _cmd_define(session: KernelSession, args: Any) -> Any:
    """(cell magic) Define a workflow, or a new version of it when the body changed; shows its DAG."""


WORKFLOW_COMMANDS: dict[str, Command] = {
    "run": _cmd_run, "status": _cmd_status, "results": _cmd_results, "restart": _cmd_restart,
    "stop": _cmd_stop, "timeline": _cmd_timeline, "show": _cmd_show, "db": _cmd_db,
    "recover": _cmd_recover, "panel": _cmd_panel,
}


# --- %breakpoint ---------------------------------------------------------------------------
@magic_arguments(name="breakpoint")
@argument("target", metavar="WF.STEP", help="the step to pause at (with --on-error, WF alone: every step of it)")
@argument("--when", metavar="EXPR", help="pause only when this expression over the bound params is true")
@argument("--after", action="store_true", help="pause after the step ran, before its output is committed")
@argument("--on-error", action="store_true",
          help="break on failure: pause when the step raises (its retries spent) instead of failing")
@argument("--gate", action="store_true",
          help="an approval gate: its attempts wait for .approve(comment) (go on) or .reject(comment) (skip)")
@argument("--version", type=int, metavar="V", help="only instances of this version")
@argument("--instance", type=int, metavar="N", help="only this instance")
@argument("--run", type=int, metavar="R", help="only this run of an instance")
@argument("--iteration", metavar="K", help="only this foreach iteration (2, or 2/0 nested)")
@argument("--as", dest="name", metavar="NAME", help="the variable holding its paused attempts (default bp_<step>)")
def _cmd_breakpoint(session: KernelSession, args: Any) -> Any:
    """Pause every attempt of WF.STEP that reaches it; its paused attempts land in a variable."""
    if args.after and args.on_error:
        raise UsageError("%breakpoint: --after and --on-error are two pause points; give one "
                         "(set two breakpoints for both)")
    if args.gate and args.on_error:
        raise UsageError("%breakpoint: --gate pauses before (or --after) a step for a person to approve; "
                         "--on-error breaks on failure: give one")
    if "." not in args.target and not args.on_error:
        raise UsageError(f"{args.target!r}: name a step as WORKFLOW.STEP, e.g. tune.train (or break on "
                         f"failure at every step of a workflow: %breakpoint {args.target} --on-error)")
    workflow, step = split_target(args.target, step_required=not args.on_error)
    point = "error" if args.on_error else "after" if args.after else "before"
    return breakpoints.set_breakpoint(session, workflow, step, when=args.when, pause=point,
                                      version=args.version, instance=args.instance, run=args.run,
                                      iteration=args.iteration, name=args.name, gate=args.gate)


@magic_arguments(name="breakpoint list")
def _cmd_breakpoint_list(session: KernelSession, args: Any) -> Any:
    """List the active breakpoints."""
    return breakpoints.list_breakpoints(session)


@magic_arguments(name="breakpoint delete")
@argument("selector", metavar="WF.STEP|ID|NAME", help="every breakpoint on a step, or one by id or name")
@argument("--keep-paused", action="store_true", help="leave the attempts it paused paused")
def _cmd_breakpoint_delete(session: KernelSession, args: Any) -> Any:
    """Delete breakpoints; the attempts they alone held resume (unless --keep-paused)."""
    return breakpoints.delete_breakpoint(session, args.selector, keep_paused=args.keep_paused)


# --- %resume and %skip ---------------------------------------------------------------------
def _selector_arguments(func: Callable) -> Callable:
    for deco in reversed((
        argument("target", nargs="?", metavar="WF.STEP", help="a workflow's step (or just the workflow)"),
        argument("filters", nargs="*", default=[], metavar="NAME=VALUE", help="loop params of the iterations, e.g. lr=0.1"),
        argument("--instance", type=int, metavar="N", help="only this instance"),
        argument("--iteration", metavar="K", help="only this foreach iteration (2, or 2/0 nested)"),
        argument("--all", dest="every", action="store_true", help="every matching attempt (else exactly one)"),
    )):
        func = deco(func)
    return func


def _select(session: KernelSession, args: Any) -> list:
    filters = list(args.filters)
    target = args.target
    if target is not None and "=" in target:
        filters.insert(0, target)
        target = None
    workflow, step = split_target(target, step_required=False) if target else (None, None)
    return actions.select(session, workflow, step, instance=args.instance, iteration=args.iteration,
                          loop_params=parse_overrides(filters, "loop param"), every=args.every)


@magic_arguments(name="resume")
@_selector_arguments
@argument("--step", action="store_true", help="pause again at the next downstream step")
def _cmd_resume(session: KernelSession, args: Any) -> Any:
    """Resume paused attempts (one, unless --all) and run until quiescent."""
    return actions.resume(session, _select(session, args), step=args.step)


@magic_arguments(name="skip")
@_selector_arguments
@argument("--output", metavar="JSON", help="the output successors see (JSON, or else plain text)")
def _cmd_skip(session: KernelSession, args: Any) -> Any:
    """Skip paused attempts (one, unless --all): they end SKIPPED without running."""
    output = parse_value(args.output) if args.output is not None else actions.MISSING
    return actions.skip(session, _select(session, args), output)


def _help(title: str, commands: list[Command]) -> str:
    parts = [title, ""]
    for command in commands:
        parts.append(command.__doc__ or "")
    return "\n".join(parts)


@magics_class
class MaestroMagics(Magics):
    """`%%workflow`, `%workflow`, `%breakpoint`, `%resume`, `%skip`: maestro_nb in a notebook."""

    executor = Unicode("inline", help="Where the kernel engine runs step code: 'inline' (deterministic; a "
                       "background run drives from its own thread), 'threads' (a pool of `workers` threads), "
                       "'dask' (a LocalCluster of worker processes) or 'dask://ADDRESS' (a running Dask "
                       "scheduler). %config MaestroMagics.executor = ... takes effect at once.").tag(config=True)
    workers = Int(0, min=0, help="Threads of the 'threads' executor; 0: one per CPU.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any):
        self.session = session_for(shell)
        super().__init__(shell, **kwargs)  # loads the settings of the shell's config
        self.session.use_executor(self.executor, self.workers or None)

    @observe("executor", "workers")
    def _use_executor(self, change: Any) -> None:
        """%config MaestroMagics.executor (or .workers) applies to the open engine at once, or is
        refused in one line (while a background run goes on), leaving the setting as it was."""
        session = getattr(self, "session", None)
        if session is None or self._reverting:
            return
        try:
            with usage_errors():
                session.use_executor(self.executor, self.workers or None)
        except UsageError:
            self._reverting = True
            try:
                setattr(self, change.name, change.old)
            finally:
                self._reverting = False
            raise

    _reverting = False

    def _dispatch(self, command: Command, words: list[str], source: str | None = None) -> Any:
        args = _parse(command, words)
        with usage_errors(source):
            return command(self.session, args)

    @line_cell_magic
    def workflow(self, line: str, cell: str | None = None) -> Any:
        words = _words(line)
        if cell is not None:
            args = _parse(_cmd_define, words)
            with usage_errors(cell):
                return workflows.define(self.session, args.name, cell)
        if not words:
            raise UsageError("%workflow needs a subcommand: " + ", ".join(WORKFLOW_COMMANDS)
                             + "; %workflow? shows the usage")
        command = WORKFLOW_COMMANDS.get(words[0])
        if command is None:
            hint = nearest(words[0], WORKFLOW_COMMANDS)
            raise UsageError(f"unknown subcommand %workflow {words[0]}"
                             + (f"; did you mean %workflow {hint}?" if hint else "")
                             + " (subcommands: " + ", ".join(WORKFLOW_COMMANDS) + ")")
        return self._dispatch(command, words[1:])

    @line_magic("breakpoint")
    def breakpoint_(self, line: str) -> Any:
        words = _words(line)
        if not words or words[0] == "list":
            return self._dispatch(_cmd_breakpoint_list, words[1:])
        if words[0] == "delete":
            return self._dispatch(_cmd_breakpoint_delete, words[1:])
        return self._dispatch(_cmd_breakpoint, words)

    @line_magic
    def resume(self, line: str) -> Any:
        return self._dispatch(_cmd_resume, _words(line))

    @line_magic
    def skip(self, line: str) -> Any:
        return self._dispatch(_cmd_skip, _words(line))

    workflow.__doc__ = _help(
        "Define, run and inspect workflows. Subcommands:",
        [_cmd_define, *WORKFLOW_COMMANDS.values()],
    )
    breakpoint_.__doc__ = _help(
        "Set, list and delete step breakpoints:",
        [_cmd_breakpoint, _cmd_breakpoint_list, _cmd_breakpoint_delete],
    )
    resume.__doc__ = _cmd_resume.__doc__
    skip.__doc__ = _cmd_skip.__doc__
