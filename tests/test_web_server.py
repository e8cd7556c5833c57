"""The demo FastAPI app served by a uvicorn child process (coffeeshop_tui.scenarios.web.server).

Timing assertions use lower bounds that physics guarantees (N serialized sleeps cannot take
less than N x delay) and generous upper bounds (the machine has 2 busy cores).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from coffeeshop_tui.scenarios.web.bench_sync_async import run_blog_benchmark
from coffeeshop_tui.scenarios.web.server import ServerError, WebServer, pid_alive

DELAY = 0.4


# slow: starts real servers
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_children")]


async def _concurrent(url: str, n: int, timeout: float = 30.0) -> tuple[float, list[float], list[int]]:
    async with httpx.AsyncClient(timeout=timeout) as client:
        async def one(i: int) -> tuple[float, int]:
            t0 = time.perf_counter()
            r = await client.get(url, headers={"x-request-id": f"t{i:06d}"})
            return time.perf_counter() - t0, r.status_code

        await client.get(url.split("?")[0].rsplit("/", 1)[0] + "/health")  # warm connection
        t0 = time.perf_counter()
        res = await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0, sorted(d for d, _ in res), [s for _, s in res]


def test_sync_runs_in_thread_pool_concurrently(server):
    n = 5
    total, durations, statuses = asyncio.run(_concurrent(f"{server.url}/sync?delay={DELAY}", n))
    assert statuses == [200] * n
    assert total >= DELAY * 0.95
    # about one delay, not n delays (n x DELAY = 2.0 s)
    assert total < DELAY * 3, durations


def test_bad_blocks_the_loop_and_serializes(server):
    n, delay = 5, 0.2
    total, durations, statuses = asyncio.run(_concurrent(f"{server.url}/bad?delay={delay}", n))
    assert statuses == [200] * n
    assert total >= n * delay * 0.95  # cannot be faster than one after another
    assert durations[-1] >= n * delay * 0.9


def test_async_and_good_and_safe_are_concurrent(server):
    for path in ("/async", "/good", "/safe"):
        total, _, statuses = asyncio.run(_concurrent(f"{server.url}{path}?delay={DELAY}", 5))
        assert statuses == [200] * 5
        assert DELAY * 0.95 <= total < DELAY * 3, path


def test_sync_one_more_than_pool_makes_two_waves(server):
    r = httpx.post(f"{server.url}/_admin/pool?size=3")
    assert r.status_code == 200 and r.json()["total"] == 3

    async def go():
        task = asyncio.create_task(_concurrent(f"{server.url}/sync?delay={DELAY}", 4))
        await asyncio.sleep(DELAY / 2)
        async with httpx.AsyncClient(timeout=10) as c:
            mid = (await c.get(f"{server.url}/_admin/pool")).json()
        return await task, mid

    (total, durations, statuses), mid = asyncio.run(go())
    assert statuses == [200] * 4
    assert mid["total"] == 3 and mid["borrowed"] == 3 and mid["waiting"] == 1, mid
    assert total >= 2 * DELAY * 0.95
    assert durations[-1] >= 1.9 * DELAY, durations  # the 4th waited for a token
    assert durations[2] < durations[-1] - 0.5 * DELAY, durations  # ...the first 3 did not
    after = httpx.get(f"{server.url}/_admin/pool").json()
    assert after["borrowed"] == 0 and after["total"] == 3


def test_admin_pool_validation_and_limit(server):
    assert httpx.post(f"{server.url}/_admin/pool?size=0").status_code == 422
    assert httpx.post(f"{server.url}/_admin/pool").status_code == 422
    r = httpx.post(f"{server.url}/_admin/limit?max_in_flight=7")
    assert r.json()["max_in_flight"] == 7
    r = httpx.post(f"{server.url}/_admin/limit?max_in_flight=0")
    assert r.json()["max_in_flight"] is None
    info = httpx.get(f"{server.url}/_admin/pool").json()
    assert info["total"] == 40 and info["default_executor_workers"] == min(32, os.cpu_count() + 4)


def test_request_id_echoed_and_validation(server):
    r = httpx.get(f"{server.url}/async?delay=0", headers={"x-request-id": "r000123"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "r000123"
    r = httpx.get(f"{server.url}/sync?delay=61", headers={"x-request-id": "r000124"})
    assert r.status_code == 422 and r.headers["x-request-id"] == "r000124"
    r = httpx.get(f"{server.url}/health")
    assert r.json() == {"ok": True} and "x-request-id" not in r.headers
    r = httpx.get(f"{server.url}/cpu?work=1000")
    assert r.status_code == 200 and r.json()["total"] == sum(i * i for i in range(1000))
    assert httpx.get(f"{server.url}/to_thread?delay=0").status_code == 200


def test_port_in_use_raises_server_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        srv = WebServer(port=port)
        with pytest.raises(ServerError) as info:
            srv.start()
        assert f"port {port}" in str(info.value) and "already in use" in str(info.value)
        assert srv.pid is None and not srv.alive()


def test_chosen_free_port_is_used():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with WebServer(port=port) as srv:
        assert srv.port == port and srv.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{srv.url}/health").status_code == 200
    assert not pid_alive(srv.pid)


def test_non_loopback_host_refused():
    with pytest.raises(ServerError, match="loopback"):
        WebServer(host="0.0.0.0")


def test_child_that_exits_early_reports_its_stderr():
    srv = WebServer("no_such_module_xyz:app")
    with pytest.raises(ServerError) as info:
        srv.start()
    msg = str(info.value)
    assert "exited with code" in msg and "no_such_module_xyz" in msg
    assert not srv.alive()


def test_user_app_is_wrapped_with_admin_and_echo(tmp_path):
    (tmp_path / "myapp_for_test.py").write_text(textwrap.dedent("""
        async def app(scope, receive, send):
            assert scope["type"] in ("http", "lifespan")
            if scope["type"] == "lifespan":
                while True:
                    msg = await receive()
                    if msg["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif msg["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hi"})
    """))
    with WebServer("myapp_for_test:app", cwd=tmp_path, pool_size=5) as srv:
        r = httpx.get(f"{srv.url}/anything", headers={"x-request-id": "r000001"})
        assert r.text == "hi" and r.headers["x-request-id"] == "r000001"
        assert httpx.get(f"{srv.url}/_admin/pool").json()["total"] == 5
        pid = srv.pid
    assert not pid_alive(pid)


def test_restart_keeps_port_and_replaces_child(server):
    port, pid = server.port, server.pid
    server.restart()
    assert server.port == port and server.pid != pid and server.alive()
    assert not pid_alive(pid)
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_kill_then_stop_and_alive(server):
    pid = server.pid
    server.kill()
    assert not server.alive() and not pid_alive(pid)
    assert server.returncode == -signal.SIGKILL
    server.stop()
    server.stop()  # idempotent


def test_child_dies_when_parent_is_sigkilled(tmp_path):
    """A parent killed by SIGKILL (no atexit, no stop) must not leave its server behind."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from coffeeshop_tui.scenarios.web.server import WebServer
        srv = WebServer().start()
        print(srv.pid, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=os.getcwd(), start_new_session=True)
    child = None
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), line
        child = int(line)
        assert pid_alive(child)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child), "server child survived its parent's SIGKILL"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        parent.stdout.close()
        if child is not None and pid_alive(child):
            os.killpg(child, signal.SIGKILL)


