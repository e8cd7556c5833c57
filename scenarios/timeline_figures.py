"""A timeline's figures: time per state, the worst lag, the leaves' work, an open system's
counts, blocks and tasks, summed over the whole run.

``TaskFigures`` is the part of :class:`~.timeline.Timeline` that sums them (a mixin: its
methods read the timeline's tasks and segments), ``_Figures`` keeps the sums up to date as
segments close, and ``Dropped`` / ``AtCut`` are what a trim folds in before it lets go of old
recording (``TaskFigures._fold``), so every figure stays the whole run's after a long live
run's trims. (~600 lines, one job: the sums and what feeds them are kept together, so that a
figure and its trim-time fold cannot drift apart.)
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .task_states import RUNNING, STARVED, WAITING

#: how many of the run's first dropped blocks ``Dropped.first`` keeps whole; how many places
#: (lines, threads, job functions) its sums tell apart
FIRST_BLOCKS = 64
MAX_PLACES = 500
MAX_BUSY = 4096  # Dropped.busy's buckets at most

if TYPE_CHECKING:
    from .timeline import Timeline
    from .timeline_records import TaskInfo


@dataclass
class Dropped:
    """What a long run's trims let go of, summed (``Timeline.gone``): the figures add it to
    the kept recording's, so they describe the whole run (``Timeline.figures``,
    ``open_counts``, ``block_totals``, ``task_counts``)."""
    tasks: int = 0  # tasks dropped (each had finished before its cut)
    run: int = 0  # their time per state (ns)
    wait: int = 0
    starved: int = 0
    worst: int = 0  # the longest lag among them (ns)
    leaves: int = 0  # those that made no task: an open system's customers, all served
    leaf_rw: int = 0  # the leaves' running + waiting (ns)
    leaf_max: int = 0  # the most of one (ns)
    served_ns: int = 0  # the leaves' time in the system (done - created, ns)
    blocks: int = 0  # loop blocks dropped, and how long they held it (ns)
    blocked_ns: int = 0
    gil_blocks: int = 0  # those of them that waited for the GIL
    gil_ns: int = 0
    #: the run's first blocks dropped, whole (at most FIRST_BLOCKS): a server's start-up, a
    #: lifespan... stay listed however long the run (``load_feed.ServerFeed.whole_run``)
    first: list = field(default_factory=list)
    #: the other blocks dropped (not in ``first``), per place: where -> [how many, ns, the
    #: function last sampled there]; GIL waits are in ``gil_*`` only (at most MAX_PLACES places,
    #: the rest under "")
    by_where: dict = field(default_factory=dict)
    folded_from: int = 0  # when the first of those began and the last ended (ns; 0: none)
    folded_to: int = 0
    #: thread-pool jobs dropped: pool -> [how many, the longest wait for a thread (ns)], and
    #: the threads and functions that ran them (pool -> {thread}, label -> how many)
    jobs: dict = field(default_factory=dict)
    job_threads: dict = field(default_factory=dict)
    job_labels: dict = field(default_factory=dict)
    gauge_max: dict = field(default_factory=dict)  # gauge name -> the most among those dropped
    #: the loop's busy time in the steps dropped, per ``busy_step`` ns (t_ns // busy_step -> ns,
    #: by when a busy stretch ended): a report over part of the run clips it. A second a
    #: bucket, twice as wide each time there are more than MAX_BUSY (bounded over hours)
    busy: dict = field(default_factory=dict)
    busy_step: int = 1_000_000_000

    def fold_busy(self, s: int, e: int) -> int:
        """Count a busy stretch [s, e] of the steps dropped; returns its length."""
        busy = self.busy
        k = e // self.busy_step
        busy[k] = busy.get(k, 0) + e - s
        if len(busy) > MAX_BUSY:
            self.busy_step *= 2
            self.busy = {}
            for k, ns in busy.items():
                self.busy[k // 2] = self.busy.get(k // 2, 0) + ns
        return e - s

    def fold_block(self, b: dict, func: str = "") -> None:
        """Count a block the recording lets go of (see the fields)."""
        d = b["end_ns"] - b["start_ns"]
        self.blocks += 1
        self.blocked_ns += d
        if b.get("gil"):
            self.gil_blocks += 1
            self.gil_ns += d
        if len(self.first) < FIRST_BLOCKS:
            self.first.append(b)
            return
        if b.get("gil"):
            return
        where = b["where"] if b["where"] in self.by_where or len(self.by_where) < MAX_PLACES else ""
        row = self.by_where.setdefault(where, [0, 0, func])
        row[0] += 1
        row[1] += d
        row[2] = func or row[2]
        self.folded_from = min(self.folded_from or b["start_ns"], b["start_ns"])
        self.folded_to = max(self.folded_to, b["end_ns"])

    def fold_jobs(self, jobs) -> None:
        for j in jobs:
            row = self.jobs.setdefault(j.pool, [0, 0])
            row[0] += 1
            row[1] = max(row[1], j.start_ns - j.submit_ns)
            threads = self.job_threads.setdefault(j.pool, set())
            if len(threads) < MAX_PLACES:
                threads.add(j.thread)
            if j.label in self.job_labels or len(self.job_labels) < MAX_PLACES:
                self.job_labels[j.label] = self.job_labels.get(j.label, 0) + 1

    def fold_gauges(self, gauges) -> None:
        gmax = self.gauge_max
        for _t, vals in gauges:
            for k, v in vals.items():
                if isinstance(v, (int, float)) and v > gmax.get(k, v - 1):
                    gmax[k] = v


@dataclass(frozen=True)
class AtCut:
    """The whole run up to a trim's cut (``Timeline.at_cut``, ns): what a moment after the cut
    adds the kept recording's figures to (``explain.moment``, through the snapshot)."""
    cut: int
    states: dict  # time per state, every task's, up to the cut
    worst: int  # the longest lag up to the cut
    busy: int  # the loop's busy time in the steps dropped (those kept are all kept)
    blocks: int  # the blocks dropped, and their time
    blocked: int
    tasks: int  # the tasks dropped (all finished)
    leaves: int  # the customers dropped (all served) and their time in the system
    served: int
    created: dict  # when each kept task made before the cut was made
    parents: frozenset  # those of them that made a task
    starved: dict  # those ready but not started at the cut: since when (their lag goes on)


