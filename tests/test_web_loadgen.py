"""The load generator (coffeeshop_tui.scenarios.web.loadgen) against the demo server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx
import pytest

from coffeeshop_tui.scenarios.web.loadgen import LoadGenerator, RemoteTargetError
from coffeeshop_tui.scenarios.web.loadgen_records import (
    CONNECT, DISCONNECT, OK, TIMEOUT, ClientSnapshot, classify_exception,
)
from coffeeshop_tui.scenarios.web.server import WebServer, pid_alive


pytestmark = pytest.mark.usefixtures("no_leftover_children")


@pytest.mark.slow
@pytest.mark.parametrize("client", ["aiohttp", "httpx-aiohttp"])
def test_request_budget_records_and_echoed_ids(server, client):
    lg = LoadGenerator(f"{server.url}/async?delay=0.01", concurrency=4, requests=20, client=client)
    snap = asyncio.run(lg.run())
    assert isinstance(snap, ClientSnapshot) and snap.finished and not snap.running
    assert snap.issued == snap.done == snap.ok == 20 and snap.error_total == 0
    assert snap.echo_mismatches == 0 and snap.in_flight == 0
    assert snap.latency.count == 20 and snap.latency.p50_ms >= 10 * 0.95
    batch = lg.records_since(0)
    assert batch.cursor == 20 and batch.dropped == 0 and len(batch.records) == 20
    ids = sorted(r.request_id for r in batch.records)
    assert ids == [f"r{i:06d}" for i in range(1, 21)]
    for r in batch.records:
        assert r.kind == OK and r.status == 200 and r.echoed
        assert r.intended_ns <= r.sent_ns <= r.first_byte_ns <= r.done_ns
        assert 0 <= r.user < 4
        assert r.service_ns >= 10_000_000 * 0.95
    assert lg.records_since(20).records == ()
    with pytest.raises(RuntimeError):
        asyncio.run(lg.run())  # one run per generator


@pytest.mark.slow
def test_set_concurrency_live_changes_in_flight(server):
    lg = LoadGenerator(f"{server.url}/async?delay=0.2", concurrency=2, duration=30)

    async def go():
        task = asyncio.create_task(lg.run())
        samples = {"a": [], "b": [], "c": []}
        for phase, n in (("a", None), ("b", 6), ("c", 1)):
            if n is not None:
                lg.set_concurrency(n)
            await asyncio.sleep(0.5)  # settle: retiring users finish their request
            for _ in range(10):
                samples[phase].append(lg.snapshot().in_flight)
                await asyncio.sleep(0.03)
        lg.stop()
        return await task, samples

    snap, samples = asyncio.run(go())
    assert max(samples["a"]) <= 2 and max(samples["a"]) >= 1
    assert max(samples["b"]) >= 5 and max(samples["b"]) <= 6
    assert max(samples["c"]) <= 1
    assert snap.concurrency == 1 and snap.error_total == 0
    users = {r.user for r in lg.records_since(0).records}
    assert users == set(range(6))


@pytest.mark.slow
def test_open_model_rate_and_live_rate_change(server):
    lg = LoadGenerator(f"{server.url}/async?delay=0.01", model="open", rate=20, duration=2.0)

    async def go():
        task = asyncio.create_task(lg.run())
        await asyncio.sleep(1.0)
        lg.set_rate(60)
        return await task

    snap = asyncio.run(go())
    # ~20 in the first second, ~60 in the second (generous: busy 2-core machine)
    assert 50 <= snap.issued <= 95, snap.issued
    assert snap.ok == snap.done == snap.issued and snap.rate == 60
    recs = lg.records_since(0).records
    t0 = snap.started_ns
    first = sum(1 for r in recs if r.intended_ns - t0 < 1e9)
    second = len(recs) - first
    assert 15 <= first <= 25 and second >= 2 * first, (first, second)
    assert all(r.user == -1 for r in recs)


@pytest.mark.slow
def test_open_model_measures_from_intended_start(server):
    """Arrivals at 20/s into 1 connection that serves 10/s: the queue grows on the client side,
    and latency (from the intended start) shows it while service time does not."""
    lg = LoadGenerator(f"{server.url}/async?delay=0.1", model="open", rate=20, duration=1.0,
                       connections=1, drain_timeout=10)
    snap = asyncio.run(lg.run())
    recs = lg.records_since(0).records
    assert snap.ok == len(recs) >= 15
    last = max(recs, key=lambda r: r.intended_ns)
    assert last.wait_ns > 0.3e9  # queued in the client for a connection
    assert last.service_ns < 0.5e9
    assert snap.latency.max_ms > 2 * snap.service.max_ms


@pytest.mark.slow
def test_server_killed_mid_run_counts_errors_and_finishes():
    srv = WebServer().start()
    pid = srv.pid
    try:
        lg = LoadGenerator(f"{srv.url}/async?delay=0.05", concurrency=4, duration=1.5,
                           error_backoff=0.01)

        async def go():
            task = asyncio.create_task(lg.run())
            await asyncio.sleep(0.5)
            srv.kill()
            return await task

        snap = asyncio.run(go())
    finally:
        srv.stop()
    assert not pid_alive(pid)
    assert snap.finished and snap.ok > 0
    assert snap.errors["connect"] > 0, dict(snap.errors)
    assert snap.errors["other"] == 0 and snap.errors["cancelled"] == 0, dict(snap.errors)
    kinds = {r.kind_name for r in lg.records_since(0).records}
    assert kinds <= {"ok", "connect", "disconnect"}
    assert snap.done == snap.ok + sum(snap.errors.values())


@pytest.mark.slow
def test_timeouts_are_counted(server):
    lg = LoadGenerator(f"{server.url}/async?delay=2", concurrency=3, requests=3, timeout=0.3)
    t0 = time.monotonic()
    snap = asyncio.run(lg.run())
    assert time.monotonic() - t0 < 1.8
    assert snap.errors["timeout"] == 3 and snap.ok == 0
    assert all(r.kind == TIMEOUT and r.status == 0 for r in lg.records_since(0).records)


@pytest.mark.slow
def test_concurrency_limit_503s_are_counted():
    with WebServer(max_in_flight=2) as srv:
        lg = LoadGenerator(f"{srv.url}/async?delay=0.2", concurrency=6, requests=24)
        snap = asyncio.run(lg.run())
        info = httpx.get(f"{srv.url}/_admin/pool").json()
    assert snap.errors["503"] > 0 and snap.ok > 0
    assert snap.ok + snap.errors["503"] == 24
    assert info["rejected"] == snap.errors["503"] and info["max_in_flight"] == 2
    r503 = [r for r in lg.records_since(0).records if r.status == 503]
    assert r503 and all(r.kind_name == "503" and r.echoed for r in r503)


@pytest.mark.slow
def test_4xx_counted(server):
    snap = asyncio.run(LoadGenerator(f"{server.url}/async?delay=99", requests=3).run())
    assert snap.errors["4xx"] == 3


def test_remote_targets_refused():
    for url in ("http://10.1.2.3/", "http://example.invalid/", "http://192.168.0.1:8000/x"):
        with pytest.raises(RemoteTargetError):
            LoadGenerator(url)
    with pytest.raises(ValueError):
        LoadGenerator("ftp://127.0.0.1/")
    LoadGenerator("http://10.1.2.3/", allow_remote=True)  # constructing sends nothing
    LoadGenerator("http://localhost:1/")
    LoadGenerator("http://[::1]:1/")


@pytest.mark.slow
def test_ring_is_bounded_and_reports_drops(server):
    lg = LoadGenerator(f"{server.url}/async?delay=0", concurrency=2, requests=30, record_capacity=10)
    snap = asyncio.run(lg.run())
    assert snap.done == 30 and snap.records_overwritten == 20
    batch = lg.records_since(0)
    assert batch.dropped == 20 and len(batch.records) == 10 and batch.cursor == 30
    assert [r.seq for r in batch.records] == list(range(20, 30))
    part = lg.records_since(25, limit=3)
    assert [r.seq for r in part.records] == [25, 26, 27] and part.cursor == 28


@pytest.mark.slow
def test_run_in_thread_with_consumer_polling(server):
    lg = LoadGenerator(f"{server.url}/async?delay=0.02", concurrency=3, interval=0.2)
    fut = lg.start_in_thread()
    cursor, seen = 0, 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        batch = lg.records_since(cursor)
        cursor, seen = batch.cursor, seen + len(batch.records)
        lg.in_flight_requests()
        time.sleep(0.05)
    lg.set_concurrency(5)
    time.sleep(0.3)
    mid = lg.snapshot()
    lg.stop()
    final = fut.result(timeout=10)
    assert mid.running and mid.active_users >= 5 and len(mid.intervals) >= 3
    assert all(i.rps > 0 for i in mid.intervals[1:])
    assert final.finished and final.done >= seen > 0
    assert final.latency.count == final.ok
    assert sum(i.done for i in final.intervals) == final.done


@pytest.mark.slow
def test_stop_cancels_slow_requests_after_drain_timeout(server):
    lg = LoadGenerator(f"{server.url}/async?delay=5", concurrency=2, drain_timeout=0.2)

    async def go():
        task = asyncio.create_task(lg.run())
        await asyncio.sleep(0.3)
        assert len(lg.in_flight_requests()) == 2
        lg.stop()
        return await task

    t0 = time.monotonic()
    snap = asyncio.run(go())
    assert time.monotonic() - t0 < 3
    assert snap.errors["cancelled"] == 2 and snap.in_flight == 0


def test_classify_exception_sees_through_httpx_aiohttp_mapping():
    # httpx_aiohttp maps aiohttp.ServerDisconnectedError to httpx.ConnectTimeout
    try:
        try:
            raise aiohttp.ServerDisconnectedError()
        except aiohttp.ServerDisconnectedError as inner:
            raise httpx.ConnectTimeout("mapped") from inner
    except httpx.ConnectTimeout as exc:
        assert classify_exception(exc) == DISCONNECT
    assert classify_exception(ConnectionRefusedError()) == CONNECT
    assert classify_exception(httpx.ReadTimeout("x")) == TIMEOUT
    assert classify_exception(asyncio.TimeoutError()) == TIMEOUT


@pytest.mark.slow
def test_set_target_live(server):
    lg = LoadGenerator(f"{server.url}/async?delay=0.01", concurrency=2, duration=0.8)

    async def go():
        task = asyncio.create_task(lg.run())
        await asyncio.sleep(0.4)
        lg.set_target(f"{server.url}/sync?delay=0.01")
        with pytest.raises(RemoteTargetError):
            lg.set_target("http://10.9.9.9/")
        return await task

    snap = asyncio.run(go())
    assert snap.targets == (f"{server.url}/async?delay=0.01", f"{server.url}/sync?delay=0.01")
    assert {r.target for r in lg.records_since(0).records} == {0, 1}
    assert snap.error_total == 0


@pytest.mark.slow
def test_a_duration_ends_on_time_at_any_rate_and_every_request_is_accounted_for(server):
    """20,000 arrivals/s is more than a Python client can send: the run still ends on time
    (the arrival loop yields, so its own timer fires), the arrivals it could not send on time
    are counted as dropped, and issued == done + dropped + in flight (errors are among done)."""
    lg = LoadGenerator(f"{server.url}/health", model="open", rate=20_000, duration=1.0,
                       drain_timeout=0.1)
    seen = []

    def watch():
        while not lg.snapshot().finished:
            sn = lg.snapshot()
            seen.append((sn.issued, sn.done, sn.dropped_arrivals, sn.in_flight))
            time.sleep(0.01)

    import threading

    t = threading.Thread(target=watch, daemon=True)
    t0 = time.monotonic()
    t.start()
    snap = asyncio.run(lg.run())
    took = time.monotonic() - t0
    t.join(5)
    # The bug took 6.5 s on a quiet machine (the arrival loop never yielded); a 1 s run
    # that ends within 4 s holds on a loaded 2-core machine (4.2 s was seen with 2.0).
    assert took < 5.0, took
    assert snap.issued == snap.done + snap.dropped_arrivals + snap.in_flight
    assert snap.in_flight == 0 and snap.done == snap.ok + snap.error_total
    assert seen and all(i == d + dr + f for i, d, dr, f in seen), seen[:5]
    assert snap.issued <= 20_000 * 1.0 + 1


@pytest.mark.slow
def test_closed_latency_is_send_to_done(server):
    """The closed model's latency leaves out the generator's own start-up (creating users,
    opening connections): it is sent -> done."""
    lg = LoadGenerator(f"{server.url}/async?delay=0.01", concurrency=50, requests=200)
    snap = asyncio.run(lg.run())
    recs = lg.records_since(0).records
    assert snap.ok == len(recs) == 200
    assert all(r.latency_ns == r.service_ns for r in recs)
    assert snap.latency.max_ms <= snap.service.max_ms + 1.0


def test_the_record_ring_grows_with_use_and_stays_bounded_by_its_capacity():
    from coffeeshop_tui.scenarios.web.loadgen_records import _Ring

    ring = _Ring(10)
    assert len(ring.rid) == 0  # nothing preallocated: a short-lived generator costs little
    for k in range(25):
        ring.append(k, 0, k, k, k, k, 200, OK, 1, 0)
    assert ring.count == 25 and all(len(c) == 10 for c in (ring.rid, ring.done, ring.kind, ring.target))
    batch = _Ring.build(*ring.copy(0, None))
    assert batch.dropped == 15 and [r.rid for r in batch.records] == list(range(15, 25))


def test_every_issued_request_is_accounted_for_against_a_dead_port():
    """No server on the port (every request is refused): issued == done + dropped + in flight,
    and every finished request is an error, never a success with a latency."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nobody listens there
    lg = LoadGenerator(f"http://127.0.0.1:{port}/async", model="open", rate=500, duration=0.3,
                       drain_timeout=0.5)
    snap = asyncio.run(lg.run())
    assert snap.issued > 0
    assert snap.issued == snap.done + snap.dropped_arrivals + snap.in_flight
    assert snap.ok == 0 and snap.error_total == snap.done and snap.errors["connect"] > 0
    assert snap.latency.count == 0
