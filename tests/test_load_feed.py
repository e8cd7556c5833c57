"""The server feed (load_feed.ServerFeed) and the lanes built on it (load_lanes), on hand-made recordings:
no server, no child process.

A recorded WebServer exposes ``lock`` and ``timeline`` (a Timeline fed with the child's
batches); these tests feed Timelines batches like the recorder's and read them back.
"""

from __future__ import annotations

import threading

import pytest

from coffeeshop_tui.scenarios.snapshot import ThreadLanes
from coffeeshop_tui.scenarios.timeline import Timeline, thread_lane_labels
from coffeeshop_tui.scenarios.web.load_match import match_handler
from coffeeshop_tui.scenarios.web.load_feed import ServerFeed
from coffeeshop_tui.scenarios.web.load_stats import server_window

MS = 1_000_000
S = 1_000_000_000
T0 = 500 * S
ANYIO = "AnyIO worker thread"


class FakeServer:
    """What ServerFeed reads of a WebServer: its lock and its current Timeline."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.timeline = None

    def new_recording(self) -> Timeline:  # what WebServer does at each (re)start
        self.timeline = Timeline(block_ms=25)
        self.timeline.start(T0)
        return self.timeline


def handler_batch(seq: int, rid: str, t: int, thread: str, startup_block: bool = False) -> dict:
    """One request's handler task: created at t, a job in a worker thread, done at t + 120 ms."""
    steps = [t + 1 * MS, t + 2 * MS, seq, t + 110 * MS, t + 111 * MS, seq]
    if startup_block:
        steps = [T0 + 1 * MS, T0 + 101 * MS, 0] + steps  # a 100 ms callback: a block
    return {
        "tasks": [(seq, t, None, "RequestResponseCycle.run_asgi", "h11_impl.py:1", 0, False)],
        "tags": [(seq, rid)],
        "steps": steps,
        "jobs": [("anyio", f"{thread}|{seq}", t + 2 * MS, t + 3 * MS, t + 108 * MS, seq, "_run_sync_endpoint")],
        "done": [(seq, t + 120 * MS, "ok")],
        "gauges": [(t + 50 * MS, {"pool_borrowed": 1, "pool_total": 40, "in_flight": 1})],
        "t": t + 150 * MS,
    }


def test_feed_reads_incrementally_and_names_threads_like_the_scenarios():
    srv = FakeServer()
    tl = srv.new_recording()
    feed = ServerFeed(srv, origin_ns=T0 + S, history_ns=60 * S)
    tl.ingest(handler_batch(1, "r000001", T0 + S, ANYIO, startup_block=True))
    feed.poll()
    tl.ingest(handler_batch(2, "r000002", T0 + S + 200 * MS, ANYIO))
    feed.poll()
    feed.poll()  # nothing new: nothing read twice
    loop, threads, holding = feed.lanes_now()
    assert holding is None
    assert [ln.label for ln in threads] == [f"{ANYIO} 1", f"{ANYIO} 2"]  # thread_lane_labels' rule
    assert [len(ln.segments) for ln in threads] == [1, 1]
    assert all(seg.info.startswith("_run_sync_endpoint for r00000") for ln in threads for seg in ln.segments)
    assert loop[0].segments and all(seg.start >= 0 for seg in loop[0].segments)  # nothing before origin
    # the start-up block is in the data, but not in a window that starts at the first request
    assert len(feed.data.blocks) == 1
    w = server_window(feed.live_data(), T0 + S, T0 + 2 * S, 0.1)
    assert w["w_blocks"] == 0 and w["w_jobs"] == {"anyio": 2}
    # the handlers are found by request id, within the request's time
    m = match_handler(feed.live_indexes(), "r000002", T0 + S + 200 * MS, T0 + S + 330 * MS)
    assert m is not None and m[1] == 2
    task, states = feed.handler(*m)
    assert task.tag == "r000002" and {"thread", "running"} <= {x[0] for x in states}


