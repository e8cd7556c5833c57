"""Window statistics (load_stats) and request-to-handler matching (load_match): pure data, no server.

The live window and the final report call the same functions; these tests feed them rows
made by hand (times in ns) and check what they count.
"""

from __future__ import annotations

from coffeeshop_tui.scenarios.timeline import TaskInfo
from coffeeshop_tui.scenarios.web.load_match import MATCH_SLACK_NS, index_tasks, match_handler
from coffeeshop_tui.scenarios.web.load_report import server_section
from coffeeshop_tui.scenarios.web.load_stats import (
    BUSY_BUCKET_NS,
    ServerData,
    add_busy,
    pct,
    server_window,
    window_stats,
)
from coffeeshop_tui.scenarios.web.loadgen import OK, TIMEOUT

MS = 1_000_000
S = 1_000_000_000
T0 = 1_000 * S  # an arbitrary monotonic origin


def block(start, end, where="app.py:39", culprit="time.sleep", rid=""):
    return {"start_ns": start, "end_ns": end, "where": where, "culprit": culprit, "request_id": rid}


def stats(rows, inflight, w0, now, data=None, delay=0.1, model="closed"):
    return window_stats(rows, inflight, w0, now, server_window(data, w0, now, delay),
                        delay_s=delay, model=model, endpoint="/x")


# ----------------------------------------------------------------------------- server window
def test_a_start_up_block_before_the_window_is_not_counted():
    startup = block(T0 - 2 * S, T0 - 2 * S + 300 * MS, where="uvicorn/config.py:1", culprit="import")
    during = block(T0 + 100 * MS, T0 + 300 * MS)
    data = ServerData(blocks=[startup, during])
    w = server_window(data, T0, T0 + S, 0.2)
    assert w["w_blocks"] == 1
    assert w["w_blocked_s"] == 0.2
    assert w["block_where"] == "app.py:39" and w["block_culprit"] == "time.sleep"
    # the report uses the same window: its blocks and blocked time leave the start-up out
    rep = server_section(data, T0, T0 + S, stats([], [], T0, T0 + S, data, 0.2), lambda ns: (ns - T0) / 1e9,
                         pid=1, port=2, restarts=0, crashed=False, error=None, pool_total=40,
                         executor_workers=6)
    assert [b["where"] for b in rep["blocks"]] == ["app.py:39"]
    assert rep["blocked_s"] == 0.2


def test_a_block_straddling_the_window_start_counts_from_it():
    data = ServerData(blocks=[block(T0 - 100 * MS, T0 + 50 * MS)])
    w = server_window(data, T0, T0 + S, 0.1)
    assert w["w_blocks"] == 1 and abs(w["w_blocked_s"] - 0.05) < 1e-9


def test_busy_jobs_and_gauges_in_the_window_only():
    busy: list = []
    add_busy(busy, T0 - S, T0 - S + 80 * MS)  # before the window
    add_busy(busy, T0 + 10 * MS, T0 + 60 * MS)
    add_busy(busy, T0 + 70 * MS, T0 + 90 * MS)  # same bucket: summed
    assert len(busy) == 2 and busy[-1][1] == 70 * MS
    jobs = [
        (T0 - S, "anyio", "0|anyio|a", 0, "_run_sync_endpoint"),  # before
        (T0 + 200 * MS, "anyio", "0|anyio|a", 1 * MS, "_run_sync_endpoint"),
        (T0 + 300 * MS, "anyio", "0|anyio|b", 90 * MS, "_run_sync_endpoint"),  # waited for a thread
    ]
    gauges = [(T0 - S, 40, 40, 40), (T0 + 100 * MS, 3, 40, 3), (T0 + 500 * MS, 1, 40, 1)]
    w = server_window(ServerData(jobs=jobs, gauges=gauges, busy=busy), T0, T0 + S, 0.2)
    assert w["w_jobs"] == {"anyio": 2} and w["w_threads"] == {"anyio": 2}
    assert w["w_queued"] == 1 and abs(w["w_queue_max_s"] - 0.09) < 1e-9
    assert w["pool_max_borrowed"] == 3  # not the 40 before the window
    assert w["pool_borrowed"] == 1 and w["pool_total"] == 40 and w["server_in_flight"] == 1
    assert abs(w["w_busy_share"] - 0.07) < 1e-9
    assert BUSY_BUCKET_NS == 100 * MS


