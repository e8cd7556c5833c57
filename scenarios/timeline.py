"""The timeline model: recorder batches in, task / loop / thread lanes and statistics out.

A ``Timeline`` is fed the batches a ``Recorder`` drains (in-process or streamed from a
child process) and derives, on demand:

* per task: segments ``(state, start_ns, end_ns)`` with state ``running``, ``waiting``
  or ``starved`` (ready but not started because something else held the loop);
* the loop lane: who held the loop when, and which steps were blocks;
* worker-thread lanes: jobs sent to a thread (or process) pool;
* a summary (wall, busy, blocked, worst lag, per-task totals) and exports.

All times are CLOCK_MONOTONIC nanoseconds; ``start_ns`` is the run's origin.

Its parts: the figures summed over the whole run (time per state, lag, open counts, what a
trim folds in) in ``timeline_figures.py`` (``TaskFigures``, which ``Timeline`` inherits, and
``_Figures``); what it keeps per task, job and warning in ``timeline_records.py``; the state
names in ``task_states.py``; what the loop held in ``loop_moment.py``; drawing in
``snapshot.py``. Every name they define is importable from here. What is left here (~600
lines) is ingesting batches and trimming, which share the per-task indexes they keep.
"""

from __future__ import annotations

import bisect
import weakref
from array import array
from collections import Counter

from .gil_probe import classify as classify_gil
from .loop_moment import LoopLog
from .protocol import clip
from .task_states import BLOCKED, CALLBACK, GIL, IDLE, RUNNING, STARVED, THREAD, WAITING
from .timeline_figures import AtCut, Dropped, TaskFigures, _Figures
from .timeline_records import Job, TaskInfo, Touched, Warning_, _intern, _short_label
from .wait_reasons import reason_text

__all__ = ["AtCut", "BLOCKED", "CALLBACK", "Dropped", "GIL", "IDLE", "Job", "RUNNING", "STARVED",
           "THREAD", "TaskInfo", "Timeline", "Touched", "WAITING", "Warning_", "flatten_steps",
           "thread_lane_labels"]


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


class Timeline(TaskFigures):
    def __init__(self, block_ms: float = 25.0, max_steps: int = 1_000_000,
                 max_tasks: int = 50_000, max_items: int = 100_000,
                 max_age_s: float | None = None, max_output_chars: int = 4 << 20,
                 loop_queue: bool = True) -> None:
        """Memory is bounded: past ``max_steps`` loop steps or ``max_tasks`` tasks the oldest
        quarter of the recording is dropped (``trimmed_before`` says up to when, ``dropped``
        counts the steps); warnings, output, samples and jobs keep at most ``max_items``; printed output at most
        ``max_output_chars`` characters (each line clipped, see scenarios/protocol.py). What a
        trim drops is summed first (``gone``, ``at_cut``, each kept task's ``base``): the
        figures (``figures``, ``open_counts``, ``block_totals``, ``task_counts``) stay the
        whole run's."""
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
                n = len(items) - self.max_items * 3 // 4
                if name == "jobs":  # (summed first, as a trim's: the whole run's jobs stay counted)
                    self.gone.fold_jobs(items[:n])
                elif name == "gauges":
                    self.gone.fold_gauges(items[:n])
                del items[:n]
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
