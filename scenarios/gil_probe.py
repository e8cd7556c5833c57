"""Was a long loop step blocked by its own line, or waiting for the GIL?

The recorder's watchdog makes a :class:`Probe` when a tick finds the loop running a
step, keeps it if a later tick finds the same step still running (stuck), and closes it
when the step has ended; nothing here runs on the loop's thread. A probe reads (see
``shared/reference/recorder-facts.md``, "Telling a GIL wait from a block"):

* the loop thread's CPU clock (by its kernel thread id, see ``_cpu_ns``) at both ends: a thread that
  runs Python or blocks in C code that keeps the GIL burns CPU; one waiting for the
  GIL, or sleeping, does not;
* the CPU clocks of every other thread over the same interval: who burnt CPU (and so
  held the GIL) meanwhile, as the ``name|native id`` key worker jobs are recorded with;
* what the kernel says the loop thread is waiting in (``/proc/self/task/<id>/syscall``)
  at each look: ``futex`` (the GIL, or a lock), ``sleep`` (``time.sleep``), ``io``
  (a blocking read), ``select``, ``running``. One ``sleep`` or ``io`` look makes it a block.

A long step no probe measured (under heavy contention the watchdog, which needs the GIL
itself, may get no tick for 100 ms, or look only once the step is over) is measured by
:class:`Ticks`: three CPU clocks read at every tick (the loop thread's, the process's, the
watchdog's own: ~1 us) bracket it, from the last tick before it began to the first after it
ended. The loop thread's CPU over the whole bracket is an upper bound of its CPU in the step, and the other threads' CPU rate over the bracket stands for theirs in the step:
a record of the same shape, with no kernel look (``{"bracket": 1}``); that CPU is shared
out among the threads by their own clocks since the last tick that found the loop busy
(read only then), or given as ``"*"`` (the timeline gives it to the thread jobs then).

:func:`classify` (one rule, used by the timeline) turns a probe's record into "gil" or
"blocked". On a free-threaded build (``sys._is_gil_enabled()`` false) nothing is probed.
"""

from __future__ import annotations

import bisect
import os
import platform
import sys
import threading
import time
from collections import deque


now_ns = time.monotonic_ns  # the recorder's clock (recorder_hooks.now_ns)

# syscall numbers by machine: futex, clock_nanosleep/nanosleep, blocking reads and waits
_SYSCALLS = {
    "x86_64": {202: "futex", 230: "sleep", 35: "sleep", 0: "io", 45: "io", 7: "select", 232: "select",
               281: "select", 23: "select", 270: "select", 271: "select"},
    "aarch64": {98: "futex", 115: "sleep", 101: "sleep", 63: "io", 207: "io", 22: "select", 73: "select",
                72: "select"},
}.get(platform.machine(), {})

#: ``COFFEESHOP_GIL_BRACKETS=0`` turns the brackets off (bench/gil_miss.py compares, also in a
#: server child, which inherits the environment).
BRACKETS = os.environ.get("COFFEESHOP_GIL_BRACKETS", "1") != "0"

GIL_SHARE = 0.5  # a loop thread that ran less than this share of a long step ...
BUSY_OTHERS = 0.25  # ... while other threads burnt at least this many CPUs: GIL-starved
# (with the GIL, all threads together burn at most about one CPU; a loaded machine less)


def gil_enabled() -> bool:
    """False on a free-threaded build with the GIL off: then there is no GIL to wait for."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


_LINUX = sys.platform.startswith("linux")


def _cpu_ns(ident: int, native: int | None = None) -> int | None:
    """CPU ns of thread ``ident`` (``native``: its kernel id, if known); None if it is gone.

    On Linux the clock is named by the kernel thread id, as glibc's ``pthread_getcpuclockid``
    names it, but without touching the thread's pthread handle: for a thread that has
    ended, ``pthread_getcpuclockid`` reads freed memory (it crashed a worker of CPython's
    test_asyncio.test_ssl, which starts and ends many threads). A gone thread's clock
    is EINVAL; the kernel only answers for the caller's own threads."""
    try:
        if _LINUX:
            if native is None:
                native = getattr(threading._active.get(ident), "native_id", None)  # noqa: SLF001
                if native is None:
                    return None
            return time.clock_gettime_ns((~native << 3) | 6)  # MAKE_THREAD_CPUCLOCK(tid, SCHED)
        return time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError, ValueError, OverflowError):  # gone, or not on this OS
        return None


def _syscall(native_id: int | None) -> str:
    if native_id is None:
        return ""
    try:
        with open(f"/proc/self/task/{native_id}/syscall", "rb", buffering=0) as f:
            return _syscall_kind(f.read(32))
    except OSError:
        return ""


