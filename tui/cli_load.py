"""The ``load`` and ``bench`` subcommands of ``coffeeshop-tui`` (FastAPI load tests, headless).

Wiring (tui/cli.py)::

    from coffeeshop_tui.tui.cli_load import add_load_commands, commands as load_commands
    add_load_commands(sub)              # in build_parser(), after the other subparsers
    ... commands.update(load_commands())  # in main() (e.g. from _extra_commands())

Also runnable on its own: ``python -m coffeeshop_tui.tui.cli_load load --endpoint /sync --concurrency 41``.

Bad input is a one-line error with exit status 2 (never a traceback), before any load is
sent: an unknown endpoint or one with a ``#fragment``, a knob outside its range (the ranges
and caps, e.g. ``--concurrency`` <= 10000 and ``--rate`` <= 10000, are the
:data:`~coffeeshop_tui.scenarios.web.load_settings.KNOBS` the screen uses too; ``nan`` and
``inf`` are refused), ``--tui`` with ``--json``, a remote ``--url`` without
``--allow-remote``, a port in use, an app that does not import or is not an ASGI app. A run whose server crashed exits with 1; Ctrl-C with 130. Every
process started here is stopped on the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
PROG = "coffeeshop-tui"


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")
TAIL_LINES = 12


def _fail(message: str) -> int:
    """A one-line error; a server that crashed with a traceback also gets its log's tail."""
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    tail = _traceback_tail(str(message))
    if tail:
        print("the server's log ends with:\n" + "\n".join(f"  {ln}" for ln in tail), file=sys.stderr)
    return EXIT_USAGE


def _log_lines(message: str) -> tuple[str, list[str]]:
    """(the error's first line, the server log lines after 'its output ends with:')."""
    lines = [ln.rstrip() for ln in str(message).splitlines() if ln.strip()]
    if not lines:
        return str(message), []
    head = lines[0].strip().rstrip(":")
    for cut in ("; its output ends with", " its output ends with"):
        if cut in head:
            head = head.split(cut)[0]
    return head, lines[1:]


def _traceback_tail(message: str) -> list[str]:
    _head, log = _log_lines(message)
    if not any("Traceback (most recent call last)" in ln for ln in log):
        return []
    return [ln for ln in log if "<frozen importlib" not in ln][-TAIL_LINES:]


def _one_line(message: str) -> str:
    """A multi-line ServerError ('...; its output ends with:\\n<tail>') as one line: its head and
    the log's most telling line (the last exception raised, else the last line)."""
    head, log = _log_lines(message)
    if not log:
        return head
    telling = next((ln.strip() for ln in reversed(log) if _EXCEPTION_LINE.match(ln.strip())), log[-1].strip())
    return f"{head}: {telling}" if telling not in head else head


# ----------------------------------------------------------------------------- argument types
def _knob_type(name: str):
    """The argparse type of a load knob: its rule and its error text come from the one Knob
    (coffeeshop_tui.scenarios.web.load_settings), as the screen's and the controller's do."""
    from coffeeshop_tui.scenarios.web.load_settings import KNOBS

    return KNOBS[name].argtype()


def _app_spec(text: str) -> str:
    module, sep, attr = text.partition(":")
    if not sep or not module.strip() or not attr.strip():
        raise argparse.ArgumentTypeError(f"expected module:attribute (e.g. myapp.main:app), got {text!r}")
    return text