class TaskFigures:
    """The figures part of :class:`~.timeline.Timeline`, which inherits it: each task's time
    per state and lag from its segments (``task_segments``), kept as they close, summed over
    the tasks (``_Figures``) and over what trims dropped (``gone``, ``at_cut``)."""

    def _fold(self, cut: int) -> None:
        """Sum what a trim at ``cut`` drops: the finished tasks and the blocks before it into
        ``gone``; a kept task's steps before it into its ``base``, with the segments from its
        last dropped step to its first kept one worked out now (``lead``: they may need the
        loop iterations the trim drops), so its segments go on from there unchanged."""
        g = self.gone
        parents = self.parent_seqs
        prev = self.at_cut
        before = {RUNNING: 0, WAITING: 0, STARVED: 0}  # the kept tasks' time before the cut
        worst_before = 0
        created: dict[int, int] = {}
        starved: dict[int, int] = {}
        held = self.holding()
        held_seq = held[0] if held else None
        st3 = self.steps  # the loop's busy time in the steps that go (the kept ones are drawn whole)
        busy = prev.busy if prev is not None else 0
        span = None
        for a, b in sorted((st3[i], st3[i + 1]) for i in range(0, len(st3), 3) if st3[i + 1] < cut):
            if span is None or a > span[1]:
                busy += g.fold_busy(*span) if span else 0
                span = [a, b]
            elif b > span[1]:
                span[1] = b
        busy += g.fold_busy(*span) if span else 0
        funcs = None
        for b in self._blocks:
            if b["end_ns"] < cut:
                if funcs is None:  # what function each line was last sampled in (a culprit's name)
                    funcs = {smp[1]: smp[2] for smp in self.samples}
                g.fold_block(b, funcs.get(b["where"], ""))
        g.fold_jobs([j for j in self.jobs if j.end_ns < cut])
        g.fold_gauges(self.gauges[: bisect.bisect_left(self.gauges, cut, key=lambda x: x[0])])
        for seq, t in self.tasks.items():
            st = t.steps
            if t.done_ns is not None and t.done_ns < cut:
                tot, worst = self._stats(seq)
                run, wait = tot.get(RUNNING, 0), tot.get(WAITING, 0)
                g.tasks += 1
                g.run += run
                g.wait += wait
                g.starved += tot.get(STARVED, 0)
                g.worst = max(g.worst, worst)
                if seq not in parents:
                    g.leaves += 1
                    g.leaf_rw += run + wait
                    g.leaf_max = max(g.leaf_max, run + wait)
                    g.served_ns += t.done_ns - t.created_ns
                continue
            if t.created_ns >= cut:
                continue  # all of it after the cut
            created[seq] = t.created_ns
            ends = st[1::2]
            if t.seg_from is None and seq != held_seq and (not ends or min(ends) >= cut):
                # made before the cut, no step ended before it (most tasks): ready since it
                # was made, then at most one step across the cut (what task_segments says)
                starts = [a for a in st[0::2] if a < cut]
                if len(starts) <= 1:
                    s0 = max(starts[0] if starts else min(st[0::2], default=self.now_ns), t.created_ns)
                    lag = min(s0, cut) - t.created_ns
                    before[STARVED] += lag
                    worst_before = max(worst_before, lag)
                    if s0 > cut:
                        starved[seq] = t.created_ns
                    else:
                        before[RUNNING] += cut - s0
                    continue
            segs = self.task_segments(seq)
            if t.base is not None:
                before[RUNNING] += t.base[0]
                before[WAITING] += t.base[1]
                before[STARVED] += t.base[2]
                worst_before = max(worst_before, t.base[3])
            for state, a, b in segs:
                if a < cut:
                    before[state] += min(b, cut) - a
                    if state == STARVED:
                        worst_before = max(worst_before, min(b, cut) - a)
                        if b > cut:
                            starved[seq] = a
            if not ends or min(ends) >= cut:
                continue  # none of its steps go
            e_prev = max(e for e in ends if e < cut)
            starts = [s for s, e in zip(st[0::2], ends) if e >= cut]
            s0 = min(starts) if starts else None
            base, worst = self._sum_segments([x for x in segs if x[2] <= e_prev], t.base)
            t.base = (base[RUNNING], base[WAITING], base[STARVED], worst)
            t.lead = tuple(x for x in segs if x[0] != RUNNING and x[1] >= e_prev and x[2] <= s0) \
                if s0 is not None else ()
            t.seg_from = max(e_prev, s0) if s0 is not None else e_prev
            t.steps = array("q", [x for s, e in zip(st[0::2], ends) if e >= cut for x in (s, e)])
            t.ready = [r for r in t.ready if r >= e_prev]
            i = bisect.bisect_left(t.wait_t, e_prev)
            del t.wait_t[:i], t.wait_r[:i]
        self.at_cut = AtCut(
            cut, {RUNNING: g.run + before[RUNNING], WAITING: g.wait + before[WAITING],
                  STARVED: g.starved + before[STARVED]},
            max(g.worst, worst_before), busy, g.blocks, g.blocked_ns, g.tasks, g.leaves, g.served_ns,
            created, frozenset(q for q in parents if q in created), starved)

    def _stats(self, seq: int) -> tuple[dict, int]:
        cached = self._done_stats.get(seq)
        if cached is not None:
            return cached
        task = self.tasks[seq]
        if task.done_ns is None:
            return self._live_stats(seq, task)
        tot, worst = self._sum_segments(self.task_segments(seq), task.base)
        self._done_stats[seq] = (tot, worst)  # a finished task's figures never change
        return tot, worst

    @staticmethod
    def _sum_segments(segs, base: tuple | None = None) -> tuple[dict, int]:
        """Time per state and the longest starved segment of ``segs``, added to ``base`` (a
        task's ``base``: what its dropped segments summed to)."""
        if base is None:
            tot = {RUNNING: 0, WAITING: 0, STARVED: 0}
            worst = 0
        else:
            tot = {RUNNING: base[0], WAITING: base[1], STARVED: base[2]}
            worst = base[3]
        for state, s, e in segs:
            tot[state] = tot.get(state, 0) + e - s
            if state == STARVED and e - s > worst:
                worst = e - s
        return tot, worst

    def _held(self) -> tuple[int, int, str] | None:
        """:meth:`holding`, computed once per version of the recording (summing every
        running task's figures asks it once per task)."""
        c = self._held_cache
        if c is None or c[0] != self.version:
            c = self._held_cache = (self.version, self.holding())
        return c[1]

    def _live_stats(self, seq: int, task: "TaskInfo") -> tuple[dict, int]:
        """A running task's figures: those of its closed segments are kept until it gets a
        step or a wake-up; only its open last one (waiting or starved up to now) is added."""
        held = self._held()
        cache = self._live_cache
        now = self.now_ns
        if held and held[0] == seq:  # its step holding the loop now: not kept
            return self._grow_figures(seq, task, now)[:2]
        c = self._live_kept(seq, task, now)
        if c is None:
            st = task.steps
            made = (len(st), len(task.ready), task.created_ns)
            tot, worst, tail = self._grow_figures(seq, task, now)
            ends = max(task.created_ns, max(st[1::2])) if st else 0
            c = cache[seq] = (made, tot, worst, tail[1] if tail else now, tail[0] if tail else None, ends)
            if len(cache) > 2 * len(self.tasks) + 64:  # forget tasks that finished or were dropped
                for q in [q for q in cache if q not in self.tasks or self.tasks[q].done_ns is not None]:
                    del cache[q]
        _made, tot, worst, since, state, _ends = c
        if state is None:
            if now > since:  # nothing open when it was summed: sum it again
                cache.pop(seq, None)
                return self._sum_segments(self.task_segments(seq), task.base)
            return dict(tot), worst
        tot = dict(tot)
        tot[state] += now - since
        if state == STARVED and now - since > worst:
            worst = now - since
        return tot, worst

    def _grow_figures(self, seq: int, task: "TaskInfo", now: int) -> tuple[dict, int, tuple | None]:
        """A running task's figures summed from its kept closed ones plus the segments after
        their steps (new steps or wake-ups after the kept ones), else from all its segments:
        ``(totals, worst, tail)``, ``tail`` its open last segment's ``(state, start)`` (not
        in the totals) or None."""
        st = task.steps
        old = self._live_cache.get(seq)
        k = old[0][0] // 2 if old is not None else 0
        cursor = max(task.created_ns, max(st[1:2 * k:2])) if k else 0
        if k and old[5] == cursor and old[3] <= now and (len(st) == 2 * k or min(st[2 * k::2]) >= cursor):
            segs = self.task_segments(seq, k)
            base, base_worst = old[1], old[2]
        else:
            segs = self.task_segments(seq)
            base, base_worst = None, 0
        tail = None  # (holding the loop, it ends running: no tail)
        if segs and segs[-1][2] == now and segs[-1][0] in (WAITING, STARVED):
            tail = segs[-1][:2]
            segs = segs[:-1]
        tot, worst = self._sum_segments(segs, task.base if base is None else None)
        if base is not None:
            tot = {state: base.get(state, 0) + tot.get(state, 0) for state in (*base, *tot)}
            worst = max(worst, base_worst)
        return tot, worst, tail

    def _live_kept(self, seq: int, task: "TaskInfo", now: int) -> tuple | None:
        """A running task's kept figures ``(made, closed totals, worst, since, open state,
        where its steps ended)`` while still good (no new step or wake-up since); else None."""
        c = self._live_cache.get(seq)
        if c is None or c[3] > now or c[0] != (len(task.steps), len(task.ready), task.created_ns):
            return None
        return c

    def figures_sum(self) -> tuple[dict, int, tuple[int, int, int]]:
        """:meth:`figures` summed again over every task (the reference the kept sums are
        checked against): the same as summing :meth:`task_totals` (and the worst lag) task
        by task, plus what trims dropped (``gone``), without a dict per waiting task (an open
        system has hundreds): its kept closed figures plus its open end."""
        g = self.gone
        sums = {RUNNING: g.run, WAITING: g.wait, STARVED: g.starved}
        worst = g.worst
        n_leaves, work_sum, work_max = g.leaves, g.leaf_rw, g.leaf_max
        parents = self.parent_seqs
        now = self.now_ns
        held = self._held()
        held_seq = held[0] if held else None
        done = self._done_stats
        for seq, task in self.tasks.items():
            c = None
            if task.done_ns is None and seq != held_seq and seq not in done:
                c = self._live_kept(seq, task, now)
            if c is not None and c[4] is not None:
                _made, tot, lag, since, state, _ends = c
                run, wait, starved = tot[RUNNING], tot[WAITING], tot[STARVED]
                if state == WAITING:
                    wait += now - since
                else:
                    starved += now - since
                    if now - since > lag:
                        lag = now - since
            else:
                tot, lag = self._stats(seq)
                run, wait, starved = tot.get(RUNNING, 0), tot.get(WAITING, 0), tot.get(STARVED, 0)
            sums[RUNNING] += run
            sums[WAITING] += wait
            sums[STARVED] += starved
            if lag > worst:
                worst = lag
            if seq not in parents:
                n_leaves += 1
                work_sum += run + wait
                if run + wait > work_max:
                    work_max = run + wait
        return sums, worst, (n_leaves, work_sum, work_max)

    def figures(self) -> tuple[dict, int, tuple[int, int, int]]:
        """:meth:`figures_sum` kept up to date as segments close, at the cost of the tasks
        that changed since the last call (and the one holding the loop), not of every task:
        ``(time per state (ns), the longest lag (ns), (leaves, their running + waiting time
        summed, the most of one) (ns))``. The waiting tasks' open ends are summed as a count
        and a sum of their starts (n * now - sum)."""
        f = self._figures
        if f is None:
            f = self._figures = _Figures(self)
        return f.figures()

    def open_counts(self) -> tuple[int, int, int, int]:
        """An open system's customers (leaf tasks) as :meth:`figures` keeps them:
        ``(arrived, served, time in the system of those served (ns), time in the system of
        all of them up to now (ns))``; ``explain.open_figures_from`` makes the figures."""
        self.figures()
        return self._figures.open_counts()

    def task_totals(self, seq: int) -> dict[str, int]:
        """A kept task's time per state (ns), all of it (also what a trim dropped)."""
        return dict(self._stats(seq)[0])

    def max_lag_ns(self) -> int:
        """The longest a ready task waited for the loop (in the whole run)."""
        return max(self.gone.worst, max((self._stats(seq)[1] for seq in self.tasks), default=0))

    def block_totals(self) -> tuple[int, int, int, int]:
        """The whole run's loop blocks (:meth:`blocks` keeps only those after a trim, plus
        the one holding the loop now): ``(how many, time they held it (ns), how many waited
        for the GIL, their time (ns))``."""
        g = self.gone
        n, ns, gil_n, gil_ns = g.blocks, g.blocked_ns, g.gil_blocks, g.gil_ns
        for b in self.blocks():
            n += 1
            ns += b["end_ns"] - b["start_ns"]
            if b.get("gil"):
                gil_n += 1
                gil_ns += b["end_ns"] - b["start_ns"]
        return n, ns, gil_n, gil_ns

    def task_counts(self) -> tuple[int, int]:
        """The whole run's tasks: ``(how many, how many finished)``."""
        done = sum(1 for t in self.tasks.values() if t.done_ns is not None)
        return len(self.tasks) + self.gone.tasks, done + self.gone.tasks


