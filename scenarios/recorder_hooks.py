"""The recorder's hooks into asyncio: the traced step (the hot path) and the patches around it.

``scenarios/recorder.py`` (the ``Recorder``: install, watchdog, drain) uses these; they
are split off so the part that runs inside the program under study is in one place.

Rule for every hook here: the program must not be able to tell it is there. Each hook
passes arguments, results, exceptions, warnings and log records through unchanged, holds
no strong reference to a task, adds no frame of its own to what asyncio reports, and is
undone only if it is still in place (the program may have replaced it since).

Size (~770 lines): every hook that runs inside the program under study, Python and the
choice of the compiled one (``_fastpath.c``), and how they are put in and taken out
(``patch_attr``: never reading an object's ``__dict__``), is here so that rule is checked in
one place.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import sys
import threading
import time
import warnings
from array import array
from asyncio import events, format_helpers
from concurrent.futures import ProcessPoolExecutor

from . import wait_reasons as _wr
from .wait_reasons import classify as _classify, label_of  # noqa: F401 (label_of: API here too)

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC: one clock for every process on the machine

ORIG_RUN = events.Handle._run
ORIG_TIMER_RUN = events.TimerHandle.__dict__.get("_run")  # normally absent: inherited



def _drop(_value) -> None:
    """Where a step still in flight writes when recording stopped during it (uninstall, fork)."""


# What the patched Handle._run writes to (one recorder per process at a time):
_loop = None  # the recorded loop: handles of other loops run untraced
_ap = _drop  # bound ``array.append`` of the active recorder's step buffer
_active = None  # the active Recorder
_late_ns = 2_000_000  # a timer this late is inspected to find the task it wakes

# The recorder's source files as its code objects name them (recorder.py and autorecord.py
# add theirs when imported): frames from these are kept out of what the program sees.
OWN_FILES = {_drop.__code__.co_filename, _classify.__code__.co_filename}
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__))
_STDLIB = os.path.dirname(os.path.abspath(threading.__file__)) + os.sep
_SKIP = (_ASYNCIO_DIR, _STDLIB + "threading.py", _STDLIB + "selectors.py",
         _STDLIB + "contextvars.py", _STDLIB + "concurrent")
_FORMAT_DEBUG = "debug" in inspect.signature(format_helpers._format_callback_source).parameters


# --------------------------------------------------------------------------- steps
def drop_own_frame(exc: BaseException) -> None:
    """Take the recorder's frame off the head of ``exc``'s traceback (caught in it)."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename in OWN_FILES:
        exc.__traceback__ = tb.tb_next


def _report(handle, exc: BaseException) -> None:
    """What asyncio's ``Handle._run`` does with a callback's exception (same context dict,
    same handler call, run in the handle's own context on 3.12+), minus our own frame."""
    drop_own_frame(exc)
    if _FORMAT_DEBUG:
        cb = format_helpers._format_callback_source(handle._callback, handle._args,
                                                    debug=handle._loop.get_debug())
    else:
        cb = format_helpers._format_callback_source(handle._callback, handle._args)
    context = {"message": f"Exception in callback {cb}", "exception": exc, "handle": handle}
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


def traced_run(self):
    if self._loop is not _loop:
        return ORIG_RUN(self)
    owner = getattr(self._callback, "__self__", None)  # the Task, for task steps
    t0 = now_ns()
    try:
        self._context.run(self._callback, *self._args)
    except (SystemExit, KeyboardInterrupt) as exc:
        owner = None
        drop_own_frame(exc)
        raise
    except BaseException as exc:
        _report(self, exc)
    t1 = now_ns()
    ap = _ap
    ap(t0)
    ap(t1)
    ap(id(owner))
    is_task = type(owner)
    if is_task is not _Task:  # the C Task: the common case, no lookup
        is_task = _TASKISH.get(is_task)
        if is_task is None:
            is_task = _learn_type(owner)
    if is_task:
        if owner._state != "PENDING":  # its last step: note how it ended, now
            _finished(owner, t1)
        elif owner._fut_waiter is not None:  # it waits on a future: note on what (wait_reasons.py)
            _waiting(owner, t1)
    self = owner = is_task = None  # as asyncio does: break cycles when an exception occurred


