"""Progressive launch: the first frame composes only the menu, the lesson, the welcome
caption, the header and the footer; every other panel is mounted right after it. Keys
pressed before then are kept and handled, in order, once the panels are there."""

from __future__ import annotations

import asyncio

from test_app_fakes import fake_app, run, settle
from textual.widgets import Footer

from coffeeshop_tui.tui.timeline_view import TimelineView

SIZE = (80, 24)
LATER = ("#knobs-title", "#knobs", "#knob-prompt", "#knob-input", "#notes", "#timeline", "#legend",
         "#cursor-info", "#bottom", "#source", "#stats", "#loop")


def test_the_first_frame_has_the_menu_and_footer_and_the_panels_follow():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert not app.panels_mounted.is_set(), "every panel was composed before the first frame"
            assert screen.query_one("#scenarios") is not None and screen.query_one(Footer) is not None
            assert not any(screen.query(sel) for sel in LATER)
            await asyncio.wait_for(app.panels_mounted.wait(), 30)
            await pilot.pause()
            for sel in LATER:
                assert screen.query_one(sel) is not None, sel
            # in the composed order: the knobs below the lesson, the timeline below the caption
            sidebar = [w.id for w in screen.query_one("#sidebar").children]
            assert sidebar == [None, "scenarios", "lesson", "knobs-title", "knobs", "knob-prompt", "knob-input"]
            main = [w.id for w in screen.query_one("#main").children]
            assert main == ["status", "caption", "notes", "timeline", "legend", "cursor-info", "bottom"]
            # the selected scenario's source and knobs, shown once their panels are there
            assert screen.query_one("#source").path == app.selected.source_file
            assert [p.name for p in screen.query_one("#knobs").params] == [p.name for p in app.selected.params]

    run(body)


def test_keys_pressed_at_launch_are_not_lost():
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            assert not app.panels_mounted.is_set()
            await pilot.press("r", "space")  # run, then pause: before the panels are mounted
            await asyncio.wait_for(app.panels_mounted.wait(), 30)
            await settle(pilot)
            assert [r.name for r in factory.requests] == [app.scenarios[0].name]
            assert app._paused  # the second key was handled after the first
            assert app.screen.query_one(TimelineView).snapshot is not None

    run(body)


def test_enter_typed_before_the_terminal_is_raw_still_runs_the_scenario():
    """An Enter typed while the app starts arrives as "\\n" (the cooked tty turns CR into NL),
    which Textual reads as ctrl+j: it counts as the Enter it was."""
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("down", "ctrl+j")
            await asyncio.wait_for(app.panels_mounted.wait(), 30)
            await settle(pilot)
            assert [r.name for r in factory.requests] == [app.scenarios[1].name]

    run(body)


def test_the_launch_gc_pause_ends_once_the_panels_are_mounted():
    """cmd_app launches with the cyclic GC off; once every panel is mounted it is back on, with
    what survived the launch frozen (the same callback cmd_app registers)."""
    import gc

    from coffeeshop_tui.tui.cli import end_launch_gc_pause

    async def body():
        app, _ = fake_app()
        app.when_panels_mounted(end_launch_gc_pause, app)
        gc.disable()
        async with app.run_test(size=SIZE) as pilot:
            assert not gc.isenabled()
            await asyncio.wait_for(app.panels_mounted.wait(), 30)
            for _ in range(50):
                await pilot.pause(0.02)
                if gc.isenabled():
                    break
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0

    try:
        run(body)
    finally:
        gc.unfreeze()
        gc.enable()
