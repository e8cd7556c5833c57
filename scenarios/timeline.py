"""The timeline model: recorder batches in, task / loop / thread lanes and statistics out.

A ``Timeline`` is fed the batches a ``Recorder`` drains (in-process or streamed from a
child process) and derives, on demand:

* per task: segments ``(state, start_ns, end_ns)`` with state ``running``, ``waiting``
  or ``starved`` (ready but not started because something else held the loop);
* the loop lane: who held the loop when, and which steps were blocks;
* worker-thread lanes: jobs sent to a thread (or process) pool;
* a summary (wall, busy, blocked, worst lag, per-task totals) and exports.

All times are CLOCK_MONOTONIC nanoseconds; ``start_ns`` is the run's origin.

Size (~980 lines): one job, the model every view and report reads; its parts share the
tasks' step arrays, the live figure caches and the trim that bounds them, so they stay
together (``_Figures``, the sums kept as segments close, reads those caches and resets on a trim) (what the loop held
is apart, in ``loop_moment.py``; drawing is in ``snapshot.py``).
"""

from __future__ import annotations

import bisect
import heapq
import sys
import weakref
from array import array
from collections import Counter
from dataclasses import dataclass, field

from .gil_probe import classify as classify_gil
from .loop_moment import LoopLog
from .protocol import clip
from .wait_reasons import reason_text

RUNNING, WAITING, STARVED = "running", "waiting", "starved"
BLOCKED, CALLBACK, IDLE, THREAD = "blocked", "callback", "idle", "thread"
GIL = "gil"  # a long step in which the loop thread mostly waited for the GIL (gil_probe.py)


def _intern(s: str) -> str:
    return sys.intern(s) if type(s) is str else s


def flatten_steps(triples, block_ns: int) -> list[tuple[str, int, int, int]]:
    """Loop steps (start, end, task seq) -> non-overlapping (state, start, end, seq), sorted.

    A step nested in another (an eager task's first step inside its parent's) is shown for
    its span and the outer one around it.
    """
    raw = sorted(triples, key=lambda x: (x[0], -x[1]))
    out: list[tuple[str, int, int, int]] = []
    stack: list[list] = []  # [resume_at, end, seq, state]

    def emit(item, upto):
        if upto > item[0]:
            out.append((item[3], item[0], upto, item[2]))

    for s, e, seq in raw:
        while stack and stack[-1][1] <= s:
            top = stack.pop()
            emit(top, top[1])
            if stack:
                stack[-1][0] = max(stack[-1][0], top[1])
        if stack:
            emit(stack[-1], s)
            e = min(e, stack[-1][1])
            stack[-1][0] = max(stack[-1][0], e)
        state = BLOCKED if e - s >= block_ns else (RUNNING if seq else CALLBACK)
        stack.append([s, e, seq, state])
    while stack:
        top = stack.pop()
        emit(top, top[1])
        if stack:
            stack[-1][0] = max(stack[-1][0], top[1])
    out.sort(key=lambda x: x[1])
    return out


def thread_lane_labels(keys: list[str]) -> list[str]:
    """Labels of worker-thread lanes, keys ``name|id`` in order of first use: the thread's name,
    numbered when several threads share it (``AnyIO worker thread 2``); a process pool's
    worker is ``process PID``. The one naming rule of thread lanes (timelines, scenario
    snapshots, exports and load tests)."""
    names = [k.rpartition("|")[0] for k in keys]
    counts = Counter(names)
    seen: Counter = Counter()
    out = []
    for key, name in zip(keys, names):
        if name == "process":
            out.append(f"process {key.rpartition('|')[2]}")
        elif counts[name] > 1:
            seen[name] += 1
            out.append(f"{name} {seen[name]}")
        else:
            out.append(name)
    return out


