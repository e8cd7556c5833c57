"""Wait reasons on the load test's server handler lanes (issue 8.3): the lane draws a wait by
what it awaits (``lock`` / ``io`` / ``waiting``, the scenario lanes' rule), the cursor says it,
``load --json`` lists each request's waits with ``reason`` / ``wait_kind`` / ``wait_where``, and
the load screen's trace export names them.

Ground truth of the app used: the docstring of tests/data/lock_app.py."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from conftest import ROOT

from coffeeshop_tui.scenarios.snapshot import Lane, Segment, Snapshot
from coffeeshop_tui.scenarios.timeline import Timeline
from coffeeshop_tui.scenarios.web.load_export import chrome_trace
from coffeeshop_tui.scenarios.web.load_feed import ServerFeed
from coffeeshop_tui.scenarios.web.load_match import match_handler, merge_states
from coffeeshop_tui.scenarios.web.load_replay import ReplayLoad, update_from_dict

MS = 1_000_000
S = 1_000_000_000
T0 = 500 * S
DATA = os.path.join(ROOT, "tests", "data")
CAPTURE = os.path.join(ROOT, "tests", "app_captures", "load-lock-users.jsonl")
LOCK = ("lock", "lock `ONE_AT_A_TIME` (lock_app.py:22)", "/x/lock_app.py:22")
SLEEP = ("sleep", "sleep", "")
CHILD = ("task", "task #2 endpoint", "")


class FakeServer:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.timeline = Timeline(block_ms=25)
        self.timeline.start(T0)


def test_merge_shows_what_the_request_awaits_not_its_own_child_task():
    """A middleware's handler task waits for its endpoint task; the lane shows what the
    endpoint task waits on: a lock outranks a plain wait, and between plain waits a timer
    says more than "task #2"."""
    handler = [("waiting", 0, 100, "task #2", "", CHILD)]
    endpoint = [("lock", 0, 40, LOCK[1], LOCK[2], LOCK), ("running", 40, 41, "", "", ()),
                ("waiting", 41, 99, "sleep", "", SLEEP)]
    assert merge_states([handler, endpoint]) == [
        ("lock", 0, 40, LOCK[1], LOCK[2], LOCK), ("running", 40, 41, "", "", ()),
        ("waiting", 41, 99, "sleep", "", SLEEP), ("waiting", 99, 100, "task #2", "", CHILD)]
    # plain (state, start, end) lists merge as before
    assert merge_states([[("waiting", 0, 5)], [("lock", 2, 3)]]) == [
        ("waiting", 0, 2), ("lock", 2, 3), ("waiting", 3, 5)]


def test_the_feed_reads_a_handlers_waits_with_their_reasons():
    """The server's recording (its ``waits`` batches) -> the handler lane: the endpoint
    task's lock wait drawn ``lock`` with its reason, its sleep ``waiting`` with "sleep"."""
    srv = FakeServer()
    feed = ServerFeed(srv, origin_ns=T0, history_ns=60 * S)
    t = T0 + S
    srv.timeline.ingest({
        "tasks": [(1, t, None, "RequestResponseCycle.run_asgi", "h11_impl.py:1", 0, False),
                  (2, t + 2 * MS, None, "TaskHandle._run_coro", "anyio.py:1", 1, False)],
        "tags": [(1, "w1"), (2, "w1")],
        "steps": [t + 1 * MS, t + 2 * MS, 1,
                  t + 3 * MS, t + 4 * MS, 2,  # tries the lock: held by someone else
                  t + 40 * MS, t + 41 * MS, 2,  # has it; sleeps
                  t + 91 * MS, t + 92 * MS, 2,
                  t + 93 * MS, t + 94 * MS, 1],
        "waits": [(1, t + 2 * MS, "task", "", "", 2),
                  (2, t + 4 * MS, "lock", "`ONE_AT_A_TIME`", "/x/lock_app.py:22", 0),
                  (2, t + 41 * MS, "sleep", "", "", 0)],
        "ready": [2, t + 2 * MS],
        "done": [(2, t + 92 * MS, "ok"), (1, t + 94 * MS, "ok")],
        "t": t + 100 * MS,
    })
    feed.poll()
    m = match_handler(feed.live_indexes(), "w1", t, t + 95 * MS)
    assert m is not None and m[1] == 1
    _task, states = feed.handler(*m)
    lock = [x for x in states if x[0] == "lock"]
    assert [(s - t, e - t) for _st, s, e, *_ in lock] == [(4 * MS, 40 * MS)]
    assert lock[0][5] == ("lock", "lock `ONE_AT_A_TIME` (lock_app.py:22)", "/x/lock_app.py:22")
    waits = {x[5][1] for x in states if x[0] == "waiting" and x[5]}
    assert "sleep" in waits


