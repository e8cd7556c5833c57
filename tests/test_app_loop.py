"""The loop panel (``w``): what the loop held at the cursor's time, from recorded captures."""

from __future__ import annotations

from test_app_fakes import fake_app, run, settle, text_of

from coffeeshop_tui.scenarios.explain import fmt_s
from coffeeshop_tui.tui import keymap
from coffeeshop_tui.tui.timeline_view import TimelineView
from coffeeshop_tui.tui.widgets.loop_panel import LoopPanel
from coffeeshop_tui.tui.widgets.scenario_list import ScenarioList

LOOPQ = {"customers": 3, "brew_s": 0.05}  # the params of the *-loopq captures (test_app_fakes.py)


async def choose(pilot, name: str, params: dict) -> None:
    pilot.app.values[name].update(params)
    lst = pilot.app.query_one(ScenarioList)
    lst.focus()
    lst.highlight_name(name)
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


def test_w_is_in_the_keymap_help_and_palette_of_both_screens():
    keys = [k for k in keymap.KEYS if "w" in k.keys.split(",")]
    assert [k.action for k in keys] == ["loop_panel"]  # one meaning: the loop at the cursor
    for screen in (keymap.SCENARIO, keymap.LOAD):  # the load screen: its server's loop
        assert any(row[0] == "w" for row in keymap.help_rows(screen))
        assert any(action == "loop_panel" for _t, _h, action in keymap.palette(screen))
    assert "server's loop" in dict(keymap.help_rows(keymap.LOAD))["w"]


def test_the_loop_panel_follows_the_cursor_through_a_block():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await choose(pilot, "blocking-barista", LOOPQ)
            panel = app.query_one(LoopPanel)
            assert not panel.display
            await pilot.press("w")
            await pilot.pause()
            assert panel.display and not app.query_one("#source").display and not app.query_one("#stats").display
            view = app.query_one(TimelineView)
            lanes = [lane for lane in view.snapshot.lanes if "make_coffee" in lane.label]
            first, second, third = sorted(lanes, key=lambda lane: next(s.start for s in lane.segments
                                                                        if s.state == "blocked"))
            seg = next(s for s in first.segments if s.state == "blocked")
            view.focus()
            view.set_cursor(first.key, (seg.start + seg.end) / 2)
            await pilot.pause()
            text = text_of(panel)
            assert "running " + first.label in text
            assert "Ready queue (2)" in text and second.label in text and third.label in text
            # scrub the cursor into the second coffee's block: one left in the queue
            seg2 = next(s for s in second.segments if s.state == "blocked")
            view.set_cursor(second.key, (seg2.start + seg2.end) / 2)
            await pilot.pause()
            text = text_of(panel)
            assert "running " + second.label in text and "Ready queue (1)" in text and third.label in text
            await pilot.press("w")
            await pilot.pause()
            assert not panel.display and app.query_one("#source").display
    run(body)


def test_the_loop_panel_shows_timers_and_the_select_of_an_idle_loop():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await choose(pilot, "async-barista", LOOPQ)
            await pilot.press("w")
            view = app.query_one(TimelineView)
            lane = next(lane for lane in view.snapshot.lanes if "make_coffee" in lane.label)
            seg = next(s for s in lane.segments if s.state == "waiting")
            view.focus()
            view.set_cursor(lane.key, (seg.start + seg.end) / 2)
            await pilot.pause()
            text = text_of(app.query_one(LoopPanel))
            assert "idle in select" in text and "(= the next timer)" in text
            assert "Next timers (3)" in text and "sleep " + lane.label in text
            assert "self-pipe" in text
    run(body)


def test_a_capture_recorded_before_the_loop_queue_says_not_recorded():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await choose(pilot, "sync-barista", {"customers": 3, "brew_s": 0.1})
            await pilot.press("w")
            await pilot.pause()
            assert "not recorded" in text_of(app.query_one(LoopPanel))
    run(body)


