"""``coffeeshop-tui record`` (any asyncio program, recorded) and ``open`` (a saved recording).

    coffeeshop-tui record [--json [--loop-at S]] [--trace F] [--save F] [--timeout S] [--loop asyncio] -- SCRIPT.py [ARGS...]
    coffeeshop-tui record [options] -- -m MODULE [ARGS...]
    coffeeshop-tui open FILE [--json [--loop-at S]] [--trace F]

``record`` runs the program unchanged in a child process (``scenarios/record_run.py``), with
the recorder on every event loop it makes, and reports what was measured like ``run``. The
``--save`` writer (:func:`open_saver`) is shared with ``run``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .cli_common import (LOOP_AT_HELP, Terminated, add_loop_at, check_trace, fail, loop_at_problem,
                         positive_float, remove, seconds_at)

RECORD_HELP = """\
The program runs as `python SCRIPT.py ARGS` (or `python -m MODULE ARGS`) would run it: its
stdin, stdout, stderr and exit status are its own (with --json, its stdout goes to stderr, so
stdout holds only the JSON document). Every asyncio event loop it makes is recorded
(asyncio.run, new_event_loop, several loops one after another), one loop at a time: a loop
that runs in another thread is recorded while no other loop runs (its tasks are labelled
"loop N (thread name)"); a loop that runs while another loop runs is not recorded (you are
told how many were not). Only stdlib loops can be recorded: a program that uses uvloop is
told so; --loop asyncio makes uvloop.install()/uvloop.run()/its policy give the stdlib loop
instead.

Without --json/--trace/--save, on a terminal, the app opens on the live recording (r runs
the program again; what it printed is shown when you quit); piped, the summary is printed."""


def add_record_commands(sub) -> None:
    r = sub.add_parser("record", help="record your own asyncio program: record [options] -- SCRIPT.py [ARGS]",
                       description="Run an asyncio program (a script, or -m MODULE) in a child process "
                       "with the recorder on every event loop it makes, then print what was measured.",
                       epilog=RECORD_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--json", action="store_true", help="print one JSON document (as 'run --json')")
    r.add_argument("--trace", metavar="FILE", help="also write Chrome trace JSON (opens in ui.perfetto.dev)")
    r.add_argument("--save", metavar="FILE", help="also save the recording (open it with 'coffeeshop-tui open')")
    r.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                   help="stop the program after S seconds (default: no limit)")
    r.add_argument("--block-ms", type=positive_float, default=argparse.SUPPRESS, metavar="MS",
                   help="a loop step longer than this is a block (default 25; also before the command)")
    r.add_argument("--loop-at", type=seconds_at, default=None, metavar="S", help=LOOP_AT_HELP)
    r.add_argument("--loop", choices=("auto", "asyncio"), default="auto",
                   help="asyncio: make uvloop give the stdlib loop, so it can be recorded (default auto)")
    r.add_argument("target", nargs=argparse.REMAINDER, metavar="-- SCRIPT.py [ARGS] | -- -m MODULE [ARGS]")

    o = sub.add_parser("open", help="replay a saved recording (--save) in the app, or print it",
                       description="Open a recording saved with --save: in the app with every view "
                       "(scrub, zoom, hover, compare, export), or headless with --json / --trace.")
    o.add_argument("file", help="a recording saved with --save")
    o.add_argument("--json", action="store_true", help="print the run's JSON document instead")
    o.add_argument("--trace", metavar="FILE", help="write Chrome trace JSON instead of opening the app")
    o.add_argument("--loop-at", type=seconds_at, default=None, metavar="S", help=LOOP_AT_HELP)


def commands() -> dict:
    return {"record": cmd_record, "open": cmd_open}


def _target(args) -> tuple[str | None, str | None, list[str]]:
    """(script, module, argv) from ``-- SCRIPT.py ARGS`` / ``-- -m MODULE ARGS``; ValueError."""
    rest = list(args.target)
    if not rest or rest[0] != "--":
        raise ValueError("record: put the program after --, e.g. "
                         "'coffeeshop-tui record -- app.py' or 'coffeeshop-tui record -- -m package.module'")
    rest = rest[1:]
    if not rest:
        raise ValueError("record: nothing to run after --")
    if rest[0] == "-m":
        if len(rest) < 2:
            raise ValueError("record: -m needs a module name")
        return None, rest[1], rest[2:]
    if rest[0].startswith("-m") and len(rest[0]) > 2:  # -mpackage.module, as python accepts
        return None, rest[0][2:], rest[1:]
    if rest[0].startswith("-"):
        raise ValueError(f"record: expected a script or -m MODULE after --, got {rest[0]!r}")
    return rest[0], None, rest[1:]


def open_saver(path: str, head: dict):
    """A writer for ``--save`` (its ``add`` is a run's ``on_message``); OSError if it cannot."""
    from coffeeshop_tui.scenarios.recording_file import Writer

    return Writer(path, head)


class LoadSaver:
    """``load --save``: the load test's updates (``scenarios/web/load_replay.py``'s encoding)
    as they come, then its final report."""

    def __init__(self, path: str, settings: dict) -> None:
        from coffeeshop_tui.scenarios.recording_file import header

        params = {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool, type(None)))}
        self._w = open_saver(path, header("load", settings.get("endpoint") or "load", params,
                                          settings.get("block_ms", 25.0)))

    def add(self, update) -> None:
        from coffeeshop_tui.scenarios.web.load_replay import update_to_dict

        self._w.add({"type": "load-update", "update": update_to_dict(update)})

    def finish(self, update, report: dict) -> None:
        self.add(update)
        self._w.add({"type": "load-report", "report": report})
        self._w.close()


