"""The ``coffeeshop-tui`` command: the app (no subcommand) and headless subcommands."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading

from .cli_common import EXIT_USAGE  # noqa: F401  (re-exported for callers)
from .cli_common import Parser as _Parser
from .cli_common import Terminated
from .cli_common import fail as _fail
from .cli_common import check_trace as _check_trace
from .cli_common import LOOP_AT_HELP, add_loop_at, loop_at_problem, positive_float, seconds_at
from .cli_common import remove as _remove


def stop_all() -> None:
    """``procs.stop_all``: stop every child process started here. Not imported at launch (the
    app's first frame needs none of it): a process that never imported ``procs`` started none."""
    procs = sys.modules.get("coffeeshop_tui.scenarios.procs")
    if procs is not None:
        procs.stop_all()


class _Version(argparse.Action):
    """``--version``: the package version and the recorder in use (worked out only when asked)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        from coffeeshop_tui.scenarios.recorder_hooks import describe_recorder

        try:
            v = version("coffeeshop-tui")
        except PackageNotFoundError:  # run from a source tree that is not installed
            v = "unknown"
        print(f"coffeeshop-tui {v}\nPython {sys.version.split()[0]}\nrecorder: {describe_recorder()}")
        parser.exit(0)


def _add_app_options(p: argparse.ArgumentParser) -> None:
    """The options of the app itself (no subcommand): the one place both parsers take them from."""
    p.add_argument("--scenario-file", metavar="PATH", help="also load scenarios from this Python file")
    p.add_argument("--block-ms", type=positive_float, default=25.0, metavar="MS",
                   help="a loop step longer than this is a block (default 25)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="coffeeshop-tui",
        description="See Python's event loop: live, measured timelines of asyncio tasks, "
        "loop blocks and thread pools. With no command, starts the app.",
    )
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print the version and which recorder is active (compiled or pure Python), then exit")
    _add_app_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="list the scenarios with their lessons",
                   description="List the scenarios with their one-line lessons and parameters.")

    r = sub.add_parser("run", help="run a scenario headless and print what was measured",
                       description="Run a scenario in a child process under the recorder, then "
                       "print a summary (or --json).")
    r.add_argument("name", help="scenario name (see 'coffeeshop-tui list')")
    r.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="set a parameter (repeatable), e.g. --set customers=5")
    r.add_argument("--json", action="store_true", help="print one JSON document instead of the summary")
    r.add_argument("--trace", metavar="FILE", help="also write Chrome trace JSON (opens in ui.perfetto.dev)")
    r.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                   help="stop the scenario after S seconds (default: no limit)")
    r.add_argument("--save", metavar="FILE", help="also save the recording (open it with 'coffeeshop-tui open')")
    r.add_argument("--loop-at", type=seconds_at, default=None, metavar="S", help=LOOP_AT_HELP)

    from coffeeshop_tui.tui.cli_load import add_load_commands  # `load` and `bench` (FastAPI load tests)

    add_load_commands(sub)
    from coffeeshop_tui.tui.cli_record import add_record_commands  # `record` (any program) and `open`

    add_record_commands(sub)
    return p


class _NotAppLaunch(Exception):
    """The command line is not a plain app launch: the full parser reads it (and reports errors)."""


class _AppLaunchParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise _NotAppLaunch(message)


def parse_app_launch(argv: list[str] | None) -> argparse.Namespace | None:
    """The arguments of a plain app launch (``coffeeshop-tui [--scenario-file PATH] [--block-ms MS]``),
    read without building every subcommand's parser (nor importing their modules): launch time.
    None for anything else (a command, ``-h``, ``--version``, a mistake): :func:`build_parser` reads
    those, so help and errors are the full parser's."""
    p = _AppLaunchParser(prog="coffeeshop-tui", add_help=False)
    _add_app_options(p)
    p.set_defaults(version=None, command=None)  # the full parser's namespace
    try:
        args, rest = p.parse_known_args(sys.argv[1:] if argv is None else argv)
    except _NotAppLaunch:
        return None
    return None if rest else args


def _settings(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def cmd_list(args) -> int:
    from coffeeshop_tui.scenarios.api import ScenarioError
    from coffeeshop_tui.scenarios.catalog import all_scenarios

    try:
        found = all_scenarios(args.scenario_file)
    except ScenarioError as exc:
        return _fail(str(exc))
    width = max(len(s.name) for s in found)
    group = None
    for s in found:
        if s.group != group:
            group = s.group
            print(f"{group}:")
        print(f"  {s.name:<{width}}  {s.lesson}")
        print(f"  {'':<{width}}  params: " + ", ".join(
            f"{p.name}={p.default}" for p in s.params))
    return 0


def cmd_run(args) -> int:
    import json

    from coffeeshop_tui.scenarios.api import ScenarioError
    from coffeeshop_tui.scenarios.catalog import find
    from coffeeshop_tui.scenarios.report import text_summary, to_chrome_trace, to_json
    from coffeeshop_tui.scenarios.protocol import DEFER_BYTES
    from coffeeshop_tui.scenarios.runner import DONE, FAILED, STOPPED, ScenarioRun

    try:
        settings = _settings(args.settings)
        sc = find(args.name, args.scenario_file)  # a user's file is described by a child
        params = sc.resolve(settings)  # validate here: errors are one line, exit 2
    except (ScenarioError, ValueError) as exc:
        return _fail(str(exc))
    if problem := loop_at_problem(args):
        return _fail(problem)
    trace_made = bool(args.trace) and not os.path.exists(args.trace)
    save_made = bool(args.save) and not os.path.exists(args.save)
    for option, path in (("--trace", args.trace), ("--save", args.save)):
        if path and (problem := _check_trace(path, option)):
            return _fail(problem)

    run = ScenarioRun(sc.name, params, args.scenario_file, block_ms=args.block_ms)
    run.defer_bytes = DEFER_BYTES  # read at the end only: decode then, not while the scenario runs
    saver = None
    if args.save:
        from coffeeshop_tui.scenarios.recording_file import header
        from coffeeshop_tui.tui.cli_record import open_saver

        saver = open_saver(args.save, header("scenario", sc.name, params, args.block_ms,
                                             scenario_file=args.scenario_file, source_file=sc.source_file))
        run.on_message = saver.add
    try:
        run.start()
        if not args.json:
            print(f"running {sc.name} ...", file=sys.stderr)
        finished = run.wait(args.timeout)
    except KeyboardInterrupt:
        run.stop()
        if trace_made:
            _remove(args.trace)
        if save_made:
            _remove(args.save)
        print("interrupted: scenario stopped", file=sys.stderr)
        raise
    finally:
        if not run.finished:
            run.stop()
        if saver is not None:
            saver.close()
    if run.timeline.start_ns is None:  # it never started: nothing was measured
        if trace_made:
            _remove(args.trace)
        if save_made:
            _remove(args.save)
        if run.status == FAILED:
            return _fail(run.error or "the scenario failed to start")
        print(f"coffeeshop-tui: timeout: stopped after {args.timeout:g} s, before the scenario "
              f"started; nothing was measured", file=sys.stderr)
        return 1
    if not finished and not args.json:
        print(f"timeout: stopped after {args.timeout:g} s", file=sys.stderr)

    with run.lock:
        doc = to_json(run.timeline, sc.name, run.resolved_params or params, run.ideal,
                      open_system=sc.open_system, status=run.status)
        doc["status"] = run.status
        trace = to_chrome_trace(run.timeline, sc.name) if args.trace else None
        problem = add_loop_at(doc, run.timeline, args)
    if trace is not None:
        with open(args.trace, "w", encoding="utf-8") as fh:
            json.dump(trace, fh)
    if problem:  # a time outside the run (known only now): the files are written, no document
        return _fail(problem)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(text_summary(doc))
        if run.status == STOPPED:
            print("status     stopped before the end")
        if run.status == FAILED and run.error_where:
            print(f"           at {run.error_where}")
        if args.trace:
            print(f"trace      {args.trace} (open it in ui.perfetto.dev)")
        if args.save:
            print(f"saved      {args.save} (replay it: coffeeshop-tui open {args.save})")
    return 1 if run.status == FAILED else 0 if run.status in (DONE, STOPPED) else 1


def cmd_app(args) -> int:
    # Launch without the cyclic GC: the imports and the first frame allocate ~90k objects, and
    # a full collection among them took 15-35 ms of a ~250 ms launch (the bare Textual app of
    # bench/app_launch.py allocates fewer and runs none). It is back on once every panel is
    # mounted: one collection, then what survived the launch (modules, classes, the main
    # screen) is frozen, so later full collections do not rescan it.
    gc.disable()
    try:
        from coffeeshop_tui.scenarios.api import ScenarioError
        from coffeeshop_tui.tui.app import create_app

        try:  # the app loads the scenarios: a broken file is a one-line error before the UI starts
            app = create_app(scenario_file=args.scenario_file, block_ms=args.block_ms)
        except ScenarioError as exc:
            return _fail(str(exc))
        app.when_panels_mounted(end_launch_gc_pause, app)
        app.run()
    finally:
        gc.enable()  # also if the app ended before its panels were mounted
    return 0


def end_launch_gc_pause(app) -> None:
    """After the launch (every panel mounted, the keys held meanwhile handled): collect once,
    freeze what survived, switch the cyclic GC back on."""

    def resume() -> None:
        gc.collect()
        gc.freeze()
        gc.enable()

    app.call_after_refresh(resume)


def _raise_terminated(signum, _frame) -> None:
    raise Terminated(signum)


def _stuck_input_threads() -> list[threading.Thread]:
    """Textual's terminal-input threads still alive once its app is over."""
    try:
        from textual.driver import Driver
    except ImportError:  # pragma: no cover
        return []
    return [t for t in threading.enumerate()
            if t.is_alive() and not t.daemon
            and isinstance(getattr(getattr(t, "_target", None), "__self__", None), Driver)]


def _exit_past_a_dead_terminal(code: int, grace_s: float = 1.0) -> None:
    """Leave even if Textual's input thread cannot stop. On a terminal that went away (tmux
    kill-session, a closed ssh) it reads EOF forever without stopping (not a daemon): the
    interpreter waited for it at exit and the process lived on at ~50% CPU. After a moment,
    the exit handlers run and the process ends. (A normal exit has no such thread left.)"""
    stuck = _stuck_input_threads()
    if not stuck:
        return
    for t in stuck:
        t.join(grace_s)
    if not any(t.is_alive() for t in stuck):
        return
    import atexit

    stop_all()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the console script: this process ends here, also past a dead terminal
        code = _main(argv)
        _exit_past_a_dead_terminal(code)
        return code
    return _main(argv)


def _main(argv: list[str] | None) -> int:
    commands = {None: cmd_app}
    args = parse_app_launch(argv)
    if args is None:  # a command (or help, or a mistake): the full parser and every command
        args = build_parser().parse_args(argv)
        commands.update({"list": cmd_list, "run": cmd_run, **_extra_commands()})
    old = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):  # the app installs its own handlers
            old[sig] = signal.signal(sig, _raise_terminated)
    try:
        return commands[args.command](args)
    except Terminated as exc:
        stop_all()
        return 128 + exc.signum
    except KeyboardInterrupt:
        stop_all()
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for sig, handler in old.items():  # main() called from Python leaves no trace
            signal.signal(sig, handler)


def _extra_commands() -> dict:
    from coffeeshop_tui.tui import cli_load, cli_record

    return {**cli_load.commands(), **cli_record.commands()}


if __name__ == "__main__":
    sys.exit(main())