def traced_timer_run(self):
    if self._loop is not _loop:
        return ORIG_RUN(self)
    owner = getattr(self._callback, "__self__", None)
    t0 = now_ns()
    due = int(self._when * 1e9)
    if t0 - due > _late_ns and _active is not None:
        _active._note_late_timer(self, due)
    try:
        self._context.run(self._callback, *self._args)
    except (SystemExit, KeyboardInterrupt) as exc:
        owner = None
        drop_own_frame(exc)
        raise
    except BaseException as exc:
        _report(self, exc)
    t1 = now_ns()
    ap = _ap
    ap(t0)
    ap(t1)
    ap(id(owner))
    is_task = type(owner)
    if is_task is not _Task:  # the C Task: the common case, no lookup
        is_task = _TASKISH.get(is_task)
        if is_task is None:
            is_task = _learn_type(owner)
    if is_task:
        if owner._state != "PENDING":
            _finished(owner, t1)
        elif owner._fut_waiter is not None:
            _waiting(owner, t1)
    self = owner = is_task = None


# type -> whether its instances are asyncio tasks (a step's owner is checked per step)
_Task = asyncio.Task
_TASKISH: dict = {type(None): False}


def _learn_type(owner) -> bool:
    tp = type(owner)
    is_task = isinstance(tp, type) and issubclass(tp, asyncio.Task) or (
        getattr(asyncio.tasks, "_PyTask", None) is not None and issubclass(tp, asyncio.tasks._PyTask))
    if len(_TASKISH) < 256:
        _TASKISH[tp] = is_task
    return is_task


def _finished(task, t_ns: int) -> None:
    """A task is done: note when, how and under which name (on the loop's thread, while
    the step that finished it still holds it: no reference is kept)."""
    rec = _active
    if rec is not None:
        if task._state == "CANCELLED":
            outcome = "cancelled"
        else:  # reading _exception does not "retrieve" it
            outcome = "error" if task._exception is not None else "ok"
        rec._done.append((id(task), t_ns, outcome, task.get_name()))


def _waiting(task, t_ns: int) -> None:
    """A task's step ended with the task awaiting a future (``task._fut_waiter``): note what
    it waits on (``wait_reasons.classify``: a small tuple, shared by waits alike; never the future
    or the task). Called only for pending tasks whose waiter is
    set (not after ``await asyncio.sleep(0)``, a bare yield)."""
    rec = _active
    if rec is not None:  # int64 rows and a list of shared tuples: no new object to collect
        why = _classify(task)
        at = rec._wait_at
        if type(at) is array:
            at.append(id(task))
            at.append(t_ns)
        else:  # the compiled hook's buffer (new_steps(2))
            at.push(id(task), t_ns)
        rec._wait_why.append(why)


# ------------------------------------------------------------- the compiled hot path
# ``_fastpath.c`` is ``traced_run`` / ``traced_timer_run`` in C (same checks, same columns,
# the same Python functions for the rare paths), built at install time where a C compiler
# exists. It is used when present unless COFFEESHOP_RECORDER=python; the functions above are
# the fallback that always works.
STEP_COLS = 3  # int64 values a recorded step: start_ns, end_ns, id(owner)
FAST_ABI = 11  # the _fastpath build this code expects (an older build is not loaded)
ENV = "COFFEESHOP_RECORDER"  # "python": the pure-Python hook; "auto" (default): compiled if built
_fast = None  # the compiled module in use, or None
_impl_note = ""  # why the pure-Python hook is in use
_hooks = (traced_run, traced_timer_run)  # what patch_handles puts in place


