"""A live load test: a recorded server, a load generator, and one time axis for both.

    lt = LoadTest("/sync", concurrency=41, delay=1.0, requests=41).start()
    lt.wait()                         # bounded runs; live ones run until stop()
    lt.stop(graceful=True)            # graceful: the server flushes its recording
    print(lt.report()["caption"])     # "`/sync` is not blocking the loop: ... 2 waves"

``LoadTest`` is the session (:class:`~.load_session.LoadSession`: lifecycle, knobs) plus
reading what was measured. The session starts the demo app (or the user's ``--app module:attr``) in a
uvicorn child process whose event loop is recorded (:class:`~.server.WebServer` with
``record=True``) and a :class:`~.loadgen.LoadGenerator` in a thread (or, with
``loadgen_process=True``, the live screen's choice, in a child process that streams every
request: :class:`~.loadgen_proc.ProcessLoadGenerator`). Client and server stamp
events with ``time.monotonic_ns()`` (CLOCK_MONOTONIC, shared by every process on the machine),
so a request's client lane and its server handler lane share one axis. The jobs live in
small modules:

* :mod:`.load_session` -- lifecycle (start / stop / restart / kill), knobs, pause / resume;
* :mod:`.load_settings` -- every knob's limits (one :class:`~.load_settings.Knob` each) and
  the demo app's endpoint table;
* :mod:`.load_feed` -- the server's recording, read incrementally per restart (epochs);
* :mod:`.load_match` -- which handler task served which request (live and in the report);
* :mod:`.load_lanes` -- the client / handler lanes, from :class:`~.load_lanes.ViewOptions`;
* :mod:`.load_stats` -- the window statistics (live window and whole-run report alike);
* :mod:`.load_report` -- the report's per-request and server parts.

Live knobs (any thread; each takes a short lock, never one held for a whole update):
:meth:`set_concurrency`, :meth:`set_rate`, :meth:`set_delay`, :meth:`set_endpoint`,
:meth:`set_model` (a new generator), :meth:`set_pool_size` (the server's anyio thread
limiter, live), :meth:`set_max_in_flight` (503 limit), :meth:`pause` / :meth:`resume`.

Failures never raise out of :meth:`update`: a server that dies mid-test is reported
(``status == "server down"``, :attr:`error`) and :meth:`restart` brings it back on the same
port while the generator keeps going. :meth:`start` raises ServerError (port in use, app
failed to import, not an ASGI app...) with a clear message and leaves nothing running.
:meth:`stop` stops everything and is idempotent.

:meth:`update` (one reader thread at a time, e.g. a UI producer at <= 20 Hz) returns an
immutable :class:`LoadUpdate`. It copies the session's state under the short lock and builds
the rest outside it. Memory is bounded (``max_lanes`` request lanes, ``history_s`` seconds of
loop and thread segments). This module does not import textual.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass, field, replace

from coffeeshop_tui.scenarios.recorder_hooks import recorder_impl
from coffeeshop_tui.scenarios.snapshot import Snapshot
from coffeeshop_tui.scenarios.web.explain_load import LoadStats
from coffeeshop_tui.scenarios.web.explain_load import caption as make_caption
from coffeeshop_tui.scenarios.web.load_lanes import LaneBuilder, ViewOptions
from coffeeshop_tui.scenarios.web.load_report import request_items, server_section, whole_run_stats
from coffeeshop_tui.scenarios.web.load_session import (  # noqa: F401 (re-exported)
    DOWN,
    FAILED,
    FINISHED,
    PAUSED,
    RESTARTING,
    RUNNING_,
    STARTING,
    STOPPED,
    LoadSession,
    asgi_call_error,
    now_ns,
)
from coffeeshop_tui.scenarios.web.load_settings import (  # noqa: F401 (re-exported)
    DEMO_ENDPOINTS,
    LANE_MODES,
    MAX_DELAY_S,
    MAX_POOL,
    NO_DELAY_ENDPOINTS,
    LoadTestError,
    endpoint_path,
    endpoint_url,
)
from coffeeshop_tui.scenarios.web.loadgen_records import CANCELLED
from coffeeshop_tui.scenarios.web.load_export import histogram_rows
from coffeeshop_tui.scenarios.web.load_stats import (
    ServerData,
    hdr_log_buckets,
    outside_window,
    server_window,
    window_stats,
    without_requests,
)
from coffeeshop_tui.scenarios.web.server import ServerError  # noqa: F401 (re-exported)

STATS_INTERVAL_NS = 250_000_000  # statistics and caption: at most 4 times a second
PRUNE_EVERY_NS = 2_000_000_000


@dataclass(frozen=True)
class LoadUpdate:
    """One immutable view of a load test, ready to draw."""

    version: int
    status: str
    snapshot: Snapshot
    stats: LoadStats
    caption: str
    error: str | None = None
    knobs: dict = field(default_factory=dict)
    notes: tuple = ()  # (t_s, text): what changed while it ran (knobs, crash, restart)


class LoadTest(LoadSession):
    """A server under the recorder + a load generator, live: the session (lifecycle, knobs:
    :class:`~.load_session.LoadSession`, whose arguments it takes) plus reading what was
    measured (:meth:`poll`, :meth:`update`, :meth:`report`; one reader thread at a time)."""

    def __init__(self, endpoint: str = "/sync", **kwargs) -> None:
        super().__init__(endpoint, **kwargs)
        # the reader's own data (only the reader thread touches it)
        self._cursors: dict[int, int] = {}
        self._finished_snaps: list = []  # final snapshots of generators no longer kept
        self._rows: list[tuple[int, int, int, int, int]] = []  # (done, intended, sent, kind, user)
        self._rows_cap = 300_000
        self._first_intended = 0
        self._lane_builder = LaneBuilder(self.max_lanes, self.history_ns)
        self._stats_at = 0
        self._stats_status = ""
        self._stats_fresh = 0
        self._last_stats: tuple[LoadStats, str] | None = None
        self._last_prune = 0
        # per generator: (rid, intended_ns) of the newest request it sent to a target that is
        # no longer its current one: that one and every earlier request belong to an endpoint
        # (or delay) switched away from (rids and intended times grow in issue order)
        self._earlier: dict[int, tuple[int, int]] = {}

    def _saw(self, gen: int, rid: int, intended: int, url: str, current: str) -> None:
        """A request of generator ``gen`` to ``url``: remember it if not to the current target."""
        if url != current:
            last = self._earlier.get(gen)
            if last is None or rid > last[0]:
                self._earlier[gen] = (rid, intended)

    def _poll_client(self, view: ViewOptions) -> None:
        """New finished requests of every generator (reader thread only)."""
        users = self.lanes and view.lane_mode == "users"
        recorded = self.server is not None
        for gen, lg in self._generators():
            batch = lg.records_since(self._cursors.get(gen, 0))
            self._cursors[gen] = batch.cursor
            targets = lg.targets
            current = lg.url
            for r in batch.records:
                url = targets[r.target] if r.target < len(targets) else ""
                self._saw(gen, r.rid, r.intended_ns, url, current)
                if self.lanes:
                    path = endpoint_path(url)
                    self._lane_builder.finished(gen, r, path, users, recorded, self._sec)
                self._rows.append((r.done_ns, r.intended_ns, r.sent_ns, r.kind, r.user))
                if not self._first_intended or r.intended_ns < self._first_intended:
                    self._first_intended = r.intended_ns
        with self._lock:
            while len(self._gens) > 4 and self._gens[0][2].done():  # bounded: forget old generators
                self._finished_snaps.append(self._gens.pop(0)[1].snapshot())
            fut = self._lg_future
            if fut is not None and fut.done() and self._load == "running":
                self._load = "finished"
        rows = self._rows
        if len(rows) > self._rows_cap:
            del rows[: len(rows) // 2]
        horizon = now_ns() - self.history_ns
        if rows and rows[0][0] < horizon - self.history_ns // 4:
            del rows[: bisect.bisect_left(rows, (horizon,))]

    def poll(self) -> None:
        """Read what the generators and the server said since the last poll."""
        with self._reader:
            self._poll_client(self.view)
            if self.feed is not None:
                self.feed.poll()

    # ------------------------------------------------------------------ statistics
    def _stats(self, rows: list, inflight: list, w0: int, now: int, data: ServerData | None,
               in_flight: int, state: str, running: bool, live: bool = False, fresh: int = 0,
               earlier_rid: int = 0, earlier_in_flight: int = 0) -> LoadStats:
        """The one statistics path of the live window and the report. ``fresh``: requests
        intended before it are an earlier endpoint's (a switch starts a fresh window);
        ``earlier_rid``: so are the newest generator's requests up to this id, and their
        handlers' blocks on the server (``earlier_in_flight`` of them are still out)."""
        delay = self._delay_for(self.endpoint, self.delay)
        if earlier_rid and data is not None:
            data = without_requests(data, earlier_rid)
        if state != "up" and data is not None and data.held is not None:
            data = replace(data, held=None)  # a dead (or restarting) server's loop holds nothing now
        server = server_window(data, w0, now, delay, fresh)
        if state != "up":  # the last gauges of a dead server are not "now"
            server.pop("server_in_flight", None)
            server.pop("pool_borrowed", None)
        server["pool_total"] = server.get("pool_total") or self.pool_total
        done = ok = issued = dropped = 0
        errors: Counter = Counter()
        with self._lock:
            gens = list(self._gens)
            finished = list(self._finished_snaps)
        for sn in [lg.snapshot() for _g, lg, _f in gens] + finished:
            done += sn.done
            ok += sn.ok
            issued += sn.issued
            dropped += sn.dropped_arrivals
            errors.update({k: v for k, v in sn.errors.items() if v})
        unfinished = errors.pop("cancelled", 0)
        has_url = self.external or (self.server is not None and self.server.port)
        return window_stats(
            rows, inflight, w0, now, server, delay_s=delay, model=self.model, fresh_ns=fresh,
            endpoint=self.endpoint, url=self.target_url if has_url else "",
            concurrency=self.concurrency, rate=self.rate, elapsed_s=(now - self.origin_ns) / 1e9,
            running=running, live=live, issued=issued, done=done, ok=ok, error_total=done - ok - unfinished,
            errors=dict(errors), unfinished=unfinished, dropped=dropped, in_flight=in_flight,
            earlier_in_flight=earlier_in_flight, recorded=self.server is not None,
            server_state=self._server_state_name(state), server_pid=self.server_pid,
            executor_workers=self.executor_workers, timeout_s=self.timeout,
            max_in_flight=self.max_in_flight,
        )

    def _server_state_name(self, state: str) -> str:
        if self._stopped:
            return "stopped"
        return {"new": "starting"}.get(state, state)

    # ------------------------------------------------------------------ the update
    def update(self, view: ViewOptions | None = None) -> LoadUpdate:
        """Everything measured so far, as one immutable view (one reader thread at a time).
        ``view``: what the lanes show (default: the constructor's)."""
        view = view or self.view
        self.check_server()
        with self._reader:
            self._poll_client(view)
            feed = self.feed
            if feed is not None:
                feed.poll()
            with self._lock:  # a short copy of the session's state
                status, state, running = self._status(), self._state, self._load == "running"
                knobs = self.knobs()
                notes, error, model = list(self._notes), self.error, self.model
            gens = self._generators()
            now = now_ns()
            inflight = []
            for gen, lg in gens:
                targets, current = lg.targets, lg.url
                for r in lg.in_flight_requests():
                    inflight.append((r.intended_ns, r.sent_ns, r.user))
                    if 0 <= r.target < len(targets):
                        self._saw(gen, r.rid, r.intended_ns, targets[r.target], current)
            with self._lock:  # a switch (endpoint, model, delay) or a restart starts a fresh window
                fresh = self._fresh_ns
            earlier_rid = 0
            if gens and gens[-1][0] in self._earlier:  # the newest generator's requests to an earlier target
                earlier_rid, intended = self._earlier[gens[-1][0]]
                fresh = max(fresh, intended + 1)
            in_flight = sum(1 for f in inflight if f[0] >= fresh)
            w = self.window_ns
            rows = self._rows
            tail = [r for r in rows[-200:] if r[1] >= fresh]  # (not the latency of an earlier endpoint / server)
            if tail:  # widen the window to 3 x the typical latency, so Little's law has room
                w = max(w, 3 * sum(d - i for d, i, _s, _k, _u in tail) // len(tail))
            w = min(w, self.history_ns)
            w0 = max(now - w, min(self._first_intended or self.origin_ns, now - 1))
            w0 = max(w0, min(fresh, now - 1))
            last = self._last_stats
            # (a switch is not kept waiting: the numbers and caption of the old endpoint go at once)
            if (last is None or now - self._stats_at >= STATS_INTERVAL_NS or status != self._stats_status
                    or fresh != self._stats_fresh):
                i0 = bisect.bisect_left(rows, (w0,))
                data = feed.live_data() if feed is not None else None
                stats = self._stats(rows[i0:], inflight, w0, now, data, in_flight, state, running,
                                    live=True, fresh=fresh, earlier_rid=earlier_rid,
                                    earlier_in_flight=len(inflight) - in_flight)
                last = self._last_stats = (stats, make_caption(stats))
                self._stats_at = now
                self._stats_status = status
                self._stats_fresh = fresh
            stats, cap = last
            lanes: tuple = ()
            holding = None
            if self.lanes:
                loop, threads = [], []
                if feed is not None:
                    loop, threads, holding = feed.lanes_now(view.threads)
                clients = self._lane_builder.build(now, gens, feed, view, model, self._sec)
                lanes = tuple(loop + clients + threads)
                if feed is not None and now - self._last_prune > PRUNE_EVERY_NS:
                    self._last_prune = now
                    feed.prune(now)
            self._version += 1
            blocks = ()
            if feed is not None:
                blocks = tuple({**b, "start_s": self._sec(b["start_ns"]), "end_s": self._sec(b["end_ns"])}
                               for b in list(feed.data.blocks)[-200:])
            snap = Snapshot(
                version=self._version,
                live=status not in (FINISHED, STOPPED, FAILED),
                t_end=max(0.0, self._sec(now)),
                lanes=lanes,
                blocks=blocks,
                holding=holding,
                extra={"kind": "load", "threads_hidden": feed.threads.hidden if feed else 0,
                       "lane_mode": view.lane_mode, "requests_not_shown": self._lane_builder.slots_hidden},
                loop=feed.loop_view() if feed is not None and self.loop_queue else None,  # the `w` panel
            )
            return LoadUpdate(self._version, status, snap, stats, cap, error, knobs,
                              tuple((self._sec(t), text) for t, text in notes))

    # ------------------------------------------------------------------ the report
    @staticmethod
    def _hdr(gens):
        """The generators' cumulative HDR latency histograms, merged (None without any)."""
        merged = None
        for _g, lg, _f in gens:
            h = lg.latency_histogram()
            if merged is None:
                merged = h
            else:
                merged.add(h)
        return merged

    def report(self) -> dict:
        """The whole run, for `coffeeshop-tui load` (--json): call after wait() / stop()."""
        with self._reader:
            self._poll_client(self.view)
            feed = self.feed
            if feed is not None:
                feed.poll()
            with self._lock:
                gens = list(self._gens)
                status, state, notes = self._status(), self._state, list(self._notes)
                running = self._load == "running"
            records = []
            for gen, lg, _f in gens:
                records += [(gen, r, lg.targets) for r in lg.records_since(0).records]
            rows = [(r.done_ns, r.intended_ns, r.sent_ns, r.kind, r.user) for _g, r, _t in records]
            if rows:  # the window: from the first request sent to the last answer
                w0 = min((r[2] or r[1]) for r in rows)
                answered = [r[0] for r in rows if r[3] != CANCELLED]
                end = max(w0 + 1, max(answered) if answered else w0 + 1)
            else:
                w0, end = self.origin_ns, self.origin_ns + 1
            data = feed.whole_run() if feed is not None else None
            in_flight = sum(lg.snapshot().in_flight for _g, lg, _f in gens)
            # the report covers the whole run, whatever was switched (fresh=0)
            stats = self._stats(rows, [], w0, end, data, in_flight, state, running)
            stats = whole_run_stats(stats, data, w0, end)  # with what a long run's recording let go of
            outside = outside_window(data, w0, end)
            if outside:
                pre, post = outside["before_first_request"], outside["after_last_answer"]
                stats = replace(stats, pre_blocked_s=pre["blocked_s"], pre_block_culprit=pre["culprit"],
                                post_blocked_s=post["blocked_s"], post_block_culprit=post["culprit"],
                                post_outlived_s=post.get("outlived_s", 0.0),
                                post_requests=post.get("requests", 0), post_block_where=post["where"])
            sec = self._sec
            if data is None:
                server = {"recorded": False, "error": self.error}
            else:
                server = server_section(
                    data, w0, end, stats, sec, pid=self.server_pid, port=self.server.port,
                    restarts=max(0, len(feed.epochs) - 1), crashed=state == "down", error=self.error,
                    pool_total=self.pool_total, executor_workers=self.executor_workers)
                server.update(outside)
                server["recorder"] = recorder_impl()  # the hot path the server child records with
            return {
                "endpoint": self.endpoint,
                "url": stats.url,
                "app": None if self.external else self.app,
                "model": self.model,
                "status": status,
                "client": self.client,
                "caption": make_caption(stats),
                "stats": stats.to_dict(),
                "percentiles_ms": {  # of successes; None when there was none
                    k: None if v is None else round(v * 1e3, 3)
                    for k, v in (("p50", stats.p50_s), ("p95", stats.p95_s), ("p99", stats.p99_s),
                                 ("max", stats.max_s))
                },
                # the whole run's successes from the generators' HDR histograms (log buckets)
                "latency_histogram": histogram_rows(hdr_log_buckets(self._hdr(gens))),
                "errors": dict(stats.errors),
                "counts": {"issued": stats.issued, "ok": stats.ok, "failed": stats.error_total,
                           "unfinished": stats.unfinished, "dropped": stats.dropped,
                           "in_flight": stats.in_flight},
                "dropped_arrivals": stats.dropped,
                "server": server,
                "notes": [{"t_s": round(sec(t), 6), "note": text} for t, text in notes],
                "requests": request_items(records, feed, sec),
            }


def run_load(endpoint: str, **kwargs) -> dict:
    """Blocking convenience: a bounded load test, its report (needs requests= or duration=)."""
    if kwargs.get("requests") is None and kwargs.get("duration") is None:
        raise LoadTestError("run_load needs requests= or duration=")
    kwargs.setdefault("defer_server", True)  # the report is made at the end
    lt = LoadTest(endpoint, lanes=False, **kwargs)
    try:
        lt.start()
        lt.wait()
    finally:
        lt.stop(graceful=True)
    return lt.report()


def dumps(report: dict) -> str:
    return json.dumps(report, indent=1)
