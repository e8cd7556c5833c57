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
