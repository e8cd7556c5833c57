"""Threads for the recorder's watchdogs, started before the program needs them.

Each recorded loop has a watchdog thread (``recorder.Recorder._watchdog``) from its first run
to its close. ``asyncio.run`` makes a new loop each time, so a program (or a test suite) that
calls it many times would start a thread each time, on its own thread and inside its own
time: creating a thread and running its first lines cost ~0.1 ms of the program's thread on
a first ``asyncio.run`` (measured: bench/tracer_overhead.py, workload (b)).

While a pool is open (``autorecord.record_all_loops`` opens one before the program starts),
a watchdog runs on a thread that was started beforehand and waits, parked without the GIL,
for its next recording. At most ``KEEP`` threads wait; a loop that finds none parked (more
loops at once, in threads) gets a thread of its own, which ends with its recording (or
parks in a free place), so a program that counts its threads (CPython's test suite does,
test by test) sees no more of them after a loop's close than before its first run. With no pool open (a scenario's Recorder),
each watchdog has a thread of its own, as before.

These are bare ``_thread`` threads: not in ``threading.enumerate()``, as the watchdog's
never were. A forked child has none of them (``after_fork_in_child``).
"""

from __future__ import annotations

import _thread
import os

_lock = _thread.allocate_lock()
#: threads kept parked: a loop's watchdog is still busy for a moment after the loop's close
#: (its last batch waits out recorder.LAST_GRACE_S), so the next ``asyncio.run`` takes the other
KEEP = 2
_idle: list["_Slot"] = []  # at most KEEP parked threads
_open = False


class _Slot:
    __slots__ = ("go", "job", "ident")

    def __init__(self) -> None:
        self.go = _thread.allocate_lock()
        self.go.acquire()
        self.job = None
        self.ident = _thread.get_ident()


def open_pool() -> None:
    """Keep KEEP threads parked for the next watchdogs, and start them now."""
    global _open
    with _lock:
        if _open:
            return
        _open = True
        n = KEEP - len(_idle)
    for _ in range(n):
        _thread.start_new_thread(_worker, (None, None))


def close_pool() -> None:
    """Threads end once their watchdog has (a parked one ends now)."""
    global _open
    with _lock:
        _open = False
        idle = _idle[:]
        del _idle[:]
    for slot in idle:
        slot.job = None
        slot.go.release()


def start(fn, args: tuple) -> int:
    """Run ``fn(*args)`` on a parked thread if one waits, else on a new one: its ident."""
    with _lock:
        slot = _idle.pop() if _idle else None
    if slot is None:
        return _thread.start_new_thread(_worker, (fn, args))
    slot.job = (fn, args)
    ident = slot.ident
    slot.go.release()
    return ident


def _worker(fn, args) -> None:
    slot = None
    while True:
        if fn is not None:
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - the job reports its own failures
                pass
            fn = args = None  # (the job's Recorder must not stay alive here)
        with _lock:
            if not _open or len(_idle) >= KEEP:
                return
            if slot is None:
                slot = _Slot()
            _idle.append(slot)
        slot.go.acquire()  # parked: no GIL, no CPU, until a job (or the pool closes)
        job, slot.job = slot.job, None
        if job is None:
            return
        fn, args = job


def after_fork_in_child() -> None:
    global _lock, _open
    _lock = _thread.allocate_lock()
    del _idle[:]
    _open = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)