def test_a_restart_is_a_new_epoch_and_old_handlers_stay_matchable():
    srv = FakeServer()
    feed = ServerFeed(srv, origin_ns=T0, history_ns=60 * S)
    srv.new_recording().ingest(handler_batch(1, "r000001", T0 + S, ANYIO))
    feed.poll()
    srv.new_recording().ingest(handler_batch(1, "r000001", T0 + 5 * S, ANYIO))  # ids restart too
    feed.poll()
    assert [ep.index for ep in feed.epochs] == [0, 1]
    first = match_handler(feed.live_indexes(), "r000001", T0 + S, T0 + S + 130 * MS)
    second = match_handler(feed.live_indexes(), "r000001", T0 + 5 * S, T0 + 5 * S + 130 * MS)
    assert first[0].index == 0 and second[0].index == 1
    whole = feed.whole_run()
    assert len(whole.jobs) == 2 and len({j[2] for j in whole.jobs}) == 2  # threads per epoch


def test_thread_lane_labels_and_stable_numbering_when_old_segments_are_trimmed():
    assert thread_lane_labels([f"{ANYIO}|1", "asyncio_0|2", f"{ANYIO}|3", "process|77"]) == [
        f"{ANYIO} 1", "asyncio_0", f"{ANYIO} 2", "process 77"]
    from coffeeshop_tui.scenarios.snapshot import Segment

    lanes = ThreadLanes(max_lanes=2)
    lanes.add(f"{ANYIO}|1", Segment(0.0, 1.0, "thread"))
    lanes.add(f"{ANYIO}|2", Segment(0.5, 2.0, "thread"))
    lanes.add(f"{ANYIO}|3", Segment(0.7, 2.0, "thread"))  # beyond max_lanes
    assert lanes.hidden == 1
    del lanes.segments[f"{ANYIO}|1"][:]  # trimmed away: its lane goes, the others keep their names
    assert [ln.label for ln in lanes.lanes()] == [f"{ANYIO} 2"]


def test_loop_lane_merges_short_steps_and_labels_blocks_with_their_request():
    srv = FakeServer()
    tl = srv.new_recording()
    feed = ServerFeed(srv, origin_ns=T0, history_ns=60 * S)
    t = T0 + S
    batch = handler_batch(3, "r000003", t, ANYIO)
    batch["steps"] = [t + 1 * MS, t + 1 * MS + 10_000, 3,  # two short steps 10 us apart: one segment
                      t + 1 * MS + 20_000, t + 1 * MS + 30_000, 3,
                      t + 10 * MS, t + 60 * MS, 3]  # 50 ms: a block
    tl.ingest(batch)
    feed.poll()
    segs = feed.lanes_now()[0][0].segments
    assert [s.state for s in segs] == ["running", "blocked"]
    assert segs[0].info == "2 steps"
    assert segs[1].info.endswith("(request r000003)") and abs(segs[1].end - segs[1].start - 0.05) < 1e-9
    assert feed.data.blocks[-1]["request_id"] == "r000003"


# ----------------------------------------------------------------------------- lanes
class FakeGenerator:
    """What LaneBuilder reads of a LoadGenerator: its URL(s) and the requests in flight."""

    url = "http://127.0.0.1:1/sync?delay=0.1"
    targets = (url,)

    def __init__(self, in_flight=()) -> None:
        self._in_flight = tuple(in_flight)

    def in_flight_requests(self):
        return self._in_flight


