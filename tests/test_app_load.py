"""The main app's menu offers the FastAPI load tests: Enter opens the live screen."""

import asyncio
import time

import pytest

from coffeeshop_tui.scenarios.web.server import pid_alive
from coffeeshop_tui.tui.screens.load import LoadTestScreen
from coffeeshop_tui.tui.widgets.scenario_list import ScenarioList

from test_app_fakes import fake_app

pytestmark = pytest.mark.usefixtures("no_leftover_children")


async def _until(pilot, cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        await pilot.pause(0.1)
    return cond()


@pytest.mark.slow
def test_menu_opens_a_live_load_test_and_escape_stops_its_server():
    async def go():
        app, _ = fake_app()
        async with app.run_test(size=(120, 40)) as pilot:
            lst = app.query_one(ScenarioList)
            lst.focus()
            lst.highlighted = lst.get_option_index("load:/sync")
            await pilot.pause(0.2)
            assert "thread" in str(app.query_one("#lesson").render())  # its lesson is shown
            await pilot.press("enter")
            assert await _until(pilot, lambda: isinstance(app.screen, LoadTestScreen))
            screen = app.screen
            assert await _until(pilot, lambda: screen.latest and screen.latest.stats.ok >= 1)
            pid = screen.lt.server_pid
            assert pid_alive(pid)
            await pilot.press("escape")
            assert await _until(pilot, lambda: not isinstance(app.screen, LoadTestScreen))
            assert await _until(pilot, lambda: not pid_alive(pid), timeout=10)

    asyncio.run(go())