def use_recorder(choice: str | None = None) -> str:
    """Choose the hot path: "auto" (compiled if built, else Python), "python" or "c" (compiled,
    else Python with the reason noted). Default: ``$COFFEESHOP_RECORDER``. Returns the one in
    use ("c" or "python"). Not while a recording is on."""
    global _fast, _impl_note, _hooks
    if _active is not None:
        raise RuntimeError("the recorder's hot path cannot change while a recording is on")
    choice = (choice if choice is not None else os.environ.get(ENV, "")).strip().lower() or "auto"
    if choice not in ("auto", "python", "c"):
        choice, note = "auto", f"{ENV}={choice!r} is not auto, python or c"
    else:
        note = ""
    _fast, _hooks = None, (traced_run, traced_timer_run)
    if choice == "python":
        _impl_note = f"{ENV}=python"
        return "python"
    try:
        from . import _fastpath as fp
    except ImportError:
        _impl_note = note or "the compiled accelerator is not built here"
        return "python"
    if getattr(fp, "ABI", None) != FAST_ABI or getattr(fp, "STEP_COLS", None) != STEP_COLS:
        _impl_note = "the compiled accelerator is out of date (reinstall to rebuild it)"
        return "python"
    a = now_ns()
    b = fp.now_ns()
    if not a <= b <= now_ns():  # its clock must be time.monotonic_ns
        _impl_note = "the compiled accelerator's clock differs from time.monotonic_ns"
        return "python"
    try:
        fp.setup(ORIG_RUN, _report, _finished, _learn_type, _TASKISH, _Task, events.Handle, events.TimerHandle,
                 globals())
    except RuntimeError as exc:  # a subinterpreter: its state is the main interpreter's
        _impl_note = str(exc)
        return "python"
    fp.set_waits(_waiting, _wr._Future, _wr._SLEEP_CODE, _wr.SLEEP)  # the sleep fast path of classify
    fp.set_current_tasks(asyncio.current_task, _current_tasks_dict(asyncio.current_task))
    _fast, _hooks, _impl_note = fp, (fp.handle_run, fp.timer_run), note
    return "c"


def _current_tasks_dict(current_task):
    """The dict ``current_task(loop)`` reads, where it is asyncio's Python function returning
    ``_current_tasks.get(loop)`` (3.11); else None (the compiled hooks then call it)."""
    tasks = getattr(current_task, "__globals__", None)
    code = getattr(current_task, "__code__", None)
    d = tasks.get("_current_tasks") if tasks is not None else None
    if (type(d) is not dict or code is None or current_task.__module__ != "asyncio.tasks"
            or "_current_tasks" not in code.co_names):
        return None
    return d


def recorder_impl() -> str:
    """The hot path recordings use: "c" (the compiled accelerator) or "python"."""
    return "c" if _fast is not None else "python"


def describe_recorder() -> str:
    """One line for ``--version``: which recorder is active, and why if not the compiled one."""
    if _fast is not None:
        return "compiled (C accelerator)" + (f"; {_impl_note}" if _impl_note else "")
    return f"pure Python ({_impl_note})" if _impl_note else "pure Python"


def new_steps(cols: int = STEP_COLS):
    """An empty buffer of int64 rows for the hot path in use (``len``, ``[i]``, ``itemsize``):
    an ``array('q')``, or the compiled hooks' own."""
    return _fast.Steps(cols) if _fast is not None else array("q")


def long_rows(buf, start: int, stop: int, min_ns: int) -> list:
    """[(start_ns, end_ns)] of the steps in ``buf`` (an ``array('q')`` or the compiled hook's
    buffer) from flat index ``start`` to ``stop`` that lasted ``min_ns`` or more."""
    scan = getattr(buf, "long_rows", None)
    if scan is not None:  # compiled: no Python object a step
        return scan(start, stop, min_ns)
    seg = buf[max(0, start):stop]  # one copy (the drain may take the buffer meanwhile)
    return [(a, b) for a, b in zip(seg[0::STEP_COLS], seg[1::STEP_COLS]) if b - a >= min_ns]


def table_of(items: list) -> tuple[list, array]:
    """``items`` as (the distinct objects, by identity, in order; an array of their indexes):
    many of the recorder's notes are a few shared objects (code objects, wait reasons).
    Compiled where built (a drain, on the watchdog's thread, holds the GIL meanwhile)."""
    fast = getattr(_fast, "table_of", None) if type(items) is list else None
    if fast is not None:
        distinct, idx = fast(items)
        out = array("q")
        out.frombytes(idx)
        return distinct, out
    first = {id(x): x for x in items}
    pos = {k: i for i, k in enumerate(first)}
    return list(first.values()), array("q", map(pos.__getitem__, map(id, items)))