def _syscall_kind(data: bytes) -> str:
    head = data.split(b" ", 1)[0].strip()
    if head == b"running":
        return "running"
    try:
        return _SYSCALLS.get(int(head), "other")
    except ValueError:
        return ""


def native_of(ident: int, native: int | None = None) -> int | None:
    """The kernel id of thread ``ident`` (``native`` if known)."""
    if native is None:
        th = threading._active.get(ident)  # noqa: SLF001 - no lock needed to read
        native = getattr(th, "native_id", None)
    return native


class SyscallFile:
    """``/proc/self/task/N/syscall`` of one thread, kept open by the watchdog while it runs
    and re-read with one ``pread`` a look. Each system call of the watchdog's thread lets
    the loop's thread have the GIL and then waits to get it back: opening and closing the
    file at each look (five system calls) made the recorded loop wait for the GIL at every
    busy tick (measured: bench/tracer_overhead.py, server). ``close()`` when done."""

    __slots__ = ("native", "_fd", "_pid")

    def __init__(self, native: int | None) -> None:
        self.native = native
        self._fd = -1
        self._pid = 0

    def kind(self) -> str:
        if self.native is None:
            return ""
        if self._pid != os.getpid():  # first look, or a forked child: the file was the parent's
            self.close()
            try:
                self._fd = os.open(f"/proc/self/task/{self.native}/syscall", os.O_RDONLY)
            except OSError:
                return ""
            self._pid = os.getpid()
        try:
            return _syscall_kind(os.pread(self._fd, 32, 0))
        except OSError:  # the thread has gone
            self.close()
            self._pid = os.getpid()  # and stays gone: no new open each look
            return ""

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:  # (after a fork, the child's copy of the parent's)
            try:
                os.close(fd)
            except OSError:
                pass


def thread_clocks(loop_ident: int) -> dict[int, tuple[int, object]]:
    """ident -> (CPU ns, Thread) of every thread but the loop's and the caller's."""
    me = threading.get_ident()
    out = {}
    for th in threading.enumerate():
        if th.ident in (me, loop_ident) or th.ident is None:
            continue
        c = _cpu_ns(th.ident, th.native_id)
        if c is not None:
            out[th.ident] = (c, th)
    return out


def cpu_since(clocks: dict, loop_ident: int | None = None) -> list[list]:
    """[[``name|native id``, CPU ns]] each thread of ``clocks`` burnt since; with
    ``loop_ident``, threads started since count too (all their CPU is since)."""
    if loop_ident is not None:
        clocks = {**{i: (0, th) for i, (_c, th) in thread_clocks(loop_ident).items()}, **clocks}
    out = []
    for ident, (c0, th) in clocks.items():
        c1 = _cpu_ns(ident, th.native_id)
        if c1 is not None and c1 > c0:
            out.append([f"{th.name}|{th.native_id}", c1 - c0])
    return out


class Probe:
    """CPU clocks over one stuck step (made and closed by the watchdog thread)."""

    __slots__ = ("n_steps", "loop_ident", "native", "t0", "loop0", "others0", "calls", "confirmed", "_sysf")

    def __init__(self, loop_ident: int, n_steps: int, native: int | None = None,
                 syscalls: SyscallFile | None = None) -> None:
        """``syscalls``: the loop thread's :class:`SyscallFile` (the watchdog's), else the
        file is opened at each look."""
        self.n_steps = n_steps
        self._sysf = syscalls
        self.loop_ident = loop_ident
        self.native = native_of(loop_ident, native)
        self.calls: dict[str, int] = {}
        self.others0 = thread_clocks(loop_ident)
        self.t0 = now_ns()
        self.loop0 = _cpu_ns(loop_ident, native)
        self.confirmed = False  # the watchdog saw the same step running at a later tick
        self.look()

    def look(self) -> None:
        sysf = self._sysf
        kind = sysf.kind() if sysf is not None and sysf.native == self.native else _syscall(self.native)
        if kind:
            self.calls[kind] = self.calls.get(kind, 0) + 1

    def close(self) -> tuple:
        """(t0, t1, loop CPU ns or -1, {syscall kind: looks}, [[thread key, CPU ns], ...])."""
        loop1 = _cpu_ns(self.loop_ident, self.native)
        t1 = now_ns()
        others = cpu_since(self.others0)
        loop = loop1 - self.loop0 if loop1 is not None and self.loop0 is not None else -1
        return (self.t0, t1, loop, dict(self.calls), others)


THREADS_EVERY_NS = 50_000_000


