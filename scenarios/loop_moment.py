"""What the loop held at a moment, derived from the loop-queue records (``loop_queue.py``).

Derived (in the parent, from the recording only): :class:`LoopLog` (kept by the
``Timeline``; its :meth:`LoopLog.view` is an immutable prefix view carried by each
``Snapshot``) and :func:`loop_at`, the one function that answers "what did the loop hold at
time t". Within an iteration asyncio runs the handles that were in ``_ready`` when it began,
in order: call_soon'd ones first, then I/O callbacks (in the order select returned them),
then timers that fell due (by due time). So at a time t inside an iteration, the ready
queue is the steps of that iteration that start after t, each classified by its place;
plus the handles call_soon'd during this iteration for the next one (how many is
recorded, not when: listed as ``later``, "by the end of this iteration").
"""

from __future__ import annotations

import bisect
import sys
from array import array
from dataclasses import dataclass

READ, WRITE = 1, 2  # selectors.EVENT_READ / EVENT_WRITE

#: what a timer's callback means, in the words of the program that set it
_TIMER_WORDS = {
    "_set_result_unless_cancelled": "sleep",
    "_release_waiter": "wait_for timeout",
    "Timeout._on_timeout": "timeout",
    "_on_timeout": "timeout",
}


class LoopLog:
    """The loop-queue records of a Timeline (fed each batch's ``loop`` part and its steps).

    Every buffer only grows (``trim`` replaces them by new ones), so :meth:`view` (the
    buffers and their lengths now) is an immutable view another thread can query."""

    def __init__(self) -> None:
        self.recorded = False
        self.selects = array("q")  # end, timeout, n_ready, n_events (by end)
        self.sel_ends = array("q")
        self.iters = array("q")  # the recorder's select (start, end) pairs: where each began
        self.io: dict[int, tuple] = {}  # select end -> (fd, mask, ...)
        self.steps = array("q")  # the loop's own steps (not nested ones): t0, t1, seq, by time
        self.tcreated = array("q")
        self.twhen = array("q")
        self.tno = array("q")
        self.tseq = array("q")
        self.tlabel: list[str] = []
        self.cancelled: dict[int, int] = {}  # timer no -> cancelled at (ns)
        self.regs: list[tuple] = []  # (t, fd, events, rlabel, rseq, wlabel, wseq), by t
        self._by_when: dict = {}  # (id(twhen), n) -> timer indexes by due time (shared by views)
        self._last_end = 0
        #: task seq -> (created_ns, parent seq): a task's first step was call_soon'd by its
        #: creation (not for eager tasks: their first step ran inside create_task)
        self.created: dict[int, tuple[int, int]] = {}

    def ingest(self, batch: dict) -> None:
        """A batch's loop part, with its steps and selects: only batches that carry one (a
        recording of several loops at once keeps one loop's: see ``record_child.Renumber``)."""
        lq = batch.get("loop")
        if not lq:
            return
        self.recorded = True
        for seq, t, _name, _coro, _where, parent, eager in batch.get("tasks", ()):
            if not eager:
                self.created[seq] = (t, parent or 0)
        steps = batch.get("steps", ())
        last = self._last_end
        for i in range(0, len(steps), 3):
            t0, t1 = steps[i], steps[i + 1]
            if t0 >= last:  # (a step that starts earlier is nested: an eager task's first)
                self.steps.extend((t0, t1, steps[i + 2]))
                last = t1
            else:
                self.created.pop(steps[i + 2], None)
        self._last_end = last
        self.iters.extend(batch.get("iters", ()))
        sel = lq.get("selects", ())
        self.selects.extend(sel)
        self.sel_ends.extend(sel[0::4])
        for t, fds in lq.get("io", ()):
            self.io[t] = tuple(fds)
        for c, w, no, seq, label in lq.get("timers", ()):
            self.tcreated.append(c)
            self.twhen.append(w)
            self.tno.append(no)
            self.tseq.append(seq or 0)
            # a few distinct labels, each decoded anew per batch: one copy of each (a long
            # live run, e.g. a load test's server, keeps thousands of timers)
            self.tlabel.append(sys.intern(label) if type(label) is str else label)
        cancels = lq.get("cancels", ())
        for i in range(0, len(cancels), 2):
            self.cancelled[cancels[i + 1]] = cancels[i]
        self.regs.extend(tuple(r) for r in lq.get("regs", ()))

    def trim(self, cut: int) -> None:
        """Forget what ended before ``cut`` (new buffers: older views stay valid).

        Selects, iterations and steps are in time order (ends ascending): each is cut at a
        bisection, one slice in C. Timers are in creation order: only those made before
        ``cut`` are looked at one by one (a timer made later is kept, as an untrimmed log
        would have it). A live load test's server trims tens of thousands of records every
        few seconds, while the reader holds its lock (bench/load_loopq.py)."""
        i = bisect.bisect_left(self.sel_ends, cut)
        self.selects = self.selects[4 * i:]
        self.sel_ends = self.sel_ends[i:]
        it = self.iters
        self.iters = it[2 * bisect.bisect_left(it[1::2], cut):]
        self.io = {t: v for t, v in self.io.items() if t >= cut}
        st = self.steps
        self.steps = st[3 * bisect.bisect_left(st[1::3], cut):]
        n0 = bisect.bisect_left(self.tcreated, cut)
        when, nos, cancelled = self.twhen, self.tno, self.cancelled
        keep_t = [i for i in range(n0) if when[i] >= cut and cancelled.get(nos[i], cut) >= cut]
        for name in ("tcreated", "twhen", "tno", "tseq"):
            old = getattr(self, name)
            setattr(self, name, array("q", [old[i] for i in keep_t]) + old[n0:])
        self.tlabel = [self.tlabel[i] for i in keep_t] + self.tlabel[n0:]
        self._by_when = {}
        nos = set(self.tno)
        self.cancelled = {k: v for k, v in self.cancelled.items() if k in nos}
        self.created = {q: v for q, v in self.created.items() if v[0] >= cut}
        state = _registered(self.regs, cut)
        self.regs = [(cut, fd, *v) for fd, v in sorted(state.items())] + [r for r in self.regs if r[0] > cut]

    def view(self, origin: int = 0) -> "LoopView":
        """What is recorded now, as an immutable view (``origin``: the run's time 0, for
        callers that count seconds from it)."""
        frozen = object.__new__(LoopLog)  # the buffers as they are now (trim replaces, never edits)
        frozen.__dict__.update(self.__dict__)
        return LoopView(frozen, len(self.sel_ends), len(self.steps), len(self.tno), len(self.regs),
                        len(self.iters), origin)