# ----------------------------------------------------------------------------- parsers
def add_load_commands(subparsers) -> None:
    """Add ``load`` and ``bench`` to the ``coffeeshop-tui`` subparsers."""
    lp = subparsers.add_parser(
        "load", help="load-test a FastAPI endpoint and print what was measured",
        description="Start the demo FastAPI app (or --app module:attr) in a uvicorn child process "
        "on 127.0.0.1 with its event loop recorded, send load to one endpoint, and print a summary "
        "(or --json): latencies, throughput, errors, loop blocks and thread-pool use, and why. "
        "Without --requests or --duration, a closed-model run sends one request per user "
        "(one batch, like the classic benchmark); an open-model run lasts 5 s.")
    from coffeeshop_tui.scenarios.web.load_settings import ENDPOINTS, KNOBS

    def knob_help(name: str, text: str) -> str:
        return f"{text} ({KNOBS[name].rule()})"

    lp.add_argument("--endpoint", metavar="PATH", default=None,
                    help="the path to load (default /sync; required with --app or --url); a query is "
                    "kept, a '#fragment' is refused. The demo app's: "
                    + "; ".join(f"{e.path} ({e.what})" for e in ENDPOINTS))
    how = lp.add_mutually_exclusive_group()
    how.add_argument("--concurrency", type=_knob_type("concurrency"), metavar="N", default=None,
                     help=knob_help("concurrency", "closed model: N users, each sends its next request "
                                    "when the last one answered (default 10)"))
    how.add_argument("--rate", type=_knob_type("rate"), metavar="R", default=None,
                     help=knob_help("rate", "open model: R new requests per second, whatever the "
                                    "server does"))
    much = lp.add_mutually_exclusive_group()
    much.add_argument("--requests", type=_knob_type("requests"), metavar="N", default=None,
                      help=knob_help("requests", "send N requests in all"))
    much.add_argument("--duration", type=_knob_type("duration"), metavar="S", default=None,
                      help=knob_help("duration", "send requests for S seconds"))
    lp.add_argument("--delay", type=_knob_type("delay"), metavar="S", default=None,
                    help=knob_help("delay", "the endpoint's ?delay= in seconds (default 1 for the demo "
                                   "app; not sent to --app/--url endpoints unless given)"))
    lp.add_argument("--timeout", type=_knob_type("timeout"), metavar="S", default=30.0,
                    help=knob_help("timeout", "per-request timeout in seconds (default 30)"))
    lp.add_argument("--pool", type=_knob_type("pool_size"), metavar="N", default=None,
                    help=knob_help("pool_size", "the server's anyio thread pool size (default 40: "
                                   "FastAPI's `def` endpoints)"))
    lp.add_argument("--max-in-flight", type=_knob_type("max_in_flight"), metavar="N", default=None,
                    help=knob_help("max_in_flight", "the server answers 503 beyond N requests in "
                                   "flight (default: no limit)"))
    lp.add_argument("--app", type=_app_spec, metavar="MODULE:ATTR", default=None,
                    help="serve your own ASGI app (imported from the current folder) under the "
                    "same instruments")
    lp.add_argument("--url", metavar="BASE", default=None,
                    help="load an already running server at BASE instead (client side only)")
    lp.add_argument("--allow-remote", action="store_true",
                    help="allow a --url that is not a loopback address")
    lp.add_argument("--port", type=_knob_type("port"), metavar="PORT", default=None,
                    help=knob_help("port", "the server's port (default: a free one)"))
    lp.add_argument("--save", metavar="FILE",
                    help="also save the run (its report and live updates; replay: coffeeshop-tui open FILE)")
    out = lp.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="print one JSON document: per-request timings, server blocks, pool use, "
                     "percentiles, errors")
    out.add_argument("--tui", action="store_true",
                     help="watch it live in the load-test screen instead (knobs, lanes, caption)")

    bp = subparsers.add_parser(
        "bench", help="re-measure the classic 'sync vs async' FastAPI benchmark",
        description="Fire N concurrent GETs at /sync and /async (the classic benchmark), and at "
        "/bad, /to_thread and /sync with N-POOL requests, each with a delay; print each measured "
        "total beside the popular claim (sync ≈ N x delay, async ≈ delay) and the reason.")
    bp.add_argument("--delay", type=_knob_type("delay"), metavar="S", default=1.0, help="seconds per request (default 1)")
    bp.add_argument("--n", type=_knob_type("concurrency"), metavar="N", default=10,
                    help="concurrent requests per case (default 10)")
    bp.add_argument("--n-pool", type=_knob_type("concurrency"), metavar="N", default=41,
                    help="requests for the thread-pool case (default 41: one more than 40 threads)")
    bp.add_argument("--fresh", action="store_true", help="a fresh server for each case")
    bp.add_argument("--port", type=_knob_type("port"), metavar="PORT", default=None,
                    help="the server's port (default: a free one)")
    bp.add_argument("--json", action="store_true", help="print the rows as JSON")


def commands() -> dict:
    """Subcommand name -> handler(args) -> exit status."""
    return {"load": cmd_load, "bench": cmd_bench}


