"""The child process that runs a user's own asyncio program, unchanged, with every loop recorded.

Started by :class:`coffeeshop_tui.scenarios.record_run.RecordRun` (through ``procs.spawn``) as
``python -P -m coffeeshop_tui.scenarios.record_child SPEC_JSON``. The spec says what to run
(``script`` or ``module``), its ``argv``, ``block_ms``, the ``events_fd`` the protocol messages
go to (the program keeps its own stdin, stdout and stderr) and ``loop`` ("auto" or "asyncio").

The program runs as ``python SCRIPT`` / ``python -m MODULE`` would run it (``runpy``):
``__main__``, ``sys.argv`` and ``sys.path[0]`` (the script's folder, or the current folder for
``-m``) are what it expects. :func:`autorecord.record_all_loops` records its event loops, one at
a time (see there: a loop that runs while another runs in another thread is not recorded).
Task numbers are made unique across the loops, and the tasks of every loop but a first one on
the main thread are labelled by :func:`loop_label`.

Messages: ``start`` (scenario = what runs, params = {"argv": ...}), ``batch``..., ``end`` (error
as the scenario child sends it, plus ``exit``: the program's exit status and ``notes``).
An uncaught exception is printed on stderr as Python prints it; the exit status is Python's.
"""

from __future__ import annotations

import os
import sys

from .procs import child_setup
from .protocol import read_spec

if __name__ == "__main__":
    # First thing: the guard process (procs.child_setup: a fresh interpreter) then starts while
    # this one imports the recorder, rather than beside the program under study.
    _PARENT = child_setup(read_spec(sys.argv[1]).get("parent"))

import gc  # noqa: E402
import importlib.util  # noqa: E402
import runpy  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

from . import autorecord  # noqa: E402
from .child import Channel, _where  # noqa: E402
from .recorder import now_ns  # noqa: E402
from .resolver import Renumber as _Renumber  # noqa: E402

DRAIN_S = 0.05
UVLOOP_NOTE = ("the program imported uvloop: loops uvloop makes cannot be recorded "
               "(record it with --loop asyncio to run it on the stdlib loop)")


def loop_label(recording: int, thread: str | None) -> str:
    """The label of a recorded loop's tasks: none for the first loop on the main thread, else
    ``loop N`` and the thread it ran in (the one naming rule of recorded loops)."""
    main = threading.main_thread().name
    if recording == 1 and thread in (None, main):
        return ""
    if thread and thread != main:
        return f"loop {recording} ({thread})"
    return f"loop {recording}"


class Renumber(_Renumber):
    """Renumbers this process's recordings, labelled by the thread each loop ran in."""

    def __init__(self, thread_of=autorecord.loop_thread) -> None:
        super().__init__(lambda recording: loop_label(recording, thread_of(recording)), thread_of)


def use_stdlib_loop() -> None:
    """``--loop asyncio``: make uvloop's entry points give the stdlib loop (if uvloop is here)."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return

    def run(main, *, loop_factory=None, debug=None, **_kw):
        return asyncio.run(main, debug=debug)

    uvloop.install = lambda: None
    uvloop.run = run
    uvloop.new_event_loop = asyncio.new_event_loop
    uvloop.EventLoopPolicy = asyncio.DefaultEventLoopPolicy
    uvloop.Loop = asyncio.SelectorEventLoop


def _user_traceback(exc: BaseException):
    """The traceback without our frames and runpy's before the program's first one."""
    ours = {os.path.abspath(__file__), os.path.abspath(runpy.__file__), "<frozen runpy>"}
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename in ours
                              or os.path.abspath(tb.tb_frame.f_code.co_filename) in ours
                              or tb.tb_frame.f_globals.get("__name__") == "runpy"):
        tb = tb.tb_next
    return tb


def _exit_status(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF  # what the operating system keeps of it
    print(code, file=sys.stderr)  # as Python does with sys.exit("message")
    return 1


def _join_threads() -> None:
    """Wait for the program's non-daemon threads, as the interpreter does at the end."""
    me = threading.current_thread()
    for th in threading.enumerate():
        if th is not me and not th.daemon and th is not threading.main_thread():
            th.join()


def main() -> int:
    spec = read_spec(sys.argv[1])
    if "_PARENT" not in globals():  # (set up at import when run as the child)
        child_setup(spec.get("parent"))
    fd = spec["events_fd"]
    os.set_inheritable(fd, False)  # the program's own children do not hold our pipe
    chan = Channel(fd)
    if spec.get("loop") == "asyncio":
        use_stdlib_loop()
    script, module = spec.get("script"), spec.get("module")
    args = list(spec.get("argv") or [])
    what = module and f"-m {module}" or os.path.basename(script)
    t0 = now_ns()
    chan.send({"type": "start", "t": t0, "pid": os.getpid(), "scenario": what,
               "params": {"argv": args}, "ideal": None})
    # Raw batches: ids are resolved and recordings renumbered by the parent's reader, not here
    # (the program under study does not pay for it; see scenarios/resolver.py).
    autorecord.record_all_loops(
        lambda rid, raw: chan.send({"type": "raw", "rec": rid,
                                    "label": loop_label(rid, autorecord.loop_thread(rid)),
                                    "thread": autorecord.loop_thread(rid), **raw}),
        block_ms=spec.get("block_ms", 25.0), drain_s=DRAIN_S, raw=True)
    error, status = None, 0
    user_files = {os.path.abspath(script)} if script else set()
    # The recorder's own modules (~10,000 objects, more than a small program's) are moved out
    # of the garbage collector's sight: the program's collections then scan what they would
    # scan without us (measured: bench/tracer_overhead.py).
    gc.collect()
    gc.freeze()
    try:
        if module:
            sys.argv = [module, *args]
            sys.path.insert(0, os.getcwd())
            found = importlib.util.find_spec(module)
            if found is not None and found.origin:
                user_files.add(found.origin)
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            path = os.path.abspath(script)
            sys.argv = [script, *args]
            sys.path.insert(0, os.path.dirname(path))
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException as exc:
        tb = _user_traceback(exc)
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        status = 130 if isinstance(exc, KeyboardInterrupt) else 1
        error = {"message": f"{type(exc).__name__}: {exc}",
                 "where": _where(exc, user_files),
                 "traceback": "".join(traceback.format_exception(type(exc), exc, tb))[-4000:]}
    try:
        _join_threads()
    except BaseException:
        pass
    t_end = now_ns()
    autorecord.stop_recording()  # the last batch of the current recording goes out
    if error is None and status:
        error = {"message": f"the program exited with status {status}", "where": "", "traceback": ""}
    notes = [UVLOOP_NOTE] if "uvloop" in sys.modules and spec.get("loop") != "asyncio" else []
    if skipped := autorecord.skipped_loops():
        notes.append(f"{skipped} event loop(s) ran while another loop was being recorded (in another "
                     f"thread): one loop is recorded at a time, so they are not in the recording")
    chan.send({"type": "end", "t": t_end, "error": error, "exit": status, "notes": notes})
    return status


if __name__ == "__main__":
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    sys.exit(code)