def take_steps(buf, cols: int = STEP_COLS, rows: int = -1, packed: bool = False):
    """Remove and return the first ``rows`` complete rows (default: all) of ``buf``: an
    ``array('q')``, or with ``packed`` a bytes-like object of native int64 (no extra copy)."""
    if type(buf) is array:
        n = len(buf) // cols * cols
        if rows >= 0:
            n = min(n, rows * cols)
        out = buf[:n]
        del buf[:n]
        return memoryview(out).cast("B") if packed else out
    data = buf.take(rows)
    if packed:
        return data
    out = array("q")
    out.frombytes(data)
    return out


def make_create_task(loop, orig, infos: list, names: list, meta, eager: list):
    """The compiled ``loop.create_task`` wrapper (see ``Recorder._make_create_task``), or None."""
    if _fast is None or type(meta) is not _fast.Steps:
        return None
    return _fast.CreateTask(loop, orig, infos, names, meta, eager, strip_own_frames,
                            asyncio.current_task, sys.version_info >= (3, 12))


def make_call_at(rec, loop, orig, timers, labels: list):
    """The compiled ``loop.call_at`` wrapper of ``loop_queue.install``, or None (Python's then)."""
    if _fast is None or type(timers) is not _fast.Steps:
        return None
    return _fast.CallAt(rec, loop, orig, timers, labels, strip_own_frames, asyncio.current_task, label_of)


def watch_wait():
    """The compiled watchdog wait (``_fastpath.watch_wait``; see ``Recorder._watchdog``) and
    ``busy_step``, or None: the pure-Python hook publishes no running step."""
    if _fast is None or not hasattr(_fast, "watch_wait"):
        return None
    return _fast.watch_wait, _fast.busy_step


def watch_wake() -> None:
    """Wake the compiled watchdog waits (after setting a stop flag: they look at it at once)."""
    wake = getattr(_fast, "watch_wake", None)
    if wake is not None:
        wake()


_NONE = object()


def own_attr(obj, name: str):
    """``obj``'s own (instance) attribute ``name``, or None if it has none: found without reading
    ``obj.__dict__``, which makes CPython (3.11+) give up its fast attribute access on that
    object for good (measured: a loop whose ``__dict__`` was read runs its own Python ~9% slower,
    bench/tracer_overhead.py (b))."""
    val = getattr(obj, name, _NONE)
    if val is _NONE:
        return None
    on_class = getattr(type(obj), name, _NONE)
    if on_class is _NONE:
        return val
    if val is on_class or (getattr(val, "__func__", None) is on_class and getattr(val, "__self__", None) is obj):
        return None  # what the class gives (a method bound to obj)
    return val


def patch_attr(obj, name: str, ours, undo: list) -> None:
    """Set ``obj.name`` to ``ours``; ``undo`` gets what puts back what was there (only while
    ``ours`` is still in place). ``obj.__dict__`` is never read (see :func:`own_attr`)."""
    before = own_attr(obj, name)
    setattr(obj, name, ours)

    def restore() -> None:
        if getattr(obj, name, None) is not ours:
            return
        if before is None:
            try:
                delattr(obj, name)
            except AttributeError:  # pragma: no cover - gone meanwhile
                pass
        else:
            setattr(obj, name, before)

    undo.append(restore)


def start_recording(rec, loop, steps) -> None:
    """Make the patched step record ``loop`` into ``steps`` for ``rec``, and patch it in."""
    global _active, _loop, _ap
    if _fast is not None and type(steps) is not _fast.Steps:
        raise TypeError("the step buffer does not match the hot path in use (see new_steps)")
    _active, _loop = rec, loop
    _ap = steps.append if _fast is None else _drop
    if _fast is not None:
        _fast.target(loop, steps, rec._note_late_timer, _late_ns, rec._done, rec._ready,
                     rec._wait_at, rec._wait_why, rec)
    patch_handles()


def set_waiting(fn) -> None:
    """Swap ``_waiting`` (what a task's step that ends awaiting something notes: a benchmark
    swaps it), for both hot paths."""
    global _waiting
    _waiting = fn
    if _fast is not None:
        _fast.set_waiting(fn)