@dataclass
class TaskInfo:
    seq: int
    created_ns: int
    coro: str = ""
    where: str = ""
    parent: int = 0
    name: str = ""
    done_ns: int | None = None
    outcome: str | None = None
    tag: str = ""  # a label the code gave it (e.g. the request id of a server handler)
    steps: array = field(default_factory=lambda: array("q"))  # start, end pairs
    ready: list = field(default_factory=list)  # ns at which a timer made it ready
    points: dict = field(default_factory=dict)  # what -> ns: points the code named (recorder.mark_current)
    # what it awaited after a step: the step's end (ns, ascending) and the reason there,
    # (kind, detail, where, awaited task seq), one shared tuple per distinct reason
    wait_t: array = field(default_factory=lambda: array("q"))
    wait_r: list = field(default_factory=list)
    # after a trim dropped some of its steps (``Timeline._trim``): its segments go on from
    # ``seg_from`` (the end of its last dropped step, or the start of its first kept one),
    # ``lead`` the closed segments between the two (worked out before the trim, with what it
    # dropped), and ``base`` what its dropped segments summed to: (running, waiting,
    # starved, the longest starved) ns. Its figures are the whole task's.
    seg_from: int | None = None
    lead: tuple = ()
    base: tuple | None = None

    @property
    def label(self) -> str:
        name = self.name or f"Task-{self.seq}"
        if self.coro and self.coro not in name:
            return f"{name} ({self.coro})"
        return name


def _short_label(t: TaskInfo) -> str:
    """A task's name; a default name ("Task-3") with its coroutine's short name."""
    if t.name and not t.name.startswith("Task-"):
        return t.name
    coro = t.coro.rpartition("<locals>.")[2]
    return f"{t.name or f'Task-{t.seq}'} ({coro})" if coro else (t.name or f"Task-{t.seq}")


class Touched:
    """The tasks that got something new (created, a step, a wake-up, a wait reason, a
    thread job, a name, their end) since a reader last took them (:meth:`Timeline.watch`): a
    reader that keeps what it derived from each task redoes only those."""

    __slots__ = ("seqs", "__weakref__")

    def __init__(self) -> None:
        self.seqs: set[int] = set()

    def take(self) -> set[int]:
        seqs, self.seqs = self.seqs, set()
        return seqs


@dataclass(frozen=True)
class Job:
    pool: str
    thread: str
    submit_ns: int
    start_ns: int
    end_ns: int
    task: int
    label: str


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


@dataclass(frozen=True)
class Warning_:
    t_ns: int
    kind: str
    message: str
    where: str


