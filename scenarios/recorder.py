"""Record what an asyncio event loop does, cheaply enough to leave on.

How it works (see ``shared/reference/recorder-facts.md`` for the measurements behind
these choices):

* **Steps.** ``asyncio.events.Handle._run`` is replaced by a function that does the
  same work and appends ``(start_ns, end_ns, id(owner))`` to one flat ``array('q')``
  (24 bytes a step). ``owner`` is ``callback.__self__``: the ``Task`` for task steps
  and wake-ups, something else (or nothing) for plain callbacks.
* **Tasks.** A task factory notes each task's creation (time, coroutine, parent) and a
  weak reference; no callback is added to the task. Raw ``id()`` values are resolved
  to task numbers when the buffers are drained, using creation times and the end of a
  task's last step (a task is seen finished at one drain and closed at the next), so a
  recycled address is not confused with an earlier task.
* **Ready but starved.** A task is ready from its creation, from the moment its timer
  fell due (a late ``TimerHandle`` is inspected to find the task it wakes) and, at
  the latest, from the start of the loop iteration in which its step runs (the
  selector is wrapped to mark iterations). The last is a lower bound.
* **Blocks.** A watchdog thread notices a step that has not finished after a few ms
  and samples the loop thread's frame (``sys._current_frames``) until it ends, so a
  long step is blamed on the line where it was stuck.
* **Worker threads.** ``loop.run_in_executor`` (hence ``asyncio.to_thread``) and
  ``anyio.to_thread.run_sync`` (hence FastAPI/Starlette ``run_in_threadpool``) are
  wrapped so each job is timed in its worker thread and linked to the awaiting task.
* **Warnings.** "coroutine ... was never awaited" is captured with the place the
  coroutine was created (origin tracking); other warnings and asyncio's error log
  lines too. They are still shown as usual.

Nothing here changes asyncio's semantics: task names, contextvars, cancellation,
exceptions and the usual warnings behave as without the recorder. The recorder holds
no strong reference to any task.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from array import array
from asyncio import events
from concurrent.futures import ProcessPoolExecutor

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC: one clock for every process on the machine

_ORIG_RUN = events.Handle._run
_ORIG_TIMER_RUN = events.TimerHandle.__dict__.get("_run")  # normally absent: inherited

# The recorder that the patched Handle._run writes to (one per process at a time).
_active: "Recorder | None" = None
_ap = None  # bound ``array.append`` of the active recorder's step buffer
_late_ns = 2_000_000  # a timer this late is inspected to find the task it wakes
# Frames kept per coroutine for "never awaited" warnings: 1 is the line that created it.
# Every coroutine creation pays for this (on 10,000 tasks x 10 sleep(0): 16 frames ~ +0.9x,
# 2 frames ~ +0.3x, 1 frame ~ +0.15x), so only that one line is kept.
ORIGIN_DEPTH = 1

_THIS_FILE = os.path.abspath(__file__)
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__))
_SKIP_DIRS = (
    _ASYNCIO_DIR,
    os.path.dirname(os.path.abspath(threading.__file__)) + os.sep + "threading.py",
    os.path.dirname(os.path.abspath(threading.__file__)) + os.sep + "selectors.py",
    os.path.dirname(os.path.abspath(threading.__file__)) + os.sep + "contextvars.py",
    os.path.dirname(os.path.abspath(threading.__file__)) + os.sep + "concurrent",
)


class _KeepNameTask(asyncio.Task):
    """Python 3.13.0's create_task calls ``task.set_name(name)`` after any task factory,
    even when no name was given, which renames every task "None". Asyncio without a
    factory keeps "Task-N": so does this (used only on that version)."""

    __slots__ = ()

    def set_name(self, value) -> None:
        if value is not None:
            super().set_name(value)


_TASK_CLASS = _KeepNameTask if sys.version_info[:3] == (3, 13, 0) else asyncio.Task


class _Raiser:
    """A stand-in context whose ``run`` re-raises, so asyncio reports an exception its own way."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def run(self, *_args):
        raise self.exc


def _report(handle, exc: BaseException) -> None:
    # Let the original Handle._run format and report the exception exactly as asyncio does.
    ctx = handle._context
    handle._context = _Raiser(exc)
    try:
        _ORIG_RUN(handle)
    finally:
        handle._context = ctx