@dataclass(frozen=True)
class LoopView:
    """An immutable view of a :class:`LoopLog`: its first ``n_*`` records."""

    log: LoopLog
    n_sel: int
    n_steps: int
    n_timers: int
    n_regs: int
    n_iters: int
    origin: int = 0  # the run's time 0 (ns), for callers that count seconds from it

    @property
    def recorded(self) -> bool:
        return self.log.recorded


# ============================================================================ the moment
@dataclass(frozen=True)
class Ready:
    """A handle in the ready queue (or the one running)."""

    task: int  # task seq (0: a plain callback)
    how: str  # "call_soon" | "io" | "timer" | "later" (call_soon'd during this iteration)
    what: str  # what made it ready, in words
    runs_ns: int  # when it ran (its step's start)
    ends_ns: int
    certain: bool = True  # False: "later" entries (scheduled during this iteration, time unknown)
    by: int = 0  # the task that set the timer / registered the fd (0: none)


@dataclass(frozen=True)
class Timer:
    due_ns: int
    task: int  # the task that created it (0: none)
    what: str  # "sleep", "timeout", or the callback's name
    created_ns: int
    overdue: bool  # due before t, still in the heap (the loop was busy)


@dataclass(frozen=True)
class Wait:
    fd: int
    mode: str  # "read" | "write" | "read+write"
    what: str
    task: int  # the task that registered it (0: none / not a task)


@dataclass(frozen=True)
class LoopMoment:
    t_ns: int
    recorded: bool  # False: this recording has no loop-queue data (made before it existed)
    state: str  # "select" | "running" | "between" | "none"
    running: Ready | None = None
    ready: tuple[Ready, ...] = ()  # the first ones (``n_ready``: how many in all)
    later: tuple[Ready, ...] = ()  # call_soon'd during this iteration, for the next one
    n_ready: int = 0
    n_later: int = 0
    timers: tuple[Timer, ...] = ()
    n_timers: int = 0  # pending timers (at least, if the scan was cut short)
    select_start_ns: int = 0
    select_end_ns: int = 0
    timeout_ns: int | None = None  # the select's timeout (None: blocks until I/O)
    waiting_on: tuple[Wait, ...] = ()
    iteration_start_ns: int = 0


