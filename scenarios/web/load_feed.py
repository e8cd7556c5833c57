"""The server feed of a load test: what the recorded server said, read incrementally.

A :class:`~coffeeshop_tui.scenarios.web.server.WebServer` started with ``record=True`` streams
its event loop's recording into a Timeline, a new one at each (re)start: an *epoch* here.
:class:`ServerFeed` reads each epoch incrementally (only what arrived since the last
:meth:`ServerFeed.poll`, holding the server's lock only while it reads) into bounded,
plain data:

* the loop lane's segments (``flatten_steps``, the scenario snapshots' rule for nested steps
  and blocks; then short steps merged, blocks labelled with the line that held the loop),
* worker-thread lanes (:class:`~coffeeshop_tui.scenarios.snapshot.ThreadLanes`, the scenario
  snapshots' own, named by its ``thread_lane_labels``),
* :class:`~.load_stats.ServerData` rows for the window statistics (blocks, jobs, gauges,
  busy buckets), and a tag index per epoch for :func:`~.load_match.match_handler`.

:meth:`ServerFeed.whole_run` gives the same rows from every epoch's whole recording (the
report). A long run's recording keeps only its newest part (the Timeline trims itself): the
rows are what it kept plus the run's first blocks (``Dropped.first``: its start-up), and
``WholeRun.trimmed`` sums what went (blocks per place, GIL waits, busy time, jobs): the
report's figures are the whole run's, its block list says which part it lists
(:func:`~.load_report.whole_run_stats`, :func:`~.load_report.server_section`). Only one
thread reads a feed at a time (the load test's reader lock).

This module does not import textual.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from coffeeshop_tui.scenarios.explain import culprit, short_where
from coffeeshop_tui.scenarios.snapshot import Lane, Segment, ThreadLanes
from coffeeshop_tui.scenarios.timeline import BLOCKED, GIL, RUNNING, THREAD, Job, Timeline, flatten_steps
from coffeeshop_tui.scenarios.timeline_figures import MAX_PLACES
from coffeeshop_tui.scenarios.web.load_match import (add_to_index, block_fields, index_tasks,
                                                     request_states, request_tasks, response_sent_ns)
from coffeeshop_tui.scenarios.web.load_stats import BUSY_BUCKET_NS, ServerData, add_busy

LOOP_GROUP = "server: its event loop"
THREAD_GROUP = "server: worker threads"
MAX_LANE_SEGMENTS = 3_000  # per thread lane, whatever the history (bounded memory)
MAX_LOOP_SEGMENTS = 30_000
MERGE_NS = 50_000  # loop steps closer than this are drawn as one segment


def func_at(tl: Timeline, where: str) -> str:
    """The function last sampled at source line ``where`` ('' if none)."""
    for smp in reversed(tl.samples):
        if smp[1] == where:
            return smp[2]
    return ""


def gil_fields(tl: Timeline, start_ns: int) -> dict:
    """A ServerData block's GIL fields: ``gil`` (the loop thread waited for the GIL), the
    loop's share of the time and who held it ([[job label, CPU s], ...], threads)."""
    b = tl.gil_starts.get(start_ns)
    if b is None:
        return {}
    holders, n_threads, share = tl.gil_holders([b])
    return {"gil": True, "loop_cpu_share": share, "gil_holders": holders, "gil_threads": n_threads}


def job_row(ep_index: int, j) -> tuple:
    """A thread-pool job as a ServerData row."""
    return (j.end_ns, j.pool, f"{ep_index}|{j.pool}|{j.thread}", max(0, j.start_ns - j.submit_ns), j.label)


