import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")


def wait_until(pred, timeout: float = 15.0, step: float = 0.05) -> bool:
    """Poll ``pred()`` until it is true or ``timeout`` seconds pass; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def line_of(path: str, needle: str) -> int:
    """1-based line number of the first line containing ``needle``."""
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if needle in line:
                return i
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def no_leftover_children():
    """Fails a test that leaves a child process of the test run behind."""
    from coffeeshop_tui.scenarios.web.server import child_pids

    before = set(child_pids())
    yield
    deadline = time.monotonic() + 5
    while (left := set(child_pids()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"child processes left behind: {sorted(left)}"


@pytest.fixture
def server():
    """The demo FastAPI app served by a real uvicorn child on 127.0.0.1 (a free port)."""
    from coffeeshop_tui.scenarios.web.server import WebServer, pid_alive

    srv = WebServer().start()
    pid = srv.pid
    try:
        yield srv
    finally:
        srv.stop()
        assert not pid_alive(pid), f"server child {pid} still alive after stop()"


@pytest.fixture(params=["c", "python"])
def recorder_impl(request, monkeypatch):
    """Runs a test once with each recorder hot path: the compiled accelerator ("c"; skipped
    where it is not built, see tests/test_fastpath.py) and the pure-Python fallback. Child
    processes get the same choice through the environment."""
    from coffeeshop_tui.scenarios import recorder_hooks as h

    before = h.recorder_impl()
    if request.param == "c" and before != "c" and h.use_recorder("c") != "c":
        pytest.skip("the compiled accelerator is not built here")
    monkeypatch.setenv(h.ENV, request.param)
    assert h.use_recorder(request.param) == request.param
    yield request.param
    h.use_recorder(before)