def _traced_run(self):
    cb = self._callback
    t0 = now_ns()
    try:
        self._context.run(cb, *self._args)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        _report(self, exc)
    _ap(t0)
    _ap(now_ns())
    _ap(id(getattr(cb, "__self__", None)))
    self = None  # as asyncio does: break cycles when an exception occurred


def _traced_timer_run(self):
    cb = self._callback
    t0 = now_ns()
    due = int(self._when * 1e9)
    if t0 - due > _late_ns and _active is not None:
        _active._note_late_timer(self, due)
    try:
        self._context.run(cb, *self._args)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        _report(self, exc)
    _ap(t0)
    _ap(now_ns())
    _ap(id(getattr(cb, "__self__", None)))
    self = None


def tag_current(label: str) -> None:
    """Label the current task in the recording (e.g. with a request id). No-op when off."""
    rec = _active
    if rec is not None:
        task = asyncio.current_task()
        if task is not None:
            rec._tags.append((id(task), now_ns(), label))


def user_frame(frame):
    """The innermost frame that is not asyncio's, the recorder's or the threading machinery's."""
    f = frame
    while f is not None:
        fn = f.f_code.co_filename
        if fn != _THIS_FILE and not fn.startswith(_SKIP_DIRS) and not fn.startswith("<frozen"):
            return f
        f = f.f_back
    return frame


def where_of(frame) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""


class _SelectorProbe:
    """Wraps the loop's selector to mark each loop iteration (time spent idle in select)."""

    def __init__(self, selector, rec: "Recorder") -> None:
        self._sel = selector
        self._rec = rec
        self._iters = rec._iters

    def select(self, timeout=None):
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


class _TimedCall:
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


class _ProcessCall:
    """Picklable wrapper for process-pool jobs: returns the result with when and where it ran."""

    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, *args):
        t0 = now_ns()
        result = self.fn(*args)
        return (result, t0, now_ns(), os.getpid())


def _label(fn) -> str:
    while True:
        if isinstance(fn, functools.partial):
            # asyncio.to_thread passes partial(context.run, func, *args)
            if fn.args and getattr(fn.func, "__name__", "") == "run" and callable(fn.args[0]):
                fn = fn.args[0]
            else:
                fn = fn.func
            continue
        break
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return name.rpartition("<locals>.")[2]


class _LogCapture(logging.Handler):
    def __init__(self, rec: "Recorder") -> None:
        super().__init__(level=logging.WARNING)
        self.rec = rec

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover - a broken log call
            msg = str(record.msg)
        where = ""
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and exc.__traceback__ is not None:
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
            msg = f"{msg}: {type(exc).__name__}: {exc}"
        self.rec._warnings.append((now_ns(), "asyncio-error", msg.splitlines()[0], where))