@dataclass
class Trimmed:
    """What a whole-run :class:`WholeRun` does not list row by row: the blocks and jobs its
    server recordings let go of (a long run's trims; an epoch forgotten), summed.

    ``blocks`` / ``blocked_ns``: blocks that were not GIL waits, ``by_where``: the same per
    place (where -> [how many, ns, culprit]); ``gil_blocks`` / ``gil_ns``: GIL waits;
    ``from_ns`` .. ``to_ns``: when the first began and the last ended; ``listed_from_ns``: the
    rows list every block after this (the newest cut); ``busy``: the loop's busy time in
    the steps that went, in buckets (:meth:`busy_in`); ``jobs``: pool -> [how many, the
    longest wait for a thread (ns)], ``job_threads``: pool -> threads, ``job_labels``:
    function -> how many; ``pool_max_borrowed``: the most pool tokens borrowed at once among
    the gauges that went."""
    blocks: int = 0
    blocked_ns: int = 0
    by_where: dict = field(default_factory=dict)
    gil_blocks: int = 0
    gil_ns: int = 0
    from_ns: int = 0
    to_ns: int = 0
    listed_from_ns: int = 0
    busy: list = field(default_factory=list)  # [start_ns, width_ns, busy ns] buckets
    jobs: dict = field(default_factory=dict)
    job_threads: dict = field(default_factory=dict)
    job_labels: dict = field(default_factory=dict)
    pool_max_borrowed: int = 0

    def __bool__(self) -> bool:
        return bool(self.blocks or self.gil_blocks or self.busy or self.jobs)

    @property
    def busy_ns(self) -> int:
        return sum(ns for _s, _w, ns in self.busy)

    def busy_in(self, lo: int, hi: int) -> int:
        """The busy time that went, in [lo, hi] (edge buckets pro rata)."""
        tot = 0
        for s, w, ns in self.busy:
            a, b = max(lo, s), min(hi, s + w)
            if b > a:
                tot += ns * (b - a) // w
        return tot

    def _span(self, s: int, e: int) -> None:
        self.from_ns = min(self.from_ns or s, s)
        self.to_ns = max(self.to_ns, e)

    def add_place(self, where: str, n: int, ns: int, cul: str) -> None:
        if where not in self.by_where and len(self.by_where) >= MAX_PLACES:
            where = ""
        row = self.by_where.setdefault(where, [0, 0, cul])
        row[0] += n
        row[1] += ns
        self.blocks += n
        self.blocked_ns += ns

    def add_row(self, b: dict) -> None:
        """A block row (a forgotten epoch's)."""
        d = b["end_ns"] - b["start_ns"]
        self._span(b["start_ns"], b["end_ns"])
        if b.get("gil"):
            self.gil_blocks += 1
            self.gil_ns += d
        else:
            self.add_place(b["where"], 1, d, b.get("culprit", ""))

    def add_jobs(self, jobs: dict, threads: dict, labels: dict) -> None:
        for pool, (n, q) in jobs.items():
            row = self.jobs.setdefault(pool, [0, 0])
            row[0] += n
            row[1] = max(row[1], q)
        for pool, ts in threads.items():
            self.job_threads.setdefault(pool, set()).update(ts)
        for label, n in labels.items():
            self.job_labels[label] = self.job_labels.get(label, 0) + n

    def add_gone(self, tl: Timeline, ep_index: int) -> None:
        """What ``tl`` (epoch ``ep_index``)'s trims let go of (``Timeline.gone``), except its
        first blocks (listed)."""
        g = tl.gone
        for where, (n, ns, func) in g.by_where.items():
            self.add_place(where, n, ns, culprit(where, func) if where else "")
        first_gil = [b["end_ns"] - b["start_ns"] for b in g.first if b.get("gil")]
        self.gil_blocks += g.gil_blocks - len(first_gil)
        self.gil_ns += g.gil_ns - sum(first_gil)
        if g.folded_to:
            self._span(g.folded_from, g.folded_to)
        self.busy += [[k * g.busy_step, g.busy_step, ns] for k, ns in g.busy.items()]
        if tl.trimmed_before is not None:
            self.listed_from_ns = max(self.listed_from_ns, tl.trimmed_before)
        threads = {pool: {job_row(ep_index, Job(pool, th, 0, 0, 0, 0, ""))[2] for th in ts}
                   for pool, ts in g.job_threads.items()}  # (named as the rows name them)
        self.add_jobs(g.jobs, threads, g.job_labels)
        self.pool_max_borrowed = max(self.pool_max_borrowed, int(g.gauge_max.get("pool_borrowed", 0)))

    def merge(self, other: "Trimmed") -> None:
        for where, (n, ns, cul) in other.by_where.items():
            self.add_place(where, n, ns, cul)
        self.gil_blocks += other.gil_blocks
        self.gil_ns += other.gil_ns
        if other.to_ns:
            self._span(other.from_ns, other.to_ns)
        self.busy += other.busy
        self.listed_from_ns = max(self.listed_from_ns, other.listed_from_ns)
        self.add_jobs(other.jobs, other.job_threads, other.job_labels)
        self.pool_max_borrowed = max(self.pool_max_borrowed, other.pool_max_borrowed)


