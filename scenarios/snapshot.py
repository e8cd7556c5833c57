"""Immutable snapshots of a Timeline, ready to draw: lanes of segments in seconds.

The data flow is one way: running code -> recorder batches -> ``Timeline`` ->
``Snapshot`` -> widget. A snapshot never changes after it is made, so a UI thread can
draw it while a producer thread builds the next one.

Lane kinds: ``loop`` (who holds the loop), ``task``, ``thread`` (a worker thread or
process). Segment states:

* task lanes: ``running``, ``blocked`` (a running step longer than the block
  threshold), ``starved`` (ready but not started), ``waiting`` (a timer, another task, a
  future), ``lock`` (waiting for a lock, semaphore, event, condition or queue), ``io``
  (waiting for a socket, pipe or subprocess), ``thread`` (waiting while its job runs in a
  worker thread), ``queued`` (waiting for a free worker). A waiting segment's ``info`` says
  what it waits on (``Timeline.wait_reason``: "semaphore `counter` (shop.py:12)");
* loop lane: ``running`` (a task step), ``blocked``, ``callback``, ``idle``;
* thread lanes: ``thread``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .timeline import BLOCKED, GIL, RUNNING, STARVED, THREAD, WAITING, Timeline, flatten_steps, thread_lane_labels
from .wait_reasons import CATEGORY

QUEUED = "queued"
LOCK, IO = "lock", "io"
#: the states of a task that awaits something (costs the loop nothing), by what it awaits
WAIT_STATES = frozenset((WAITING, LOCK, IO))
#: a waiting segment's state by its reason's category (wait_reasons.CATEGORY); else waiting
_WAIT_STATE = {"sync": LOCK, "io": IO}
#: a snapshot carries the newest lines printed, not all of them: building it stays cheap
#: however long the run (the whole output is in the Timeline, the JSON report and the trace)
OUTPUT_TAIL = 200
STATES = ("running", "blocked", "gil", "starved", "waiting", "lock", "io", "thread", "queued", "callback", "idle")


class Segment(NamedTuple):
    start: float  # seconds from the run's origin
    end: float
    state: str
    task: int = 0  # task id involved (0 = none)
    info: str = ""  # what ran: a job's function, a block's source line, a task label; what a wait awaits
    where: str = ""  # "path:line" that goes with it (a wait: where its lock was made, or awaited)
    #: a wait's reason as ``Timeline.wait_reason`` gives it, ``(kind, text, where)``; () if none
    wait: tuple = ()


@dataclass(frozen=True)
class Lane:
    key: str
    label: str
    kind: str  # "loop" | "task" | "thread"
    segments: tuple[Segment, ...]
    task: int = 0
    group: str = ""  # "" for a single run; a run's label when runs are compared
    parent: int = 0  # a task lane's parent task (0: none or unknown)
    #: its last segment is still open (a task waiting or ready now): it runs on to the
    #: snapshot's ``t_end``, its ``end`` is only when the lane was built. Such a lane is
    #: shared by the snapshots while nothing happens to its task (it is not rewritten as time
    #: passes); ``Snapshot.lanes`` gives it with the end drawn in (:meth:`to`),
    #: ``Snapshot.raw_lanes`` as it is
    open: bool = False

    def to(self, t_end: float) -> "Lane":
        """This lane with its open end (if any) reaching ``t_end``: a closed lane."""
        if not self.open:
            return self
        segs = self.segments
        last = segs[-1]
        # one per waiting lane read: no Python-level constructors (dataclasses.replace and
        # NamedTuple() are several times slower); every other field is kept
        out = _new_object(Lane)
        out.__dict__.update(self.__dict__)
        out.__dict__["segments"] = (*segs[:-1], _new_tuple(Segment, (last[0], max(t_end, last[0]), *last[2:])))
        out.__dict__["open"] = False
        return out


class LiveLanes(Sequence):
    """A live snapshot's lanes: ``raw`` as built (some :attr:`Lane.open`, shared with other
    snapshots), read as closed lanes reaching ``t_end`` (made once, on first read). Who draws
    only some lanes (the timeline view) reads ``raw`` and closes only those it shows."""

    __slots__ = ("raw", "t_end", "_made")

    def __init__(self, raw: tuple, t_end: float) -> None:
        self.raw = raw
        self.t_end = t_end
        self._made: tuple | None = None

    def _all(self) -> tuple:
        made = self._made
        if made is None:
            t = self.t_end
            made = self._made = tuple(lane.to(t) if lane.open else lane for lane in self.raw)
        return made

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, i):
        return self._all()[i]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other) -> bool:
        if isinstance(other, LiveLanes):
            return self._all() == other._all()
        if isinstance(other, tuple):
            return self._all() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other):
        return self._all() + tuple(other)

    def __repr__(self) -> str:
        return f"LiveLanes({self._all()!r})"


@dataclass(frozen=True)
class Snapshot:
    version: int
    live: bool
    t_end: float  # seconds: the newest moment covered
    lanes: tuple[Lane, ...]
    blocks: tuple[dict, ...] = ()
    warnings: tuple = ()
    output: tuple = ()
    holding: tuple | None = None  # (task, since_s, where) of a step holding the loop now
    extra: dict = field(default_factory=dict)
    #: lines printed in all (``output`` holds the newest OUTPUT_TAIL of them); 0: len(output)
    output_total: int = 0
    #: what the loop held, for ``loop_moment.loop_at`` (a LoopView; None: not recorded)
    loop: object = None
    #: the states drawn in its lanes, when its maker kept them as it built them (None: look
    #: through the lanes)
    states: frozenset | None = None
    #: after a trim (``extra["kept_from"]``), the whole run up to then, in seconds: what a moment
    #: after it adds its lanes' figures to (:func:`before_cut`; ``explain.moment``); None: all kept
    before: dict | None = None
    #: task lanes built but not in ``lanes`` (older than the newest ``max_task_lanes``), in
    #: task order, as built (an open one reaches ``t_end``: :attr:`all_lanes` closes it): what
    #: a view ordering by age or length picks from, and what a paused moment sums too
    hidden: tuple = ()

    @property
    def all_lanes(self) -> tuple:
        """``lanes`` and the ``hidden`` task lanes (closed at ``t_end``): every lane built."""
        if not self.hidden:
            return tuple(self.lanes)
        t = self.t_end
        return (*self.lanes, *(lane.to(t) if lane.open else lane for lane in self.hidden))

    def lane(self, key: str) -> Lane | None:
        for lane in self.lanes:
            if lane.key == key:
                return lane
        return None

    @property
    def raw_lanes(self) -> tuple:
        """The lanes as built: an open lane (:attr:`Lane.open`) as it is, shared with other
        snapshots (``lane.to(t_end)`` closes it). What a view that draws some of them reads."""
        lanes = self.lanes
        return lanes.raw if isinstance(lanes, LiveLanes) else lanes


def before_cut(tl: Timeline) -> dict | None:
    """``Timeline.at_cut`` in seconds from the run's origin (None: nothing was trimmed):
    ``from_s`` (the cut), ``states_s``, ``max_lag_s``, ``busy_s``, ``blocked_s``, ``blocks``,
    ``tasks`` (dropped, all finished), ``leaves`` (customers dropped, all served) and their
    ``served_s`` (time in the system), ``created_s`` (task -> when it was made, of the kept
    tasks made before the cut), ``parents`` (those that made a task) and ``starved_s`` (those
    ready but not started at the cut: since when)."""
    c = tl.at_cut
    if c is None:
        return None
    origin = tl.origin
    return {"from_s": (c.cut - origin) / 1e9, "states_s": {k: v / 1e9 for k, v in c.states.items()},
            "max_lag_s": c.worst / 1e9, "busy_s": c.busy / 1e9, "blocked_s": c.blocked / 1e9,
            "blocks": c.blocks, "tasks": c.tasks, "leaves": c.leaves, "served_s": c.served / 1e9,
            "created_s": {q: (ns - origin) / 1e9 for q, ns in c.created.items()}, "parents": c.parents,
            "starved_s": {q: (ns - origin) / 1e9 for q, ns in c.starved.items()}}


def wait_state(kind: str | None) -> str:
    """THE drawing state of a wait of ``kind`` (a ``wait_reasons`` kind; None: not known):
    ``lock`` / ``io`` / ``waiting`` by its category (``wait_reasons.CATEGORY``)."""
    return _WAIT_STATE.get(CATEGORY.get(kind), WAITING) if kind else WAITING


def with_reasons(tl: Timeline, seq: int, segs) -> list[tuple[str, int, int, str, str, tuple]]:
    """A task's ``(state, start, end)`` segments with what each waiting one waits on:
    ``(state, start, end, info, where, wait)``, the state ``lock`` / ``io`` / ``waiting`` by the
    reason's kind (:func:`wait_state`), ``info`` the reason's text, ``where`` its line ("" when
    unknown) and ``wait`` the reason itself (``Timeline.wait_reason``: (kind, text, where); ())."""
    out = []
    for state, s, e in segs:
        info = where = ""
        r = ()
        if state == WAITING:
            r = tl.wait_reason(seq, s) or ()
            if r:
                state = wait_state(r[0])
                info, where = r[1], r[2]
        out.append((state, s, e, info, where, r))
    return out


def split_waiting_info(segs, jobs, origin, block_ns):
    """Turn waiting time during a task's own thread jobs into ``queued`` / ``thread``, and a
    running step of ``block_ns`` or more into ``blocked``: ``(state, start, end, info, *more)``
    segments (:func:`with_reasons`' ``where`` and ``wait``) in and out; each piece keeps the
    rest as it was."""
    out = []
    for state, s, e, info, *more in segs:
        if state == RUNNING and e - s >= block_ns:
            out.append((BLOCKED, s, e, info, *more))
            continue
        if state not in WAIT_STATES or not jobs:
            out.append((state, s, e, info, *more))
            continue
        cur = s
        for j in jobs:
            if j.end_ns <= cur or j.submit_ns >= e:
                continue
            q0, q1 = max(cur, j.submit_ns), min(e, j.start_ns)
            if q0 > cur:
                out.append((state, cur, q0, info, *more))
                cur = q0
            if q1 > cur:
                out.append((QUEUED, cur, q1, info or j.label, *more))
                cur = q1
            t1 = min(e, j.end_ns)
            if t1 > cur:
                out.append((THREAD, cur, t1, info or j.label, *more))
                cur = t1
        if e > cur:
            out.append((state, cur, e, info, *more))
    return out


class ThreadLanes:
    """Worker-thread lanes grown job by job: one lane per thread (key ``name|id``), in order
    of first use, labelled by :func:`thread_lane_labels`. Used by :class:`SnapshotBuilder` and
    by the load test's server feed (which also trims old segments: the labels stay put).
    ``max_lanes``: threads beyond it are not drawn (counted in ``hidden``)."""

    def __init__(self, max_lanes: int | None = None) -> None:
        self.max_lanes = max_lanes
        self.hidden = 0
        self.segments: dict[str, list[Segment]] = {}
        self._first: dict[str, float] = {}  # key -> its first segment's start (the lane order)

    def add(self, key: str, seg: Segment) -> None:
        segs = self.segments.get(key)
        if segs is None:
            if self.max_lanes is not None and len(self.segments) >= self.max_lanes:
                self.hidden += 1
                return
            segs = self.segments[key] = []
            self._first[key] = seg.start
        if segs and seg.start < segs[-1].start:
            bisect.insort(segs, seg, key=lambda x: x.start)
        else:
            segs.append(seg)
        if seg.start < self._first[key]:
            self._first[key] = seg.start

    def lanes(self, group: str = "") -> list[Lane]:
        order = sorted(self._first, key=self._first.__getitem__)
        return [Lane(f"thread-{label}", label, "thread", tuple(self.segments[key]), 0, group)
                for key, label in zip(order, thread_lane_labels(order)) if self.segments[key]]


#: lanes of older tasks a build adds at most (SnapshotBuilder._backfill)
BACKFILL = 500


class SnapshotBuilder:
    """Makes snapshots of one Timeline. Each build costs the tasks that got something new
    (``Timeline.watch``) and the one holding the loop, not every task: a waiting task's lane
    is kept as it is, its open end implied (:attr:`Lane.open`: it reaches each snapshot's
    ``t_end``), and a finished task's lane never changes again.

    ``max_task_lanes``: the newest tasks' lanes a snapshot draws (``lanes``); every other kept
    task's lane is built too (``hidden``; after a first build or a trim, at most BACKFILL more a
    build), so a paused moment sums every task and a view can pick the oldest or slowest;
    ``extra["task_lanes"]`` says how many are drawn, built, kept and made in the whole run."""

    def __init__(self, timeline: Timeline, max_task_lanes: int = 2000) -> None:
        self.tl = timeline
        self.max_task_lanes = max_task_lanes
        self._touched = timeline.watch()
        self._trimmed = None
        self._before: dict | None = None
        self._loop: list[Segment] = []  # loop-lane segments of the steps seen so far
        self._loop_steps = 0  # how many step triples are in _loop
        self._threads = ThreadLanes()
        self._jobs_seen = 0
        self._jobs_by_task: dict[int, list] = {}  # task -> its jobs, by submit time
        self._block_cache: dict[int, tuple] = {}
        self._origin = None
        self._reset_lanes()

    def _reset_lanes(self) -> None:
        #: every task's lane, in task order (``_seqs``), and each one's place in it
        self._seqs: list[int] = []
        self._lanes: list[Lane] = []
        self._pos: dict[int, int] = {}
        #: lanes of unfinished tasks: seq -> (what they were built from, lane, waits kept); while a
        #: task's steps, readiness and jobs stay the same only its open last segment grows (to now)
        self._live: dict[int, tuple] = {}
        #: unfinished tasks whose lane does not end open (holding the loop, or nothing after
        #: their last step yet): built again at the next build
        self._again: set[int] = set()
        self._all = True  # build every task's lane (the first build, or after a trim)
        self._states: set[str] = set()  # the states in the lanes built (Snapshot.states)
        self._states_n = 0  # how many loop segments they include
        self._floor = 0  # tasks older than this have no lane yet (_older: to build, _backfill)
        self._older: list[int] = []

    def build(self, extra: dict | None = None) -> Snapshot:
        tl = self.tl
        origin = tl.origin
        if tl.trimmed_before != self._trimmed or origin != self._origin:
            # the model let go of old data: forget lanes of tasks it dropped, rebuild the rest
            self._trimmed = tl.trimmed_before
            self._origin = origin
            self._loop, self._loop_steps = [], 0
            self._threads, self._jobs_seen = ThreadLanes(), 0
            self._jobs_by_task = {}
            self._block_cache = {}
            self._reset_lanes()
            self._before = before_cut(tl)

        def sec(ns: int) -> float:
            return (ns - origin) / 1e9

        touched = self._touched.take()
        self._add_jobs(sec, touched)  # also indexes the jobs by task (only the new ones)

        loop_segs = self._loop_lane(sec)
        held = tl.holding()
        held_seq = held[0] if held else 0
        t_end = sec(tl.now_ns) if tl.now_ns else 0.0
        tasks = tl.tasks
        if self._all:
            # (the newest max_task_lanes tasks first: they are drawn, and later ones are newer;
            # the older ones' lanes are built a chunk a build, see _backfill)
            self._all = False
            order = sorted(tasks)
            todo = order[-self.max_task_lanes:]
            self._older = order[:-len(todo)] if todo else []
            self._floor = todo[0] if todo else 0
        else:
            todo = touched | self._again
            if held_seq:
                todo.add(held_seq)
            floor = self._floor
            todo = sorted(q for q in todo if q >= floor)
        self._again = again = set()
        seqs, lanes, pos = self._seqs, self._lanes, self._pos
        states = self._states
        states.update([seg[2] for seg in self._loop[self._states_n:]])
        self._states_n = len(self._loop)
        if len(loop_segs) > len(self._loop):  # (the step holding the loop now)
            states.add(loop_segs[-1][2])
        if self._threads.segments:
            states.add(THREAD)
        for seq in todo:
            t = tasks.get(seq)
            if t is None:
                continue
            lane = self._lane_of(seq, t, sec, held_seq, t_end)
            states.update([seg[2] for seg in lane.segments])
            if t.done_ns is None and not lane.open:
                again.add(seq)
            i = pos.get(seq)
            if i is not None:
                lanes[i] = lane
            elif not seqs or seq > seqs[-1]:
                pos[seq] = len(seqs)
                seqs.append(seq)
                lanes.append(lane)
            else:  # a task older than the newest one arrived late (never seen): place it
                i = bisect.bisect_left(seqs, seq)
                seqs.insert(i, seq)
                lanes.insert(i, lane)
                self._pos = pos = {q: k for k, q in enumerate(seqs)}

        if self._older:
            self._backfill(sec, held_seq, t_end)
            seqs, lanes = self._seqs, self._lanes
        n_drawn = min(len(lanes), self.max_task_lanes)
        task_lanes = lanes[-n_drawn:] if len(lanes) > n_drawn else lanes
        all_lanes = (Lane("loop", "event loop", "loop", loop_segs), *task_lanes, *self._threads.lanes())

        output = tl.output[-OUTPUT_TAIL:]
        extra = dict(extra or {})
        if tl.trimmed_before is not None:  # the model let go of what came before: say from when
            extra["kept_from"] = max(0.0, sec(tl.trimmed_before))
        if len(task_lanes) < len(tasks):  # lanes drawn for the newest tasks only: say of how many
            # (built: of how many lanes exist, drawn or hidden; all kept ones once _backfill is done)
            extra["task_lanes"] = {"drawn": len(task_lanes), "built": len(lanes), "kept": len(tasks),
                                   "run": len(tasks) + tl.gone.tasks}
        return Snapshot(
            version=tl.version,
            live=tl.end_ns is None,
            t_end=t_end,
            lanes=LiveLanes(all_lanes, t_end) if self._live else all_lanes,  # (open ones: live tasks')
            blocks=self._blocks(sec),
            warnings=tuple(tl.warnings),
            output=tuple((sec(t), line) for t, line in output),
            holding=(held[0], sec(held[1]), held[2]) if held else None,
            extra=extra,
            output_total=getattr(tl, "output_lines", len(tl.output)),
            loop=tl.loopq.view(origin) if getattr(tl, "loopq", None) is not None and tl.loopq.recorded else None,
            states=frozenset(states),
            before=self._before,
            hidden=tuple(lanes[:-n_drawn]) if len(lanes) > n_drawn else (),
        )

    def _backfill(self, sec, held_seq: int, t_end: float) -> None:
        """Build the lanes of up to BACKFILL more of the tasks older than those drawn (after a
        first build or a trim, which start with the newest ``max_task_lanes``): a build costs
        at most that many more lanes, and a few builds later every kept task has its lane."""
        older, tasks = self._older, self.tl.tasks
        chunk = older[-BACKFILL:]
        del older[-BACKFILL:]
        seqs, lanes = [], []
        for seq in chunk:
            t = tasks.get(seq)
            if t is None:
                continue
            lane = self._lane_of(seq, t, sec, held_seq, t_end)
            self._states.update([seg[2] for seg in lane.segments])
            if t.done_ns is None and not lane.open:
                self._again.add(seq)
            seqs.append(seq)
            lanes.append(lane)
        self._seqs[:0] = seqs
        self._lanes[:0] = lanes
        self._pos = {q: k for k, q in enumerate(self._seqs)}
        self._floor = chunk[0] if chunk else self._floor

    def _lane_of(self, seq: int, t, sec, held_seq: int, t_end: float) -> Lane:
        """Task ``seq``'s lane now: grown from its last one where only what follows its old
        steps changed, else built whole; open (:attr:`Lane.open`) when it ends waiting or
        ready up to now."""
        jobs = self._jobs_by_task.get(seq)
        made = (len(t.steps), len(t.ready), len(jobs) if jobs else 0, len(t.wait_t),
                t.name, t.coro, t.parent, t.done_ns)  # (name and coro make the label)
        live = self._live
        prev = live.pop(seq, None)
        lane = None
        if prev is not None and prev[0] == made and seq != held_seq and prev[1].open:
            lane = prev[1]  # nothing new: its open end reaches now by itself
        elif prev is not None and prev[0][2] == made[2] and prev[0][4:] == made[4:] \
                and made[0] >= prev[0][0]:
            # new steps, wake-ups or wait reasons (or it holds the loop now): only what
            # follows its old steps is built again (the waits before them are the same)
            lane = self._task_lane(seq, t, jobs, sec, prev[0][0] // 2, prev[1], prev[2])
        if lane is None:
            lane = self._task_lane(seq, t, jobs, sec)
        if t.done_ns is None:
            segs = lane.segments
            if not lane.open and seq != held_seq and segs and segs[-1].end == t_end \
                    and segs[-1].state in _OPEN_STATES:
                lane = _opened(lane)
            same = prev is not None and prev[0][0] == made[0] and prev[0][3] == made[3]
            live[seq] = (made, lane, prev[2] if same else _waits_before_steps_end(t))
        return lane

    def _task_lane(self, seq: int, t, jobs, sec, since_pair: int = 0, old: Lane | None = None,
                   waits: int = -1) -> Lane | None:
        """Task ``seq``'s lane. With ``old`` (its lane when it had ``since_pair`` steps and
        ``waits`` wait reasons before their end): only what follows those steps is computed,
        the segments before are kept (None when the new steps do not all come after the old
        ones, or a wait reason arrived for a moment before: build it whole)."""
        tl = self.tl
        keep: tuple = ()
        if old is not None:
            st = t.steps
            if since_pair <= 0:
                return None
            cut_ns = max(t.created_ns, max(st[1:2 * since_pair:2]))
            if len(st) > 2 * since_pair and min(st[2 * since_pair::2]) < cut_ns:
                return None
            if bisect.bisect_left(t.wait_t, cut_ns) != waits:
                return None
            cut = sec(cut_ns)
            keep = old.segments
            i = len(keep)
            while i and keep[i - 1].end > cut:
                i -= 1
            keep = keep[:i]
        segs = split_waiting_info(with_reasons(tl, seq, tl.task_segments(seq, since_pair)), jobs,
                                  tl.origin, tl.block_ns)
        lo = tl.trimmed_before
        if lo is not None and segs and segs[0][1] < lo:
            # a trim kept this task's figures from before the cut (Timeline._fold); its lane,
            # like the rest of the recording, is drawn from the cut on
            segs = [(st, max(s, lo), e, *rest) for st, s, e, *rest in segs if e > lo]
        new = tuple(Segment(sec(s), sec(e), st, seq, info, where, wait)
                    for st, s, e, info, where, wait in segs if e > s)
        return Lane(f"task-{seq}", t.label, "task", keep + new if keep else new, task=seq, parent=t.parent)

    def _blocks(self, sec) -> tuple:
        """The loop blocks in seconds; each block's dict is converted once (a long blocking
        run has many), only the ongoing one every time."""
        out = []
        conv = self._block_cache
        for b in self.tl.blocks():
            c = conv.get(id(b)) if not b.get("ongoing") else None
            if c is None or c[0] is not b:
                c = (b, {**b, "start_s": sec(b["start_ns"]), "end_s": sec(b["end_ns"])})
                if not b.get("ongoing"):
                    conv[id(b)] = c
            out.append(c[1])
        if len(conv) > 2 * len(out) + 64:  # the model let go of old blocks
            live = {id(b) for b in self.tl.blocks()}
            self._block_cache = {k: v for k, v in conv.items() if k in live}
        return tuple(out)

    def _loop_lane(self, sec) -> tuple[Segment, ...]:
        """The loop lane, extended with the steps that arrived since the last build."""
        tl = self.tl
        st = tl.steps
        new = st[3 * self._loop_steps:]
        if new:
            triples = list(zip(new[0::3], new[1::3], new[2::3]))
            first = min(t[0] for t in triples)
            if self._loop and first < sec_to_ns(self._loop[-1].end, tl.origin):
                # a step that starts inside what is drawn already (rare: nesting across
                # batches): rebuild the lane from every step
                triples = list(zip(st[0::3], st[1::3], st[2::3]))
                self._loop, self._states_n = [], 0
            for state, s, e, seq in flatten_steps(triples, tl.block_ns):
                info = tl.tasks[seq].label if seq in tl.tasks else ""
                if state == BLOCKED and s in tl.gil_starts:  # waiting for the GIL, not blocked
                    state, info = GIL, f"{info}: waiting for the GIL" if info else "waiting for the GIL"
                self._loop.append(Segment(sec(s), sec(e), state, seq, info))
            self._loop_steps = len(st) // 3
        held = tl.holding()
        if held:
            state = BLOCKED if tl.now_ns - held[1] >= tl.block_ns else RUNNING
            info = tl.tasks[held[0]].label if held[0] in tl.tasks else ""
            return (*self._loop, Segment(sec(held[1]), sec(tl.now_ns), state, held[0], info))
        return tuple(self._loop)

    def _add_jobs(self, sec, touched: set) -> None:
        jobs = self.tl.jobs
        if self._jobs_seen > len(jobs):  # the model dropped old jobs (max_items): index again
            self._jobs_seen, self._jobs_by_task, self._threads = 0, {}, ThreadLanes()
            self._all = True  # (their tasks' lanes were built with them)
        for j in jobs[self._jobs_seen:]:
            self._threads.add(j.thread, Segment(sec(j.start_ns), sec(j.end_ns), THREAD, j.task, j.label))
            if j.task:
                bisect.insort(self._jobs_by_task.setdefault(j.task, []), j, key=lambda x: x.submit_ns)
                touched.add(j.task)
        self._jobs_seen = len(jobs)


def _waits_before_steps_end(t) -> int:
    """How many of task ``t``'s wait reasons are for moments before the end of its steps so
    far (those of the segments :meth:`SnapshotBuilder._task_lane` keeps when it grows)."""
    st = t.steps
    end = max(t.created_ns, max(st[1::2])) if st else t.created_ns
    return bisect.bisect_left(t.wait_t, end)


_OPEN_STATES = WAIT_STATES | {STARVED}  # the states a live lane's open end can be in


def _opened(lane: Lane) -> Lane:
    """``lane`` (of an unfinished task, ending waiting or ready up to now) marked open."""
    out = _new_object(Lane)
    out.__dict__.update(lane.__dict__)
    out.__dict__["open"] = True
    return out


_new_object = object.__new__
_new_tuple = tuple.__new__


def sec_to_ns(t: float, origin: int) -> int:
    return int(round(t * 1e9)) + origin