def test_the_trace_export_names_a_handlers_wait():
    seg = Segment(1.0, 1.5, "lock", 7, "r000003", LOCK[2], LOCK)
    snap = Snapshot(1, False, 2.0, (Lane("user-0-server", " └ server", "task", (seg,), 7),))
    (x,) = [e for e in chrome_trace(snap)["traceEvents"] if e["ph"] == "X"]
    assert x["name"] == f"waiting: {LOCK[1]}"
    assert x["args"] == {"info": "r000003", "task": 7, "reason": LOCK[1], "wait_kind": "lock", "where": LOCK[2]}


def _capture() -> ReplayLoad:
    import json

    with open(CAPTURE, encoding="utf-8") as fh:
        text = fh.read().replace("{ROOT}", ROOT)
    return ReplayLoad([update_from_dict(json.loads(line)) for line in text.splitlines() if line.strip()])


def test_the_load_screen_draws_says_and_exports_a_handlers_lock_wait():
    """A recorded feed of /locked at 3 users: the handler lanes have ``lock`` segments (drawn
    ═), the cursor on one says what it awaited, and the trace export names it."""
    from coffeeshop_tui.tui.screens.load import LoadTestApp
    from coffeeshop_tui.tui.timeline_view import TimelineView

    replay = _capture()
    last = replay.updates[-1]

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = app.load_screen
            deadline = time.monotonic() + 10
            while not (replay.finished and screen.latest is not None) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            view = screen.query_one("#lt-timeline", TimelineView)
            lane, seg = next((ln, s) for ln in view.snapshot.lanes if ln.kind == "task"
                             for s in ln.segments if s.state == "lock" and s.end - s.start > 0.01)
            view.set_cursor(lane.key, (seg.start + seg.end) / 2, lane.group)
            await pilot.pause(0.2)
            shown = str(screen.query_one("#lt-cursor").content)
            assert "lock" in shown and "waiting: lock `ONE_AT_A_TIME` (lock_app.py:" in shown, shown
            assert "═" in str(screen.query_one("#lt-legend").content)
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())
    names = {e["name"] for e in chrome_trace(last.snapshot)["traceEvents"] if e["ph"] == "X"}
    assert any(n.startswith("waiting: lock `ONE_AT_A_TIME`") for n in names)
    assert "waiting: sleep" in names