def test_lanes_follow_the_view_options_passed_in():
    from coffeeshop_tui.scenarios.web.load_lanes import LaneBuilder, ViewOptions
    from coffeeshop_tui.scenarios.web.loadgen_records import OK, InFlight, RequestRecord

    srv = FakeServer()
    tl = srv.new_recording()
    feed = ServerFeed(srv, origin_ns=T0, history_ns=60 * S)
    t = T0 + S
    tl.ingest(handler_batch(1, "r000001", t + 1 * MS, ANYIO))
    tl.ingest(handler_batch(2, "r000002", t + 2 * MS, ANYIO))
    feed.poll()
    sec = feed.sec
    lb = LaneBuilder(max_lanes=10, history_ns=60 * S)
    for rid, user in ((1, 0), (2, 1)):  # two users, one finished request each
        r = RequestRecord(rid - 1, rid, user, t, t + rid * MS, t + 121 * MS, t + 125 * MS, 200, OK, True, 0)
        lb.finished(1, r, "/sync", users=True, recorded=True, sec=sec)
    gens = [(1, FakeGenerator([InFlight(3, 0, t + 200 * MS, t + 201 * MS)]))]
    now = t + 300 * MS

    users = lb.build(now, gens, feed, ViewOptions(lane_mode="users"), "closed", sec)
    assert [ln.label.strip() for ln in users] == ["user 1", "└ server", "user 2", "└ server"]
    server_1 = users[1].segments
    assert server_1 and all(seg.info == "r000001" for seg in server_1)  # matched by id
    assert any(seg.state == "thread" for seg in server_1)  # waited for its job in a thread
    assert [s.state for s in users[0].segments][-1] == "waiting"  # user 1's request 3, in flight

    no_handlers = lb.build(now, gens, feed, ViewOptions(handlers=False, lane_mode="users"), "closed", sec)
    assert [ln.kind for ln in no_handlers] == ["client", "client"]

    requests = lb.build(now, gens, feed, ViewOptions(lane_mode="requests"), "closed", sec)
    assert [ln.key for ln in requests if ln.kind == "client"] == ["client-1.3", "client-1.2", "client-1.1"]
    assert [ln.task for ln in requests if ln.kind == "task"] == [0, 2, 1]  # request 3: no handler yet


# ----------------------------------------------------------------------------- a long run's report
def _long_run(feeds, n: int) -> None:
    """``n`` requests, one every 200 ms, read by ``feeds`` (one server recording each, fed the same
    batches): every third blocks the loop 40 ms in ``app.py:7`` (``time.sleep``), every seventh
    30 ms in ``app.py:9`` (CPU work in ``grind``); the server's start-up blocked it 100 ms."""
    for i in range(1, n + 1):
        t = T0 + S + i * 200 * MS
        batch = handler_batch(i, f"r{i:06d}", t, ANYIO, startup_block=i == 1)
        batch["jobs"] = [(p, f"{ANYIO}|{i % 8}", *rest) for p, _th, *rest in batch["jobs"]]  # 8 threads
        for every, d, where, func in ((3, 40, "app.py:7", "handler"), (7, 30, "app.py:9", "grind")):
            if i % every == 0:
                s = t + 5 * MS if every == 3 else t + 60 * MS
                batch["steps"] += [s, s + d * MS, i]
                batch.setdefault("samples", []).append((s + MS, where, func, i))
        batch["steps"] = [x for k in sorted(range(0, len(batch["steps"]), 3), key=lambda k: batch["steps"][k])
                          for x in batch["steps"][k:k + 3]]
        batch.setdefault("samples", []).sort()
        for srv, feed in feeds:
            srv.timeline.ingest(batch)
            if i % 5 == 0:
                feed.poll()
    for _srv, feed in feeds:
        feed.poll()


