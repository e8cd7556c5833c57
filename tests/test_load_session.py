"""The load-test session's locking (no server): knob changes never wait for an update being built."""

from __future__ import annotations

import threading

from coffeeshop_tui.scenarios.web.load_lanes import ViewOptions
from coffeeshop_tui.scenarios.web.loadtest import LoadTest


def test_knob_changes_do_not_wait_for_an_update_being_built():
    lt = LoadTest("/sync", concurrency=2)  # not started: nothing runs
    done = threading.Event()

    def ui_thread():
        lt.set_concurrency(5)
        lt.set_delay(0.5)
        lt.set_endpoint("/async")
        lt.knobs()
        done.set()

    try:
        with lt._reader:  # what update() holds while it builds lanes and statistics
            t = threading.Thread(target=ui_thread)
            t.start()
            assert done.wait(10), "a knob change waited for the update being built"
            t.join()
        knobs = lt.knobs()
        assert knobs["concurrency"] == 5 and knobs["delay"] == 0.5 and knobs["endpoint"] == "/async"
    finally:
        lt.stop()


def test_update_of_a_test_that_never_started_takes_view_options():
    lt = LoadTest("/sync", concurrency=2, lane_mode="users")
    try:
        u = lt.update(view=ViewOptions(handlers=False, threads=False, lane_mode="requests"))
        assert u.snapshot.extra["lane_mode"] == "requests"
        assert lt.lane_mode == "users"  # the session's own default did not change
        assert u.knobs["concurrency"] == 2 and u.status == "starting"
    finally:
        lt.stop()


def test_not_an_asgi_app_is_recognised_in_the_servers_log():
    import os

    from coffeeshop_tui.scenarios.web import load_session

    mw = os.path.join(os.path.dirname(load_session.__file__), "middleware.py")
    log = (
        "ERROR:    Exception in ASGI application\nTraceback (most recent call last):\n"
        '  File "/x/uvicorn/protocols/http/h11_impl.py", line 411, in run_asgi\n    result = await app(\n'
        f'  File "{mw}", line 150, in __call__\n    await self.app(scope, receive, send_with_id)\n'
        "TypeError: posix.getcwd() takes no arguments (3 given)\n"
    )
    assert load_session.asgi_call_error(log) == "TypeError: posix.getcwd() takes no arguments (3 given)"
    # a TypeError inside the user's own endpoint is their bug, not a wrong --app
    inside = log.replace("TypeError: posix", '  File "/home/me/shop.py", line 9, in orders\n    x()\nTypeError: posix')
    assert load_session.asgi_call_error(inside) is None
    assert load_session.asgi_call_error("INFO: started") is None


class _FakeGen:
    """A generator's reading interface, with records made by hand (no loop, no server)."""

    def __init__(self, records):
        self.records = records
        self.targets = ("http://127.0.0.1:1/sync",)
        self.url = self.targets[0]

    def records_since(self, cursor=0, limit=None):
        from coffeeshop_tui.scenarios.web.loadgen_records import RecordBatch

        return RecordBatch(tuple(self.records[cursor:]), len(self.records), 0)

    def in_flight_requests(self):
        return ()

    def snapshot(self):
        raise AssertionError("not needed")


def test_the_reader_keeps_per_request_rows_for_the_history_only(monkeypatch):
    """Memory stays flat over a long load: per-request rows older than the history (plus a
    quarter, so trimming happens in chunks) are dropped, whatever the number of requests."""
    import concurrent.futures
    import time as _time

    from coffeeshop_tui.scenarios.web import loadtest as loadtest_module
    from coffeeshop_tui.scenarios.web.loadgen_records import OK, RequestRecord

    history_s = 2.0
    lt = LoadTest("/sync", concurrency=2, history_s=history_s, lanes=False)
    now = _time.monotonic_ns()
    # the reader's "now" stays the records' now: on a busy machine, making 40,000 records took
    # longer than the history, and every row was (rightly) trimmed
    monkeypatch.setattr(loadtest_module, "now_ns", lambda: now)
    per_s = 2_000
    n = int(20 * per_s)  # 20 s of requests at 2,000/s, the last one just now
    recs = [RequestRecord(k, k + 1, 0, t - 1_000_000, t - 1_000_000, t, t, 200, OK, True)
            for k, t in enumerate(now - (n - k) * (1_000_000_000 // per_s) for k in range(n))]
    fut = concurrent.futures.Future()
    fut.set_result(None)
    lt._gens.append([1, _FakeGen(recs), fut])
    try:
        lt._poll_client(lt.view)
        assert len(lt._rows) <= 1.25 * history_s * per_s + per_s, len(lt._rows)
        assert lt._rows[-1][0] == recs[-1].done_ns  # the newest are kept
        assert lt.record_capacity <= 200_000
    finally:
        lt._gens.clear()
        lt.stop()
