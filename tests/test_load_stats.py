"""Window statistics (load_stats) and request-to-handler matching (load_match): pure data, no server.

The live window and the final report call the same functions; these tests feed them rows
made by hand (times in ns) and check what they count.
"""

from __future__ import annotations

from dataclasses import replace

from coffeeshop_tui.scenarios.timeline import TaskInfo
from coffeeshop_tui.scenarios.web.explain_load import LoadStats, caption, fmt_latency, text_summary
from coffeeshop_tui.scenarios.web.load_match import MATCH_SLACK_NS, index_tasks, match_handler
from coffeeshop_tui.scenarios.web.load_report import server_section
from coffeeshop_tui.scenarios.web.load_stats import (
    BUSY_BUCKET_NS,
    HIST_EDGES_NS,
    ServerData,
    add_busy,
    error_series,
    hdr_log_buckets,
    log_buckets,
    outside_window,
    pct,
    server_window,
    union_ns,
    window_stats,
)
from coffeeshop_tui.scenarios.web.loadgen_records import CANCELLED, CONNECT, OK, TIMEOUT, latency_start_ns

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


# ----------------------------------------------------------------------------- windows (issue 8.4)
def test_overlapping_blocks_never_exceed_the_window():
    """Nested / overlapping blocks (e.g. background work) count once: no share above 100%."""
    data = ServerData(blocks=[block(T0, T0 + 900 * MS), block(T0 + 100 * MS, T0 + S),
                              block(T0 + 200 * MS, T0 + 800 * MS, where="bg.py:3")])
    w = server_window(data, T0, T0 + S, 0.1)
    assert w["w_blocks"] == 3 and abs(w["w_blocked_s"] - 1.0) < 1e-9
    rows = [(T0 + S, T0, T0, OK, 0)]
    s = replace(stats(rows, [], T0, T0 + S, data), recorded=True)
    cap = caption(s)
    assert "held it 100% of the time" in cap, cap