def stop_recording() -> None:
    """The patched step records nothing any more; asyncio's own is back (if still ours)."""
    global _active, _loop, _ap
    _loop = _active = None
    _ap = _drop
    if _fast is not None:
        _fast.target(None, None, None)
    unpatch_handles()


def active_hooks() -> tuple:
    """(Handle._run, TimerHandle._run) as patched in by the hot path in use."""
    return _hooks


def patch_handles() -> None:
    events.Handle._run, events.TimerHandle._run = _hooks


def unpatch_handles() -> None:
    run, timer_run = _hooks
    if events.Handle._run is run:
        events.Handle._run = ORIG_RUN
    if events.TimerHandle.__dict__.get("_run") is timer_run:
        if ORIG_TIMER_RUN is None:
            del events.TimerHandle._run
        else:
            events.TimerHandle._run = ORIG_TIMER_RUN


def strip_own_frames(stack) -> None:
    """Remove the recorder's frames from a debug-mode ``_source_traceback`` (in place)."""
    if stack:
        stack[:] = [fs for fs in stack if fs.filename not in OWN_FILES]


def user_frame(frame):
    """The innermost frame that is not asyncio's, the recorder's or the threading machinery's."""
    f = frame
    while f is not None:
        fn = f.f_code.co_filename
        if fn not in OWN_FILES and not fn.startswith(_SKIP) and not fn.startswith("<frozen"):
            return f
        f = f.f_back
    return frame


def thread_frame(tid: int):
    """The frame thread ``tid`` is running (None if unknown), for the watchdog.

    Not while the process has subinterpreters: ``sys._current_frames()`` also collects
    their threads' frames, objects of another interpreter, and freeing those here corrupts
    memory (CPython 3.12/3.13 abort with "double free"; seen with anyio.to_interpreter)."""
    for name in ("_interpreters", "_xxsubinterpreters"):  # 3.13+, 3.12
        mod = sys.modules.get(name)
        if mod is not None:
            try:
                if len(mod.list_all()) > 1:
                    return None
            except Exception:  # pragma: no cover - an API we do not know: do not risk it
                return None
    return sys._current_frames().get(tid)


def where_of(frame) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""


# ------------------------------------------------------------------------ selector
class SelectorProbe:
    """Wraps the loop's selector to mark each loop iteration (time spent idle in select).

    It passes everything else through, and answers ``__class__`` / ``isinstance`` as the
    selector it wraps."""

    def __init__(self, selector, rec) -> None:
        self._sel = selector
        self._rec = rec
        self._iters = rec._iters
        if _fast is not None and type(rec._iters) is _fast.Steps:
            # compiled: this probe's select and loop_queue's (its QueueSelector) in one call
            q = getattr(selector, "_probe", None) if type(selector).__name__ == "QueueSelector" else None
            if q is not None and type(q.selects) is not _fast.Steps:
                q = None
            inner = selector._sel if q is not None else selector  # (its select: looked up at each call)
            self.select = _fast.SelectCall(inner, rec._sel_flag, rec._iters, q.selects if q else None,
                                           q.io if q else None, selector._ready if q else None)

    @property
    def __class__(self):  # noqa: F811 - deliberately the wrapped selector's class
        return self._sel.__class__

    def select(self, timeout=None):  # (the pure-Python recorder's; compiled: _fastpath.SelectCall)
        rec = self._rec
        rec._in_select = True
        t0 = now_ns()
        try:
            return self._sel.select(timeout)
        finally:
            t1 = now_ns()
            rec._in_select = False
            self._iters.append(t0)
            self._iters.append(t1)

    def __getattr__(self, name):
        return getattr(self._sel, name)


# ------------------------------------------------------------------ worker threads
class TimedCall:
    """Runs a job in a worker thread and records when it ran there."""

    __slots__ = ("fn", "rec", "submit", "task", "label", "pool")

    def __init__(self, fn, rec, task, label, pool) -> None:
        self.fn = fn
        self.rec = rec
        self.submit = now_ns()
        self.task = task
        self.label = label
        self.pool = pool

    def __call__(self, *args, **kwargs):
        t0 = now_ns()
        try:
            return self.fn(*args, **kwargs)
        finally:
            th = threading.current_thread()
            self.rec._jobs.append(
                (self.pool, f"{th.name}|{th.native_id}", self.submit, t0, now_ns(), self.task, self.label)
            )


