"""Record what an asyncio event loop does, cheaply enough to leave on.

How it works (see ``shared/reference/recorder-facts.md`` for the measurements behind
these choices; the hooks themselves are in ``recorder_hooks.py``):

* **Steps.** ``asyncio.events.Handle._run`` is replaced by a function that does the
  same work and appends ``(start_ns, end_ns, id(owner))`` to one flat int64 buffer
  (24 bytes a step). That function, ``create_task``'s wrapper and the notes of late timers
  and finished tasks are compiled (``_fastpath.c``) where the accelerator was built, and
  pure Python otherwise (``recorder_hooks.use_recorder``; same behaviour, both tested). ``owner`` is ``callback.__self__``: the ``Task`` for task steps
  and wake-ups, something else (or nothing) for plain callbacks. Handles of other loops
  run untraced.
* **Tasks.** The loop's ``create_task`` is wrapped (on the loop object, so any task
  factory the program sets, before or after, is used and recorded) to note each task's
  creation (time, coroutine, name, parent); a name given after ``create_task`` returned
  (3.11/3.12) is caught in ``asyncio.tasks._set_task_name``. The step that finishes a task
  notes when, how (ok / error / cancelled) and under which name it ended. No reference to
  a task is kept, not even a weak one (a surviving object per task makes the garbage
  collector run more). Raw ``id()`` values are resolved to task numbers after the buffers
  are drained, using creation and end times, so a recycled address is not confused with
  an earlier task (``resolver.py``: in this process for ``drain()``; by the parent for
  children that ship ``drain_raw()`` batches, so the program does not pay for it).
* **Ready but starved.** A task is ready from its creation, from the moment its timer
  fell due (a late ``TimerHandle`` is inspected to find the task it wakes) and, at
  the latest, from the start of the loop iteration in which its step runs (the
  selector is wrapped to mark iterations). The last is a lower bound.
* **Wait reasons.** A task step that ends with the task awaiting a future notes what it
  waits on (``wait_reasons.py``: a timer, which lock / semaphore / queue, a socket, a thread
  job, another task...), from the task's chain of suspended coroutines. Steps after which
  the task is merely ready again (``sleep(0)``) cost one attribute read more; a sleep is
  noted by the compiled hook itself (the same shared reason ``classify`` gives).
* **Blocks.** A watchdog thread notices a step that has not finished after a few ms
  and samples the loop thread's frame (``sys._current_frames``) until it ends, so a
  long step is blamed on the line where it was stuck. When it first sees a step stuck it
  also reads the CPU clocks of the loop thread and of the other threads, and again when
  the step ends (``gil_probe.py``): a loop thread whose clock barely moved while workers
  burnt CPU was waiting for the GIL, not blocked by its line.
* **Worker threads.** ``loop.run_in_executor`` (hence ``asyncio.to_thread``) and
  ``anyio.to_thread.run_sync`` (hence FastAPI/Starlette ``run_in_threadpool``) are
  wrapped so each job is timed in its worker thread and linked to the awaiting task.
* **Warnings.** Shown warnings ("coroutine ... was never awaited" with where it was
  dropped, or created if the program tracks coroutine origins) and asyncio's error log
  records are noted. They are shown exactly as usual.
* **Tags and points.** ``tag_current(label)`` labels the current task (a request id);
  a task inherits its creator's tag (applied at the drain from the parent links, so a
  middleware's endpoint task, a streaming task and tasks a handler spawns carry the
  request's id). ``mark_current(what)`` notes a named moment of the current task
  (``TaskInfo.points``), e.g. when a response was sent.

Nothing here changes asyncio's semantics: task names and types, contextvars,
cancellation, exceptions and exception handlers, debug-mode checks and "created at"
tracebacks, the usual warnings and log output behave as without the recorder. The
recorder holds no strong reference to any task, so tasks are freed (and "Task exception
was never retrieved" is logged) when and where they would be without it. ``uninstall()``
undoes each change only if it is still in place. A forked child stops recording.
``autorecord.py`` switches the recorder on for every loop a process creates.

Size: ~800 lines, one job (a loop's recording: buffers, the watchdog's life from the loop's
first run to its close, paused between runs, and its drains and last batch); the patched step
and every other patch are in ``recorder_hooks.py``, the GIL probe in ``gil_probe.py``. The
watchdog loop (``_watchdog``) is most of it and reads the recorder's state on every tick: split
out, it would reach into the Recorder as much as it does here.
"""

from __future__ import annotations

import _thread
import asyncio
import sys
import threading
import time
import warnings
from array import array