# ----------------------------------------------------------------------------- load
def _load_settings(args) -> dict:
    """LoadTest keyword arguments from the parsed options (raises LoadTestError)."""
    from coffeeshop_tui.scenarios.web.loadtest import LoadTestError
    from coffeeshop_tui.scenarios.web.server import DEFAULT_APP

    if args.url and args.app:
        raise LoadTestError("--url and --app exclude each other (--url loads a server that is "
                            "already running)")
    if args.url and (args.port or args.pool or args.max_in_flight is not None):
        raise LoadTestError("--port, --pool and --max-in-flight need our own server; not with --url")
    if args.url:
        from coffeeshop_tui.scenarios.web.loadgen import check_target

        try:
            check_target(args.url, args.allow_remote)
        except ValueError as exc:
            raise LoadTestError(str(exc).replace("allow_remote=True", "--allow-remote is given")) from None
    demo = not args.app and not args.url
    endpoint = args.endpoint
    if endpoint is None:
        if not demo:
            raise LoadTestError("--endpoint is required with --app or --url")
        endpoint = "/sync"
    model = "open" if args.rate is not None else "closed"
    concurrency = args.concurrency if args.concurrency is not None else 10
    requests, duration = args.requests, args.duration
    if requests is None and duration is None:
        if model == "closed":
            requests = concurrency  # one batch, like the classic benchmark
        else:
            duration = 5.0
    delay = args.delay if args.delay is not None else (1.0 if demo else None)
    return dict(
        endpoint=endpoint, app=args.app or DEFAULT_APP, url=args.url, model=model,
        concurrency=concurrency, rate=args.rate or 10.0, delay=delay, requests=requests,
        duration=duration, timeout=args.timeout, pool_size=args.pool,
        max_in_flight=args.max_in_flight or None, port=args.port, allow_remote=args.allow_remote,
        block_ms=25.0 if getattr(args, "block_ms", None) is None else args.block_ms,  # top-level
    )


def _progress(lt, t0: float) -> str:
    snap = lt.loadgen_snapshot()
    if snap is None:
        return ""
    err = f"  errors {snap.error_total}" if snap.error_total else ""
    drop = f"  dropped {snap.dropped_arrivals}" if snap.dropped_arrivals else ""
    ok_rps = snap.ok / snap.elapsed_s if snap.elapsed_s > 0 else 0.0  # throughput: successes
    return (f"  {time.monotonic() - t0:5.1f} s  done {snap.done}/{snap.issued}  in flight "
            f"{snap.in_flight}  {ok_rps:6.1f} req/s ok{err}{drop}")


