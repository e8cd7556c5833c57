"""The server's event loop is recorded with the same recorder, on the client's clock."""

import asyncio
import os
import time

import pytest

from coffeeshop_tui.scenarios.web.loadgen import LoadGenerator
from coffeeshop_tui.scenarios.web.server import WebServer, pid_alive

from conftest import ROOT

pytestmark = pytest.mark.slow  # starts real servers

APP = os.path.join(ROOT, "scenarios", "web", "app.py")


def _load(url, n):
    async def go():
        lg = LoadGenerator(url, concurrency=n, requests=n, timeout=30)
        await lg.run()
        return lg.records_since(0).records

    return asyncio.run(go())


def _wait(pred, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_bad_endpoint_blocks_the_server_loop_at_time_sleep():
    srv = WebServer(record=True).start()
    try:
        records = _load(srv.url + "/bad?delay=0.1", 3)
        def handled():  # every handler's step has ended (not just started) in the recording
            with srv.lock:
                return sum(1 for b in srv.timeline.blocks() if not b.get("ongoing")
                           and srv.timeline.tasks.get(b["task"]) and srv.timeline.tasks[b["task"]].tag) >= 3

        assert _wait(handled)
        with srv.lock:
            tl = srv.timeline
            handlers = {t.tag: t for t in tl.tasks.values() if t.tag}
            blocks = [b for b in tl.blocks() if b["task"] in {t.seq for t in handlers.values()}]
        assert len(blocks) == 3
        src = open(APP).read().splitlines()
        for b in blocks:
            path, line = b["where"].rsplit(":", 1)
            assert path == APP and "time.sleep" in src[int(line) - 1]
            assert 0.099e9 <= b["end_ns"] - b["start_ns"] <= 0.2e9
        # one clock: each server handler starts after its client request was sent and ends
        # around when the answer reached the client (its last step goes on a little after
        # writing the answer, so it may end just after the client's "done")
        for r in records:
            h = handlers[r.request_id]
            first, last = h.steps[0], h.steps[-1]
            assert r.sent_ns - 2_000_000 <= first < r.first_byte_ns
            assert first < last <= r.done_ns + 20_000_000
    finally:
        srv.stop()
    assert not pid_alive(srv.pid)


def test_sync_endpoint_runs_on_pool_threads_and_gauges_show_the_pool():
    srv = WebServer(record=True, pool_size=2).start()
    try:
        _load(srv.url + "/sync?delay=0.2", 3)
        assert _wait(lambda: len(srv.timeline.jobs) >= 3)
        with srv.lock:
            tl = srv.timeline
            jobs = [j for j in tl.jobs if j.pool == "anyio"]
            assert len(jobs) == 3
            assert len({j.thread for j in jobs}) == 2
            starts = sorted(j.start_ns for j in jobs)
            assert starts[2] - starts[0] >= 0.15e9  # the third request waited for a free thread
            # time.sleep ran in the pool: it never held the server's loop
            assert not [b for b in tl.blocks() if b["where"].startswith(APP)]
            assert max(g["pool_borrowed"] for _t, g in tl.gauges) == 2
            assert {g["pool_total"] for _t, g in tl.gauges} == {2}
    finally:
        srv.stop()


def test_a_deferred_recording_is_read_at_the_end_and_complete():
    """``defer_events`` (headless ``load``): the server's batches are only held while it
    runs, and decoded into its timeline once it has stopped -- every handler is there."""
    srv = WebServer(record=True, defer_events=True).start()
    try:
        records = _load(srv.url + "/async?delay=0", 5)
        time.sleep(0.3)  # several drains' worth of batches reach this process, undecoded
        with srv.lock:
            assert srv.timeline.start_ns is not None and not srv.timeline.tasks
    finally:
        srv.stop()
    assert not pid_alive(srv.pid)
    tl = srv.timeline
    assert tl.end_ns is not None
    tags = {t.tag for t in tl.tasks.values() if t.tag}
    assert {r.request_id for r in records} <= tags