def test_without_a_cursor_the_panel_follows_the_scrubbed_time():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await choose(pilot, "blocking-barista", LOOPQ)
            await pilot.press("w")
            await pilot.pause()
            panel = app.query_one(LoopPanel)
            at_end = text_of(panel)
            app.query_one(ScenarioList).focus()
            await pilot.press("home")  # to the start of the run (pauses there)
            await pilot.pause()
            for _ in range(3):
                await pilot.press("full_stop")  # scrub forward a column at a time
                await pilot.pause()
            scrubbed = text_of(panel)
            assert scrubbed != at_end and scrubbed.startswith("Loop at ")
            assert app._t_view is not None and f"Loop at {fmt_s(app._t_view)}" in scrubbed
    run(body)


def test_at_the_live_edge_of_a_block_the_panel_names_the_step_still_running():
    """A step that has not ended is not in the recorded steps yet: the panel says it runs (as
    the caption's "blocked right now" does), not "between steps"."""
    from coffeeshop_tui.scenarios.loop_moment import LoopMoment
    from coffeeshop_tui.scenarios.snapshot import Snapshot
    from coffeeshop_tui.tui.widgets.loop_panel import held_at, moment_text

    def label(seq):
        return {2: "Task-2 (make_coffee)"}.get(seq, f"task #{seq}")

    between = LoopMoment(2_880_000_000, True, "between")
    live = Snapshot(version=3, live=True, t_end=2.88, lanes=(), holding=(2, 2.0, "b.py:10"))
    text = moment_text(between, 2.88, label, held_at(live, 2.88)).plain
    assert "running Task-2 (make_coffee), 880 ms into a step that has not ended yet" in text
    assert "between steps" not in text
    # what waits behind it is read from the steps after it: not "empty", not known yet
    assert "Ready queue: not known yet" in text and "Ready queue (0): empty" not in text
    # before the step began, or once the run is over: the recorded steps speak alone
    assert held_at(live, 1.5) is None
    done = Snapshot(version=4, live=False, t_end=2.88, lanes=(), holding=(2, 2.0, "b.py:10"))
    assert held_at(done, 2.88) is None
    assert "between steps" in moment_text(between, 1.5, label, held_at(live, 1.5)).plain
    # the live edge with no step holding the loop: not "between steps", which it rarely is
    idle = Snapshot(version=5, live=True, t_end=2.88, lanes=())
    text = moment_text(between, 2.88, label, held_at(idle, 2.88)).plain
    assert "live edge" in text and "between steps" not in text
    assert "Ready queue: not known yet" in text
    assert "Ready queue (0): empty" in moment_text(between, 1.5, label, None).plain
    assert held_at(idle, 2.0) is None


def test_the_ready_queue_behind_a_step_under_way_comes_from_the_select_before_it():
    """At the live edge during a block, the steps after it are not recorded yet; the select
    before it recorded what it queued (3 call_soon'd, fd 7 readable, a timer due): less the
    step run since and the running one, 3 wait behind it."""
    from coffeeshop_tui.scenarios.loop_moment import READ, LoopLog, loop_at, queued_behind
    from coffeeshop_tui.tui.widgets.loop_panel import moment_text

    log = LoopLog()
    log.ingest({"tasks": [], "steps": [1001, 1002, 5], "loop": {
        "selects": [1000, -1, 3, 1], "io": [(1000, [7, READ])], "regs": [(10, 7, READ, "uvicorn", 9, "", 0)],
        "timers": [(500, 900, 1, 4, "sleep")]}})
    view = log.view()
    m = loop_at(view, 1500)
    assert m.state == "between" and not m.ready
    entries, n = queued_behind(view, 1500)
    assert n == 3 and [r.how for r in entries] == ["call_soon", "io", "timer"]
    assert "fd 7 readable" in entries[1].what and not entries[0].certain

    def label(seq):
        return f"task #{seq}"

    text = moment_text(m, 1.5e-6, label, (5, 1.002e-6), (entries, n)).plain
    assert "Ready queue (3, from the select before this step): 1 call_soon'd (named once they run)" in text
    assert "fd 7 readable" in text and "timer due" in text
    log.ingest({"tasks": [], "steps": [2001, 2002, 6], "loop": {"selects": [2000, -1, 1, 0]}})
    assert queued_behind(log.view(), 1500) is None  # that iteration is over: its steps say it