def cmd_load(args) -> int:
    import os

    from coffeeshop_tui.scenarios.web.explain_load import text_summary
    from coffeeshop_tui.scenarios.web.loadtest import DOWN, LoadTest, LoadTestError
    from coffeeshop_tui.scenarios.web.server import ServerError

    try:
        settings = _load_settings(args)
        if args.save and args.tui:
            raise LoadTestError("--save and --tui exclude each other (save a headless run)")
        if args.tui:
            settings["cwd"] = os.getcwd()
            return _run_tui(settings)
        # headless without --save: the report is made at the end, so the server's recording
        # is decoded then, not while this process also generates the load
        lt = LoadTest(lanes=bool(args.save), defer_server=not args.save, cwd=os.getcwd(), **settings)
    except LoadTestError as exc:
        return _fail(str(exc))
    saver = None
    if args.save:
        from coffeeshop_tui.tui.cli_common import check_trace
        from coffeeshop_tui.tui.cli_record import LoadSaver

        if problem := check_trace(args.save, "--save"):
            return _fail(problem)
        saver = LoadSaver(args.save, settings)

    show = not args.json and sys.stderr.isatty()
    interrupted = crashed = False
    try:
        try:
            lt.start()
        except (ServerError, LoadTestError) as exc:
            return _fail(str(exc))
        if not args.json:
            print(f"loading {lt.target_url} ...", file=sys.stderr)
        t0 = time.monotonic()
        while not lt.wait(0.25):
            if saver is not None:
                saver.add(lt.update())  # polls too
            else:
                lt.poll()
            if lt.check_server() == DOWN:
                crashed = True
                print(f"\n{PROG}: {_one_line(lt.error or 'the server died')}", file=sys.stderr)
                break
            if show:
                print("\r" + _progress(lt, t0), end="", file=sys.stderr, flush=True)
        if show:
            print("\r" + _progress(lt, t0), file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: load and server stopped; what ran so far:", file=sys.stderr)
    finally:
        # a finished run: let the server's recording catch up; Ctrl-C or a crash: stop now
        lt.stop(graceful=not (crashed or interrupted))
    report = lt.report()
    if saver is not None:
        saver.finish(lt.update(), report)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(text_summary(report))
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if crashed else 0


def _run_tui(settings: dict) -> int:
    from coffeeshop_tui.scenarios.web.loadtest import LoadTest

    settings = dict(settings)
    for key in ("requests", "duration"):  # the screen runs until you leave it
        settings.pop(key, None)
    # (the generator in a child process: the screen's keys do not share a GIL and a garbage
    # collector with 1,000 users' HTTP client)
    lt = LoadTest(lane_mode="users", max_lanes=100, loadgen_process=True, loop_queue=True,  # `w`: the loop
                  **settings)  # bad settings: LoadTestError here
    from coffeeshop_tui.tui.screens.load import LoadTestApp

    try:
        LoadTestApp(loadtest=lt).run()
    finally:
        lt.stop()
    return 0


# ----------------------------------------------------------------------------- bench
def _bench_rows(args):
    """Yield BenchRow objects, one case at a time (so they print as they come)."""
    from coffeeshop_tui.scenarios.web.bench_sync_async import (
        DEFAULT_CASES,
        measure,
        read_pools,
        warm_up,
    )
    from coffeeshop_tui.scenarios.web.server import WebServer

    cases = [(ep, args.n if k is None else args.n_pool) for ep, k in DEFAULT_CASES]
    if args.fresh:
        for ep, n in cases:
            with WebServer(port=args.port) as srv:
                warm_up(srv.url)
                yield measure(srv.url, ep, n, args.delay, read_pools(srv.url))
        return
    with WebServer(port=args.port) as srv:
        warm_up(srv.url)
        pools = read_pools(srv.url)
        for ep, n in cases:
            yield measure(srv.url, ep, n, args.delay, pools)


def _bench_line(r) -> str:
    err = f"  ({r.errors} failed)" if r.errors else ""
    return (f"{r.endpoint:<11} N={r.n:<4} measured {r.total_s:6.2f} s   claim ≈ {r.claim_s:6.2f} s   "
            f"expected {r.expected_s:6.2f} s{err}\n{'':<11} claim: {r.claim}\n{'':<11} why:   "
            f"{r.reason.replace('-> 1 waves', '-> 1 wave')}")


def cmd_bench(args) -> int:
    from coffeeshop_tui.scenarios.web.server import ServerError

    rows = []
    if not args.json:
        print(f"The classic benchmark: N concurrent GETs, each endpoint waits {args.delay:g} s. "
              f"The popular claim: sync ≈ N x {args.delay:g} s, async ≈ {args.delay:g} s.\n",
              flush=True)
    try:
        for row in _bench_rows(args):
            rows.append(row)
            if not args.json:
                print(_bench_line(row) + "\n", flush=True)
    except ServerError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted: server stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps([{
            "endpoint": r.endpoint, "n": r.n, "delay_s": r.delay, "total_s": round(r.total_s, 4),
            "median_s": round(r.median_s, 4), "max_s": round(r.max_s, 4), "errors": r.errors,
            "claim_s": r.claim_s, "claim": r.claim, "expected_s": r.expected_s, "reason": r.reason,
        } for r in rows], indent=1))
    return 0 if all(r.ok for r in rows) else EXIT_FAILED


# ----------------------------------------------------------------------------- standalone
def build_parser() -> argparse.ArgumentParser:
    from coffeeshop_tui.tui.cli_common import Parser as _Parser
    from coffeeshop_tui.tui.cli_common import positive_float

    p = _Parser(prog=PROG, description="FastAPI load tests (the load and bench subcommands).")
    p.add_argument("--block-ms", type=positive_float, default=25.0, metavar="MS",
                   help="a loop step longer than this is a block (default 25)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_load_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return commands()[args.command](args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