class _Figures:
    """Every task's figures summed (:meth:`Timeline.figures`), kept task by task: each task's
    closed figures and its open end (waiting or ready since some moment) are added once and
    taken back only when it changes (``Timeline.watch``), so a call costs the tasks that got
    something new. The most work of one leaf: two heaps (growing: waiting now; fixed), whose
    stale entries are dropped when they reach the top."""

    def __init__(self, tl: Timeline) -> None:
        self.tl = tl
        self.touched = tl.watch()
        self.trimmed: object = ()  # (never a trim mark: the first call sums every task)
        self.origin: int | None = None

    def reset(self) -> None:
        #: seq -> (run, wait, starved, open state or None, since, leaf, closed run+wait,
        #: created, done or None, token)
        self.rec: dict[int, tuple] = {}
        self.run = self.wait = self.starved = 0  # closed time per state
        self.worst = 0  # the longest closed lag (only grows until a trim)
        self.open_n = {WAITING: 0, STARVED: 0}
        self.open_since = {WAITING: 0, STARVED: 0}
        self.starved_since: dict[int, int] = {}  # tasks ready but not started now -> since
        self.parents: set[int] = set(self.tl.parent_seqs)  # (a trim keeps a parent a parent)
        self.leaves = 0
        self.leaf_rw = 0  # leaves' closed running + waiting
        self.leaf_open_n = self.leaf_open_since = 0  # leaves waiting now: count, their starts
        self.served = self.served_ns = 0  # leaves done, their time in the system
        self.created_sum = 0  # leaves not done: their creation times summed
        self.grow: list = []  # (-(closed rw - since), seq, token): leaves waiting now
        self.fixed: list = []  # (-closed rw, seq, token): the other leaves
        self.again: set[int] = set()  # summed to now, not open: summed again at the next call
        self.token = 0

    def _remove(self, seq: int) -> None:
        r = self.rec.pop(seq, None)
        if r is None:
            return
        run, wait, starved, state, since, leaf, rw, created, done, _tok = r
        self.run -= run
        self.wait -= wait
        self.starved -= starved
        if state is not None:
            self.open_n[state] -= 1
            self.open_since[state] -= since
            if state == STARVED:
                self.starved_since.pop(seq, None)
        if leaf:
            self.leaves -= 1
            self.leaf_rw -= rw
            if state == WAITING:
                self.leaf_open_n -= 1
                self.leaf_open_since -= since
            if done is not None:
                self.served -= 1
                self.served_ns -= done - created
            else:
                self.created_sum -= created

    def _add(self, seq: int, task: TaskInfo, tot: dict, worst: int, state: str | None, since: int) -> None:
        run, wait, starved = tot.get(RUNNING, 0), tot.get(WAITING, 0), tot.get(STARVED, 0)
        leaf = seq not in self.parents
        self.token += 1
        rw = run + wait
        self.rec[seq] = (run, wait, starved, state, since, leaf, rw, task.created_ns, task.done_ns, self.token)
        self.run += run
        self.wait += wait
        self.starved += starved
        if worst > self.worst:
            self.worst = worst
        if state is not None:
            self.open_n[state] += 1
            self.open_since[state] += since
            if state == STARVED:
                self.starved_since[seq] = since
        if leaf:
            self.leaves += 1
            self.leaf_rw += rw
            if state == WAITING:
                self.leaf_open_n += 1
                self.leaf_open_since += since
                heapq.heappush(self.grow, (since - rw, seq, self.token))
            else:
                heapq.heappush(self.fixed, (-rw, seq, self.token))
            if task.done_ns is not None:
                self.served += 1
                self.served_ns += task.done_ns - task.created_ns
            else:
                self.created_sum += task.created_ns

    def _sync(self) -> None:
        tl = self.tl
        tasks = tl.tasks
        touched = self.touched.take()
        if tl.trimmed_before != self.trimmed or tl.origin != self.origin:
            self.trimmed, self.origin = tl.trimmed_before, tl.origin
            self.reset()
            touched = set(tasks)
        touched |= self.again
        self.again = set()
        now = tl.now_ns
        held = tl._held()
        held_seq = held[0] if held else None
        if held_seq is not None:
            touched.add(held_seq)
        for seq in list(touched):  # a new task's parent is a leaf no more
            t = tasks.get(seq)
            if t is not None and t.parent and t.parent not in self.parents:
                self.parents.add(t.parent)
                touched.add(t.parent)
        done = tl._done_stats
        for seq in touched:
            self._remove(seq)
            task = tasks.get(seq)
            if task is None:
                continue
            state, since = None, 0
            if task.done_ns is not None or seq in done:
                tot, worst = tl._stats(seq)
            elif seq == held_seq:
                tot, worst = tl._stats(seq)  # (its step holding the loop runs to now)
                self.again.add(seq)
            else:
                c = tl._live_kept(seq, task, now)
                if c is None:
                    tl._stats(seq)
                    c = tl._live_kept(seq, task, now)
                if c is not None and c[4] is not None:
                    _made, tot, worst, since, state, _ends = c
                else:  # nothing open: summed to now
                    tot, worst = tl._stats(seq)
                    self.again.add(seq)
            self._add(seq, task, tot, worst, state, since)
        if len(self.grow) + len(self.fixed) > 2 * len(self.rec) + 64:  # drop the stale entries
            rec = self.rec
            self.grow = [x for x in self.grow if rec.get(x[1], (None,))[-1] == x[2]]
            self.fixed = [x for x in self.fixed if rec.get(x[1], (None,))[-1] == x[2]]
            heapq.heapify(self.grow)
            heapq.heapify(self.fixed)

    def _top(self, heap: list) -> int | None:
        rec = self.rec
        while heap:
            v, seq, tok = heap[0]
            r = rec.get(seq)
            if r is not None and r[-1] == tok:
                return -v
            heapq.heappop(heap)
        return None

    def figures(self) -> tuple[dict, int, tuple[int, int, int]]:
        self._sync()
        now = self.tl.now_ns
        n, since = self.open_n, self.open_since
        sums = {RUNNING: self.run,
                WAITING: self.wait + n[WAITING] * now - since[WAITING],
                STARVED: self.starved + n[STARVED] * now - since[STARVED]}
        gone = self.tl.gone  # (what trims dropped: the whole run's figures)
        sums[RUNNING] += gone.run
        sums[WAITING] += gone.wait
        sums[STARVED] += gone.starved
        worst = max(self.worst, gone.worst)
        if self.starved_since:
            worst = max(worst, now - min(self.starved_since.values()))
        work_sum = gone.leaf_rw + self.leaf_rw + self.leaf_open_n * now - self.leaf_open_since
        g, f = self._top(self.grow), self._top(self.fixed)
        work_max = max(g + now if g is not None else 0, f if f is not None else 0, gone.leaf_max)
        return sums, worst, (gone.leaves + self.leaves, work_sum, work_max)

    def open_counts(self) -> tuple[int, int, int, int]:
        now = self.tl.now_ns
        gone = self.tl.gone  # (the dropped customers: all served)
        waiting = self.leaves - self.served
        served, served_ns = gone.leaves + self.served, gone.served_ns + self.served_ns
        return gone.leaves + self.leaves, served, served_ns, served_ns + waiting * now - self.created_sum