def _registered(regs, t: int, n: int | None = None) -> dict[int, tuple]:
    """fd -> (events, rlabel, rseq, wlabel, wseq) registered at ``t`` (the first ``n`` records)."""
    state: dict[int, tuple] = {}
    for r in regs[: len(regs) if n is None else n]:
        if r[0] > t:
            break
        if r[2]:
            state[r[1]] = tuple(r[2:])
        else:
            state.pop(r[1], None)
    return state


def _timer_words(label: str) -> str:
    return _TIMER_WORDS.get(label) or _TIMER_WORDS.get(label.rpartition(".")[2]) or label


def _by_when(log: LoopLog, n: int) -> list[int]:
    """The first ``n`` timers' indexes by due time (cached: one sort per new batch of timers)."""
    cache = log._by_when
    when = log.twhen
    key = (id(when), n)
    order = cache.get(key)
    if order is None:
        # grow the longest order already sorted for these timers: two sorted runs, which
        # Python's sort merges in one pass (a live run adds a few timers per update)
        n0 = max((k[1] for k in cache if k[0] == key[0] and k[1] < n), default=0)
        prev = cache[(key[0], n0)] if n0 else []
        order = sorted(prev + sorted(range(n0, n), key=when.__getitem__), key=when.__getitem__)
        if len(cache) > 8:
            cache.clear()
        cache[key] = order
    return order


MAX_TIMER_SCAN = 20_000
NEW_TASK = "new task (call_soon'd when created)"


def loop_at(source, t_ns: int, max_timers: int = 8, max_ready: int = 50) -> LoopMoment:
    """What the loop held at ``t_ns`` (monotonic ns): the one answer, built from the recording.

    ``source``: a ``Timeline``, a :class:`LoopLog` or a :class:`LoopView` (a snapshot's).
    Lists hold at most ``max_ready`` / ``max_timers`` entries; ``n_*`` count them all."""
    view = source
    if hasattr(source, "loopq"):
        source = source.loopq
        if source is None:  # a timeline that keeps no loop queue
            return LoopMoment(t_ns, False, "none")
    if isinstance(source, LoopLog):
        view = source.view()
    log = view.log
    if not log.recorded:
        return LoopMoment(t_ns, False, "none")
    ns = view.n_sel
    ends = log.sel_ends
    i = bisect.bisect_right(ends, t_ns, 0, ns) - 1  # the last select that ended at or before t
    timers, n_timers = _pending_timers(log, view, t_ns, ends[i] if i >= 0 else 0, max_timers)
    j = i + 1
    if j < ns and _select_start(log, view, j) <= t_ns:  # inside select j
        it = _Iteration(log, view, j)
        to = log.selects[4 * j + 1]
        soon = [it.entry(k) for k in range(it.lo, min(it.lo + it.n_soon, it.lo + max_ready))]
        return LoopMoment(t_ns, True, "select", ready=tuple(soon), n_ready=it.n_soon,
                          timers=timers, n_timers=n_timers, select_start_ns=_select_start(log, view, j),
                          select_end_ns=ends[j], timeout_ns=None if to < 0 else to,
                          waiting_on=_waits(log, view, t_ns), iteration_start_ns=ends[i] if i >= 0 else 0)
    if i < 0:
        return LoopMoment(t_ns, True, "none", timers=timers, n_timers=n_timers)
    it = _Iteration(log, view, i)
    st = log.steps
    k = bisect.bisect_right(_starts(log), t_ns, it.lo, it.hi)  # the first step after t
    running = it.entry(k - 1) if k > it.lo and t_ns < st[3 * (k - 1) + 1] else None
    ready = tuple(it.entry(x) for x in range(k, min(it.hi, k + max_ready)))
    later: list[Ready] = []
    n_later = 0
    if j < ns:
        nxt = _Iteration(log, view, j)
        last_end = st[3 * (it.hi - 1) + 1] if it.hi > it.lo else ends[i]
        sure = t_ns >= last_end
        created = log.created
        for x in range(nxt.lo, nxt.lo + nxt.n_soon):
            c = created.get(st[3 * x + 2])
            if c is not None and nxt.is_new(c):  # call_soon'd when it was created: exactly known
                if c[0] > t_ns:
                    continue
            n_later += 1
            if len(later) < max_ready:
                r = nxt.entry(x)
                later.append(Ready(r.task, "later", r.what if r.what == NEW_TASK else
                                   "call_soon'd during this iteration (runs in the next)",
                                   r.runs_ns, r.ends_ns, sure or r.what == NEW_TASK, r.by if r.what == NEW_TASK else 0))
    return LoopMoment(t_ns, True, "running" if running else "between", running=running, ready=ready,
                      n_ready=it.hi - k, later=tuple(later), n_later=n_later, timers=timers,
                      n_timers=n_timers, iteration_start_ns=ends[i])