from . import gil_probe as _gp
from . import loop_queue as _lq
from . import recorder_hooks as _h
from . import wait_reasons as _wr
from .gil_probe import gil_enabled as _gil_enabled
from .resolver import Resolver
from .recorder_hooks import drop_own_frame, now_ns, strip_own_frames, user_frame, where_of  # noqa: F401 (API)


HOUSEKEEP_S = 0.05  # without a sink, the compiled watchdog wait still looks this often
SEND_WAIT_S = 5.0  # a batch waits this long at most for the one sent before it
# The watchdog's flag (one byte; read without the GIL by the compiled wait): the loop runs; the
# recording ended; the loop stopped but may run again (``pause_watch``: asyncio.run runs its loop
# three times, a test suite many more; the watchdog lives on, and its next drain takes the run's
# last records: no thread started and no GIL taken per run).
WATCH_RUN, WATCH_STOP, WATCH_PAUSED = 0, 1, 2
# ... or the recording ended and its last batch is to be sent: within LAST_GRACE_S (the compiled
# wait gives the program's thread that long to leave asyncio.run before the batch takes the
# GIL), or now (a flush, os._exit, the end of the process: ``hurry``)
WATCH_LAST, WATCH_HURRY = 3, 4
LAST_GRACE_S = 0.05
WATCH_READY_S = 1.0  # start_watch() waits this long at most for the watchdog to watch
_before_watch = None  # tests: called first thing in the watchdog's thread (e.g. to make it late)
_h.OWN_FILES.add((lambda: 0).__code__.co_filename)


def hurry(flag: bytearray) -> None:
    """A watchdog's flag: if its recording's last batch waits (WATCH_LAST), it goes now."""
    if flag[0] == WATCH_LAST:
        flag[0] = WATCH_HURRY
        _h.watch_wake()


def active() -> "Recorder | None":
    """The Recorder installed in this process, if any."""
    return _h._active


def tag_current(label: str) -> None:
    """Label the current task in the recording (e.g. with a request id). No-op when off.

    A task inherits its creator's tag: every task the tagged task (or one of its children)
    creates after this call carries the same label (applied at the drain, from the parent
    links the recording has anyway: nothing is added to the hot path)."""
    rec = _h._active
    if rec is not None:
        task = asyncio.current_task()
        if task is not None:
            rec._tags.append((id(task), now_ns(), label))



def mark_current(what: str) -> None:
    """Note that the current task reached a point the program names (e.g. "response-sent"),
    with the time. No-op when off. Read back as ``TaskInfo.points[what]`` (first time)."""
    rec = _h._active
    if rec is not None:
        task = asyncio.current_task()
        if task is not None:
            rec._marks.append((id(task), now_ns(), what))

def _packed(a: array) -> memoryview:
    """An int64 column as bytes (``protocol.encode`` sends it as base64)."""
    return memoryview(a).cast("B")


def _same(a):
    return a



