"""The app with the REAL runner: scenarios run in child processes, measured live.

Tiny brew times keep these fast. Every child process is gone after stop and after quit.
"""

from __future__ import annotations

import os
import time

import pytest

from test_app_fakes import run, text_of

from coffeeshop_tui.scenarios.runner import DONE, RUNNING, STOPPED
from coffeeshop_tui.tui.app import create_app
from coffeeshop_tui.tui.source import RunnerSource
from coffeeshop_tui.tui.timeline_view import TimelineView
from coffeeshop_tui.tui.widgets.scenario_list import ScenarioList

pytestmark = pytest.mark.slow  # starts real scenario children

HERE = os.path.dirname(os.path.abspath(__file__))
STUCK_FILE = os.path.join(HERE, "data", "stuck_scenario.py")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await pilot.pause(0.05)


async def start(pilot, name: str) -> None:
    lst = pilot.app.query_one(ScenarioList)
    lst.focus()
    lst.highlight_name(name)
    await pilot.pause()
    await pilot.press("r")


def test_real_blocking_barista_runs_measured_in_a_child_process():
    async def body():
        app = create_app()
        app.knob_debounce = 0
        app.values["blocking-barista"]["brew_s"] = 0.05
        async with app.run_test(size=(120, 40)) as pilot:
            await start(pilot, "blocking-barista")
            source = app._source
            assert isinstance(source, RunnerSource)
            await wait_for(pilot, lambda: app.latest is not None and app.latest.final)
            await pilot.pause()
            assert app.latest.status == DONE
            cap = text_of(app.query_one("#caption"))
            assert cap.startswith("serialized: 3 coffees took"), cap
            assert "time.sleep held the loop" in cap
            snap = app.query_one(TimelineView).snapshot
            assert [lane.kind for lane in snap.lanes].count("task") == 4
            assert len(snap.blocks) == 3
            assert all(b["where"].endswith("blocking_barista.py:10") for b in snap.blocks)
            assert app.latest.stats["blocked_s"] > 0.12
            assert not alive(source.run.pid)
            # a knob nudge reruns it with one more customer
            await pilot.press("greater_than_sign")
            await wait_for(pilot, lambda: app.latest is not None and app.latest.final
                           and app.latest.params.get("customers") == 4)
            await pilot.pause()
            assert text_of(app.query_one("#caption")).startswith("serialized: 4 coffees")
    run(body)


def test_stop_kills_a_scenario_stuck_in_time_sleep():
    async def body():
        app = create_app(scenario_file=STUCK_FILE)
        async with app.run_test(size=(120, 40)) as pilot:
            await start(pilot, "stuck")
            await wait_for(pilot, lambda: app.latest is not None and app.latest.status == RUNNING
                           and app.latest.snapshot.holding is not None and app.latest.snapshot.t_end > 0.1)
            await pilot.pause(0.3)
            # measured live: the caption and the source name the line holding the loop
            assert "blocked right now: time.sleep" in text_of(app.query_one("#caption"))
            assert app.query_one("#source").line is not None
            pid = app._source.run.pid
            assert alive(pid)
            await pilot.press("s")
            await wait_for(pilot, lambda: app.latest.final)
            assert app.latest.status == STOPPED
            assert not alive(pid)
    run(body)


def test_quit_stops_the_running_child_process():
    pids = []

    async def body():
        app = create_app(scenario_file=STUCK_FILE)
        async with app.run_test(size=(120, 40)) as pilot:
            await start(pilot, "stuck")
            await wait_for(pilot, lambda: app.latest is not None and app.latest.status == RUNNING)
            pids.append(app._source.run.pid)
            assert alive(pids[0])
            await pilot.press("q")
            await pilot.pause()

    run(body)
    deadline = time.monotonic() + 5
    while alive(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pids[0])


def test_a_scenario_that_leaves_with_os_exit_gets_a_reason():
    async def body():
        app = create_app(scenario_file=os.path.join(HERE, "data", "exits_midrun.py"))
        async with app.run_test(size=(120, 40)) as pilot:
            await start(pilot, "exits-midrun")
            await wait_for(pilot, lambda: app.latest is not None and app.latest.final)
            expected = "exited with status 7 (os._exit?) before it finished"
            assert expected in (app.latest.error or "")
            assert expected in text_of(app.query_one("#caption"))
    run(body)