def test_union_of_spans():
    assert union_ns([]) == 0
    assert union_ns([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25


def test_blocks_before_the_first_request_and_after_the_last_answer_are_reported_apart():
    startup = block(T0 - S, T0 - 700 * MS, where="main.py:5", culprit="time.sleep")  # a lifespan
    during = block(T0 + 100 * MS, T0 + 200 * MS)
    background = block(T0 + S + 10 * MS, T0 + 3 * S, where="tasks.py:9", culprit="time.sleep")
    data = ServerData(blocks=[startup, during, background])
    out = outside_window(data, T0, T0 + S)
    assert out["before_first_request"]["blocked_s"] == 0.3
    assert out["before_first_request"]["where"] == "main.py:5"
    assert abs(out["after_last_answer"]["blocked_s"] - 1.99) < 1e-9
    s = stats([(T0 + S, T0, T0, OK, 0)], [], T0, T0 + S, data)
    assert abs(s.w_blocked_s - 0.1) < 1e-9  # only the block inside the window
    s = replace(s, pre_blocked_s=0.3, post_blocked_s=1.99, post_block_culprit="time.sleep")
    cap = caption(s)
    assert "before the first request, the server's start-up held the loop for 300 ms" in cap
    assert "after the last answer, background work held the loop for 1.99 s (time.sleep)" in cap


def test_work_after_the_response_and_outlived_tasks_are_named_per_request():
    """Blocks flagged by load_match.block_phase: background work after the response and a
    spawned task that outlived its request are named as such, per request, never as the
    endpoint's handling; the head sentence says whose work held the loop."""
    bg = [dict(block(T0 + k * 100 * MS, T0 + k * 100 * MS + 70 * MS, where="shop.py:9", rid=f"r{k}"),
               after_response=True) for k in range(4)]
    data = ServerData(blocks=bg)
    w = server_window(data, T0, T0 + 400 * MS, None)
    assert w["after_requests"] == 4 and abs(w["after_per_request_s"] - 0.07) < 1e-9
    assert w["block_kind"] == "after" and "w_outlived_s" not in w
    rows = [(T0 + k * 100 * MS + MS, T0 + k * 100 * MS, T0 + k * 100 * MS, OK, 0) for k in range(4)]
    s = replace(stats(rows, [], T0, T0 + 400 * MS, data, delay=None), recorded=True)
    cap = caption(s)
    assert "blocks the event loop after answering (work of its requests after their response)" in cap, cap
    assert "background work after the response blocked the loop 70.0 ms per request (time.sleep, shop.py:9)" in cap
    own = block(T0, T0 + 200 * MS, where="shop.py:3", rid="r0")
    spawned = dict(block(T0 + 250 * MS, T0 + 280 * MS, where="shop.py:20", rid="r0"), outlived=True)
    s = replace(stats(rows, [], T0, T0 + 400 * MS, ServerData(blocks=[own, spawned]), delay=None),
                recorded=True)
    assert s.block_kind == "" and s.block_where == "shop.py:3"
    cap = caption(s)
    assert "that outlived their requests blocked the loop 30.0 ms per request" in cap, cap
    held = ServerData(held=(T0 + 300 * MS, T0 + 400 * MS, "shop.py:9", "time.sleep", "after"))
    s = replace(stats(rows, [], T0, T0 + 400 * MS, held, delay=None), recorded=True)
    assert "background work after the response is blocking the event loop right now" in caption(s)


def test_live_counts_name_their_window():
    rows = [(T0 + 200 * MS + k, T0 + 100 * MS, T0 + 100 * MS, OK, k) for k in range(50)]
    s = replace(stats(rows, [(T0 + 900 * MS, T0 + 900 * MS)], T0, T0 + 5 * S), live=True)
    assert "50 requests overlapped in the last 5 s" in caption(s)
    final = replace(s, live=False)
    assert "50 requests overlapped," in caption(final)


def test_a_switch_starts_a_fresh_window():
    """Requests started before the switch (the old endpoint) are not the new one's."""
    switch = T0 + 500 * MS
    rows = [(T0 + 600 * MS, T0 + 100 * MS, T0 + 100 * MS, OK, 0),  # old endpoint, done after
            (T0 + 900 * MS, T0 + 550 * MS, T0 + 550 * MS, OK, 1)]
    inflight = [(T0 + 200 * MS, T0 + 200 * MS), (T0 + 950 * MS, T0 + 950 * MS)]
    s = window_stats(rows, inflight, switch, T0 + S, {}, delay_s=0.3, model="closed", fresh_ns=switch)
    assert s.w_done == 1 and s.p50_s == 0.35
    assert abs(s.w_avg_in_flight - (0.35 + 0.05) / 0.5) < 1e-9


# ----------------------------------------------------------------------------- latency (issue 8.5)
def test_closed_latency_starts_when_sent_open_latency_at_the_intended_start():
    # the generator's own start-up: intended at T0, sent 100 ms later, answered 50 ms after that
    closed = stats([(T0 + 150 * MS, T0, T0 + 100 * MS, OK, 0)], [], T0, T0 + S)
    assert closed.p50_s == 0.05
    opened = stats([(T0 + 150 * MS, T0, T0 + 100 * MS, OK, -1)], [], T0, T0 + S, model="open")
    assert opened.p50_s == 0.15
    assert latency_start_ns(1, 2, 0) == 2 and latency_start_ns(1, 2, -1) == 1
    assert latency_start_ns(1, 0, 3) == 1  # never sent: from the intended start


# ----------------------------------------------------------------------------- failures (8.6)
def test_no_success_no_percentiles_and_throughput_counts_successes():
    rows = [(T0 + k * 10 * MS, T0 + k * 10 * MS, T0 + k * 10 * MS, CONNECT, -1) for k in range(1, 89)]
    s = replace(stats(rows, [], T0, T0 + S, model="open"), server_state="down", error_total=88,
                errors={"connect": 88})
    assert s.p50_s is None and s.p95_s is None and s.max_s is None
    assert s.w_ok_rps == 0.0 and abs(s.w_rps - 88.0) < 1e-9
    assert fmt_latency(s.p50_s) == "—"
    summary = text_summary({"url": "u", "stats": s.to_dict(), "caption": caption(s)})
    assert "p50 —  p95 —" in summary and "(no successful answer)" in summary
    assert "throughput 0.00 req/s ok, errors 88.00/s" in summary


def test_cancelled_at_the_end_is_unfinished_not_a_failure():
    rows = [(T0 + 100 * MS, T0, T0, OK, 0), (T0 + 200 * MS, T0, T0, CANCELLED, 1)]
    s = stats(rows, [], T0, T0 + S)
    assert s.w_done == 1 and s.w_unfinished == 1 and s.w_errors == {}


def _pool_stats(max_borrowed, total=40, queued=3):
    return LoadStats(endpoint="/sync", recorded=True, w_done=10, w_ok=10, window_s=1.0, delay_s=0.1,
                     p50_s=0.1, w_jobs={"anyio": 10}, w_threads={"anyio": 10},
                     w_job_labels={"_run_sync_endpoint": 10}, pool_total=total,
                     pool_max_borrowed=max_borrowed, w_queued=queued, w_queue_max_s=0.2)


def test_all_threads_busy_only_when_the_tokens_ran_out():
    assert "all 40 threads were busy: 3 requests waited up to 200 ms for a free thread" in caption(
        _pool_stats(40))
    cap = caption(_pool_stats(1))
    assert "threads were busy" not in cap
    assert "3 requests waited up to 200 ms for a thread to start" in cap


def test_dropped_requests_are_in_the_caption():
    s = replace(_pool_stats(1, queued=0), dropped=120)
    assert "could not send 120 requests on time" in caption(s)


# ----------------------------------------------------------------------------- histogram, errors over time
def test_log_buckets_live_and_hdr_agree():
    from hdrh.histogram import HdrHistogram

    vals = sorted([500_000, 1_500_000, 1_900_000, 30 * MS, 30 * MS, 700 * MS, 45 * S])
    counts = log_buckets(vals)
    assert len(counts) == len(HIST_EDGES_NS) and sum(counts) == len(vals)
    assert counts[0] == 1 and counts[1] == 2 and counts[HIST_EDGES_NS.index(50 * MS)] == 2
    assert counts[-1] == 1  # slower than 30 s
    h = HdrHistogram(1, 3_600_000_000, 3)
    for v in vals:
        h.record_value(v // 1000)
    assert hdr_log_buckets(h) == counts
    s = stats([(T0 + v, T0, T0, OK, 0) for v in vals if v < S], [], T0, T0 + S)
    assert s.w_hist == log_buckets([v for v in vals if v < S])


def test_error_kinds_over_the_window():
    rows = [(T0 + 50 * MS, T0, T0, CONNECT, 0), (T0 + 950 * MS, T0, T0, CONNECT, 1),
            (T0 + 960 * MS, T0, T0, TIMEOUT, 2), (T0 + 970 * MS, T0, T0, OK, 3)]
    assert error_series(rows, T0, T0 + S, bins=10) == {"connect": (1, 0, 0, 0, 0, 0, 0, 0, 0, 1),
                                                       "timeout": (0,) * 9 + (1,)}
    assert stats(rows, [], T0, T0 + S).w_error_series["connect"][0] == 1


def test_histogram_and_sparkline_text():
    from coffeeshop_tui.tui.screens.load import histogram_text, sparkline

    assert sparkline([0, 1, 2, 4]) == " ▂▄█"
    counts = [0] * len(HIST_EDGES_NS)
    counts[3], counts[5] = 4, 8  # (5, 10] ms and (20, 50] ms
    assert histogram_text(counts) == "5ms ▄ █ 50ms"
    assert histogram_text([0] * len(HIST_EDGES_NS)) == ""


def test_a_block_from_before_a_switch_is_not_the_new_endpoints():
    data = ServerData(held=(T0 + 100 * MS, T0 + S, "app.py:39", "time.sleep"))
    switch = T0 + 500 * MS
    w = server_window(data, switch, T0 + S, 0.1, fresh_ns=switch)
    assert w["blocked_now_earlier"]
    s = window_stats([], [], switch, T0 + S, w, delay_s=0.1, model="closed", endpoint="/sync")
    cap = caption(s)
    assert cap.startswith("a request sent before the switch is blocking the event loop right now"), cap
    assert not server_window(data, T0, T0 + S, 0.1)["blocked_now_earlier"]


def test_blocks_of_requests_sent_before_a_switch_are_not_the_new_endpoints():
    """Old requests queued on the server keep blocking its loop after a switch (41 x /bad:
    ~41 s): their blocks, and the one going on now, are the earlier endpoint's."""
    from coffeeshop_tui.scenarios.web.load_stats import without_requests

    switch = T0 + 500 * MS
    data = ServerData(blocks=[block(T0 + 600 * MS, T0 + 700 * MS, rid="r000041"),   # old, after the switch
                              block(T0 + 800 * MS, T0 + 830 * MS, where="app.py:60", rid="r000042")],
                      held=(T0 + 900 * MS, T0 + S, "app.py:39", "time.sleep", "", "r000040"))
    w = server_window(without_requests(data, 41), switch, T0 + S, 0.1, fresh_ns=switch)
    assert w["w_blocks"] == 1 and abs(w["w_blocked_s"] - 0.03) < 1e-9
    assert w["blocked_now_earlier"]  # (the block going on now: where it is, whose it is)
    w_all = server_window(data, switch, T0 + S, 0.1, fresh_ns=switch)
    assert w_all["w_blocks"] == 2 and not w_all["blocked_now_earlier"]


class _SwitchedGenerator:
    """What LoadTest reads of a generator, after a switch from /bad to /async: records and
    requests in flight, each with the index of the target it was sent to."""

    def __init__(self, records, in_flight) -> None:
        self.targets = ("http://127.0.0.1:1/bad?delay=1", "http://127.0.0.1:1/async?delay=1")
        self.url = self.targets[1]
        self._records, self._in_flight = tuple(records), tuple(in_flight)

    def records_since(self, cursor=0, limit=None):
        from coffeeshop_tui.scenarios.web.loadgen_records import RecordBatch

        return RecordBatch(self._records[cursor:], len(self._records), 0)

    def in_flight_requests(self):
        return self._in_flight

    def stop(self) -> None:  # (a restart pauses the load)
        pass

    def snapshot(self):
        from types import SimpleNamespace

        n = len(self._records)
        return SimpleNamespace(done=n, ok=n, issued=n + len(self._in_flight), dropped_arrivals=0, errors={})


def test_switching_endpoint_starts_a_fresh_window_of_the_new_endpoints_requests_only():
    """Requests the generator sent to the old target after the switch was asked for (before it
    took effect, up to ~0.1 s under load) are the old endpoint's too: they are left out of the
    live window, by the target each was sent to, not by the time alone."""
    from coffeeshop_tui.scenarios.web.load_session import now_ns
    from coffeeshop_tui.scenarios.web.loadgen_records import InFlight, RequestRecord
    from coffeeshop_tui.scenarios.web.loadtest import LoadTest

    lt = LoadTest("/async", url="http://127.0.0.1:1", lanes=False, delay=1.0, concurrency=4)
    t = now_ns() - 10 * S
    switch = t + 5 * S

    def rec(seq, rid, user, intended, took, target):
        return RequestRecord(seq, rid, user, intended, intended, intended + took // 2, intended + took,
                             200, OK, True, target)

    records = [rec(0, 1, 0, t + 1 * S, 7 * S, 0),               # /bad, sent before the switch
               rec(1, 3, 2, switch + 20 * MS, 3 * S, 0),        # /bad, sent just after it (not applied yet)
               rec(2, 4, 3, switch + 60 * MS, 1010 * MS, 1),    # /async
               rec(3, 5, 3, switch + 1100 * MS, 1005 * MS, 1)]  # /async
    in_flight = [InFlight(2, 1, t + 2 * S, t + 2 * S, 0),         # /bad, still out
                 InFlight(6, 2, switch + 3100 * MS, switch + 3100 * MS, 1),
                 InFlight(7, 0, switch + 4000 * MS, 0, -1)]        # queued in the client: not sent yet
    gen = _SwitchedGenerator(records[:1], in_flight[:1])
    gen.url = gen.targets[0]  # before the switch
    lt._gens = [[1, gen, None]]
    lt.endpoint = "/bad"
    assert lt.update().caption.startswith("`/bad`")  # (its numbers are kept 0.25 s)
    lt.endpoint, lt._fresh_ns = "/async", switch  # set_endpoint, then the generator retargets
    gen.url, gen._records, gen._in_flight = gen.targets[1], tuple(records), tuple(in_flight)
    u = lt.update()  # at once: not the old endpoint's numbers and caption
    s = u.stats
    assert s.w_done == 2 and s.w_ok == 2, s
    assert abs(s.max_s - 1.01) < 1e-6 and s.p50_s is not None and s.p50_s < 1.1
    assert s.in_flight == 2 and s.earlier_in_flight == 1
    assert "`/async`" in u.caption and "3 s" not in u.caption, u.caption
    from coffeeshop_tui.tui.screens.load_text import stats_text

    assert "in flight 2 (+1 before the switch)" in stats_text(u).plain



class _RestartedServer:
    """What LoadTest and ServerFeed use of a recorded WebServer: a new recording (an epoch)
    at each restart, fed by hand."""

    def __init__(self, t_start: int) -> None:
        import threading

        self.lock = threading.RLock()
        self.timeline = None
        self.pid, self.port, self.url, self.returncode = 4242, 1, "http://127.0.0.1:1", None
        self.restart(t_start)

    def restart(self, t_start: int | None = None) -> None:
        from coffeeshop_tui.scenarios.timeline import Timeline
        from coffeeshop_tui.scenarios.web.load_session import now_ns

        self.timeline = Timeline(block_ms=25)
        self.timeline.start(now_ns() if t_start is None else t_start)

    def kill(self) -> None:
        pass

    def stop(self, timeout=None) -> None:
        pass

    def alive(self) -> bool:
        return True

    def log_tail(self, n=0) -> str:
        return ""


def _handler(seq: int, rid: str, t: int, held_ns: int, in_flight: int) -> dict:
    """A recorder batch: request ``rid``'s handler task, created at ``t``, one step of
    ``held_ns`` on the loop (a block if >= 25 ms), then a thread-pool job and a gauge."""
    e = t + MS + held_ns
    return {"tasks": [(seq, t, None, "RequestResponseCycle.run_asgi", "h11_impl.py:1", 0, False)],
            "tags": [(seq, rid)], "steps": [t + MS, e, seq],
            "jobs": [("anyio", f"AnyIO worker thread|{seq}", e, e + MS, e + 2 * MS, seq, "_run_sync_endpoint")],
            "done": [(seq, e + 3 * MS, "ok")],
            "gauges": [(e + 2 * MS, {"pool_borrowed": 1, "pool_total": 40, "in_flight": in_flight})],
            "t": e + 4 * MS}


def test_a_restart_starts_a_fresh_window_for_client_and_server_figures(monkeypatch):
    """/bad, switch to /async, restart (the tour's r): the old server's blocks of /bad
    requests (sent before the switch, handled after it) are not blamed on /async once the
    new generator (whose ids restart) runs on the new server; its busy time, thread-pool jobs
    and gauges are not the new server's either: the window starts at the restart."""
    import time

    from coffeeshop_tui.scenarios.web.load_feed import ServerFeed
    from coffeeshop_tui.scenarios.web.load_session import now_ns
    from coffeeshop_tui.scenarios.web.loadgen_records import RequestRecord
    from coffeeshop_tui.scenarios.web.loadtest import STATS_INTERVAL_NS, LoadTest

    t = now_ns() - 20 * S
    switch = t + 5 * S

    def rec(seq, rid, intended, done, target):
        return RequestRecord(seq, rid, 0, intended, intended, intended + MS, done, 200, OK, True, target)

    # the old server: /bad requests r1..r3 (sent before the switch) hold its loop 4 s each
    # after the switch, /async r4 waits behind them; it is killed at t + 19 s
    srv = _RestartedServer(t)
    for k in range(3):
        srv.timeline.ingest(_handler(k + 1, f"r00000{k + 1}", switch + 4 * k * S, 4 * S - 2 * MS, 41))
    srv.timeline.ingest(_handler(4, "r000004", t + 17 * S, MS, 41))
    old = _SwitchedGenerator([rec(0, 1, t + 500 * MS, t + 9 * S, 0), rec(1, 2, t + 600 * MS, t + 13 * S, 0),
                              rec(2, 3, t + 700 * MS, t + 17 * S, 0), rec(3, 4, switch + 100 * MS, t + 17 * S, 1)],
                             [])
    lt = LoadTest("/async", lanes=False, delay=1.0, concurrency=4)
    try:
        lt.server, lt.server_pid = srv, srv.pid
        lt.feed = ServerFeed(srv, lt.origin_ns, lt.history_ns, lanes=False)
        lt._state, lt._load, lt._gen, lt._lg = "up", "running", 1, old
        lt._gens = [[1, old, None]]
        lt._fresh_ns = switch  # set_endpoint("/async")
        monkeypatch.setattr(lt, "_read_pool", lambda: None)
        before = lt.update()
        assert before.stats.w_blocks == 0 and "blocks" not in before.caption, before.caption  # (the switch)

        new = _SwitchedGenerator([], [])
        new.targets = (new.targets[1],)

        def start_load():  # the new generator, on the new server
            lt._gen += 1
            lt._lg, lt._load = new, "running"
            lt._gens.append([lt._gen, new, None])

        monkeypatch.setattr(lt, "_start_load", start_load)
        t_restart = now_ns()
        lt.restart()
        t_up = now_ns()
        assert lt._lg is new
        u = lt.update()  # the new server has said nothing yet: nothing of the old one is "now"
        assert u.stats.server_in_flight is None and u.stats.w_blocks == 0, u.stats
        assert "blocks" not in u.caption, u.caption
        # the new server answers /async r1, r2 (ids restart) without blocking
        srv.timeline.ingest(_handler(1, "r000001", t_up + MS, MS, 2))
        srv.timeline.ingest(_handler(2, "r000002", t_up + 2 * MS, MS, 1))
        new._records = (rec(0, 1, t_up + MS, t_up + 10 * MS, 0), rec(1, 2, t_up + 2 * MS, t_up + 11 * MS, 0))
        time.sleep(STATS_INTERVAL_NS / 1e9 + 0.05)  # (the numbers are recomputed 4 times a second)
        u = lt.update()
        s = u.stats
        assert s.w_done == 2 and s.w_ok == 2, s
        assert s.w_blocks == 0 and s.w_blocked_s == 0, (s.w_blocks, s.w_blocked_s, u.caption)
        assert "blocks the event loop" not in u.caption and "time.sleep" not in u.caption, u.caption
        assert s.window_s <= (now_ns() - t_restart) / 1e9  # the window starts at the restart
        assert s.w_busy_share < 0.5, s.w_busy_share  # the new loop's steps only (2 ms), over that span
        assert s.w_jobs == {"anyio": 2} and s.server_in_flight == 1  # the new server's pool and gauges
    finally:
        lt.stop()
