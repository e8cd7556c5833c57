"""The server feed (load_feed.ServerFeed) and the lanes built on it (load_lanes), on hand-made recordings:
no server, no child process.

A recorded WebServer exposes ``lock`` and ``timeline`` (a Timeline fed with the child's
batches); these tests feed Timelines batches like the recorder's and read them back.
"""

from __future__ import annotations

import threading

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
