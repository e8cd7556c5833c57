"""Every screen fits: snapshots of the main screen, the help, a compare and the load screen at
80x24 (nothing essential cut) and 200x60 (the extra room used). Fed recorded captures (the load
screen: a recorded LoadUpdate feed, ReplayLoad; no server).

Update with ``--snapshot-update`` and check the text diff of each changed snapshot.
"""

from __future__ import annotations

import os
import time

import pytest
from conftest import ROOT
from test_app_fakes import fake_app, settle
from test_app_snapshots import _choose

from coffeeshop_tui.scenarios.web.load_replay import ReplayLoad

SIZES = [(80, 24), (200, 60)]
LOAD_CAPTURE = os.path.join(ROOT, "tests", "app_captures", "load-sync-users.jsonl")


def _compare(pilot_app_values=None):
    async def run_before(pilot) -> None:
        pilot.app.values["sync-barista"]["brew_s"] = 0.1
        await pilot.press("c")
        for _ in range(3):
            await settle(pilot)
        await pilot.pause(0.3)  # the source view scrolls to its marked line after a refresh
        pilot.app.clear_notifications()
        await pilot.pause()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_main_open_shop(snap_compare, size):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=size, run_before=_choose("open-shop"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_cpu_barista_two_pools(snap_compare, size):
    # the longest caption (two pools, the GIL): whole at 80x24, one or two rows at 200x60
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=size, run_before=_choose("cpu-barista"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_task_table(snap_compare, size):
    # the task table (a) over threadpool-barista: its title wraps at 80 columns, never cut
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=size, run_before=_choose("threadpool-barista", "a"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_help(snap_compare, size):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=size, press=["question_mark"])


def test_snapshot_compare_all_three_runs_200x60(snap_compare):
    # (80x24: test_app.py's test_compare_at_80x24_shows_all_three_runs; its snapshot differed
    # in styles only from run to run, so it is checked by what the timeline shows)
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(200, 60), run_before=_compare())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_load_screen_replayed(snap_compare, size):
    from coffeeshop_tui.tui.screens.load import LoadTestApp

    replay = ReplayLoad.from_file(LOAD_CAPTURE)
    # only the last update: the picture must not depend on which earlier ones the screen got
    # to apply (a busy machine coalesces them: a newer update replaces one not handled yet)
    replay.updates = replay.updates[-1:]
    last = replay.updates[-1]

    async def run_before(pilot) -> None:
        screen = pilot.app.load_screen
        deadline = time.monotonic() + 60  # (a generous bound: ~0.3 s here)
        while time.monotonic() < deadline and not (
                replay.finished and screen.shown is not None and screen.shown.caption == last.caption):
            await pilot.pause(0.05)
        assert screen.shown is not None and screen.shown.caption == last.caption, "the update was not shown"
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(LoadTestApp(loadtest=replay), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_load_help(snap_compare, size):
    # the load screen's help (its legend, keys and what Little's law's "not steady" means)
    from coffeeshop_tui.tui.screens.help import HelpScreen
    from coffeeshop_tui.tui.screens.load import LoadTestApp

    replay = ReplayLoad.from_file(LOAD_CAPTURE)
    replay.updates = replay.updates[-1:]

    async def run_before(pilot) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pilot.app.load_screen.shown is None:
            await pilot.pause(0.05)
        await pilot.press("question_mark")
        while time.monotonic() < deadline and not isinstance(pilot.app.screen, HelpScreen):
            await pilot.pause(0.05)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(LoadTestApp(loadtest=replay), terminal_size=size, run_before=run_before)