def test_server_started_from_worker_thread_survives_thread_exit():
    """PR_SET_PDEATHSIG fires when the forking *thread* exits; we fork from a long-lived one."""
    import threading

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("srv", WebServer().start()))
    t.start()
    t.join()
    srv = box["srv"]
    try:
        time.sleep(0.5)
        assert srv.alive()
        assert httpx.get(f"{srv.url}/health").status_code == 200
    finally:
        srv.stop()
    assert not pid_alive(srv.pid)


def test_blog_benchmark_small_delay():
    delay = 0.2
    rows = run_blog_benchmark(delay=delay, n=6, n_pool=41)
    by = {(r.endpoint, r.n): r for r in rows}
    assert all(r.errors == 0 for r in rows)
    assert by[("/sync", 6)].total_s < 3 * delay  # not 6 x delay as claimed
    assert by[("/sync", 6)].claim_s == pytest.approx(6 * delay)
    assert by[("/async", 6)].total_s < 3 * delay
    assert by[("/bad", 6)].total_s >= 6 * delay * 0.95
    assert by[("/to_thread", 6)].expected_s == pytest.approx(
        -(-6 // min(32, os.cpu_count() + 4)) * delay)
    assert by[("/sync", 41)].total_s >= 2 * delay * 0.95  # 41 > 40 tokens: two waves
    assert "40" in by[("/sync", 41)].reason