def test_a_long_runs_report_keeps_the_whole_runs_figures_while_its_recording_trims():
    """A server recording that keeps only its newest steps (a long load test's) gives the
    report the same whole-run figures as one that keeps everything: blocks, the line that
    held the loop longest, busy time, jobs; the server's start-up block stays listed; the
    report lists fewer blocks and says which part."""
    from coffeeshop_tui.scenarios.web.explain_load import LoadStats
    from coffeeshop_tui.scenarios.web.load_report import server_section, whole_run_stats
    from coffeeshop_tui.scenarios.web.load_stats import outside_window, window_stats

    short, whole = FakeServer(), FakeServer()
    short.new_recording().max_steps = 120  # trims its oldest quarter past 120 steps
    whole.new_recording()
    f_short = ServerFeed(short, origin_ns=T0 + S, history_ns=60 * S, lanes=False)
    f_whole = ServerFeed(whole, origin_ns=T0 + S, history_ns=60 * S, lanes=False)
    n = 600
    _long_run([(short, f_short), (whole, f_whole)], n)
    assert short.timeline.gone.blocks > 100 and not whole.timeline.gone.blocks
    w0, end = T0 + S, T0 + S + (n + 1) * 200 * MS
    n_blocks = n // 3 + n // 7  # every third and every seventh request

    def report(feed):
        data = feed.whole_run()
        server = server_window(data, w0, end, 0.1)
        stats = window_stats([], [], w0, end, server, delay_s=0.1, model="closed", endpoint="/sync")
        stats = whole_run_stats(stats, data, w0, end)
        sec = lambda ns: (ns - w0) / 1e9  # noqa: E731
        section = server_section(data, w0, end, stats, sec, pid=1, port=1, restarts=0, crashed=False,
                                 error=None, pool_total=40, executor_workers=4)
        return data, stats, section, outside_window(data, w0, end)

    d_short, s_short, sec_short, out_short = report(f_short)
    d_whole, s_whole, sec_whole, out_whole = report(f_whole)
    assert isinstance(s_whole, LoadStats)
    assert s_whole.w_blocks == n_blocks
    for key in ("w_blocks", "block_where", "block_culprit", "w_jobs", "w_threads", "pool_max_borrowed"):
        assert getattr(s_short, key) == getattr(s_whole, key), key
    for key in ("w_blocked_s", "w_busy_share", "w_queue_max_s"):
        assert getattr(s_short, key) == pytest.approx(getattr(s_whole, key), rel=1e-6, abs=1e-9), key
    assert out_short == out_whole and out_whole["before_first_request"]["blocks"] == 1  # the start-up
    assert sec_short["blocked_s"] == sec_whole["blocked_s"]
    # the rows stay bounded; the report says which part it lists, and sums the rest per line
    assert len(d_short.blocks) < len(d_whole.blocks) // 2
    assert sec_whole["blocks_listed"] == sec_whole["blocks_in_window"] == n_blocks and "not_listed" not in sec_whole
    gone = sec_short["not_listed"]
    assert sec_short["blocks_listed"] + gone["blocks"] == sec_short["blocks_in_window"] == n_blocks
    assert {p["where"]: p["culprit"] for p in gone["by_place"]} == {"app.py:7": "CPU work in handler",
                                                                    "app.py:9": "CPU work in grind"}
    assert gone["listed_from_s"] > 0 and "in the window" in sec_short["blocks_note"]


def test_epochs_the_feed_forgets_stay_counted_in_the_whole_run():
    """The feed keeps the newest three server recordings (restarts); the whole run still
    counts the blocks, jobs and busy time of the ones it let go of."""
    srv = FakeServer()
    feed = ServerFeed(srv, origin_ns=T0, history_ns=60 * S, lanes=False)
    for k in range(5):
        srv.new_recording().ingest(handler_batch(1, "r000001", T0 + (k + 1) * S, ANYIO, startup_block=True))
        feed.poll()
    assert len(feed.epochs) == 3
    run = feed.whole_run()
    assert len(run.blocks) == 3 and run.trimmed.blocks == 2  # each recording's start-up block
    assert run.trimmed.blocked_ns == 2 * 100 * MS and run.trimmed.by_where[""][0] == 2
    assert len(run.jobs) + run.trimmed.jobs["anyio"][0] == 5
    assert run.trimmed.busy_ns > 2 * 100 * MS and run.trimmed.listed_from_ns > 0


def test_what_trims_sum_stays_bounded_over_hours():
    """Dropped's busy time per bucket (a report clips it to its window) and its places keep a
    bounded size however long the run: buckets grow twice as wide past MAX_BUSY."""
    from coffeeshop_tui.scenarios.timeline_figures import FIRST_BLOCKS as FIRST
    from coffeeshop_tui.scenarios.timeline_figures import MAX_BUSY, MAX_PLACES, Dropped

    g = Dropped()
    for k in range(10 * 3600):  # ten hours, a busy stretch a second
        g.fold_busy(k * S, k * S + 10 * MS)
    assert len(g.busy) <= MAX_BUSY and g.busy_step == 16 * S
    assert sum(g.busy.values()) == 10 * 3600 * 10 * MS
    for k in range(FIRST + MAX_PLACES + 50):
        g.fold_block({"task": 1, "start_ns": k * S, "end_ns": k * S + 30 * MS, "where": f"app.py:{k}"})
    assert len(g.first) == FIRST and len(g.by_where) == MAX_PLACES + 1  # the rest under ""
    assert g.by_where[""][0] == 50 and g.blocks == FIRST + MAX_PLACES + 50