class _Iteration:
    """Iteration ``i`` (the steps after select ``i``): which of its steps got ready how.

    In asyncio's ``_run_once`` the handles run in the order they were queued: those
    call_soon'd before the select (``n_ready`` of them), then the I/O callbacks of the fds
    select returned (readers, then writers), then the timers that fell due (by due time).
    Entries are made on demand (an iteration can hold 10,000 steps)."""

    def __init__(self, log: LoopLog, view: LoopView, i: int) -> None:
        self.log = log
        sel = log.selects
        ns = view.n_sel
        e = sel[4 * i]
        nxt = sel[4 * (i + 1)] if i + 1 < ns else None  # no step runs inside the next select
        n_ready, n_ev = sel[4 * i + 2], sel[4 * i + 3]
        starts = _starts(log)
        n_steps = view.n_steps // 3
        self.lo = lo = bisect.bisect_left(starts, e, 0, n_steps)
        self.hi = hi = bisect.bisect_left(starts, nxt, lo, n_steps) if nxt is not None else n_steps
        # timers that left the heap at this iteration: due in (previous select end, this one]
        self.prev_e = prev_e = sel[4 * (i - 1)] if i > 0 else 0
        self.e = e
        order = _by_when(log, view.n_timers)
        when = log.twhen
        a = bisect.bisect_right(order, prev_e, key=when.__getitem__)
        b = bisect.bisect_right(order, e, key=when.__getitem__)
        self.fired = [k for k in order[a:b] if log.tcreated[k] <= e
                      and log.cancelled.get(log.tno[k], e + 1) > e]
        n = hi - lo
        self.n_timer = min(len(self.fired), n)
        self.n_soon = min(n_ready, n - self.n_timer)
        self.n_ev = n_ev
        self.view = view
        self._io = None
        # who call_soon'd: a new task's creator; else, if one task ran all of the iteration
        # before, that task (what is call_soon'd then is in _ready at this select)
        self.only = 0
        if i > 0 and self.n_soon:
            a2 = bisect.bisect_left(starts, prev_e, 0, lo)
            st = log.steps
            seqs = {st[3 * k + 2] for k in range(a2, lo)}
            if len(seqs) == 1:
                self.only = seqs.pop()

    def is_new(self, c: tuple[int, int]) -> bool:
        """Whether a task created at ``c[0]`` had its first step call_soon'd for this iteration."""
        return self.prev_e <= c[0] <= self.e

    def _io_words(self) -> list:
        if self._io is None:
            self._io = []
            if self.n_ev:
                log = self.log
                fds = log.io.get(self.e, ())
                regs = _registered(log.regs, self.e, self.view.n_regs)
                for x in range(0, len(fds), 2):
                    fd, mask = fds[x], fds[x + 1]
                    reg = regs.get(fd)
                    if mask & READ:
                        self._io.append((f"fd {fd} readable" + (f": {reg[1]}" if reg and reg[1] else ""),
                                         reg[2] if reg else 0))
                    if mask & WRITE:
                        self._io.append((f"fd {fd} writable" + (f": {reg[3]}" if reg and reg[3] else ""),
                                         reg[4] if reg else 0))
        return self._io

    def entry(self, k: int) -> Ready:
        """Step ``k`` (an index of the log's steps, inside this iteration) as a ready entry."""
        log = self.log
        st = log.steps
        t0, t1, seq = st[3 * k], st[3 * k + 1], st[3 * k + 2]
        idx = k - self.lo
        n = self.hi - self.lo
        if idx < self.n_soon:
            c = log.created.get(seq)
            if c is not None and self.is_new(c):
                return Ready(seq, "call_soon", NEW_TASK, t0, t1, by=c[1])
            return Ready(seq, "call_soon", "call_soon'd in the iteration before", t0, t1, by=self.only)
        if idx >= n - self.n_timer:
            x = self.fired[idx - (n - self.n_timer)]
            return Ready(seq, "timer", f"timer due ({_timer_words(log.tlabel[x])})", t0, t1, by=log.tseq[x])
        m = idx - self.n_soon
        io = self._io_words()
        what, by = io[m] if m < len(io) else ("I/O ready", 0)
        return Ready(seq, "io", what, t0, t1, by=by)


