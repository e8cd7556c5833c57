"""Entry point of the server child process started by :class:`coffeeshop_tui.scenarios.web.server.WebServer`.

    python -m coffeeshop_tui.scenarios.web.serve_child --fd FD --app module:attr [--parent-pid PID] ...

It serves one ASGI app with uvicorn (loop="asyncio", http="h11", 1 worker) on an event loop
that it creates itself with ``asyncio.new_event_loop()`` and drives with
``loop.run_until_complete(server.serve(sockets=[sock]))``. The listening socket is bound by
the parent (so "port in use" is reported there) and inherited as file descriptor ``--fd``.

Before uvicorn starts, :func:`install_instruments` is called with that loop: THE HOOK for the
event-loop recorder; :func:`shutdown_instruments` is called after uvicorn stops (the child then
leaves with os._exit, so atexit handlers do not run).

The child dies with its parent: ``procs.child_setup`` (prctl(PR_SET_PDEATHSIG, SIGKILL) on
Linux, and a guardian that kills the child's process group once the child is gone), a watchdog
thread that exits when os.getppid() changes, and EOF on stdin (the parent holds the write end of
a pipe; the kernel closes it when the parent dies, even by SIGKILL). Recorder events are
protocol messages (``scenarios/protocol.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import threading
import time

from coffeeshop_tui.scenarios.procs import child_setup


# ---------------------------------------------------------------------------------------------
# HOOK: the event-loop recorder goes here.
_instruments: dict = {}


def install_instruments(loop: asyncio.AbstractEventLoop) -> None:
    """Called once in the child, with the loop uvicorn will run on, before the server starts.

    With ``--events-fd N`` the loop is recorded (scenarios/recorder.py) and every ~50 ms a
    batch of what it did is written to fd N as one JSON line (the parent's WebServer reads
    it into a Timeline). Each batch also carries gauges: requests in flight and anyio's
    thread-pool tokens in use.
    """
    fd = _instruments.get("events_fd")
    if fd is None:
        return
    from coffeeshop_tui.scenarios.protocol import PIPE_BYTES, Writer, widen_pipe
    from coffeeshop_tui.scenarios.recorder import Recorder, now_ns
    from coffeeshop_tui.scenarios.web import middleware

    try:  # imports that would otherwise happen inside the first loop steps, as "blocks"
        import anyio._backends._asyncio  # noqa: F401
        import uvicorn.protocols.http.h11_impl  # noqa: F401
    except Exception:
        pass

    widen_pipe(fd)
    # A batch is written with one write (a buffer as big as the widened pipe): each write
    # lets the loop thread take the GIL, and the drain thread waits up to the switch interval
    # to get it back (measured: more GIL hand-overs, fewer requests served).
    out = Writer(os.fdopen(fd, "wb", buffering=PIPE_BYTES))

    def send(msg: dict) -> None:
        try:
            out.send(msg)
        except (BrokenPipeError, ValueError, OSError):
            pass  # the parent stopped listening: keep serving

    limiter = {}

    def capture_limiter() -> None:  # anyio's limiter is bound to the running loop
        import anyio.to_thread

        limiter["l"] = anyio.to_thread.current_default_thread_limiter()

    def gauges() -> dict:
        lim = limiter.get("l")
        return {
            "in_flight": middleware.IN_FLIGHT[0],
            "pool_borrowed": int(lim.borrowed_tokens) if lim is not None else 0,
            "pool_total": int(lim.total_tokens) if lim is not None else 0,
        }

    rec = Recorder(block_ms=_instruments.get("block_ms", 25.0),
                   sink=lambda raw: send({"type": "raw", **raw}), raw=True)  # resolved by the reader
    rec.gauges = gauges
    loop.call_soon(capture_limiter)
    rec.install(loop)
    send({"type": "start", "t": now_ns(), "pid": os.getpid()})
    _instruments["rec"] = rec
    _instruments["send"] = send


def shutdown_instruments(loop: asyncio.AbstractEventLoop) -> None:
    """Called once after uvicorn has stopped (SIGTERM / stop()), before the loop is closed.

    Flushes the recording: the child leaves with os._exit(), so atexit handlers do NOT run.
    (Not called on SIGKILL.)
    """
    rec = _instruments.pop("rec", None)
    if rec is None:
        return
    from coffeeshop_tui.scenarios.recorder import now_ns

    t = now_ns()
    rec.uninstall()
    send = _instruments["send"]
    send({"type": "raw", **rec.drain_raw()})
    send({"type": "end", "t": t})
# ---------------------------------------------------------------------------------------------


EXIT_PARENT_GONE = 70
EXIT_IMPORT_FAILED = 71


def _exit_now(reason: str) -> None:
    try:
        sys.stderr.write(f"serve_child: {reason}; exiting\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_PARENT_GONE)


def _watch_parent(parent_pid: int, interval: float = 0.25) -> None:
    """Exit when the parent goes away (ppid changes or stdin reaches EOF)."""

    def poll_ppid() -> None:
        while True:
            if os.getppid() != parent_pid:
                _exit_now(f"parent {parent_pid} is gone")
            time.sleep(interval)

    def wait_stdin_eof() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        _exit_now("stdin closed (parent is gone)")

    threading.Thread(target=poll_ppid, name="parent-watch", daemon=True).start()
    if not os.isatty(0):
        threading.Thread(target=wait_stdin_eof, name="parent-pipe-watch", daemon=True).start()


async def _set_pool_size(size: int) -> None:
    from coffeeshop_tui.scenarios.web.middleware import set_pool_size

    set_pool_size(size)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m coffeeshop_tui.scenarios.web.serve_child")
    p.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    p.add_argument("--app", default="coffeeshop_tui.scenarios.web.app:app", help="ASGI app as module:attr")
    p.add_argument("--app-dir", default=None,
                   help="folder the app's module is imported from (put on sys.path only for it)")
    p.add_argument("--parent-pid", type=int, default=None)
    p.add_argument("--wrap", action="store_true", help="wrap the app in LabMiddleware")
    p.add_argument("--max-in-flight", type=int, default=None, help="with --wrap: 503 limit")
    p.add_argument("--pool-size", type=int, default=None, help="anyio thread limiter tokens")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--graceful-timeout", type=int, default=1)
    p.add_argument("--events-fd", type=int, default=None, help="record the loop; events to this fd")
    p.add_argument("--block-ms", type=float, default=25.0, help="with --events-fd: block threshold")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.parent_pid is not None and os.getppid() != args.parent_pid:
        _exit_now(f"parent {args.parent_pid} died during start-up")
    parent = child_setup(args.parent_pid)  # dies with the parent; guards the process group
    _watch_parent(parent)
    if args.events_fd is not None:
        _instruments.update(events_fd=args.events_fd, block_ms=args.block_ms)

    import uvicorn
    from uvicorn.importer import ImportFromStringError, import_from_string

    if args.app_dir:  # the user asked for their module: as uvicorn's --app-dir, but only now
        sys.path.insert(0, args.app_dir)
    try:
        app = import_from_string(args.app)
    except ImportFromStringError as exc:
        sys.stderr.write(f"serve_child: cannot import ASGI app {args.app!r}: {exc}\n")
        return EXIT_IMPORT_FAILED
    if args.wrap:
        from coffeeshop_tui.scenarios.web.middleware import LabMiddleware

        app = LabMiddleware(app, max_in_flight=args.max_in_flight)

    sock = socket.socket(fileno=args.fd)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        if args.pool_size:
            loop.run_until_complete(_set_pool_size(args.pool_size))
        install_instruments(loop)
        config = uvicorn.Config(
            app,
            loop="asyncio",
            http="h11",
            workers=1,
            lifespan="auto",
            log_level=args.log_level,
            access_log=False,
            timeout_graceful_shutdown=args.graceful_timeout,
        )
        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):
                # uvicorn re-raises a captured SIGTERM once serving ends, which kills the
                # process: flush the recording before that happens.
                with super().capture_signals():
                    try:
                        yield
                    finally:
                        shutdown_instruments(loop)

        server = Server(config)
        loop.run_until_complete(server.serve(sockets=[sock]))
    finally:
        try:
            shutdown_instruments(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    return 0


if __name__ == "__main__":
    code = main()
    # os._exit: don't wait for worker threads still sleeping in /sync or /to_thread.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
