"""Snapshot tests (pytest-textual-snapshot) of the main views, fed recorded captures.

Everything time-dependent is frozen: captures replay deterministically (stats computed in
every update), the header has no clock, notifications are cleared before the picture.
Update the pictures after an intended change with ``pytest --snapshot-update``.
"""

from __future__ import annotations

from test_app_fakes import FAILING_FILE, fake_app, settle

from coffeeshop_tui.tui.widgets.scenario_list import ScenarioList


def _choose(name: str, *keys: str, clear: bool = True):
    async def run_before(pilot) -> None:
        lst = pilot.app.query_one(ScenarioList)
        lst.highlight_name(name)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        if clear:
            pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


def test_snapshot_first_screen_80x24(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(80, 24))


def test_snapshot_blocking_barista_done_120x40(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=_choose("blocking-barista"))


def test_snapshot_blocking_barista_done_80x24(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(80, 24), run_before=_choose("blocking-barista"))


def test_snapshot_running_live_120x40(snap_compare):
    app, _ = fake_app(hold=True)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_choose("limited-baristas"))


def test_snapshot_threadpool_waves_120x40(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=_choose("threadpool-barista"))


def test_snapshot_forgotten_await_100x30(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(100, 30), run_before=_choose("forgotten-await"))


def test_snapshot_failed_scenario_100x30(snap_compare):
    app, _ = fake_app(scenario_file=FAILING_FILE)
    assert snap_compare(app, terminal_size=(100, 30), run_before=_choose("spilled-coffee"))


def test_snapshot_scrubbed_replay_120x40(snap_compare):
    app, _ = fake_app()
    keys = ["comma"] * 30  # paused, 60% of the way back
    assert snap_compare(app, terminal_size=(120, 40), run_before=_choose("blocking-barista", *keys))


def test_snapshot_compare_sync_async_blocking_120x40(snap_compare):
    async def run_before(pilot) -> None:
        pilot.app.values["sync-barista"]["brew_s"] = 0.1
        await pilot.press("c")
        for _ in range(3):
            await settle(pilot)
        await pilot.pause(0.1)
        pilot.app.clear_notifications()
        await pilot.pause()

    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_snapshot_help_screen_100x40(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(100, 40), press=["question_mark"])


def test_snapshot_light_theme_120x40(snap_compare):
    app, _ = fake_app()
    assert snap_compare(app, terminal_size=(120, 40), run_before=_choose("async-barista", "t"))


def test_snapshot_loop_panel_in_a_block_80x24(snap_compare):
    """``w``: the loop at the cursor's time (inside the first coffee's block) at 80x24."""
    from coffeeshop_tui.tui.timeline_view import TimelineView

    app, _ = fake_app()
    app.values["blocking-barista"].update({"customers": 3, "brew_s": 0.05})  # blocking-barista-loopq

    async def run_before(pilot) -> None:
        await _choose("blocking-barista", "w")(pilot)
        view = pilot.app.query_one(TimelineView)
        lane = min((lane for lane in view.snapshot.lanes if "make_coffee" in lane.label),
                   key=lambda lane: next(s.start for s in lane.segments if s.state == "blocked"))
        seg = next(s for s in lane.segments if s.state == "blocked")
        view.focus()
        view.set_cursor(lane.key, (seg.start + seg.end) / 2)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
