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
        for st, s, e in states:
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