class Timeline:
    def __init__(self, block_ms: float = 25.0, max_steps: int = 1_000_000,
                 max_tasks: int = 50_000, max_items: int = 100_000,
                 max_age_s: float | None = None, max_output_chars: int = 4 << 20,
                 loop_queue: bool = True) -> None:
        """Memory is bounded: past ``max_steps`` loop steps or ``max_tasks`` tasks the oldest
        quarter of the recording is dropped (``trimmed_before`` says up to when, ``dropped``
        counts the steps); warnings, output, samples and jobs keep at most ``max_items``; printed output at most
        ``max_output_chars`` characters (each line clipped, see scenarios/protocol.py)."""
        self.block_ns = int(block_ms * 1e6)
        self.max_steps = max_steps
        self.max_tasks = max_tasks
        self.max_items = max_items
        #: keep only the newest max_age_s seconds (a long live run stays bounded)
        self.max_age_ns = int(max_age_s * 1e9) if max_age_s else None
        self.trimmed_before: int | None = None
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.last_ns = 0  # the newest moment the recording speaks for
        self.tasks: dict[int, TaskInfo] = {}
        self.steps = array("q")  # start, end, task seq (0 = plain callback) triples
        self.iters = array("q")  # select start, select end pairs (loop idle)
        #: ready queue, timers, fds: what the loop held (loop_moment.loop_at); None: not kept
        #: (``loop_queue=False``: a view that never asks, e.g. the load test's server timeline)
        self.loopq = LoopLog() if loop_queue else None
        self.samples: list = []  # (t_ns, where, func, task seq)
        self.jobs: list[Job] = []
        self.warnings: list[Warning_] = []
        self.output: list[tuple[int, str]] = []  # (t_ns, line) printed by the scenario
        self.output_chars = 0  # characters in ``output``: at most ``max_output_chars``
        self.output_lines = 0  # lines printed in all (``output`` may have dropped the oldest)
        self.max_output_chars = max_output_chars
        self.marks: list[tuple[int, str, object]] = []  # (t_ns, knob, value) changed live
        self.gauges: list[tuple[int, dict]] = []  # (t_ns, {name: value}) sampled at each drain
        self.dropped = 0
        self.result = None
        self.error: str | None = None
        self.version = 0
        self._max_step_end = 0
        self._iter_ends = array("q")  # select ends (loop iteration starts), sorted
        self._sample_times: list[int] = []
        # kept up to date as batches arrive, so queries stay cheap on long runs
        self._blocks: list[dict] = []
        self._reasons: dict[tuple, tuple] = {}  # each distinct wait reason, shared by the waits
        self._reason_texts: dict[tuple, tuple] = {}  # a reason (not a task's) -> wait_reason() of it
        self.gil_starts: dict[int, dict] = {}  # start_ns -> the block, of blocks that were GIL waits
        self._busy_total = 0
        self._busy_span: list[int] | None = None  # [start, end] of the current union
        self._done_stats: dict[int, tuple[dict, int]] = {}  # seq -> (totals, worst starved)
        self._live_cache: dict[int, tuple] = {}  # seq -> a running task's closed figures (_live_stats)
        self._held_cache: tuple | None = None  # (version, holding()) (_held)
        self._watchers: weakref.WeakSet[Touched] = weakref.WeakSet()
        self._figures: _Figures | None = None  # every task's figures summed (figures())
        #: what trims dropped, summed: every figure is the kept tasks' plus this
        self.gone = Dropped()
        self.at_cut: AtCut | None = None  # the whole run up to trimmed_before (explain.moment)
        #: tasks that made a task (not leaves), among the kept ones: a trim keeps a parent a
        #: parent after its children went
        self.parent_seqs: set[int] = set()

    def watch(self) -> Touched:
        """A :class:`Touched` that collects the tasks every later batch touches (held weakly:
        it stops when its reader lets go of it). A trim (``trimmed_before``) touches all."""
        w = Touched()
        self._watchers.add(w)
        return w

    def _touch(self, batch: dict) -> None:
        watchers = list(self._watchers)
        if not watchers:
            return
        seqs = set(batch.get("steps", ())[2::3])
        seqs.update(batch.get("ready", ())[0::2])
        for key in ("tasks", "names", "done", "waits"):
            for rec in batch.get(key, ()):
                seqs.add(rec[0])
        for j in batch.get("jobs", ()):
            seqs.add(j[5])
        seqs.discard(0)
        if seqs:
            for w in watchers:
                w.seqs |= seqs

    # ------------------------------------------------------------------ input
    def start(self, t_ns: int) -> None:
        self.start_ns = t_ns
        self.last_ns = max(self.last_ns, t_ns)

    def finish(self, t_ns: int) -> None:
        self.end_ns = t_ns
        self.last_ns = max(self.last_ns, t_ns)
        self.version += 1

    def ingest(self, batch: dict) -> None:
        self._touch(batch)
        tasks = self.tasks
        for seq, t, name, coro, where, parent, _eager in batch.get("tasks", ()):
            # (one copy of each coroutine name and place: an open system makes thousands of
            # tasks of a few coroutines)
            tasks[seq] = TaskInfo(seq, t, _intern(coro or ""), _intern(where or ""), parent or 0, name or "")
            if parent:
                self.parent_seqs.add(parent)
        for seq, name in batch.get("names", ()):
            if seq in tasks:
                tasks[seq].name = name
        for seq, label in batch.get("tags", ()):
            if seq in tasks:
                tasks[seq].tag = label
        for seq, t, what in batch.get("points", ()):
            if seq in tasks:
                tasks[seq].points.setdefault(what, t)
        for g in batch.get("gauges", ()):
            self.gauges.append((g[0], g[1]))
        for seq, t, outcome in batch.get("done", ()):
            if seq in tasks:
                tasks[seq].done_ns = t
                tasks[seq].outcome = outcome
        reasons = self._reasons
        for seq, t, kind, detail, where, other in batch.get("waits", ()):
            task = tasks.get(seq)
            if task is not None:
                r = (kind, detail, where, other)
                r = reasons.setdefault(r, r)
                if task.wait_t and t < task.wait_t[-1]:  # out of order (never seen): keep sorted
                    i = bisect.bisect_left(task.wait_t, t)
                    task.wait_t.insert(i, t)
                    task.wait_r.insert(i, r)
                else:
                    task.wait_t.append(t)
                    task.wait_r.append(r)
        if len(reasons) > 100_000:  # a program with ever new reasons: share less, keep memory bounded
            reasons.clear()
            self._reason_texts.clear()
        steps = batch.get("steps", ())
        self.steps.extend(steps)
        if self.loopq is not None:
            self.loopq.ingest(batch)
        block_ns = self.block_ns
        long_steps = []
        for i in range(0, len(steps), 3):
            seq = steps[i + 2]
            if seq:
                t = tasks.get(seq)
                if t is not None:
                    t.steps.append(steps[i])
                    t.steps.append(steps[i + 1])
            if steps[i + 1] > self._max_step_end:
                self._max_step_end = steps[i + 1]
            if steps[i + 1] - steps[i] >= block_ns:
                long_steps.append((steps[i], steps[i + 1], seq))
        self._add_busy(sorted(zip(steps[0::3], steps[1::3])))
        r = batch.get("ready", ())
        for i in range(0, len(r), 2):
            t = tasks.get(r[i])
            if t is not None:
                t.ready.append(r[i + 1])
        iters = batch.get("iters", ())
        self.iters.extend(iters)
        self._iter_ends.extend(iters[1::2])
        for smp in batch.get("samples", ()):
            self.samples.append(tuple(smp))
            self._sample_times.append(smp[0])
        self.jobs.extend(Job(*j) for j in batch.get("jobs", ()))
        self.warnings.extend(Warning_(*w) for w in batch.get("warnings", ()))
        if batch.get("output"):
            self._add_output(batch["output"])
        for s0, e0, seq in long_steps:  # after the samples: they tell where it was stuck
            where = self.where_between(s0, e0)
            if not where and seq in tasks:
                where = tasks[seq].where
            bisect.insort(self._blocks, {"task": seq, "start_ns": s0, "end_ns": e0, "where": where},
                          key=lambda b: b["start_ns"])
        for rec in batch.get("gil", ()):  # after the blocks: a probe closes before its step's drain
            self._note_gil(rec)
        self.dropped += batch.get("dropped", 0)
        if batch.get("t"):
            self.last_ns = max(self.last_ns, batch["t"])
        if len(self.steps) // 3 > self.max_steps or len(self.tasks) > self.max_tasks:
            self._trim()
        elif self.max_age_ns and self.start_ns is not None:
            oldest = self.trimmed_before or self.start_ns
            if self.last_ns - oldest > self.max_age_ns * 5 // 4:  # trim in chunks, not per batch
                self._trim(self.last_ns - self.max_age_ns)
        for name in ("samples", "jobs", "warnings", "marks", "gauges"):
            items = getattr(self, name)
            if len(items) > self.max_items:
                del items[: len(items) - self.max_items * 3 // 4]
        if len(self._sample_times) > len(self.samples):
            del self._sample_times[: len(self._sample_times) - len(self.samples)]
        self.version += 1

    def _add_output(self, lines) -> None:
        """Printed lines, each clipped; all of them together bounded in characters and count."""
        out = self.output
        for t, line in lines:
            line = clip(line)
            out.append((t, line))
            self.output_chars += len(line)
            self.output_lines += 1
        if self.output_chars > self.max_output_chars or len(out) > self.max_items:
            keep_chars, keep_n = self.max_output_chars * 3 // 4, self.max_items * 3 // 4
            cut = 0
            while cut < len(out) and (self.output_chars > keep_chars or len(out) - cut > keep_n):
                self.output_chars -= len(out[cut][1])
                cut += 1
            del out[:cut]

    def _add_busy(self, spans) -> None:
        """Grow the union of step intervals (loop busy time) with spans sorted by start."""
        span = self._busy_span
        for s, e in spans:
            if span is None:
                span = [s, e]
            elif s > span[1]:
                self._busy_total += span[1] - span[0]
                span = [s, e]
            elif e > span[1]:
                span[1] = e
            elif s < span[0] and e < span[0]:
                self._busy_total += e - s  # a late-arriving older step outside the union
        self._busy_span = span

    def _trim(self, cut: int | None = None) -> None:
        """Drop what happened before ``cut`` (default: the oldest quarter of the recording).
        What it drops is summed first (``gone``, each kept task's ``base``), so the figures
        (:meth:`figures`, :meth:`open_counts`, :meth:`block_totals`) stay the whole run's."""
        st = self.steps
        n = len(st) // 3
        if cut is None:
            starts = sorted(st[0::3])
            cut = starts[n // 4] if n else self.last_ns
            done = sorted(t.done_ns for t in self.tasks.values() if t.done_ns is not None)
            if len(self.tasks) > self.max_tasks and done:
                cut = max(cut, done[min(len(done) - 1, len(self.tasks) // 4)])
        self._fold(cut)  # (before anything goes: it reads the recording as it is)
        keep = array("q")
        for i in range(0, len(st), 3):
            if st[i + 1] >= cut:
                keep.extend(st[i:i + 3])
        self.dropped += n - len(keep) // 3
        self._blocks = [b for b in self._blocks if b["end_ns"] >= cut]
        self.gil_starts = {s: b for s, b in self.gil_starts.items() if b["end_ns"] >= cut}
        self.steps = keep
        for seq in [q for q, t in self.tasks.items() if t.done_ns is not None and t.done_ns < cut]:
            del self.tasks[seq]
        self.parent_seqs = {q for q in self.parent_seqs if q in self.tasks}
        it = self.iters
        kept_it = array("q")
        last = -1  # the last loop iteration begun before the cut: a wait across the cut asks it
        for i in range(0, len(it), 2):
            if it[i + 1] >= cut:
                kept_it.extend(it[i:i + 2])
            elif last < 0 or it[i + 1] > it[last + 1]:
                last = i
        self.iters = (array("q", it[last:last + 2]) + kept_it) if last >= 0 else kept_it
        self.samples = [x for x in self.samples if x[0] >= cut]
        self._sample_times = [x[0] for x in self.samples]
        self.jobs = [j for j in self.jobs if j.end_ns >= cut]
        self._iter_ends = array("q", self.iters[1::2])
        self._done_stats = {q: v for q, v in self._done_stats.items() if q in self.tasks}
        # gauges come with every drain (20 a second): a live server's would grow by ~0.5 MB a
        # minute until max_items; the wait reasons shared by the kept waits only (a reason
        # names the task awaited: a server makes new ones with every request)
        del self.gauges[: bisect.bisect_left(self.gauges, cut, key=lambda g: g[0])]
        self._reasons = {r: r for t in self.tasks.values() for r in t.wait_r}
        self._reason_texts = {}
        if self.loopq is not None:
            self.loopq.trim(cut)
        self._live_cache = {}
        self.trimmed_before = cut

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
                busy += span[1] - span[0] if span else 0
                span = [a, b]
            elif b > span[1]:
                span[1] = b
        busy += span[1] - span[0] if span else 0
        for b in self._blocks:
            if b["end_ns"] < cut:
                g.blocks += 1
                g.blocked_ns += b["end_ns"] - b["start_ns"]
                if b.get("gil"):
                    g.gil_blocks += 1
                    g.gil_ns += b["end_ns"] - b["start_ns"]
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

    # ---------------------------------------------------------------- derived
    @property
    def origin(self) -> int:
        if self.start_ns is not None:
            return self.start_ns
        firsts = [t.created_ns for t in self.tasks.values()]
        return min(firsts) if firsts else 0

    @property
    def now_ns(self) -> int:
        return self.end_ns if self.end_ns is not None else self.last_ns

    def _iter_start_before(self, t: int) -> int | None:
        """End of the last select (start of the loop iteration) at or before ``t``."""
        ends = self._iter_ends
        i = bisect.bisect_right(ends, t)
        return ends[i - 1] if i else None

    def task_segments(self, seq: int, since_pair: int = 0) -> list[tuple[str, int, int]]:
        """(state, start, end) of task ``seq``. ``since_pair``: only those from its
        ``since_pair``-th recorded step on, which must all start after the earlier ones ended
        (the caller checks): how ``SnapshotBuilder`` and the running tasks' figures grow
        without walking all of a long task again."""
        task = self.tasks[seq]
        st = task.steps
        ready = sorted(task.ready)
        segs: list[tuple[str, int, int]] = []
        cursor = task.created_ns
        first = True
        if task.seg_from is not None:  # a trim dropped its older steps (_fold)
            cursor, first = task.seg_from, False
            if since_pair <= 0:
                segs.extend(task.lead)
        if since_pair > 0:
            # (the caller checked that the newer steps start after the earlier ones ended:
            # only those are sorted and walked, however long the task has run)
            cursor = max(cursor, max(st[1:2 * since_pair:2]))
            pairs = sorted(zip(st[2 * since_pair::2], st[2 * since_pair + 1::2]))
            first = False
        else:
            pairs = sorted(zip(st[0::2], st[1::2]))
        for s, e in pairs:
            if s < cursor:  # an eager first step or a nested step: keep order sane
                s = cursor
            if s > cursor:
                if first:
                    ready_at = cursor
                else:
                    j = bisect.bisect_left(ready, cursor)
                    ready_at = ready[j] if j < len(ready) and ready[j] <= s else None
                    it = self._iter_start_before(s)
                    if it is not None and it >= cursor and (ready_at is None or it < ready_at):
                        ready_at = it
                    if ready_at is None:
                        ready_at = s
                if ready_at > cursor:
                    segs.append((WAITING, cursor, ready_at))
                if s > ready_at:
                    segs.append((STARVED, ready_at, s))
            first = False
            if e > s:
                segs.append((RUNNING, s, e))
            cursor = max(cursor, e)
        if task.done_ns is None:
            end = self.now_ns
            held = self.holding()
            if held and held[0] == seq:
                # the task holds the loop right now (a step that has not ended yet)
                if held[1] > cursor:
                    segs.append((STARVED if first else WAITING, cursor, held[1]))
                segs.append((RUNNING, max(cursor, held[1]), end))
            elif end > cursor:
                segs.append((STARVED if first else WAITING, cursor, end))
        return segs

    def wait_reason(self, seq: int, start_ns: int) -> tuple[str, str, str] | None:
        """What task ``seq`` waited on in its waiting segment that starts at ``start_ns`` (the
        end of a step): ``(kind, text, where)``, e.g. ``("semaphore", "semaphore `counter`
        (shop.py:12)", "/path/shop.py:12")`` (``wait_reasons.reason_text``; ``where``: where
        the primitive was made or the program awaits, or ""); None if not known (a bare
        yield, an older recording)."""
        t = self.tasks.get(seq)
        if t is None:
            return None
        i = bisect.bisect_left(t.wait_t, start_ns)
        if i == len(t.wait_t) or t.wait_t[i] != start_ns:
            return None
        r = t.wait_r[i]
        kind, detail, where, other = r
        if kind == "task":  # (the awaited task's label may change: made each time)
            o = self.tasks.get(other)
            detail = (f"#{other} {_short_label(o)}" if o is not None else f"#{other}") if other else ""
            return kind, reason_text(kind, detail, where), where
        out = self._reason_texts.get(r)
        if out is None:  # one text per distinct reason, shared by the segments that show it
            out = self._reason_texts[r] = (kind, reason_text(kind, detail, where), where)
        return out

    def holding(self) -> tuple[int, int, str] | None:
        """(task seq, since_ns, where) of a step that holds the loop now and has not ended."""
        if self.end_ns is not None or not self.samples:
            return None
        t, where, _func, seq = self.samples[-1]
        if t <= self._max_step_end:
            return None
        since = self._max_step_end
        it = self._iter_start_before(t)
        if it is not None and it > since:
            since = it
        return (seq, since, where)

    def loop_segments(self) -> list[tuple[str, int, int, int]]:
        """(state, start, end, task seq): running / blocked / callback steps and idle selects.

        Steps can nest (an eager task's first step runs inside its parent's step): the
        inner one is shown for its span, so segments never overlap.
        """
        st = self.steps
        out = flatten_steps(zip(st[0::3], st[1::3], st[2::3]), self.block_ns)
        gil = self.gil_starts
        if gil:
            out = [(GIL, s, e, q) if state == BLOCKED and s in gil else (state, s, e, q)
                   for state, s, e, q in out]
        it = self.iters
        for i in range(0, len(it), 2):
            out.append((IDLE, it[i], it[i + 1], 0))
        held = self.holding()
        if held:
            state = BLOCKED if self.now_ns - held[1] >= self.block_ns else RUNNING
            out.append((state, held[1], self.now_ns, held[0]))
        out.sort(key=lambda x: x[1])
        return out

    def thread_lanes(self) -> dict[str, list[Job]]:
        """Jobs by worker thread (or process), in order of first use, with readable names
        (:func:`thread_lane_labels`)."""
        lanes: dict[str, list[Job]] = {}
        for j in sorted(self.jobs, key=lambda j: j.start_ns):
            lanes.setdefault(j.thread, []).append(j)
        return dict(zip(thread_lane_labels(list(lanes)), lanes.values()))

    def where_between(self, s: int, e: int) -> str:
        """The source line most often sampled while the loop was held in [s, e]."""
        times = self._sample_times
        lo = bisect.bisect_left(times, s)
        hi = bisect.bisect_right(times, e)
        c = Counter(self.samples[i][1] for i in range(lo, hi))
        return c.most_common(1)[0][0] if c else ""

    def _note_gil(self, rec) -> None:
        """Attach a GIL probe (``gil_probe.classify``) to the block it measured; a probe that
        looked at the step itself replaces one from the ticks around it (``gil_probe.Ticks``)."""
        verdict = classify_gil(rec)
        if verdict is None:
            return
        t0 = rec[0]
        i = bisect.bisect_right(self._blocks, t0, key=lambda b: b["start_ns"]) - 1
        if i < 0 or not (self._blocks[i]["start_ns"] <= t0 <= self._blocks[i]["end_ns"]):
            return
        b = self._blocks[i]
        s, e = b["start_ns"], b["end_ns"]
        calls = rec[3]
        if calls.get("bracket"):  # from the clocks of the ticks around it only
            kind = "bracket"
        elif calls.get("sleep") or calls.get("io") or 2 * (min(rec[1], e) - max(t0, s)) >= e - s:
            kind = "look"  # the kernel saw it blocked, or the probe covered most of the step
        else:
            kind = "glimpse"  # a probe that saw the step only at its very end
        rank = {"glimpse": 0, "bracket": 1, "look": 2}
        if rank[kind] < rank.get(b.get("gil_probe", ""), -1):
            return  # a measurement that saw more of the step knows better
        b["gil_probe"] = kind
        b["loop_cpu_share"] = verdict["loop_cpu_share"]
        b["gil_threads"] = verdict["threads"]
        if verdict["gil"]:
            b["gil"] = True
            self.gil_starts[b["start_ns"]] = b
        else:
            b.pop("gil", None)
            self.gil_starts.pop(b["start_ns"], None)

    def gil_blocks(self) -> list[dict]:
        """The blocks in which the loop thread mostly waited for the GIL."""
        return [b for b in self._blocks if b.get("gil")]

    def gil_holders(self, blocks: list[dict]) -> tuple[list[tuple[str, float]], int, float]:
        """Who held the GIL over ``blocks``: ([(job label, CPU s)] most first, how many
        threads, the loop thread's share of the time). A thread's CPU goes to the job(s)
        it ran then (by overlap); a thread with no recorded job counts under its name; CPU
        measured for all threads at once (key ``"*"``) goes to every job then, by overlap."""
        cpu: Counter = Counter()
        threads = set()
        wall = share_wall = 0.0
        job_threads = {j.thread.partition("|")[0] for j in self.jobs}
        for b in blocks:
            s, e = b["start_ns"], b["end_ns"]
            wall += e - s
            share_wall += (e - s) * b.get("loop_cpu_share", 0.0)
            for key, c in b.get("gil_threads", ()):
                if key == "*":  # measured for all threads at once (gil_probe.Ticks): the jobs then
                    jobs = [j for j in self.jobs if j.start_ns < e and j.end_ns > s]
                    threads.update(j.thread for j in jobs)
                else:
                    jobs = [j for j in self.jobs if j.thread == key and j.start_ns < e and j.end_ns > s]
                    if not jobs and b.get("gil_probe") == "bracket" and key.partition("|")[0] in job_threads:
                        continue  # a pool thread between jobs: its CPU was read over more than the step
                    threads.add(key)
                if not jobs:
                    cpu[key.partition("|")[0]] += c
                    continue
                over = [min(e, j.end_ns) - max(s, j.start_ns) for j in jobs]
                tot = sum(over) or 1
                for j, o in zip(jobs, over):
                    cpu[j.label] += c * o / tot
        return cpu.most_common(), len(threads), (share_wall / wall if wall else 0.0)

    def blocks(self) -> list[dict]:
        """Steps that held the loop at least ``block_ms``, with where it was stuck
        (plus the step holding it now, marked ``ongoing``)."""
        out = list(self._blocks)
        held = self.holding()
        if held and self.now_ns - held[1] >= self.block_ns:
            out.append({"task": held[0], "start_ns": held[1], "end_ns": self.now_ns,
                        "where": held[2], "ongoing": True})
        return out

    def busy_ns(self) -> int:
        """Time some step held the loop (the union of step intervals)."""
        span = self._busy_span
        return self._busy_total + (span[1] - span[0] if span else 0)

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
