"""The load-test screen (coffeeshop_tui.tui.screens.load) with a real server on 127.0.0.1, driven by Pilot.

Async Textual tests run as sync tests calling asyncio.run(...) (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from coffeeshop_tui.scenarios.web.loadtest import DOWN, FAILED, RUNNING_
from coffeeshop_tui.scenarios.web.server import pid_alive
from coffeeshop_tui.tui.screens.help import HelpScreen
from coffeeshop_tui.tui.screens.load import LoadTestApp, LoadTestScreen
from coffeeshop_tui.tui.timeline_view import TimelineView


pytestmark = pytest.mark.usefixtures("no_leftover_children")  # from conftest


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).content)


async def until(pilot, cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await pilot.pause(0.1)
    return bool(cond())


@pytest.mark.slow
def test_live_screen_knobs_crash_restart_and_leave():
    async def go():
        app = LoadTestApp(endpoint="/async", concurrency=3, delay=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            assert isinstance(app.screen, LoadTestScreen)
            lt = screen.lt
            assert await until(pilot, lambda: screen.latest and screen.latest.stats.ok >= 6)
            u = screen.latest
            assert u.status == RUNNING_
            assert "`/async`" in text_of(screen, "#lt-caption")
            stats = text_of(screen, "#lt-stats")
            assert "in flight" in stats and "req/s" in stats and "p95" in stats and "Little's law" in stats
            view = screen.query_one("#lt-timeline", TimelineView)
            keys = [ln.key for ln in view.snapshot.lanes]
            assert keys[0] == "loop" and "user-0" in keys and "user-0-server" in keys
            assert "Knob +" in {b.binding.description for b in screen.active_bindings.values()}

            await pilot.press("greater_than_sign")  # users: 3 -> 4, live
            assert lt.concurrency == 4
            assert await until(pilot, lambda: lt.in_flight() == 4, timeout=10)
            await pilot.press("n")  # next endpoint after /async
            assert lt.endpoint == "/bad"
            await pilot.press("2")
            assert lt.endpoint == "/async"
            await pilot.press("k", "k", "less_than_sign")  # pool: 40 -> 30 (POST /_admin/pool)
            assert await until(pilot, lambda: lt.knobs()["pool_size"] == 30, timeout=10)
            await pilot.press("K", "K", "i")  # type a value for users
            await pilot.press("7", "enter")
            assert lt.concurrency == 7

            pid = lt.server_pid
            await pilot.press("X")  # kill the server: shown, the app stays up
            assert await until(pilot, lambda: screen.latest.status == DOWN)
            assert screen.query_one("#lt-message").has_class("shown")
            assert "killed by signal 9" in text_of(screen, "#lt-message")
            said = text_of(screen, "#lt-caption") + text_of(screen, "#lt-message")
            assert said.count("press r") == 1  # the caption says it; the message only what happened
            assert not pid_alive(pid)
            ok = screen.latest.stats.ok
            await pilot.press("r")  # restart on the same port; the load goes on
            assert await until(pilot, lambda: screen.latest.status == RUNNING_
                               and screen.latest.stats.ok > ok + 5)
            assert not screen.query_one("#lt-message").has_class("shown")
            new_pid = lt.server_pid
            assert new_pid != pid and pid_alive(new_pid)

            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert app.screen is screen

            await pilot.press("q")  # leave: stops everything, the standalone app exits
            await pilot.pause(0.2)
        return new_pid

    new_pid = asyncio.run(go())
    assert not pid_alive(new_pid)


@pytest.mark.slow
def test_port_in_use_is_shown_and_the_app_stays_up():
    async def go(port):
        app = LoadTestApp(endpoint="/async", concurrency=2, delay=0.05, port=port)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.load_screen
            assert await until(pilot, lambda: screen.query_one("#lt-message").has_class("shown"))
            assert "already in use" in text_of(screen, "#lt-message")
            assert screen.lt.status == FAILED and app.is_running
            await pilot.press("r")  # still in use: the same clear message, still up
            await pilot.pause(1.0)
            assert screen.lt.status == FAILED and app.is_running
            await pilot.press("q")
            await pilot.pause(0.2)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        asyncio.run(go(s.getsockname()[1]))


@pytest.mark.slow
def test_narrow_terminal_and_sync_waves_caption():
    async def go():
        app = LoadTestApp(endpoint="/sync", concurrency=4, delay=0.1, pool_size=3)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.load_screen
            assert screen.has_class("-narrow")
            assert await until(pilot, lambda: screen.latest and screen.latest.stats.w_queued >= 1)
            cap = text_of(screen, "#lt-caption")
            assert "pool of 3 threads" in cap and "busy" in cap
            view = screen.query_one("#lt-timeline", TimelineView)
            assert any(ln.kind == "thread" for ln in view.snapshot.lanes)
            await pilot.press("T")  # hide thread lanes
            assert await until(pilot, lambda: not any(ln.kind == "thread" for ln in view.snapshot.lanes))
            await pilot.press("l")  # one lane per request
            assert await until(pilot, lambda: any(ln.key.startswith("client-") for ln in view.snapshot.lanes))
            await pilot.press("q")
            await pilot.pause(0.2)

    asyncio.run(go())


@pytest.mark.slow
def test_a_host_app_that_pushes_the_screen_and_quits_stops_everything():
    """Like the main app: push LoadTestScreen from a menu, then quit the whole app."""
    from textual.app import App

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(LoadTestScreen("/sync", concurrency=2, delay=0.05))

    async def go():
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, LoadTestScreen)
            assert await until(pilot, lambda: screen.latest and screen.latest.stats.ok >= 3)
            pid = screen.lt.server_pid
            assert pid_alive(pid)
            app.exit()
        return pid

    pid = asyncio.run(go())
    assert not pid_alive(pid)


@pytest.mark.slow
def test_escape_returns_to_the_host_screen_and_stops_the_server():
    from textual.app import App
    from textual.widgets import Static

    class Host(App):
        def compose(self):
            yield Static("menu", id="menu")

    async def go():
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            screen = LoadTestScreen("/async", concurrency=2, delay=0.05)
            app.push_screen(screen)
            assert await until(pilot, lambda: screen.latest and screen.latest.stats.ok >= 3)
            pid = screen.lt.server_pid
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, LoadTestScreen)
            assert app.query_one("#menu")
            assert not pid_alive(pid)

    asyncio.run(go())