class ProcessCall:
    """Picklable wrapper for process-pool jobs: returns the result with when and where it ran."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, *args):
        t0 = now_ns()
        result = self.fn(*args)
        return (result, t0, now_ns(), os.getpid())


def _plain_callable(fn) -> bool:
    """Whether asyncio would run ``fn`` in an executor without complaint (debug mode rejects
    coroutines and coroutine functions: those are passed through unwrapped)."""
    return callable(fn) and not (asyncio.iscoroutine(fn) or asyncio.iscoroutinefunction(fn))


def make_run_in_executor(loop, rec, orig):
    def run_in_executor(executor, func, *args):
        if not _plain_callable(func):
            return orig(executor, func, *args)  # asyncio's own checks and errors
        task = asyncio.current_task(loop)
        raw = id(task) if task is not None else 0
        del task
        ex = executor if executor is not None else getattr(loop, "_default_executor", None)
        if isinstance(ex, ProcessPoolExecutor):
            inner = orig(executor, ProcessCall(func), *args)
            return _unwrap_process(rec, loop, inner, raw, label_of(func))
        pool = "default executor" if executor is None else type(executor).__name__
        return orig(executor, TimedCall(func, rec, raw, label_of(func), pool), *args)

    return run_in_executor


def _unwrap_process(rec, loop, inner, raw, label):
    """The future the program awaits: ``inner``'s result without the timing; cancelling it
    cancels the job, as with asyncio's own future."""
    outer = loop.create_future()
    strip_own_frames(getattr(outer, "_source_traceback", None))
    submit = now_ns()

    def done(f):
        if outer.cancelled():
            return
        if f.cancelled():
            outer.cancel()
            return
        exc = f.exception()
        if exc is not None:
            outer.set_exception(exc)
            return
        result, t0, t1, pid = f.result()
        rec._jobs.append(("process pool", f"process|{pid}", submit, t0, t1, raw, label))
        outer.set_result(result)

    def cancelled(o):
        if o.cancelled():
            inner.cancel()

    inner.add_done_callback(done)
    outer.add_done_callback(cancelled)
    return outer


def patch_task_names(rec, undo: list) -> None:
    """Names given after ``loop.create_task`` returned (``asyncio.create_task`` on 3.11/3.12,
    ``TaskGroup.create_task`` on 3.11/3.12 call ``asyncio.tasks._set_task_name``): noted
    with the task's id and the time, resolved at the drain. 3.13+ pass the name in."""
    from asyncio import tasks

    orig = getattr(tasks, "_set_task_name", None)
    if orig is None:
        return

    def _set_task_name(task, name):
        orig(task, name)
        if name is not None and _active is rec:
            try:
                if task.get_loop() is _loop:
                    rec._late_names.append((id(task), now_ns(), task.get_name()))
            except Exception:  # not an asyncio task: nothing to note
                pass

    tasks._set_task_name = _set_task_name
    undo.append(lambda: tasks._set_task_name is _set_task_name and setattr(tasks, "_set_task_name", orig))


def patch_anyio(rec, undo: list) -> bool:
    """Wrap ``anyio.to_thread.run_sync`` if the program has imported it; False if not (yet).
    Never imported here: a program that does not use anyio would pay its import (~15 ms, at
    its first loop); the watchdog wraps it when it appears (``Recorder._watchdog``)."""
    a2t = sys.modules.get("anyio.to_thread")
    if a2t is None or not hasattr(a2t, "run_sync"):
        return False
    orig = a2t.run_sync

    @functools.wraps(orig)
    async def run_sync(func, *args, **kwargs):
        try:
            mine = asyncio.get_running_loop() is rec._loop
        except RuntimeError:  # another async library (anyio on trio)
            mine = False
        if not mine:
            return await orig(func, *args, **kwargs)
        task = asyncio.current_task()
        call = TimedCall(func, rec, id(task) if task is not None else 0, label_of(func), "anyio")
        del task
        return await orig(call, *args, **kwargs)

    a2t.run_sync = run_sync
    undo.append(lambda: a2t.run_sync is run_sync and setattr(a2t, "run_sync", orig))
    return True