def test_a_block_going_on_now_is_reported():
    data = ServerData(held=(T0 + 500 * MS, T0 + S, "app.py:39", "time.sleep"))
    w = server_window(data, T0, T0 + S, 0.1)
    assert w["blocked_now_s"] == 0.5 and w["block_where"] == "app.py:39" and w["block_culprit"] == "time.sleep"


def test_no_server_data_no_server_numbers():
    assert server_window(None, T0, T0 + S, 0.1) == {}


# ----------------------------------------------------------------------------- client window
def test_rows_done_before_the_window_start_are_left_out():
    rows = [
        (T0 - 10 * MS, T0 - 200 * MS, T0 - 200 * MS, OK, 0),  # done before w0
        (T0 + 200 * MS, T0, T0, OK, 0),
        (T0 + 300 * MS, T0, T0, OK, 1),
        (T0 + 400 * MS, T0, T0, TIMEOUT, 2),
    ]
    s = stats(rows, [], T0, T0 + S)
    assert s.w_done == 3 and s.w_ok == 2 and s.w_errors == {"timeout": 1}
    assert s.p50_s == 0.2 and s.max_s == 0.3 and s.p99_s == 0.3
    assert abs(s.w_rps - 3.0) < 1e-9
    assert abs(s.w_avg_in_flight - 0.9) < 1e-9  # 0.2 + 0.3 + 0.4 s in 1 s
    assert s.burst and abs(s.batch_span_s - 0.4) < 1e-9  # 3 users, one request each
    assert s.waves == 3  # slowest OK (0.3 s) / delay (0.1 s)


def test_in_flight_requests_count_for_littles_law_not_for_latency():
    rows = [(T0 + 500 * MS, T0, T0, OK, 0)]
    s = stats(rows, [(T0 + 500 * MS, T0 + 500 * MS)], T0, T0 + S)
    assert s.w_done == 1 and not s.burst
    assert abs(s.w_avg_in_flight - 1.0) < 1e-9  # 0.5 s done + 0.5 s still in flight


def test_percentiles_nearest_rank():
    assert pct([], 50) == 0
    assert pct([1, 2, 3, 4], 50) == 2 and pct([1, 2, 3, 4], 99) == 4 and pct([5], 95) == 5


# ----------------------------------------------------------------------------- matching
def task(seq, created, tag="", done=None):
    return TaskInfo(seq, created, coro="RequestResponseCycle.run_asgi", tag=tag, done_ns=done)


def test_match_picks_the_handler_created_while_the_request_was_out():
    # the same id twice (a second generator restarts ids), and a restart (a new epoch)
    epoch0 = index_tasks({1: task(1, T0 + 1 * MS, "r000001"), 2: task(2, T0 + 5 * S, "r000001"),
                          3: task(3, T0 + 2 * MS, "")})
    epoch1 = index_tasks({1: task(1, T0 + 9 * S, "r000001")})
    indexes = [("ep0", epoch0), ("ep1", epoch1)]
    assert match_handler(indexes, "r000001", T0, T0 + 100 * MS) == ("ep0", 1)
    assert match_handler(indexes, "r000001", T0 + 5 * S - MS, T0 + 6 * S) == ("ep0", 2)
    assert match_handler(indexes, "r000001", T0 + 9 * S, 0) == ("ep1", 1)  # still in flight
    assert match_handler(indexes, "r000002", T0, T0 + S) is None
    # created a moment before the client's sent stamp: within the slack
    assert match_handler(indexes, "r000001", T0 + 1 * MS + MATCH_SLACK_NS // 2, T0 + S) == ("ep0", 1)
    # created after the answer: not this request's handler
    assert match_handler(indexes, "r000001", T0 + 10 * S, T0 + 11 * S) is None


def test_the_live_lanes_and_the_report_use_the_same_matcher():
    import inspect

    from coffeeshop_tui.scenarios.web import load_lanes, load_report, loadtest

    assert "match_handler(" in inspect.getsource(load_lanes.LaneBuilder._find)
    assert "match_handler(" in inspect.getsource(load_report.request_items)
    src = inspect.getsource(loadtest)
    assert "_match_full" not in src and "_find_handler" not in src and "_server_whole" not in src