@pytest.mark.slow
def test_a_real_server_reports_what_its_handlers_awaited():
    """/locked at 3 users on a real uvicorn: in ``load --json`` each request lists its waits;
    those after the first wait on the lock (named by the line that made it), all sleep; the
    live lanes draw the lock waits as ``lock`` and the trace export names them."""
    from coffeeshop_tui.scenarios.web.loadtest import LoadTest
    from coffeeshop_tui.scenarios.web.server import pid_alive

    lt = LoadTest("/locked", app="lock_app:app", cwd=DATA, delay=None, concurrency=3, requests=9,
                  lane_mode="users", loop_queue=True)
    try:
        lt.start()
        lt.wait()
        u = lt.update()
        rep = lt.report()
    finally:
        lt.stop(graceful=True)
    assert not pid_alive(lt.server_pid)
    assert rep["stats"]["ok"] == 9
    kinds = [{w["wait_kind"] for w in r["server"]["waits"]} for r in rep["requests"]]
    assert all("sleep" in k for k in kinds), kinds
    assert sum("lock" in k for k in kinds) >= 6, kinds  # 3 at a time, one holds the lock
    lock_waits = [w for r in rep["requests"] for w in r["server"]["waits"] if w["wait_kind"] == "lock"]
    assert all(w["reason"].startswith("lock `ONE_AT_A_TIME` (lock_app.py:") for w in lock_waits)
    assert all(w["wait_where"].endswith("lock_app.py:22") for w in lock_waits)
    for r in rep["requests"]:  # the waits are inside the request's waiting time
        waited = sum(w["end_s"] - w["start_s"] for w in r["server"]["waits"])
        assert waited * 1e3 == pytest.approx(r["server"]["waiting_ms"], abs=0.01)
    states = {s.state for ln in u.snapshot.lanes if ln.kind == "task" for s in ln.segments}
    assert "lock" in states
    names = {e["name"] for e in chrome_trace(u.snapshot)["traceEvents"] if e["ph"] == "X"}
    assert any(n.startswith("waiting: lock `ONE_AT_A_TIME`") for n in names)
    # the `w` panel's data: the server's loop while requests sleep holding the lock
    from coffeeshop_tui.scenarios.loop_moment import loop_at

    view = u.snapshot.loop
    assert view is not None and view.recorded
    moments = [loop_at(view, view.origin + int(k * 2e6)) for k in range(int(u.snapshot.t_end * 500))]
    idle = [m for m in moments if m.state == "select" and m.timers]
    assert idle, {m.state for m in moments}
    assert any("(accept)" in w.what for m in idle for w in m.waiting_on)  # the listening socket
    assert any(x.what == "sleep" and x.task for m in idle for x in m.timers)


# ----------------------------------------------------------------------------- the loop panel (w)
def _update_with_a_loop(tmp_update):
    """The lock capture's last update, its snapshot carrying a real loop recording (a program
    with one handler-like task sleeping 50 ms: the loop idles in select until its timer)."""
    from dataclasses import replace

    from coffeeshop_tui.scenarios.recorder import record

    async def handler():
        await asyncio.sleep(0.05)

    async def main():
        await asyncio.create_task(handler())

    tl = record(main)
    view = tl.loopq.view(tl.origin)
    snap = replace(tmp_update.snapshot, loop=view, t_end=(tl.now_ns - tl.origin) / 1e9)
    return replace(tmp_update, snapshot=snap), tl


def test_w_shows_the_servers_loop_at_the_cursor():
    from coffeeshop_tui.tui.screens.load import LoadTestApp
    from coffeeshop_tui.tui.timeline_view import TimelineView
    from coffeeshop_tui.tui.widgets.loop_panel import LoopPanel

    base = _capture().updates[-1]
    upd, tl = _update_with_a_loop(base)
    replay = ReplayLoad([upd])

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(140, 44)) as pilot:
            screen = app.load_screen
            deadline = time.monotonic() + 10
            while screen.latest is None and time.monotonic() < deadline:
                await pilot.pause(0.05)
            panel = screen.query_one("#lt-loop", LoopPanel)
            assert not panel.display
            await pilot.press("w")
            await pilot.pause(0.1)
            assert panel.display
            text = panel.render().plain
            assert text.startswith("Loop at ")  # no cursor: the live edge (the end here)
            view = screen.query_one("#lt-timeline", TimelineView)
            lane = next(ln for ln in view.snapshot.lanes if ln.kind == "client")
            view.set_cursor(lane.key, 0.025, lane.group)  # mid-sleep
            await pilot.pause(0.2)
            text = panel.render().plain
            assert "Loop at 25" in text and "idle in select" in text, text
            assert "Next timers (1)" in text and "sleep" in text
            assert "self-pipe" in text
            await pilot.press("w")
            await pilot.pause(0.1)
            assert not panel.display
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())


def test_w_on_a_replay_without_a_loop_recording_says_so():
    from coffeeshop_tui.tui.screens.load import LoadTestApp
    from coffeeshop_tui.tui.widgets.loop_panel import LoopPanel

    replay = _capture()

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            deadline = time.monotonic() + 10
            while screen.latest is None and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.press("w")
            await pilot.pause(0.1)
            assert "keeps no record of the server's loop queue" in screen.query_one("#lt-loop", LoopPanel).render().plain
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())