class Recorder:
    """Records one event loop. ``install(loop)`` ... run ... ``drain()`` ... ``uninstall()``.

    ``drain()`` returns a batch: a dict of plain lists (JSON-ready) of everything recorded
    since the previous drain, with task ids resolved (0 = a callback that is no task step).
    """

    def __init__(self, block_ms: float = 25.0, sample_ms: float = 5.0, max_steps: int = 2_000_000,
                 sink=None, drain_s: float = 0.05) -> None:
        """``sink``: if given, called with each batch, drained every ``drain_s`` seconds by
        the recorder's own thread (otherwise call ``drain()`` yourself, often: the recorder
        holds each new task until the next drain, to read its name)."""
        if block_ms <= 0:
            raise ValueError("block_ms must be > 0")
        self.block_ns = int(block_ms * 1e6)
        self.sample_s = max(0.001, sample_ms / 1000)
        self.max_steps = max_steps
        self.sink = sink
        self.drain_s = drain_s
        self._steps = array("q")
        self._iters = array("q")
        # New tasks, held until the next drain: the objects, and (created_ns, parent raw id)
        # pairs in an array (no tuple per task: fewer objects for the GC to walk).
        self._new_tasks: list = []
        self._new_meta = array("q")
        self._eager: list = []  # (task raw id, first step start, end) of eager first steps
        self._ready: list = []  # (raw, ready_ns)
        self._samples: list = []  # (t_ns, where, func)
        self._jobs: list = []  # (pool, thread, submit, start, end, task_raw, label)
        self._warnings: list = []  # (t_ns, kind, message, where)
        self._tags: list = []  # (raw, t_ns, label)
        self.gauges = None  # optional callable -> dict, read at each drain (e.g. pool tokens)
        self._seq = 0
        self._live: dict[int, list] = {}  # task seq -> its entry in _hist
        self._dropped = 0
        self._in_select = False
        self._loop = None
        self._loop_tid = None
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()
        self._drain_lock = threading.Lock()
        self._restore: list = []
        # raw id -> [[seq, created_ns, done_ns|None, wref, named, last_end, finished], ...]
        self._hist: dict[int, list] = {}
        self._suppress_next_show = False
        self.t0_ns = now_ns()

    # ----------------------------------------------------------------- install
    def install(self, loop: asyncio.AbstractEventLoop) -> "Recorder":
        global _active, _ap
        if _active is not None:
            raise RuntimeError("a Recorder is already installed in this process")
        if not hasattr(loop, "_selector") or not hasattr(loop, "_ready"):
            raise RuntimeError("the recorder needs a stdlib asyncio event loop (not uvloop)")
        _active = self
        _ap = self._steps.append
        self._loop = loop
        self._loop_tid = threading.get_ident() if not loop.is_running() else None
        self.t0_ns = now_ns()

        events.Handle._run = _traced_run
        events.TimerHandle._run = _traced_timer_run
        self._restore.append(self._unpatch_handles)

        prev_factory = loop.get_task_factory()
        loop.set_task_factory(self._make_factory(prev_factory))
        self._restore.append(lambda: loop.set_task_factory(prev_factory))

        sel = loop._selector
        loop._selector = _SelectorProbe(sel, self)
        self._restore.append(lambda: setattr(loop, "_selector", sel))

        orig_rie = loop.run_in_executor
        rec = self

        def run_in_executor(executor, func, *args):
            task = asyncio.current_task(loop)
            raw = id(task) if task is not None else 0
            ex = executor if executor is not None else getattr(loop, "_default_executor", None)
            if isinstance(ex, ProcessPoolExecutor):
                inner = orig_rie(executor, _ProcessCall(func), *args)
                return rec._unwrap_process(loop, inner, raw, _label(func))
            pool = "default executor" if executor is None else type(executor).__name__
            return orig_rie(executor, _TimedCall(func, rec, raw, _label(func), pool), *args)

        loop.run_in_executor = run_in_executor
        self._restore.append(lambda: loop.__dict__.pop("run_in_executor", None))

        self._patch_anyio()

        prev_depth = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(max(prev_depth, ORIGIN_DEPTH))
        self._restore.append(lambda: sys.set_coroutine_origin_tracking_depth(prev_depth))
        self._patch_warnings()

        handler = _LogCapture(self)
        logging.getLogger("asyncio").addHandler(handler)
        self._restore.append(lambda: logging.getLogger("asyncio").removeHandler(handler))

        self._stop.clear()
        self._watch = threading.Thread(target=self._watchdog, name="coffeeshop-recorder", daemon=True)
        self._watch.start()
        return self

    def uninstall(self) -> None:
        global _active, _ap
        self._stop.set()
        if self._watch is not None:
            self._watch.join(timeout=2)
            self._watch = None
        while self._restore:
            self._restore.pop()()
        if _active is self:
            _active = None

    def _unpatch_handles(self) -> None:
        events.Handle._run = _ORIG_RUN
        if _ORIG_TIMER_RUN is None:
            if "_run" in events.TimerHandle.__dict__:
                del events.TimerHandle._run
        else:
            events.TimerHandle._run = _ORIG_TIMER_RUN

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()

    # ----------------------------------------------------------- task factory
    def _make_factory(self, prev):
        new_tasks, meta, eager_steps = self._new_tasks, self._new_meta, self._eager
        add_task, add_meta = new_tasks.append, meta.append
        current_task, Task = asyncio.current_task, _TASK_CLASS
        eager_possible = sys.version_info >= (3, 12)

        def factory(loop, coro, **kwargs):
            t = now_ns()
            parent = current_task(loop)
            task = Task(coro, loop=loop, **kwargs) if prev is None else prev(loop, coro, **kwargs)
            # The task itself is held until the next drain (<= drain_s): its name is set
            # only after the factory returns, and is read there.
            add_task(task)
            add_meta(t)
            add_meta(id(parent) if parent is not None else 0)
            # Eager tasks (3.12+) ran their first step inside this call: note when it ended.
            if eager_possible and (getattr(coro, "cr_suspended", False) or getattr(coro, "cr_frame", 1) is None):
                eager_steps.append((id(task), t, now_ns()))
            return task

        return factory

    # ------------------------------------------------------------ late timers
    def _note_late_timer(self, handle, due_ns: int) -> None:
        """A timer ran late: find the task(s) it wakes, which were ready since ``due_ns``."""
        try:
            cands = [getattr(handle._callback, "__self__", None)]
            for a in handle._args or ():
                cbs = getattr(a, "_callbacks", None)
                if cbs:
                    cands.extend(getattr(cb, "__self__", None) for cb, _ in cbs)
            for obj in cands:
                if isinstance(obj, asyncio.Task):
                    self._ready.append((id(obj), due_ns))
        except Exception:  # never disturb the loop
            pass

    # -------------------------------------------------------- worker threads
    def _unwrap_process(self, loop, inner, raw, label):
        outer = loop.create_future()
        rec = self

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

        submit = now_ns()
        inner.add_done_callback(done)
        return outer

    def _patch_anyio(self) -> None:
        try:
            import anyio.to_thread as a2t
        except Exception:  # anyio absent: nothing to wrap
            return
        orig = a2t.run_sync
        rec = self

        @functools.wraps(orig)
        async def run_sync(func, *args, **kwargs):
            task = asyncio.current_task()
            call = _TimedCall(func, rec, id(task) if task is not None else 0, _label(func), "anyio")
            return await orig(call, *args, **kwargs)

        a2t.run_sync = run_sync
        self._restore.append(lambda: setattr(a2t, "run_sync", orig))

    # --------------------------------------------------------------- warnings
    def _patch_warnings(self) -> None:
        rec = self
        orig_unawaited = getattr(warnings, "_warn_unawaited_coroutine", None)
        orig_show = warnings.showwarning

        def warn_unawaited(coro):
            # Called by the interpreter when a never-awaited coroutine is destroyed. Record it
            # with its creation site, then warn exactly as warnings._warn_unawaited_coroutine
            # does.
            origin = getattr(coro, "cr_origin", None)
            where = ""
            for filename, lineno, _func in origin or ():  # innermost first
                if not filename.startswith(_ASYNCIO_DIR) and filename != _THIS_FILE:
                    where = f"{filename}:{lineno}"
                    break
            if not where:  # no origin: where it was dropped (the same line when never stored)
                where = where_of(user_frame(sys._getframe(1)))
            name = getattr(coro, "__qualname__", "coroutine")
            rec._warnings.append((now_ns(), "never-awaited",
                                  f"coroutine '{name}' was never awaited", where))
            rec._suppress_next_show = True
            msg_lines = [f"coroutine '{name}' was never awaited\n"]
            if origin is not None:
                import linecache
                import traceback
                frames = [(f, n, fn, linecache.getline(f, n)) for f, n, fn in reversed(origin)]
                msg_lines.append("Coroutine created at (most recent call last)\n")
                msg_lines += traceback.format_list(frames)
            msg = "".join(msg_lines).rstrip("\n")
            warnings.warn(msg, category=RuntimeWarning, stacklevel=2, source=coro)

        def showwarning(message, category, filename, lineno, file=None, line=None):
            if getattr(rec, "_suppress_next_show", False) and category is RuntimeWarning \
                    and "never awaited" in str(message):
                rec._suppress_next_show = False  # already recorded, with its creation site
            else:
                rec._warnings.append((now_ns(), category.__name__, str(message).splitlines()[0],
                                      f"{filename}:{lineno}"))
            orig_show(message, category, filename, lineno, file, line)

        if orig_unawaited is not None:
            warnings._warn_unawaited_coroutine = warn_unawaited
            self._restore.append(lambda: setattr(warnings, "_warn_unawaited_coroutine", orig_unawaited))
        warnings.showwarning = showwarning
        self._restore.append(lambda: setattr(warnings, "showwarning", orig_show))

    # --------------------------------------------------------------- watchdog
    def _watchdog(self) -> None:
        """Sample the loop thread's frame while one step holds the loop."""
        steps = self._steps
        interval = self.sample_s
        last_len = -1
        next_drain = time.monotonic() + self.drain_s
        while not self._stop.wait(interval):
            if self.sink is not None and time.monotonic() >= next_drain:
                next_drain = time.monotonic() + self.drain_s
                batch = self.drain()
                last_len = -1
                self.sink(batch)
            if self._loop_tid is None:
                self._loop_tid = getattr(self._loop, "_thread_id", None)
                continue
            with self._drain_lock:
                n = len(steps)
                stuck = (not self._in_select) and n == last_len
                last_len = n
                if not stuck:
                    continue
                frame = sys._current_frames().get(self._loop_tid)
                if frame is None:
                    continue
                f = user_frame(frame)
                try:
                    task = asyncio.current_task(self._loop)
                except Exception:  # pragma: no cover - not readable from here on this Python
                    task = None
                self._samples.append((now_ns(), where_of(f), f.f_code.co_name, id(task) if task else 0))
                del frame, f, task

    # ------------------------------------------------------------------ drain
    def drain(self) -> dict:
        """Everything recorded since the last drain, as a JSON-ready batch."""
        with self._drain_lock:
            return self._drain()

    def _take(self, lst: list) -> list:
        n = len(lst)
        items = lst[:n]
        del lst[:n]
        return items

    def _drain(self) -> dict:
        live = self._live  # seq -> [seq, created_ns, done_ns, wref, named, last_end, finished]
        final = _active is not self  # uninstalled: no step can come any more
        # 1. Which tasks have finished? A task is done inside its last step, a moment before
        #    that step is recorded, so a task seen finished now is closed at the next drain.
        closing = [e for e in live.values() if e[6] is not None]
        closing += self._check_finished(live.values(), final)
        # 2. Take the buffers: steps before creations (a step is recorded after the
        #    creation of any task it mentions).
        ready = self._take(self._ready)
        n = len(self._steps) // 3 * 3
        raw_steps = self._steps[:n]
        del self._steps[:n]
        n_new = min(len(self._new_tasks), len(self._new_meta) // 2)
        created = self._new_tasks[:n_new]
        created_meta = self._new_meta[: 2 * n_new]
        del self._new_tasks[:n_new], self._new_meta[: 2 * n_new]
        eager = self._take(self._eager)
        iters = self._iters[: len(self._iters) // 2 * 2]
        del self._iters[: len(iters)]
        samples = self._take(self._samples)
        jobs = self._take(self._jobs)
        warns = self._take(self._warnings)
        tags = self._take(self._tags)

        tasks_out = []
        names = []
        hist = self._hist
        task = coro = None
        for task, t, parent_raw in zip(created, created_meta[0::2], created_meta[1::2]):
            self._seq += 1
            seq = self._seq
            raw = id(task)
            entry = [seq, t, None, weakref.ref(task), True, t, None]
            names.append([seq, task.get_name()])
            hist.setdefault(raw, []).append(entry)
            live[seq] = entry
            coro = task.get_coro()
            code = getattr(coro, "cr_code", None)
            if code is not None:
                name, where = code.co_qualname, f"{code.co_filename}:{code.co_firstlineno}"
            else:
                name, where = ("task" if coro is None else type(coro).__name__), ""
            tasks_out.append([seq, t, None, name, where, self._resolve(parent_raw, t), False])
        del created, task, coro  # let go of the tasks now
        steps_out = []
        dropped = 0
        if n // 3 > self.max_steps:
            dropped = n // 3 - self.max_steps
            raw_steps = raw_steps[dropped * 3:]
        resolve = self._resolve
        # Fast path: a raw id with one task in its history (nearly all of them).
        single = {raw: lst[0] for raw, lst in hist.items() if len(lst) == 1}
        seqs = []
        add = seqs.append
        starts, ends, raws = raw_steps[0::3], raw_steps[1::3], raw_steps[2::3]
        for t0, t1, raw in zip(starts, ends, raws):
            e = single.get(raw)
            if e is None:
                seq = resolve(raw, t0) if raw in hist else 0
                if seq:
                    entry = live.get(seq)
                    if entry is not None and t1 > entry[5]:
                        entry[5] = t1
            elif e[1] <= t0 and (e[2] is None or t0 <= e[2]):
                seq = e[0]
                if t1 > e[5]:
                    e[5] = t1
            else:
                seq = 0
            add(seq)
        steps_out = [x for triple in zip(starts, ends, seqs) for x in triple]
        self._dropped += dropped
        # eager first steps ran inside create_task: add them as steps of their own
        for item in eager:
            raw, t, eager_end = item
            seq = resolve(raw, t)
            if seq and seq in live:
                steps_out += (t, eager_end, seq)
                live[seq][5] = max(live[seq][5], eager_end)
            elif not final:
                self._eager.append(item)  # its task comes with the next drain

        ready_out = []
        for raw, t in ready:
            seq = resolve(raw, t)
            if seq:
                ready_out += (seq, t)
        jobs_out = [[pool, th, sub, s, e, resolve(raw, sub), label]
                    for pool, th, sub, s, e, raw, label in jobs]
        samples_out = [[t, w, fn, resolve(raw, t)] for t, w, fn, raw in samples]
        tags_out = [[resolve(raw, t), label] for raw, t, label in tags]

        if final:  # tasks first seen in this last drain
            closing += self._check_finished([live[q[0]] for q in tasks_out], True)
        # 4. Close finished tasks: done at the end of their last step.
        done_out = []
        for entry in closing:
            seq = entry[0]
            entry[2] = entry[5]
            name, outcome = entry[6]
            if name:
                names.append([seq, name])
            done_out.append([seq, entry[5], outcome])
            del live[seq]
        if closing:
            for raw in [r for r, lst in hist.items() if all(e[2] is not None for e in lst)]:
                del hist[raw]

        return {
            "t": now_ns(),
            "tasks": tasks_out,
            "names": names,
            "done": done_out,
            "steps": steps_out,
            "ready": ready_out,
            "iters": list(iters),
            "samples": samples_out,
            "jobs": jobs_out,
            "warnings": [list(w) for w in warns],
            "tags": [t for t in tags_out if t[0]],
            "gauges": self._read_gauges(),
            "dropped": dropped,
        }

    def _read_gauges(self) -> list:
        if self.gauges is None:
            return []
        try:
            return [[now_ns(), self.gauges()]]
        except Exception:  # a gauge must never break the recording
            return []

    @staticmethod
    def _check_finished(entries, final: bool) -> list:
        """Mark entries whose task is done (or freed); return them if they close now."""
        out = []
        for entry in entries:
            if entry[6] is not None:
                continue
            task = entry[3]()
            if task is None:
                entry[6] = ("", None)  # freed (its name was read earlier)
            elif task.done():
                if task.cancelled():
                    outcome = "cancelled"
                elif getattr(task, "_exception", None) is not None:  # does not "retrieve" it
                    outcome = "error"
                else:
                    outcome = "ok"
                entry[6] = (task.get_name(), outcome)
            else:
                continue
            if final:
                out.append(entry)
        return out

    def _resolve(self, raw: int, t: int) -> int:
        if not raw:
            return 0
        for entry in reversed(self._hist.get(raw, ())):
            if entry[1] <= t:
                if entry[2] is None or t <= entry[2]:
                    return entry[0]
                return 0
        return 0


def record(main, *args, block_ms: float = 25.0, **kwargs):
    """Run ``main(*args, **kwargs)`` on a fresh loop under the recorder; return the Timeline."""
    from .timeline import Timeline

    loop = asyncio.new_event_loop()
    tl = Timeline(block_ms=block_ms)
    rec = Recorder(block_ms=block_ms, sink=tl.ingest)
    try:
        rec.install(loop)
        tl.start(now_ns())
        try:
            result = loop.run_until_complete(main(*args, **kwargs))
        finally:
            tl.finish(now_ns())
            rec.uninstall()
            tl.ingest(rec.drain())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        if _active is rec:
            rec.uninstall()
        loop.close()
    tl.result = result
    return tl