@dataclass
class WholeRun(ServerData):
    """:meth:`ServerFeed.whole_run`: ServerData rows of what the recordings kept (and the run's
    first blocks), ``trimmed``: the rest, summed (:class:`Trimmed`)."""
    trimmed: Trimmed = field(default_factory=Trimmed)

    def summed(self) -> Trimmed:
        """All of it as a :class:`Trimmed` (rows too): an epoch the feed forgets."""
        out = Trimmed()
        out.merge(self.trimmed)
        for b in self.blocks:
            out.add_row(b)
        jobs: dict = {}
        threads: dict = {}
        labels: dict = {}
        for _end, pool, thread, q, label in self.jobs:
            row = jobs.setdefault(pool, [0, 0])
            row[0] += 1
            row[1] = max(row[1], q)
            threads.setdefault(pool, set()).add(thread)
            labels[label] = labels.get(label, 0) + 1
        out.add_jobs(jobs, threads, labels)
        out.busy += [[b * BUSY_BUCKET_NS, BUSY_BUCKET_NS, d] for b, d in self.busy]
        out.pool_max_borrowed = max([out.pool_max_borrowed, *(g[1] for g in self.gauges)])
        out.listed_from_ns = max(out.listed_from_ns, out.to_ns,
                                 max((b["end_ns"] for b in self.blocks), default=0),
                                 max((j[0] for j in self.jobs), default=0))
        return out


def block_row(tl: Timeline, index: dict, b: dict) -> dict:
    """A Timeline block (``Timeline.blocks``, ``Dropped.first``) as a whole-run ServerData row."""
    where = b["where"]
    gil = gil_fields(tl, b["start_ns"])
    if not gil and b.get("gil"):  # a dropped first block: its own probe's figures
        gil = {"gil": True, "loop_cpu_share": b.get("loop_cpu_share", 0.0), "gil_holders": [],
               "gil_threads": b.get("gil_threads", 0)}
    return {"task": b["task"], "start_ns": b["start_ns"], "end_ns": b["end_ns"], "where": where,
            "culprit": culprit(where, func_at(tl, where)) if where else "",
            **block_fields(tl, index, b["task"], b["start_ns"], b["end_ns"]), **gil}


class Epoch:
    """What was read so far from one server Timeline (a new one at each server start)."""

    def __init__(self, tl: Timeline, index: int) -> None:
        self.tl = tl
        self.index = index
        self.steps = None
        self.step_pos = 0
        self.last_step_end = 0
        self.jobs = None
        self.job_n = 0
        self.last_job = None
        self.last_job_end = 0
        self.max_seq = 0
        self.untagged: dict[int, int] = {}  # handler tasks whose tag has not arrived yet
        self.by_tag: dict[str, list[tuple[int, int]]] = {}  # request id -> [(created_ns, seq)]
        self.jobs_by_task: dict[int, list] = {}
        self.gauge_t = 0