class Ticks:
    """The CPU clocks at the watchdog's recent ticks, to bracket long steps no probe measured."""

    __slots__ = ("loop_ident", "native", "reads", "n_steps", "threads", "threads_t", "_long_rows")

    def __init__(self, loop_ident: int, native: int | None = None) -> None:
        # the recorder's scan of its step buffer (compiled where built); imported here, not at
        # the top: the Timeline imports this module for classify(), and a viewer must not pay
        # for the recorder's hooks (asyncio, multiprocessing) at launch
        from .recorder_hooks import long_rows

        self._long_rows = long_rows
        self.loop_ident = loop_ident
        self.native = native  # the loop thread's kernel id, if known (see _cpu_ns)
        self.reads: deque = deque(maxlen=64)  # (t, loop CPU, process CPU, watchdog CPU)
        self.n_steps = -1
        self.threads: dict = {}
        self.threads_t = 0

    def read(self, n_steps: int, busy: bool) -> None:
        """Note the clocks now, and how many step entries the buffer held. Each thread's
        clock too (~1 us a thread), only at a tick that found the loop busy and at most every
        ``THREADS_EVERY_NS``: who burnt CPU lately, for steps no probe measured."""
        loop = _cpu_ns(self.loop_ident, self.native)
        t = now_ns()
        if loop is not None:
            self.reads.append((t, loop, time.process_time_ns(), time.thread_time_ns()))
        self.n_steps = n_steps
        if not self.threads_t or (busy and t - self.threads_t >= THREADS_EVERY_NS):
            self.threads, self.threads_t = thread_clocks(self.loop_ident), t

    def brackets(self, steps, block_ns: int, busy: bool) -> list[tuple]:
        """Probe records (see :meth:`Probe.close`) for the long steps recorded since the
        last :meth:`read`, each from the last tick before it began to now; then
        :meth:`read` again. ``steps``: the recorder's flat (start, end, owner) buffer;
        ``busy``: the loop is running a step now. (A probe that measured the step itself
        takes precedence: ``Timeline._note_gil``.)"""
        out = []
        n = len(steps) // 3 * 3
        reads = self.reads
        if BRACKETS and reads and 0 <= self.n_steps <= n:
            since = reads[0][0]
            longs = [(s, e) for s, e in self._long_rows(steps, self.n_steps, n, block_ns) if s >= since]
            if longs:
                busy = True
                loop_b = _cpu_ns(self.loop_ident, self.native)
                proc_b, own_b, t_b = time.process_time_ns(), time.thread_time_ns(), now_ns()
                named = cpu_since(self.threads, loop_ident=self.loop_ident) if self.threads_t else []
                span = max(1, t_b - self.threads_t)
                for s, e in longs:
                    t_a, loop_a, proc_a, own_a = reads[bisect.bisect_right(reads, (s, 1 << 62)) - 1]
                    if loop_b is None or t_b <= t_a:
                        continue
                    d_loop = loop_b - loop_a
                    others = max(0, (proc_b - proc_a) - d_loop - (own_b - own_a))
                    # the others' CPU at their rate over the bracket, shared out by the threads'
                    # own clocks since the last busy tick (or "*": the thread jobs then)
                    share = others * (e - s) // (t_b - t_a)
                    who = [[k, c * (e - s) // span] for k, c in named] or [["*", share]]
                    scale = share / max(1, sum(c for _, c in who))
                    out.append((s, e, d_loop, {"bracket": 1}, [[k, int(c * scale)] for k, c in who]))
        self.read(n, busy)
        return out


def classify(rec) -> dict | None:
    """A probe record -> {"gil": bool, "loop_cpu_share", "others_cpu", "threads": [[key, s]]}
    (None if it measured nothing). GIL-starved: the loop thread ran less than
    ``GIL_SHARE`` of the interval while other threads burnt CPU, and the kernel did not
    see it mostly in ``time.sleep`` or a blocking read (those are real blocks)."""
    t0, t1, loop, calls, others = rec
    wall = t1 - t0
    # The kernel saw it in time.sleep or a blocking read even once: a real block (a thread
    # waiting for the GIL is in futex; the watchdog, starved itself, looks only a few times).
    elsewhere = calls.get("sleep", 0) + calls.get("io", 0) > 0
    if wall <= 0 or loop < 0 or (calls.get("select") and not elsewhere):
        return None  # it looked between steps only: not this step (a look in a sleep still tells)
    share = min(1.0, loop / wall)
    busy = sum(c for _, c in others) / wall
    gil = share < GIL_SHARE and busy >= BUSY_OTHERS and not elsewhere
    if calls.get("bracket") and not gil:
        return None  # a bracket's loop CPU is an upper bound: it can show a GIL wait, not a block
    threads = sorted(([k, c / 1e9] for k, c in others if c * 20 >= wall), key=lambda x: -x[1])
    return {"gil": gil, "loop_cpu_share": round(share, 3), "others_cpu": round(busy, 2),
            "threads": threads}