# ------------------------------------------------------------- warnings and logs
def patch_warnings(rec, undo: list) -> None:
    """Record each warning that is shown, then show it exactly as before.

    ``warnings._showwarnmsg`` is the one function every shown warning goes through (the C
    ``warn`` calls it; it honours a replaced ``showwarning`` and ``catch_warnings``), so
    wrapping it changes nothing about how or whether warnings are shown."""
    orig = warnings._showwarnmsg

    def _showwarnmsg(msg):
        try:
            rec._note_warning(msg)
        except Exception:  # recording must never break warnings
            pass
        return orig(msg)

    warnings._showwarnmsg = _showwarnmsg
    undo.append(lambda: warnings._showwarnmsg is _showwarnmsg and setattr(warnings, "_showwarnmsg", orig))


def patch_unawaited(rec, undo: list) -> None:
    """Record every never-awaited coroutine (also those the warning filters show only once),
    then warn exactly as ``warnings._warn_unawaited_coroutine`` does (same message, same
    ``stacklevel``: the line where the coroutine was dropped)."""
    orig = getattr(warnings, "_warn_unawaited_coroutine", None)
    if orig is None:
        return

    def _warn_unawaited_coroutine(coro):
        try:
            rec._note_unawaited(coro, sys._getframe(1))
        except Exception:  # recording must never break the warning
            pass
        msg_lines = [f"coroutine '{coro.__qualname__}' was never awaited\n"]
        if coro.cr_origin is not None:
            import linecache
            import traceback

            def extract():
                for filename, lineno, funcname in reversed(coro.cr_origin):
                    line = linecache.getline(filename, lineno)
                    yield (filename, lineno, funcname, line)

            msg_lines.append("Coroutine created at (most recent call last)\n")
            msg_lines += traceback.format_list(list(extract()))
        msg = "".join(msg_lines).rstrip("\n")
        warnings.warn(msg, category=RuntimeWarning, stacklevel=2, source=coro)

    warnings._warn_unawaited_coroutine = _warn_unawaited_coroutine
    undo.append(lambda: warnings._warn_unawaited_coroutine is _warn_unawaited_coroutine
                and setattr(warnings, "_warn_unawaited_coroutine", orig))


def is_unawaited_warning(msg) -> bool:
    return msg.category is RuntimeWarning and asyncio.iscoroutine(msg.source) \
        and "was never awaited" in str(msg.message)


def unawaited_where(coro, frame) -> str:
    """Where a never-awaited coroutine came from: its creation site if the program tracks
    coroutine origins, else the line where it was dropped (the same line when never stored)."""
    for filename, lineno, _func in getattr(coro, "cr_origin", None) or ():  # innermost first
        if not filename.startswith(_ASYNCIO_DIR) and filename not in OWN_FILES:
            return f"{filename}:{lineno}"
    return where_of(user_frame(frame))


class LogTap(logging.Filter):
    """Notes asyncio's error log records. A filter (not a handler) on the "asyncio" logger:
    it lets every record through, and a program without logging set up still gets
    Python's last-resort output on stderr."""

    def __init__(self, rec) -> None:
        super().__init__()
        self.rec = rec

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            try:
                self._note(record)
            except Exception:  # pragma: no cover - a broken log call
                pass
        return True

    def _note(self, record) -> None:
        msg = record.getMessage()
        where = ""
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and exc.__traceback__ is not None:
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
            msg = f"{msg}: {type(exc).__name__}: {exc}"
        self.rec._warnings.append((now_ns(), "asyncio-error", msg.splitlines()[0], where))


def tap_logs(rec, undo: list) -> None:
    tap = LogTap(rec)
    logger = logging.getLogger("asyncio")
    logger.addFilter(tap)
    undo.append(lambda: logger.removeFilter(tap))


# --------------------------------------------------------------------------- fork
def _after_fork_in_child() -> None:
    """A forked child inherits the patched step but nobody drains it: stop recording there."""
    rec = _active
    stop_recording()
    if rec is not None:
        rec._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


use_recorder()