class ServerFeed:
    """Reads a recorded WebServer's Timelines incrementally (see the module docstring).

    Args:
        server: the WebServer (record=True).
        origin_ns: time 0 of every lane (the session moves it to the first request).
        history_ns: how much loop / thread / statistics data is kept.
        lanes: build lane segments at all (False: statistics only).
        max_thread_lanes: thread lanes shown at most (the others are counted).
    """

    def __init__(self, server, origin_ns: int, history_ns: int, lanes: bool = True,
                 max_thread_lanes: int = 64) -> None:
        self.server = server
        self.origin_ns = origin_ns
        self.history_ns = history_ns
        self.lanes = lanes
        self.max_thread_lanes = max_thread_lanes
        self.epochs: list[Epoch] = []
        self.loop: list[Segment] = []
        self.loop_last_end = 0
        self._loop_pending = 0  # steps merged into the last loop segment
        self.threads = ThreadLanes(max_thread_lanes)
        self.forgotten = Trimmed()  # the whole run of epochs no longer kept (whole_run)
        self.data = ServerData(blocks=deque(maxlen=20_000), jobs=deque(maxlen=200_000),
                               gauges=deque(maxlen=20_000), busy=deque(maxlen=100_000))

    def sec(self, ns: int) -> float:
        return (ns - self.origin_ns) / 1e9

    # ------------------------------------------------------------------ reading
    def poll(self) -> None:
        srv = self.server
        with srv.lock:
            tl = srv.timeline
            if tl is None:
                return
            cur = self.epochs[-1] if self.epochs else None
            if cur is None or cur.tl is not tl:
                if cur is not None:
                    self._scan(cur)  # what the old server said before it stopped
                    self.data.gauges.clear()  # its last pool / in-flight figures are not the new one's
                cur = Epoch(tl, (cur.index + 1) if cur else 0)
                self.epochs.append(cur)
                for old in self.epochs[:-3]:  # summed first: the whole run stays counted
                    self.forgotten.merge(self._epoch_run(old, WholeRun()).summed())
                del self.epochs[:-3]
                if self.lanes and tl.max_age_ns is None:  # live: the server's model stays bounded too
                    tl.max_age_ns = self.history_ns + 10_000_000_000
            self._scan(cur)

    def _scan(self, ep: Epoch) -> None:
        tl = ep.tl
        self._scan_tasks(ep, tl)
        self._scan_steps(ep, tl)
        self._scan_jobs(ep, tl)
        g = tl.gauges
        if g and g[-1][0] > ep.gauge_t:
            i = bisect.bisect_right(g, ep.gauge_t, key=lambda x: x[0])
            for t, vals in g[i:]:
                self.data.gauges.append((t, vals.get("pool_borrowed", 0), vals.get("pool_total", 0),
                                         vals.get("in_flight", 0)))
            ep.gauge_t = g[-1][0]

    def _scan_tasks(self, ep: Epoch, tl: Timeline) -> None:
        tasks = tl.tasks
        new = []
        for seq in reversed(tasks):
            if seq <= ep.max_seq:
                break
            new.append(seq)
        if new:
            ep.max_seq = new[0]
        for seq in reversed(new):
            t = tasks[seq]
            if t.tag:
                add_to_index(ep.by_tag, t.tag, t.created_ns, seq)
            elif t.coro.endswith("run_asgi"):
                ep.untagged[seq] = t.created_ns
        if ep.untagged:
            stale = tl.last_ns - 5_000_000_000
            for seq, created in list(ep.untagged.items()):
                t = tasks.get(seq)
                if t is None or created < stale:
                    del ep.untagged[seq]
                elif t.tag:
                    add_to_index(ep.by_tag, t.tag, t.created_ns, seq)
                    del ep.untagged[seq]

    def _scan_steps(self, ep: Epoch, tl: Timeline) -> None:
        st = tl.steps
        if st is not ep.steps:  # first look, or the timeline trimmed itself (a new array)
            pos = len(st) - len(st) % 3
            while pos >= 3 and st[pos - 2] > ep.last_step_end:
                pos -= 3
            ep.steps, ep.step_pos = st, pos
        n = len(st) - len(st) % 3
        if n <= ep.step_pos:
            return
        chunk = st[ep.step_pos:n]
        ep.step_pos = n
        block_ns = tl.block_ns
        triples = list(zip(chunk[0::3], chunk[1::3], chunk[2::3]))
        block_info: dict[int, str] = {}  # task seq -> what its (last) block in this chunk did
        for s, e, seq in triples:
            if e > ep.last_step_end:
                ep.last_step_end = e
            add_busy(self.data.busy, s, e)
            if e - s >= block_ns:
                where = tl.where_between(s, e)
                func = func_at(tl, where) if where else ""
                if not where and seq in tl.tasks:
                    where = tl.tasks[seq].where
                req = block_fields(tl, ep.by_tag, seq, s, e)
                rid = req["request_id"]
                cul = culprit(where, func) if where else "a long step"
                self.data.blocks.append({"task": seq, "start_ns": s, "end_ns": e, "where": where,
                                         "culprit": cul, **req, **gil_fields(tl, s)})
                info = f"{cul} at {short_where(where)}" if where else cul
                if s in tl.gil_starts:
                    info = f"waiting for the GIL (not {info})"
                if req["outlived"]:
                    info += f" (a task spawned by request {rid}, which had ended)"
                elif rid:
                    info += f" (request {rid}{', after the response' if req['after_response'] else ''})"
                block_info[seq] = info
        if self.lanes:
            # the scenario snapshots' loop-lane rule (nested steps, blocks), then merged for a live view
            for state, s, e, seq in flatten_steps(triples, block_ns):
                self._draw_step(tl, state, s, e, seq, block_info)

    def _draw_step(self, tl: Timeline, state: str, s: int, e: int, seq: int, block_info: dict) -> None:
        """One loop-lane segment: clipped to the origin and to what is drawn already; short
        steps close together are merged into one ("12 steps")."""
        segs, sec = self.loop, self.sec
        s = max(s, self.loop_last_end, self.origin_ns)
        if e <= s:
            return
        if state == BLOCKED:
            state = GIL if s in tl.gil_starts else BLOCKED
            segs.append(Segment(sec(s), sec(e), state, seq, block_info.get(seq, "a long step")))
            self._loop_pending = 1
        else:
            last = segs[-1] if segs else None
            if last is not None and last.state == state and s - self.loop_last_end <= MERGE_NS:
                self._loop_pending += 1
                segs[-1] = Segment(last.start, sec(e), state, last.task, f"{self._loop_pending} steps")
            else:
                t = tl.tasks.get(seq)
                info = "" if t is None else f"request {t.tag}" if t.tag else t.label
                segs.append(Segment(sec(s), sec(e), state, seq, info))
                self._loop_pending = 1
        self.loop_last_end = e

    def _scan_jobs(self, ep: Epoch, tl: Timeline) -> None:
        jobs = tl.jobs
        if jobs is ep.jobs and len(jobs) >= ep.job_n and (ep.job_n == 0 or jobs[ep.job_n - 1] is ep.last_job):
            new = jobs[ep.job_n:]
        elif ep.last_job is None:
            new = list(jobs)
        else:
            i = len(jobs) - 1
            while i >= 0 and jobs[i] is not ep.last_job:
                i -= 1
            new = jobs[i + 1:] if i >= 0 else [j for j in jobs if j.end_ns > ep.last_job_end]
        ep.jobs, ep.job_n = jobs, len(jobs)
        if jobs:
            ep.last_job = jobs[-1]
        sec = self.sec
        for j in new:
            ep.last_job_end = max(ep.last_job_end, j.end_ns)
            if j.task:
                ep.jobs_by_task.setdefault(j.task, []).append(j)
            self.data.jobs.append(job_row(ep.index, j))
            if not self.lanes or j.end_ns <= self.origin_ns:
                continue
            t = tl.tasks.get(j.task)
            who = f" for {t.tag}" if t is not None and t.tag else ""
            self.threads.add(j.thread, Segment(sec(max(j.start_ns, self.origin_ns)), sec(j.end_ns), THREAD,
                                               j.task, f"{j.label}{who}"))

    # ------------------------------------------------------------------ handlers
    def live_indexes(self) -> list[tuple[Epoch, dict]]:
        """(epoch, tag index) for match_handler, grown as tasks arrive."""
        return [(ep, ep.by_tag) for ep in self.epochs]

    def full_indexes(self) -> list[tuple[Epoch, dict]]:
        """(epoch, tag index) of every task still in each recording (the report)."""
        out = []
        for ep in self.epochs:
            with self.server.lock:
                out.append((ep, index_tasks(ep.tl.tasks)))
        return out

    def handler(self, ep: Epoch, seq: int) -> tuple[object, list] | None:
        """(the task, its (state, start_ns, end_ns) segments), or None if it is gone."""
        with self.server.lock:
            t = ep.tl.tasks.get(seq)
            if t is None:
                return None
            return t, request_states(ep.tl, self._request_seqs(ep, seq, t), ep.jobs_by_task)

    def _request_seqs(self, ep: Epoch, seq: int, t) -> list[int]:
        return (request_tasks(ep.by_tag, t.tag, t.created_ns, t.done_ns or 0) if t.tag else []) or [seq]

    def response_sent(self, ep: Epoch, seq: int) -> int:
        """When handler ``seq``'s response was sent (0: not known): its request's work after
        that (``BackgroundTasks``) is shown as after the response."""
        with self.server.lock:
            t = ep.tl.tasks.get(seq)
            return response_sent_ns(ep.tl, self._request_seqs(ep, seq, t)) if t is not None else 0

    # ------------------------------------------------------------------ lanes, statistics
    def held(self) -> tuple[int, int, str, int] | None:
        """(task, since_ns, where, now_ns) of a step holding the loop now, or None."""
        ep = self.epochs[-1] if self.epochs else None
        if ep is None:
            return None
        with self.server.lock:
            h = ep.tl.holding()
            return None if h is None else (h[0], h[1], h[2], ep.tl.now_ns)

    def loop_view(self):
        """What the newest server's loop held, as an immutable ``loop_moment.LoopView`` on the
        lanes' time axis (``origin_ns``) for ``loop_moment.loop_at``; None if its recording keeps
        none (``WebServer(loop_queue=False)``)."""
        ep = self.epochs[-1] if self.epochs else None
        if ep is None or ep.tl.loopq is None:
            return None
        with self.server.lock:
            return ep.tl.loopq.view(self.origin_ns) if ep.tl.loopq.recorded else None

    def lanes_now(self, threads: bool = True) -> tuple[list[Lane], list[Lane], tuple | None]:
        """([the loop lane], thread lanes (if ``threads``), holding (task, since_s, where))."""
        holding = None
        loop = list(self.loop)
        h = self.held()
        if h is not None:
            seq, since, where, now = h
            ep = self.epochs[-1]
            state = BLOCKED if now - since >= ep.tl.block_ns else RUNNING
            start = max(since, self.loop_last_end)
            if now > start:
                info = f"holding the loop at {short_where(where)}" if where else "holding the loop"
                loop.append(Segment(self.sec(start), self.sec(now), state, seq, info))
            holding = (seq, self.sec(since), where)
        loop_lane = Lane("loop", "event loop (server)", "loop", tuple(loop), 0, LOOP_GROUP)
        return [loop_lane], self.threads.lanes(THREAD_GROUP) if threads else [], holding

    def live_data(self) -> ServerData:
        """The bounded rows read so far, plus a block going on now."""
        d = self.data
        held = None
        h = self.held()
        ep = self.epochs[-1] if self.epochs else None
        if h is not None and h[3] - h[1] >= ep.tl.block_ns:
            with self.server.lock:
                func = func_at(ep.tl, h[2]) if h[2] else ""
                req = block_fields(ep.tl, ep.by_tag, h[0], h[1], h[3])
            kind = "after" if req["after_response"] else "outlived" if req["outlived"] else ""
            held = (h[1], h[3], h[2], culprit(h[2], func) if h[2] else "", kind, req["request_id"])
        return ServerData(list(d.blocks), list(d.jobs), list(d.gauges), list(d.busy), held)

    def whole_run(self) -> WholeRun:
        """The same rows from every epoch's whole recording: what each kept, its first blocks
        (a trim keeps them), and in ``trimmed`` the rest, summed (:class:`Trimmed`)."""
        out = WholeRun()
        out.trimmed.merge(self.forgotten)
        for ep in self.epochs:
            self._epoch_run(ep, out)
        out.blocks.sort(key=lambda b: b["start_ns"])
        return out

    def _epoch_run(self, ep: Epoch, out: WholeRun) -> WholeRun:
        """Add epoch ``ep``'s whole run to ``out``; returns ``out``. An epoch about to be
        forgotten (``out`` then is folded into ``forgotten``) is summed whole."""
        tl = ep.tl
        with self.server.lock:
            tasks = tl.tasks
            index = None
            if any(t.tag for t in tasks.values()):
                index = index_tasks(tasks)
            blocks = [*tl.gone.first, *(b for b in tl.blocks() if not b.get("ongoing"))]
            out.blocks += [block_row(tl, index or {}, b) for b in blocks]
            out.jobs += [job_row(ep.index, j) for j in tl.jobs]
            out.gauges += [(t, g.get("pool_borrowed", 0), g.get("pool_total", 0), g.get("in_flight", 0))
                           for t, g in tl.gauges]
            out.trimmed.add_gone(tl, ep.index)
            st = tl.steps
            spans = sorted(zip(st[0::3], st[1::3]), key=lambda x: x[1])
        for s, e in spans:
            add_busy(out.busy, s, e)
        return out

    # ------------------------------------------------------------------ memory
    def prune(self, now: int) -> None:
        horizon = now - self.history_ns - 5_000_000_000
        for ep in self.epochs:
            for tag in [t for t, v in ep.by_tag.items() if v[-1][0] < horizon]:
                del ep.by_tag[tag]
            for seq in [s for s, js in ep.jobs_by_task.items() if js[-1].end_ns < horizon]:
                del ep.jobs_by_task[seq]
        cut = self.sec(now - self.history_ns)
        cut_late = self.sec(now - self.history_ns - self.history_ns // 4)
        if self.loop and self.loop[0].end < cut_late:
            del self.loop[: bisect.bisect_left(self.loop, cut, key=lambda s: s.end)]
        if len(self.loop) > MAX_LOOP_SEGMENTS:
            del self.loop[: len(self.loop) - MAX_LOOP_SEGMENTS * 3 // 4]
        for lane in self.threads.segments.values():
            trim_lane(lane, cut, cut_late)
        h = now - self.history_ns
        d = self.data
        for dq, key in ((d.blocks, lambda b: b["end_ns"]), (d.jobs, lambda j: j[0]),
                        (d.gauges, lambda g: g[0]), (d.busy, lambda b: b[0] * BUSY_BUCKET_NS)):
            while dq and key(dq[0]) < h:
                dq.popleft()


def trim_lane(lane: list, cut: float, cut_late: float) -> None:
    """Drop a lane's segments that ended before ``cut`` (once some are older than
    ``cut_late``, so trimming happens in chunks); keep at most MAX_LANE_SEGMENTS."""
    if lane and lane[0].end < cut_late:
        del lane[: bisect.bisect_left(lane, cut, key=lambda s: s.end)]
    if len(lane) > MAX_LANE_SEGMENTS:  # a busy lane: keep its newest part
        del lane[: len(lane) - MAX_LANE_SEGMENTS * 3 // 4]