class Recorder:
    """Records one event loop. ``install(loop)`` ... run ... ``drain()`` ... ``uninstall()``.

    ``drain()`` returns a batch: a dict of plain lists (JSON-ready) of everything recorded
    since the previous drain, with task ids resolved (0 = a callback that is no task step).
    """

    def __init__(self, block_ms: float = 25.0, sample_ms: float = 5.0, max_steps: int = 2_000_000,
                 sink=None, drain_s: float = 0.05, watch: str = "always", raw: bool = False) -> None:
        """``sink``: if given, called with each batch, drained every ``drain_s`` seconds by
        the recorder's own thread (otherwise call ``drain()`` yourself).
        ``watch``: "always" runs the watchdog thread from ``install`` to ``uninstall``;
        "running" leaves it to ``start_watch()`` / ``pause_watch()`` / ``stop_watch()``
        (autorecord: from the loop's first run to its close, paused while it is not running). ``raw``: the sink gets ``drain_raw()`` batches (resolved by whoever
        reads them: a child process ships them to its parent)."""
        if block_ms <= 0:
            raise ValueError("block_ms must be > 0")
        if watch not in ("always", "running"):
            raise ValueError("watch must be 'always' or 'running'")
        self.block_ns = int(block_ms * 1e6)
        self.sample_s = max(0.001, sample_ms / 1000)
        self.max_steps = max_steps
        self.sink = sink
        self.drain_s = drain_s
        self.watch = watch
        self.raw = raw
        self._steps = _h.new_steps()  # STEP_COLS int64 a step (array('q'), or the compiled hook's buffer)
        self._iters = _h.new_steps(2)  # (start, end) of each select: an array('q') or the compiled hook's
        # New tasks: code objects (or type names), names, and (created_ns, parent raw id,
        # raw id) in an array. Never the task itself, nor a weak reference (a surviving
        # object per task makes the garbage collector run more: ~+10% on 10,000 tiny tasks).
        self._new_info: list = []
        self._new_names: list = []
        self._late_names: list = []  # (raw, t_ns, name): names given after create_task returned
        self._new_meta = _h.new_steps(3)
        self._done: list = []  # (raw, t_ns, outcome, name): noted in the step that finished it
        self._eager: list = []  # (task raw id, first step start, end) of eager first steps
        self._ready = _h.new_steps(2)  # raw id, ready since (ns): rows of late timers' tasks
        # Waits (see wait_reasons.py): (raw, step end ns) rows (an array('q'), or the compiled
        # hook's buffer), and each one's reason (kind, detail, where, awaited raw), shared tuples
        self._wait_at = _h.new_steps(2)
        self._wait_why: list = []
        self._samples: list = []  # (t_ns, where, func)
        self._jobs: list = []  # (pool, thread, submit, start, end, task_raw, label)
        self._warnings: list = []  # (t_ns, kind, message, where)
        self._tags: list = []  # (raw, t_ns, label)
        self._marks: list = []  # (raw, t_ns, what)
        self._gil: list = []  # (t0, t1, loop_cpu_ns, {syscall kind: n}, [[thread, cpu_ns], ...])
        self.gil_enabled = _gil_enabled()
        self.gauges = None  # optional callable -> dict, read at each drain (e.g. pool tokens)
        self._sel_flag = bytearray(1)  # 1 while the loop's thread is in select (see _in_select)
        self._loop = None
        self._loop_tid = None
        self._loop_native = None  # the loop thread's kernel id (its CPU clock: gil_probe._cpu_ns)
        self._watch: int | None = None  # the watchdog's thread ident
        self._watch_done = None
        self._stop = threading.Event()  # the running watchdog's (a new one for each)
        self._stop_flag = bytearray(1)  # the same, for the compiled wait
        self._last_lock = threading.Lock()
        self._sent = None  # set once the batch sent last in the background has gone (deliver)
        self._drained_paused = False  # drained since the loop stopped (the watchdog parks then)
        self.watch_error = ""  # why the watchdog thread stopped, if it raised (see _watch_failed)
        self._sink_lock = threading.Lock()  # batches reach the sink in order
        self._drain_lock = threading.Lock()
        self._restore: list = []
        self._resolver = Resolver(max_steps)  # raw ids -> task numbers, for drain()
        self._unawaited_hooked = False
        self._lq = None  # loop_queue.QueueProbe, from install
        self._sysf = None  # gil_probe.SyscallFile: the watchdog's, while it runs
        self._anyio_wait = False  # anyio.to_thread is to be wrapped once the program imports it
        self.t0_ns = now_ns()

    @property
    def _in_select(self) -> bool:
        """Whether the loop's thread is in select now (its SelectorProbe sets it; compiled, in
        ``_sel_flag``, without a Python call)."""
        return self._sel_flag[0] == 1

    @_in_select.setter
    def _in_select(self, value: bool) -> None:
        self._sel_flag[0] = 1 if value else 0

    # ----------------------------------------------------------------- install
    def install(self, loop: asyncio.AbstractEventLoop) -> "Recorder":
        if _h._active is not None:
            raise RuntimeError("a Recorder is already installed in this process")
        if not hasattr(loop, "_selector") or not hasattr(loop, "_ready"):
            raise RuntimeError("the recorder needs a stdlib asyncio event loop (not uvloop)")
        self._loop = loop
        self._loop_tid = threading.get_ident() if not loop.is_running() else None
        if type(self._steps) is not type(_h.new_steps()):  # the hot path changed since __init__
            self._steps, self._new_meta, self._ready = _h.new_steps(), _h.new_steps(3), _h.new_steps(2)
            self._wait_at, self._iters = _h.new_steps(2), _h.new_steps(2)
        self._loop_native = threading.get_native_id() if not loop.is_running() else None
        self.t0_ns = now_ns()
        undo = self._restore

        orig_create = loop.create_task
        _h.patch_attr(loop, "create_task", self._make_create_task(loop, orig_create), undo)

        self._lq = _lq.install(self, loop, undo)  # ready queue, timers, fds (loop_queue.py)
        sel = loop._selector
        probe = _h.SelectorProbe(sel, self)
        loop._selector = probe
        undo.append(lambda: loop._selector is probe and setattr(loop, "_selector", sel))

        _h.patch_attr(loop, "run_in_executor", _h.make_run_in_executor(loop, self, loop.run_in_executor), undo)

        _h.patch_task_names(self, undo)
        _wr.patch_primitives(undo, _h)
        self._anyio_wait = not _h.patch_anyio(self, undo)  # else: once the program imports it
        _h.patch_warnings(self, undo)
        _h.patch_unawaited(self, undo)
        self._unawaited_hooked = hasattr(warnings, "_warn_unawaited_coroutine")
        _h.tap_logs(self, undo)

        _h.start_recording(self, loop, self._steps)
        undo.append(self._unpatch_handles)
        if self.watch == "always":
            self.start_watch()
        return self

    def _unpatch_handles(self) -> None:
        if _h._active is self:
            _h.stop_recording()

    def uninstall(self) -> None:
        self.stop_watch()
        while self._restore:
            self._restore.pop()()
        # The loop is the program's: a closed loop must be freed when the program lets it go
        # (anyio's suite checks), also while the last batch waits out its grace in the watchdog.
        self._loop = None
        if self._lq is not None:
            self._lq.loop = None

    def start_watch(self) -> None:
        """Start the watchdog thread (block sampling, and drains to the sink).

        A bare ``_thread``: it is not in ``threading.enumerate()`` / ``active_count()``,
        which programs (and test suites) count. A paused watchdog (``pause_watch``) goes on:
        its flag says so, and a parked wait is woken without the GIL changing hands."""
        if _h._active is not self:
            return
        if self.watch == "running":
            self._loop_tid = threading.get_ident()  # called by the thread about to run the loop
            self._loop_native = threading.get_native_id()
        if self._watch is not None:
            if self._stop_flag[0] == WATCH_PAUSED:
                self._drained_paused = False
                self._stop_flag[0] = WATCH_RUN
                _h.watch_wake()
            return
        stop = self._stop = threading.Event()
        done = _thread.allocate_lock()
        done.acquire()
        self._watch_done = done
        flag = self._stop_flag = bytearray(1)  # WATCH_RUN...: read by the compiled wait without the GIL
        self._drained_paused = False
        stop.last = stop.exited = False  # (see stop_watch(last=True))
        # a batch still being sent (by the watchdog before, or a courier: see deliver) goes first
        stop.prev, stop.sent = self._sent, threading.Event()
        stop.ready = _thread.allocate_lock()  # released once the watchdog waits for long steps
        stop.ready.acquire()
        self._watch = _thread.start_new_thread(self._watch_main, (done, stop, flag))
        # Return once the watchdog watches: on a busy machine a thread can wait many
        # milliseconds for a CPU, and a block the loop began meanwhile (the program's first
        # step) would end unsampled, blamed on no line of its own. (On an idle machine the
        # wait costs the loop's thread ~0.05 ms a loop: a thread's start and first lines.)
        stop.ready.acquire(timeout=WATCH_READY_S)

    def pause_watch(self) -> bool:
        """The loop stopped (it may run again): the watchdog goes on without sampling; its next
        drain takes what the run left, and it then parks until ``start_watch`` or
        ``stop_watch``. False: there is no watchdog (it raised): send the rest yourself."""
        if self._watch is None or self._stop.exited:
            return False
        self._stop_flag[0] = WATCH_PAUSED
        return True

    def _watch_main(self, done, stop, flag) -> None:
        try:
            if _before_watch is not None:
                _before_watch()
            self._watchdog(stop, flag)
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the program
            self._watch_failed(exc)
        finally:
            if stop.ready.locked():  # (it failed before it watched: start_watch waits no longer)
                stop.ready.release()
            sysf, self._sysf = self._sysf, None
            if sysf is not None:
                sysf.close()
            with self._last_lock:
                stop.exited = True
                last = stop.last
            try:
                if last and self.sink is not None:  # the recording ended: its last batch, from here
                    try:
                        self._send(self.sink, stop.prev)
                    except Exception as exc:  # noqa: BLE001 - never printed over the program's stderr
                        self._watch_failed(exc, "the recorder's last batch was not sent")
                elif stop.prev is not None:  # taken over: the batches before still go first
                    stop.prev.wait(SEND_WAIT_S)
            finally:
                stop.sent.set()
                done.release()

    def _watch_failed(self, exc: BaseException, what: str = "") -> None:
        """The watchdog thread raised: the recording goes on without it (no blocks sampled, no
        GIL verdicts, no drains until the loop stops), and says so once, in the recording
        (a ``recorder-error`` warning) and in ``watch_error``. Never on the program's stderr:
        that is the program's (``COFFEESHOP_RECORDER_DEBUG=1`` prints the traceback there)."""
        import os
        import traceback

        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
        first = str(exc).splitlines()[0] if str(exc) else ""
        self.watch_error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        what = what or ("the recorder's watchdog stopped: blocks, GIL waits and live batches "
                        "are missing from here on")
        self._warnings.append((now_ns(), "recorder-error", f"{what} ({self.watch_error})", where))
        if os.environ.get("COFFEESHOP_RECORDER_DEBUG"):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)

    def stop_watch(self, wait: bool = True, last: bool = False) -> bool:
        """Stop the watchdog thread. ``wait=False``: do not wait for it to end; autorecord
        stops it each time the loop stops, and on a busy machine waiting for a thread to be
        scheduled costs milliseconds. ``last``: the watchdog sends what was recorded since its
        last batch to the sink on its way out (not the loop's thread: encoding a batch costs
        milliseconds); returns whether it will (False: it had ended, or there is none)."""
        stop = self._stop
        taken = False
        if last and self._watch is not None and self.sink is not None:
            with self._last_lock:
                if not getattr(stop, "exited", True):
                    stop.last = taken = True
                    self._sent = stop.sent
        stop.set()
        if self._stop_flag[0] not in (WATCH_LAST, WATCH_HURRY):  # (stopped before: as it was)
            self._stop_flag[0] = WATCH_LAST if taken else WATCH_STOP
        _h.watch_wake()
        if self._watch is not None:
            if wait and self._watch != _thread.get_ident():
                self._watch_done.acquire(timeout=2)
            self._watch = None
        return taken

    def deliver(self, sink, background: bool = False) -> None:
        """Drain now into ``sink`` (raw batches if ``raw``), in order with the watchdog's
        drains and the batches still being sent. ``background``: drain and send from a
        thread of its own (the caller's, the loop's, goes on: :meth:`flush` waits for it)."""
        prev = self._sent
        if not background:
            try:
                self._send(sink, prev)
            except Exception as exc:  # noqa: BLE001 - the recorder's failure never reaches the program
                self._watch_failed(exc, "the recorder's last batch was not sent")
            return
        sent = self._sent = threading.Event()
        _thread.start_new_thread(self._courier, (sink, prev, sent))

    def _courier(self, sink, prev, sent) -> None:
        try:
            self._send(sink, prev)
        except Exception as exc:  # noqa: BLE001 - a sink's error never reaches the program
            self._watch_failed(exc, "the recorder's last batch was not sent")
        finally:
            sent.set()

    def _send(self, sink, prev=None) -> None:
        if prev is not None:
            prev.wait(SEND_WAIT_S)
        with self._sink_lock:
            batch = self._sink_batch()
            sink(batch)

    def hurry(self) -> None:
        """The recording's last batch (see WATCH_LAST) goes now, not within LAST_GRACE_S."""
        hurry(self._stop_flag)

    def flush(self, timeout: float = 5.0) -> bool:
        """Send what a stopped loop's run left now (a paused watchdog would within ``drain_s``),
        and wait until the batches being sent in the background have been (True if so)."""
        self.hurry()
        if (self._watch is not None and self.sink is not None and self._stop_flag[0] == WATCH_PAUSED
                and not self._drained_paused):
            self._drained_paused = True  # (the watchdog parks without a drain of its own)
            self._send(self.sink, self._stop.prev)
            self._stop.prev = None
        sent = self._sent
        return sent is None or sent.wait(timeout)

    def _forked(self) -> None:
        """In a forked child: undo what is still in place, drop the buffers, never drain."""
        self._watch = None
        sysf, self._sysf = self._sysf, None
        if sysf is not None:
            sysf.close()
        self.sink = None
        self._stop, self._drain_lock = threading.Event(), threading.Lock()  # maybe held at fork
        self._sink_lock = threading.Lock()
        self._last_lock, self._sent = threading.Lock(), None
        while self._restore:
            try:
                self._restore.pop()()
            except Exception:
                pass
        self._steps, self._new_meta, self._ready = _h.new_steps(), _h.new_steps(3), _h.new_steps(2)
        self._new_info, self._new_names, self._late_names, self._done = [], [], [], []
        self._wait_at, self._wait_why = _h.new_steps(2), []

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.uninstall()

    # ------------------------------------------------------------ task creation
    def _make_create_task(self, loop, orig):
        fast = _h.make_create_task(loop, orig, self._new_info, self._new_names, self._new_meta, self._eager)
        if fast is not None:  # the same, compiled
            return fast
        add_info, add_name = self._new_info.append, self._new_names.append
        add_meta, eager_steps = self._new_meta.append, self._eager
        current_task = asyncio.current_task
        eager_possible = sys.version_info >= (3, 12)

        def create_task(coro, **kwargs):
            if _h._loop is not loop:  # uninstalled, or replaced by another recording
                return orig(coro, **kwargs)
            t = now_ns()
            parent = current_task(loop)
            task = orig(coro, **kwargs)
            try:
                tb = task._source_traceback
                name = task.get_name()  # a name given later: see recorder_hooks.patch_task_names
            except AttributeError:  # a task factory's own kind of future
                return task
            if tb:  # debug mode: "created at" must not point into the recorder
                strip_own_frames(tb)
            eager_end = 0
            try:
                info = coro.cr_code
                # Eager tasks (3.12+) ran their first step inside this call: note when it ended.
                if eager_possible and (coro.cr_suspended or coro.cr_frame is None):
                    eager_end = now_ns()
            except AttributeError:  # not a native coroutine
                info = type(coro).__name__
            add_info(info)
            add_name(name)
            add_meta(t)
            add_meta(id(parent) if parent is not None else 0)
            add_meta(id(task))
            if eager_end:
                eager_steps.append((id(task), t, eager_end))
                if task.done():  # finished in its eager first step
                    _h._finished(task, eager_end)
                elif task._fut_waiter is not None:
                    _h._waiting(task, eager_end)
            return task

        return create_task

    # ------------------------------------------------------------ late timers
    def _note_late_timer(self, handle, due_ns: int) -> None:
        """A timer ran late: find the task(s) it wakes, which were ready since ``due_ns``."""
        try:
            cands = [getattr(handle._callback, "__self__", None)]
            for a in handle._args or ():
                cbs = getattr(a, "_callbacks", None)
                if cbs:
                    cands.extend(getattr(cb, "__self__", None) for cb, _ in cbs)
            ready = self._ready
            for obj in cands:
                if isinstance(obj, asyncio.Task):
                    if type(ready) is array:
                        ready.append(id(obj))
                        ready.append(due_ns)
                    else:
                        ready.push(id(obj), due_ns)
        except Exception:  # never disturb the loop
            pass

    # --------------------------------------------------------------- warnings
    def _note_warning(self, msg) -> None:
        if self._unawaited_hooked and _h.is_unawaited_warning(msg):
            return  # noted by _note_unawaited, with where it came from
        self._warnings.append((now_ns(), msg.category.__name__, str(msg.message).splitlines()[0],
                               f"{msg.filename}:{msg.lineno}"))

    def _note_unawaited(self, coro, frame) -> None:
        name = getattr(coro, "__qualname__", "coroutine")
        self._warnings.append((now_ns(), "never-awaited", f"coroutine '{name}' was never awaited",
                               _h.unawaited_where(coro, frame)))

    # --------------------------------------------------------------- watchdog
    def _watchdog(self, stop, flag) -> None:
        """Sample the loop thread's frame while one step holds the loop.

        With the compiled hook, the thread waits in ``_fastpath.watch_wait`` (no GIL) until a
        step has run ``sample_ms``, a drain is due, or the step a probe measures has ended: it
        takes the GIL only then (each time it does, the loop thread hands the GIL over and waits
        to get it back: on a busy machine, a wake-up of its own). The CPU clocks of every tick
        (``gil_probe.Ticks``) are read there too. With the pure-Python hook (no running step is
        published) it wakes every ``sample_ms``, takes the GIL and looks."""
        steps = self._steps
        interval = self.sample_s
        interval_ns = int(interval * 1e9)
        last_len = -1
        next_drain = time.monotonic() + self.drain_s
        gil = None  # the CPU clocks taken when a step was first seen stuck (see gil_probe.py)
        gil_n = -1  # (compiled wait) the number of the step that probe measures
        ticks = None  # the CPU clocks at the last tick: long steps no tick saw (gil_probe.Ticks)
        fast = _h.watch_wait()
        long_n = -1  # (compiled wait) the number of the step that has run sample_ms, if any
        stop.ready.release()  # watching from here on (start_watch may wait for it)
        while True:
            # the loop stopped (pause_watch) and what its run left has been drained: park
            parked = flag[0] == WATCH_PAUSED and (self._drained_paused or self.sink is None)
            if fast is not None:
                wait, busy_step = fast
                # a drain's deadline, or a look at least every HOUSEKEEP_S (the loop's thread
                # once it runs, anyio once imported); parked: none (-1) until the loop runs again
                # (a drain waits for the loop to be idle in select, at most drain_s: see watch_wait)
                due = next_drain if self.sink is not None else time.monotonic() + HOUSEKEEP_S
                why, long_n, reads = wait(flag, interval_ns, -1 if parked else int(due * 1e9), interval_ns,
                                          gil_n if gil is not None else -1, self._loop_native or 0,
                                          int(self.drain_s * 1e9) if self.sink is not None else 0,
                                          int(LAST_GRACE_S * 1e9))
                if why == 0 or stop.is_set():
                    break
                if why == 4:  # the loop runs again: drains from now on
                    next_drain = time.monotonic() + self.drain_s
                    continue
                if ticks is not None and reads:
                    ticks.reads.extend(reads)
                if why != 1:
                    long_n = -1
                # the step the probe measures has ended (the wait saw it: a drain may already
                # have taken its row, so the length of ``steps`` cannot tell)
                probe_ended = why == 3
            elif stop.wait(interval):
                break
            elif parked:
                next_drain = time.monotonic() + self.drain_s
                continue
            else:
                probe_ended = False
            if self._anyio_wait and "anyio.to_thread" in sys.modules and _h._active is self:
                self._anyio_wait = not _h.patch_anyio(self, self._restore)
            if self.gil_enabled and self._loop_tid is not None:
                if ticks is None:
                    ticks = _gp.Ticks(self._loop_tid, self._loop_native)
                self._gil += ticks.brackets(steps, self.block_ns, not self._in_select)
            if gil is not None and (probe_ended or len(steps) != gil.n_steps or self._in_select):
                if gil.confirmed or self._long_step_at(gil.n_steps, gil.t0):
                    self._gil.append(gil.close())  # before the drain: with the step it measured
                gil = None
            if self.sink is not None and time.monotonic() >= next_drain:
                next_drain = time.monotonic() + self.drain_s
                if stop.prev is not None:  # the last batch of the run before goes first
                    stop.prev.wait(SEND_WAIT_S)
                    stop.prev = None
                with self._sink_lock:
                    if stop.is_set():  # stopped: the last batch is sent on the way out (or not ours)
                        break
                    if flag[0] == WATCH_PAUSED:
                        if self._drained_paused:  # flush() took it
                            continue
                        self._drained_paused = True
                    if ticks is not None:  # the steps recorded since the top of this tick, too
                        self._gil += ticks.brackets(steps, self.block_ns, not self._in_select)
                    batch = self._sink_batch()
                    last_len = -1
                    if gil is not None:  # the drain took the steps, not the one still running
                        gil.n_steps = len(steps)
                    if ticks is not None:
                        ticks.n_steps = len(steps) // 3 * 3
                    self.sink(batch)
            if self._loop_tid is None:
                self._loop_tid = getattr(self._loop, "_thread_id", None)
                self._loop_native = None  # (gil_probe finds it from the thread's ident)
                continue
            with self._drain_lock:
                n = len(steps)
                # (no local for the loop: this thread must not keep it alive, see uninstall)
                busy = (not self._in_select) and bool(getattr(self._loop, "is_running", bool)())
                if fast is None:
                    stuck = busy and n == last_len
                else:  # the step the wait saw running sample_ms is still running
                    t_busy, n_busy = busy_step()
                    stuck = busy and long_n >= 0 and t_busy != 0 and n_busy == long_n
                last_len = n
                if self.gil_enabled and busy and (fast is None or stuck):
                    # Clocks from the first tick that saw this step running (the watchdog
                    # itself gets few ticks when the loop thread waits for the GIL).
                    if gil is None or gil.n_steps != n:
                        if self._sysf is None:  # the loop thread's syscall file, open while this runs
                            self._sysf = _gp.SyscallFile(_gp.native_of(self._loop_tid, self._loop_native))
                        gil = _gp.Probe(self._loop_tid, n, self._loop_native, self._sysf)
                        gil_n = long_n
                    elif stuck:
                        gil.look()
                    gil.confirmed |= stuck
                if not stuck:
                    continue
                t = now_ns()  # (before the frame is read: the step was running then)
                frame = _h.thread_frame(self._loop_tid)
                if frame is None:
                    continue
                f = user_frame(frame)
                where, func = where_of(f), f.f_code.co_name
                try:  # the task running the stuck step (which holds it): its id only
                    raw = id(asyncio.current_task(self._loop))  # None: resolves to 0
                except Exception:  # pragma: no cover - not readable from here on this Python
                    raw = 0
                del frame, f
                # The watchdog may have lost the GIL since it found the step stuck: a sample
                # counts only if that step still runs, so the frame read was that step's (not
                # the next one's, at its first line) and its time falls inside it.
                if (busy_step() != (t_busy, n_busy)) if fast is not None else len(steps) != n:
                    continue
                self._samples.append((t, where, func, raw))
        if gil is not None and len(steps) != gil.n_steps and (gil.confirmed or self._long_step_at(gil.n_steps, gil.t0)):
            self._gil.append(gil.close())  # the last long step ended

    def _long_step_at(self, i: int, t0: int) -> bool:
        """Whether the first step recorded at ``_steps[i]`` (the one a probe saw running,
        even if the watchdog got no second tick while it ran) held the loop ``block_ms``.
        The probe then also counts the loop's CPU after that step: it errs towards "block"."""
        st = self._steps
        return len(st) >= i + 3 and st[i] <= t0 and st[i + 1] - st[i] >= self.block_ns

    # ------------------------------------------------------------------ drain
    def drain(self) -> dict:
        """Everything recorded since the last drain, as a JSON-ready batch (ids resolved)."""
        with self._drain_lock:
            return self._resolver.resolve(self._collect())

    def drain_raw(self) -> dict:
        """The same, unresolved, for ``protocol.encode`` (``resolver.to_wire``): the cheap part only, for
        a child that ships its batches; the reader resolves them (``protocol.Reader``)."""
        with self._drain_lock:
            raw = self._collect(packed=True)
        raw["max_steps"] = self.max_steps
        return raw

    def _sink_batch(self) -> dict:
        return self.drain_raw() if self.raw else self.drain()

    def _take(self, lst: list) -> list:
        n = len(lst)
        items = lst[:n]
        del lst[:n]
        return items

    def _collect(self, packed: bool = False) -> dict:
        """Take the buffers (nothing resolved: see ``resolver.py``). ``packed``: the int64
        buffers as bytes-like objects (``protocol.encode`` sends them as base64)."""
        final = _h._active is not self  # uninstalled: no step can come any more
        # 1. Finished tasks and late names first: the steps and creations they refer to were
        #    recorded before them, so they are in the buffers taken next. (The recorder never
        #    touches a task on this thread: a reference taken here could be the last one, and
        #    a task freed on another thread than the loop's is seen.)
        finished = self._take(self._done)
        late_names = self._take(self._late_names)
        # 2. Take the buffers: steps before creations (a step is recorded after the
        #    creation of any task it mentions).
        ready = _h.take_steps(self._ready, 2, packed=packed)
        n_w = min(len(self._wait_at) // 2, len(self._wait_why))
        wait_at = _h.take_steps(self._wait_at, 2, n_w, packed=packed)
        wait_why = self._wait_why[:n_w]
        del self._wait_why[:n_w]
        raw_steps = _h.take_steps(self._steps, packed=packed)
        n_new = min(len(self._new_info), len(self._new_names), len(self._new_meta) // 3)
        created_info = self._new_info[:n_new]
        created_names = self._new_names[:n_new]
        created_meta = _h.take_steps(self._new_meta, 3, n_new, packed=packed)
        del self._new_info[:n_new], self._new_names[:n_new]
        eager = self._take(self._eager)
        iters = _h.take_steps(self._iters, 2)
        # Flat columns and shared tables, not a list a task: thousands of small lists would
        # make the garbage collector run more in the recorded program, and cost more to encode
        # (measured: bench/tracer_overhead.py). The resolver (resolver.py) reads them back.
        codes, code_idx = _h.table_of(created_info)
        codes = [[info, ""] if isinstance(info, str) else
                 [info.co_qualname, f"{info.co_filename}:{info.co_firstlineno}"] for info in codes]
        whys, why_idx = _h.table_of(wait_why)
        # (columns by comprehension: ``zip(*finished)`` makes an iterator a finished task, which the
        # garbage collector counts: 10,000 of them made it run a full collection in the program)
        done_ids, done_ts = [d[0] for d in finished], [d[1] for d in finished]
        done_hows, done_names = [d[2] for d in finished], [d[3] for d in finished]
        pack = _packed if packed else _same
        return {
            "t": now_ns(),
            "final": final,
            "steps": raw_steps,
            "codes": codes,  # [coroutine, where] of the new tasks' code objects (or type names)
            "new_code": pack(code_idx),  # an index into codes, a new task
            "new_names": created_names,
            "meta": created_meta,
            "late_names": late_names,
            "done_ids": pack(array("q", done_ids)),
            "done_ts": pack(array("q", done_ts)),
            "done_hows": done_hows,
            "done_names": done_names,
            "eager": eager,
            "ready": ready,  # raw id, ready since (rows)
            "iters": iters.tolist(),
            "samples": self._take(self._samples),
            "jobs": self._take(self._jobs),
            "warnings": self._take(self._warnings),
            "tags": self._take(self._tags),
            "marks": self._take(self._marks),
            "gil": self._take(self._gil),
            # wait reasons (wait_reasons.py): raw id, end of the step, a pair; the reasons as a
            # table of the (shared) tuples and an index a wait
            "wait_at": wait_at,
            "wait_why": whys,
            "wait_idx": pack(why_idx),
            # the loop's queue (loop_queue.py): raw ids too
            "loop": self._lq.drain(pack, final) if self._lq is not None else None,
            "gauges": self._read_gauges(),
        }

    def _read_gauges(self) -> list:
        if self.gauges is None:
            return []
        try:
            return [[now_ns(), self.gauges()]]
        except Exception:  # a gauge must never break the recording
            return []


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
        if _h._active is rec:
            rec.uninstall()
        loop.close()
    tl.result = result
    return tl
