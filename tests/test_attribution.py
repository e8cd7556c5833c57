"""Attribution follows the work (issue 8): every task a request's handling creates carries its
request id, with or without ``@app.middleware("http")``; its thread jobs are linked to it.
Ground truth: the docstring of tests/data/shop_app.py."""

import os
import time
import urllib.request

import pytest

from coffeeshop_tui.scenarios.recorder_hooks import now_ns
from coffeeshop_tui.scenarios.web.load_feed import ServerFeed
from coffeeshop_tui.scenarios.web.load_match import after_response_ns, match_handler
from coffeeshop_tui.scenarios.web.server import WebServer, pid_alive

from conftest import ROOT

pytestmark = pytest.mark.slow  # starts real servers

DATA = os.path.join(ROOT, "tests", "data")
APP = os.path.join(DATA, "shop_app.py")
SRC = open(APP).read().splitlines()


def line_of(marker: str) -> str:
    (n,) = [i + 1 for i, line in enumerate(SRC) if f"# {marker}" in line]
    return f"{APP}:{n}"


def _get(url: str, rid: str, method: str = "GET") -> bytes:
    req = urllib.request.Request(url, method=method, headers={"x-request-id": rid})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["x-request-id"] == rid
        return resp.read()


def _wait(pred, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _blocks_at(srv, marker):
    where = line_of(marker)
    with srv.lock:
        tl = srv.timeline
        return [(b, tl.tasks.get(b["task"])) for b in tl.blocks()
                if not b.get("ongoing") and b["where"] == where]


@pytest.mark.parametrize("attr", ["bare", "app", "stacked"])
def test_every_block_and_thread_job_of_a_request_carries_its_id(attr):
    srv = WebServer(app=f"shop_app:{attr}", cwd=DATA, record=True).start()
    try:
        sent = now_ns()
        assert _get(srv.url + "/orders/7", "o1") == b'{"order":7,"db":"ok"}'
        done = now_ns()
        assert _get(srv.url + "/stream", "s1") == b"chunk 0\nchunk 1\n"
        assert _get(srv.url + "/spawn", "p1") == b'{"child":1}'
        c_sent = now_ns()
        _get(srv.url + "/checkout", "c1", method="POST")
        c_done = now_ns()
        assert _wait(lambda: len(_blocks_at(srv, "BG-BLOCK")) == 1)
        expected = {"ENDPOINT-BLOCK": ("o1", 1, 0.19), "STREAM-BLOCK": ("s1", 2, 0.055),
                    "SPAWN-BLOCK": ("p1", 1, 0.035), "BG-BLOCK": ("c1", 1, 0.065)}
        for marker, (rid, n, at_least_s) in expected.items():
            found = _blocks_at(srv, marker)
            assert len(found) == n, marker
            for b, task in found:
                assert task is not None and task.tag == rid, (marker, task)
                assert b["end_ns"] - b["start_ns"] >= at_least_s * 1e9
        # the lifespan's block belongs to no request
        (lb, lt), = _blocks_at(srv, "LIFESPAN-BLOCK")
        assert lt is None or not lt.tag
        # the sync dependency ran in the pool, linked to a task of request o1
        with srv.lock:
            tl = srv.timeline
            deps = [j for j in tl.jobs if j.label == "db_session"]
            assert len(deps) == 1 and deps[0].pool == "anyio"
            assert tl.tasks[deps[0].task].tag == "o1"
            assert deps[0].end_ns - deps[0].start_ns >= 0.045e9
        # the request's lane (all its tasks merged): its own 200 ms block, its 50 ms in the pool
        feed = ServerFeed(srv, origin_ns=sent - 10**9, history_ns=60 * 10**9)
        feed.poll()
        m = match_handler(feed.live_indexes(), "o1", sent, done)
        assert m is not None
        _task, states = feed.handler(*m)
        total = {}
        for st, s, e, *_more in states:
            total[st] = total.get(st, 0) + e - s
        assert total.get("blocked", 0) >= 0.19e9
        assert total.get("thread", 0) >= 0.045e9
        assert total.get("starved", 0) < 0.1e9  # the block is its own: never "starved"
        # the background job: attributed to c1 and after its response; o1's work all before
        mc = match_handler(feed.live_indexes(), "c1", c_sent, c_done)
        assert mc is not None
        sent_c = feed.response_sent(*mc)
        (bg, _t), = _blocks_at(srv, "BG-BLOCK")
        # (the step that sent the last byte goes straight on into the job: one step)
        assert 0 < sent_c and bg["end_ns"] - max(sent_c, bg["start_ns"]) >= 0.065e9
        _task, c_states = feed.handler(*mc)
        assert after_response_ns(c_states, sent_c) >= 0.065e9
        sent_o = feed.response_sent(*m)
        with srv.lock:  # what the recording says of o1's tasks, should the point be missing
            o1 = [(t.seq, t.coro, t.points, t.created_ns, t.done_ns) for t in srv.timeline.tasks.values()
                  if t.tag == "o1"]
        assert sent_o, (m[1], o1)
        assert after_response_ns(states, sent_o) < 0.02e9
        # the blocks as the load test's statistics and report see them
        flags = {(b["request_id"], b["where"]): b["after_response"] for b in feed.whole_run().blocks}
        assert flags[("c1", line_of("BG-BLOCK"))] is True
        assert flags[("o1", line_of("ENDPOINT-BLOCK"))] is False
        assert flags[("s1", line_of("STREAM-BLOCK"))] is False
        live = {(b["request_id"], b["where"]): b["after_response"] for b in feed.live_data().blocks}
        assert live == flags
    finally:
        srv.stop()
    assert not pid_alive(srv.pid)


@pytest.mark.parametrize("attr", ["bare", "app"])
def test_a_task_that_outlives_its_request_is_named_so_not_folded_into_it(attr):
    """/fire answers at once and leaves a task that blocks the loop 3 x 30 ms later: those
    blocks carry the request id (who made the task) but are marked ``outlived``, neither the
    request's own handling nor its after-response work; the request's own lane ends with it."""
    from coffeeshop_tui.scenarios.web.load_match import split_at

    srv = WebServer(app=f"shop_app:{attr}", cwd=DATA, record=True).start()
    try:
        sent = now_ns()
        assert _get(srv.url + "/fire", "f1") == b'{"fired":true}'
        done = now_ns()
        assert _wait(lambda: len(_blocks_at(srv, "LINGER-BLOCK")) == 3)
        for _b, task in _blocks_at(srv, "LINGER-BLOCK"):
            assert task is not None and task.tag == "f1"  # the tag stays: who spawned it
        feed = ServerFeed(srv, origin_ns=sent - 10**9, history_ns=60 * 10**9)
        feed.poll()
        where = line_of("LINGER-BLOCK")
        for data in (feed.whole_run(), feed.live_data()):
            rows = [b for b in data.blocks if b["where"] == where]
            assert len(rows) == 3
            assert all(b["request_id"] == "f1" and b["outlived"] and not b["after_response"] for b in rows)
        m = match_handler(feed.live_indexes(), "f1", sent, done)
        assert m is not None
        task, states = feed.handler(*m)
        own, later = split_at(states, task.done_ns)
        assert sum(e - s for st, s, e, *_ in own if st == "blocked") == 0  # its own handling blocked nothing
        assert sum(e - s for st, s, e, *_ in later if st == "blocked") >= 3 * 0.025e9
    finally:
        srv.stop()
    assert not pid_alive(srv.pid)


def test_load_caption_names_background_work_after_the_response():
    """/checkout's BackgroundTasks job (70 ms on the loop after each answer) is named as such,
    per request, with its line, in the report and in the live caption; the request's own
    figures show it after the response."""
    from coffeeshop_tui.scenarios.web.loadtest import LoadTest

    lt = LoadTest("/checkout", app="shop_app:app", cwd=DATA, delay=None, concurrency=1, requests=4,
                  lanes=False)
    try:
        lt.start()
        assert lt.wait(60)
        first = lt.update().caption
        if "right now" in first:  # the last job may still hold the loop: named as background work
            assert "`/checkout`'s background work after the response is blocking" in first, first
        deadline = time.monotonic() + 10
        while "right now" in (live := lt.update().caption) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        lt.stop(graceful=True)
    assert not pid_alive(lt.server_pid)
    rep = lt.report()
    bg = line_of("BG-BLOCK").rsplit("/", 1)[-1]
    for cap in (live, rep["caption"]):
        assert "background work after the response blocked the loop" in cap, cap
        assert bg in cap, cap
    s = rep["stats"]
    assert s["after_requests"] >= 3 and 0.06 <= s["after_per_request_s"] <= 0.2, s
    assert s["w_outlived_s"] == 0
    rows = [b for b in rep["server"]["blocks"] if b["where"].endswith(bg)]
    assert rows and all(b["after_response"] and not b["outlived"] for b in rows)
    served = [r["server"] for r in rep["requests"] if r["server"]]
    assert len(served) == 4 and all(x["after_response_ms"] >= 60 and x["outlived_ms"] == 0 for x in served)