def _open_load(args, rec) -> int:
    """A saved load test: its report (--json, or the summary with --trace absent), or the
    load screen replaying its updates."""
    from coffeeshop_tui.tui.recording_app import load_parts, load_replay_app

    updates, reports = load_parts(rec)
    if args.trace:
        return fail("--trace: a saved load test has no Chrome trace")
    if args.loop_at is not None:
        return fail("--loop-at: a saved load test keeps no record of its server's loop queue")
    if args.json:
        if not reports:
            return fail(f"{args.file}: the saved load test has no report (it was cut short)")
        print(json.dumps(reports[-1], indent=1))
        return 0
    if not updates:
        return fail(f"{args.file}: the saved load test has no updates")
    load_replay_app(updates).run()
    return 0


def _outputs_ok(args) -> str | None:
    for option, path in (("--trace", args.trace), ("--save", getattr(args, "save", None))):
        if path and (problem := check_trace(path, option)):
            return problem
    return None


def cmd_record(args) -> int:
    from coffeeshop_tui.scenarios.protocol import DEFER_BYTES
    from coffeeshop_tui.scenarios.record_run import RecordError, RecordRun, check_target, target_name
    from coffeeshop_tui.scenarios.recording_file import header
    from coffeeshop_tui.scenarios.report import to_chrome_trace, to_json
    from coffeeshop_tui.scenarios.runner import FAILED, STOPPED

    try:
        script, module, argv = _target(args)
        check_target(script, module)
    except (ValueError, RecordError) as exc:
        return fail(str(exc))
    if problem := loop_at_problem(args):
        return fail(problem)
    made = [p for p in (args.trace, args.save) if p and not os.path.exists(p)]
    if problem := _outputs_ok(args):
        return fail(problem)
    name = target_name(script, module)
    if not (args.json or args.trace or args.save) and _on_a_terminal():
        return _record_in_app(args, script, module, argv, name)
    run = RecordRun(script, module, argv, block_ms=args.block_ms, loop=args.loop,
                    stdout=sys.stderr.fileno() if args.json else None)
    run.defer_bytes = DEFER_BYTES  # read at the end only: decode then, not while the program runs
    saver = None
    if args.save:
        source_file = os.path.abspath(script) if script else ""
        saver = open_saver(args.save, header("record", name, {"argv": argv}, args.block_ms,
                                             source_file=source_file))
        run.on_message = saver.add
    try:
        run.start()
        try:
            finished = run.wait(args.timeout)
        except KeyboardInterrupt as exc:
            if not _interrupt(run, exc):
                raise
            finished = True
    except KeyboardInterrupt:
        run.stop()
        for p in made:
            remove(p)
        print("interrupted: program stopped", file=sys.stderr)
        raise
    finally:
        if not run.finished:
            run.stop()
        if saver is not None:
            saver.close()
    if run.timeline.start_ns is None:
        for p in made:
            remove(p)
        return fail(run.error or "the program could not be started")
    if not finished:
        print(f"coffeeshop-tui: timeout: stopped the program after {args.timeout:g} s", file=sys.stderr)
    for note in run.notes:
        print(f"coffeeshop-tui: note: {note}", file=sys.stderr)
    with run.lock:
        doc = to_json(run.timeline, name, {"argv": argv}, None)
        doc["status"] = run.status
        trace = to_chrome_trace(run.timeline, name) if args.trace else None
        problem = add_loop_at(doc, run.timeline, args)
    if problem:  # a time outside the run (known only now)
        return fail(problem)
    if finished and not run.ended:
        code = run.returncode
        how = (f"the program was killed by signal {-code}" if code is not None and code < 0
               else f"the program exited with status {code}" if code is not None else "the program ended")
        print(f"coffeeshop-tui: note: {how} before its recording was complete (os._exit, a signal or "
              f"a crash): its last moments may be missing", file=sys.stderr)
    elif not doc["tasks"] and not run.notes:
        print("coffeeshop-tui: note: no event loop ran: nothing was recorded", file=sys.stderr)
    _print(args, doc, trace)
    if run.status == STOPPED:
        return 0
    if run.returncode is not None and run.returncode >= 0:
        return run.returncode
    return 1 if run.status == FAILED else 0