class _starts:
    """The steps' start times as a sequence (for bisect), without a copy of them."""

    __slots__ = ("st",)

    def __init__(self, log: LoopLog) -> None:
        self.st = log.steps

    def __getitem__(self, k: int) -> int:
        return self.st[3 * k]

    def __len__(self) -> int:
        return len(self.st) // 3


def _iteration(log: LoopLog, view: LoopView, i: int) -> list[Ready]:
    """Every step of iteration ``i`` as a ready entry (for tests and small recordings)."""
    it = _Iteration(log, view, i)
    return [it.entry(k) for k in range(it.lo, it.hi)]


def _select_start(log: LoopLog, view: LoopView, j: int) -> int:
    """When select ``j`` began: the recorder's idle span that holds its end (its end if none)."""
    e = log.sel_ends[j]
    it = log.iters
    n = view.n_iters // 2
    k = bisect.bisect_left(range(n), e, key=lambda x: it[2 * x + 1])
    if k < n and it[2 * k] <= e:
        return it[2 * k]
    return e


def _pending_timers(log: LoopLog, view: LoopView, t: int, iter_start: int, limit: int):
    """Timers in the heap at ``t`` (created, not cancelled, not yet taken out by an
    iteration that began at or before ``t``), by due time: the first ``limit`` and how many."""
    order = _by_when(log, view.n_timers)
    when, created, nos = log.twhen, log.tcreated, log.tno
    a = bisect.bisect_right(order, iter_start, key=when.__getitem__)
    out: list[Timer] = []
    count = 0
    for scanned, k in enumerate(order[a:]):
        if scanned >= MAX_TIMER_SCAN:
            break
        if created[k] > t:
            continue
        c = log.cancelled.get(nos[k])
        if c is not None and c <= t:
            continue
        count += 1
        if len(out) < limit:
            out.append(Timer(when[k], log.tseq[k], _timer_words(log.tlabel[k]), created[k], when[k] <= t))
    return tuple(out), count


def _waits(log: LoopLog, view: LoopView, t: int) -> tuple[Wait, ...]:
    out = []
    for fd, (events, rl, rseq, wl, wseq) in sorted(_registered(log.regs, t, view.n_regs).items()):
        if events & READ and events & WRITE and rl == wl:
            out.append(Wait(fd, "read+write", rl, rseq or wseq))
            continue
        if events & READ:
            out.append(Wait(fd, "read", rl, rseq))
        if events & WRITE:
            out.append(Wait(fd, "write", wl, wseq))
    return tuple(out)


def queued_behind(source, t_ns: int, max_ready: int = 50) -> tuple[tuple[Ready, ...], int] | None:
    """At the live edge, while a step that has not ended holds the loop (``loop_at`` says
    "between": the recorded steps stop before it): the handles still queued behind it, from
    what the select before it recorded (call_soon'd handles, fds ready, timers due) less the
    steps run since. ``(entries, count)``; the call_soon'd ones are not named (who they are is
    recorded when they run: ``certain=False``). None when ``t_ns`` is not inside such an
    iteration (another select has ended since, or nothing is recorded)."""
    view = source.view() if isinstance(source, LoopLog) else source
    log = view.log
    if not log.recorded:
        return None
    ns = view.n_sel
    i = bisect.bisect_right(log.sel_ends, t_ns, 0, ns) - 1
    if i < 0 or i + 1 < ns:  # before the first select, or the iteration is over (recorded)
        return None
    it = _Iteration(log, view, i)
    n_ready = log.selects[4 * i + 2]
    io = it._io_words() if it.n_ev else []
    done = it.hi - it.lo + 1  # the steps recorded since the select, and the one running
    total = n_ready + len(io) + len(it.fired)
    out: list[Ready] = []
    for x in range(done, total):
        if len(out) >= max_ready:
            break
        if x < n_ready:
            out.append(Ready(0, "call_soon", "call_soon'd before the select", 0, 0, certain=False))
        elif x < n_ready + len(io):
            what, by = io[x - n_ready]
            out.append(Ready(0, "io", what, 0, 0, by=by))
        else:
            k = it.fired[x - n_ready - len(io)]
            out.append(Ready(0, "timer", f"timer due ({_timer_words(log.tlabel[k])})", 0, 0, by=log.tseq[k]))
    return tuple(out), max(0, total - done)
