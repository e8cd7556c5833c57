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