def _on_a_terminal() -> bool:
    """The app needs a terminal: piped or redirected, ``record`` prints the summary instead."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _record_in_app(args, script, module, argv, name) -> int:
    """The live timeline of the program in the app; its exit status once the app is closed."""
    from functools import partial

    from coffeeshop_tui.scenarios.api import ScenarioError
    from coffeeshop_tui.scenarios.record_run import RecordRun
    from coffeeshop_tui.tui.recording_app import ProgramApp

    make_run = partial(RecordRun, script, module, argv, loop=args.loop, capture_output=True)
    try:
        app = ProgramApp(name, make_run, os.path.abspath(script) if script else "",
                         scenario_file=args.scenario_file, block_ms=args.block_ms)
    except ScenarioError as exc:
        return fail(str(exc))
    app.run()
    run = app.last_run
    if run is None or not run.finished or run.returncode is None:
        return 0  # closed while it ran: the program was stopped
    tail = run.output_tail.lines()[-20:]
    if tail:
        print(f"last lines the program printed ({name}):", file=sys.stderr)
        for line in tail:
            print(f"  {line}", file=sys.stderr)
    for note in run.notes:
        print(f"coffeeshop-tui: note: {note}", file=sys.stderr)
    return run.returncode if run.returncode >= 0 else 1


def _interrupt(run, exc: KeyboardInterrupt, grace_s: float = 5.0) -> bool:
    """Ctrl-C: the program gets it too (its own process group does not see the terminal's),
    and has ``grace_s`` to end as it would (KeyboardInterrupt, cleanup); True if it did.
    SIGTERM/SIGHUP (and a second Ctrl-C) stop it at once."""
    import signal

    if isinstance(exc, Terminated) or run.pid is None:
        return False
    # (said first: the program's own last words, on the same stderr, come after it)
    print("interrupted: the program was sent Ctrl-C", file=sys.stderr, flush=True)
    try:
        os.kill(run.pid, signal.SIGINT)
    except OSError:
        return False
    return run.wait(grace_s)


def _print(args, doc: dict, trace: dict | None) -> None:
    from coffeeshop_tui.scenarios.report import text_summary

    if trace is not None:
        with open(args.trace, "w", encoding="utf-8") as fh:
            json.dump(trace, fh)
    if args.json:
        print(json.dumps(doc, indent=1))
        return
    print(text_summary(doc))
    if args.trace:
        print(f"trace      {args.trace} (open it in ui.perfetto.dev)")
    if getattr(args, "save", None):
        print(f"saved      {args.save} (replay it: coffeeshop-tui open {args.save})")


def cmd_open(args) -> int:
    from coffeeshop_tui.scenarios.recording_file import RecordingError, read
    from coffeeshop_tui.scenarios.report import to_chrome_trace

    try:
        rec = read(args.file)
    except RecordingError as exc:
        return fail(str(exc))
    if rec.kind == "load":
        try:
            return _open_load(args, rec)
        except (KeyError, TypeError, ValueError) as exc:
            return fail(f"{args.file} is corrupt (a load update that does not read: {exc!r})"[:300])
    if problem := loop_at_problem(args):
        return fail(problem)
    if args.trace and (problem := check_trace(args.trace)):
        return fail(problem)
    from coffeeshop_tui.tui.recording_app import RecordingApp, document, replay

    if args.json or args.trace:
        played = replay(rec)
        doc = document(rec, played)
        trace = None
        if args.trace or args.loop_at is not None:
            source = played[0]
            with source.lock:
                trace = to_chrome_trace(source.timeline, rec.name) if args.trace else None
                if problem := add_loop_at(doc, source.timeline, args):
                    return fail(problem)
        _print(args, doc, trace)
        return 0
    app = RecordingApp(rec, block_ms=rec.block_ms)
    app.run()
    return 0
