"""Pilot tests of the app: every binding and knob, fed recorded captures (deterministic)."""

from __future__ import annotations

import asyncio
import json
import math
import os

import pytest

from test_app_fakes import FAILING_FILE, FakeClock, FakeFactory, fake_app, run, settle, text_of

from coffeeshop_tui.scenarios.explain import fmt_s
from coffeeshop_tui.scenarios.runner import DONE, FAILED, RUNNING, STOPPED
from coffeeshop_tui.tui.app import CoffeeShopApp, create_app
from coffeeshop_tui.tui.screens.help import HelpScreen
from coffeeshop_tui.tui.timeline_view import TimelineView
from coffeeshop_tui.tui.widgets.knobs import KnobPanel, format_value
from coffeeshop_tui.tui.widgets.scenario_list import ScenarioList

SIZE = (120, 40)


def caption(app) -> str:
    return text_of(app.query_one("#caption"))


def rendered(widget) -> str:
    """What a Static shows, rendered to plain text (also a Rich table)."""
    from rich.console import Console

    console = Console(width=60, record=True, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


def status(app) -> str:
    return text_of(app.query_one("#status"))


async def choose(pilot, name: str) -> None:
    """Highlight scenario ``name`` in the list and run it with enter."""
    lst = pilot.app.query_one(ScenarioList)
    lst.focus()
    lst.highlight_name(name)
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


def lane_labels(app) -> list[str]:
    snap = app.query_one(TimelineView).snapshot
    return [(lane.group + ": " if lane.group else "") + lane.label for lane in snap.lanes]


# ------------------------------------------------------------------ first screen
def test_create_app_is_the_one_factory():
    app = create_app()
    assert isinstance(app, CoffeeShopApp)
    assert app.block_ms == 25.0 and app.scenario_file is None
    app2 = create_app(scenario_file=FAILING_FILE, block_ms=10.0, source_factory=FakeFactory())
    assert app2.block_ms == 10.0 and "spilled-coffee" in app2.by_name


def test_first_screen_lists_grouped_scenarios_with_lesson_and_footer_keys():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            lst = app.query_one(ScenarioList)
            ids = [lst.get_option_at_index(i).id for i in range(lst.option_count)]
            assert ids[0] == "group:Barista scenarios"
            assert {"sync-barista", "async-barista", "blocking-barista"} <= set(ids)
            assert lst.get_option_at_index(0).disabled
            assert app.selected.name == "sync-barista"
            assert "One barista, one coffee at a time" in text_of(app.query_one("#lesson"))
            assert "no run yet" in status(app)
            assert "compare sync, async and blocking" in caption(app)
            keys = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
            assert {"r", "s", "q", "question_mark"} <= keys
            assert "ctrl+q" in {b.binding.key for b in app.screen.active_bindings.values()}
            await pilot.press("down")
            assert app.selected.name == "async-barista"
            assert "gather" in text_of(app.query_one("#lesson"))
            assert factory.requests == []  # highlighting never runs anything
    run(body)


def test_enter_runs_the_highlighted_scenario_and_animates_its_lanes():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            assert [r.name for r in factory.requests] == ["blocking-barista"]
            assert app.latest.status == DONE and app.latest.final
            labels = lane_labels(app)
            assert labels[0] == "event loop"
            assert sum("make_coffee" in lb for lb in labels) == 3
            assert caption(app).startswith("serialized: 3 coffees took")
            assert "x brew because time.sleep held the loop" in caption(app)
            assert "done" in status(app) and "customers=3" in status(app)
            # the source line that held the loop is marked
            src = app.query_one("#source")
            assert src.line is not None and "time.sleep" in src.code.splitlines()[src.line - 1]
    run(body)


def test_updates_arrive_as_a_stream_and_are_applied_in_order():
    async def body():
        app, factory = fake_app(pace=0.005)
        seen = []

        def hook(message):
            from coffeeshop_tui.tui.messages import FeedUpdated
            if isinstance(message, FeedUpdated):
                seen.append(message.update)

        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            await choose(pilot, "blocking-barista")
        assert len(seen) >= 3
        assert seen[-1].final and not any(u.final for u in seen[:-1])
        ends = [u.snapshot.t_end for u in seen[:-1]]  # (the final one is the run's end time)
        assert ends == sorted(ends)
    run(body)


def test_r_reruns_and_stops_the_previous_source():
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "async-barista")
            assert app.latest.status == RUNNING
            await pilot.press("r")
            await settle(pilot)
            assert [r.run_id for r in factory.requests] == [1, 2]
            assert factory.sources[0].stopped
            assert app.latest.run_id == 2
    run(body)


def test_s_stops_a_running_scenario():
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            assert app.latest.status == RUNNING and "running" in status(app)
            await pilot.press("s")
            await settle(pilot)
            assert factory.sources[0].stopped
            assert app.latest.status == STOPPED and "stopped" in status(app)
            await pilot.press("s")  # nothing running: a notice, no error
            await pilot.pause()
    run(body)


@pytest.mark.parametrize("key", ["q", "ctrl+q", "ctrl+c"])
def test_quit_keys_stop_every_source(key):
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            await pilot.press(key)
            await pilot.pause()
        assert factory.sources and all(s.stopped for s in factory.sources)
        assert app._exit_renderables is not None or not app.is_running
    run(body)


def test_help_screen_shows_legend_and_keys_and_closes():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            texts = " ".join(str(getattr(w, "content", "")) for w in app.screen.query("Static"))
            assert "Colours" in texts and "Keys" in texts
            states = [row[0] for legend in app.screen.text.legends for row in legend]
            assert {"running", "blocked", "starved", "waiting", "thread"} <= set(states)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("question_mark")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
    run(body)


# ------------------------------------------------------------------ replay
def test_space_pauses_and_resumes_the_display():
    async def body():
        clock = FakeClock()
        app, _ = fake_app(clock=clock)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("space")  # nothing to pause yet: no crash
            await choose(pilot, "blocking-barista")
            view = app.query_one(TimelineView)
            t_end = view.snapshot.t_end
            await pilot.press("space")
            assert app._paused and view.clip == pytest.approx(t_end)
            assert "paused" in status(app)
            clock.advance(5.0)
            app._advance_replay()
            assert view.clip == pytest.approx(t_end)  # paused: time passing moves nothing
            await pilot.press("space")
            assert not app._paused
            # resumed at the end of a finished run: it plays again from the start
            assert app._t_view == 0.0
            clock.advance(0.1)
            app._advance_replay()
            assert app._t_view == pytest.approx(0.1)
    run(body)


def test_m_cycles_slow_motion_and_replays_from_the_start():
    async def body():
        clock = FakeClock()
        app, _ = fake_app(clock=clock)

        def tick(seconds: float) -> None:
            clock.advance(seconds)
            app._advance_replay()

        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            view = app.query_one(TimelineView)
            t_end = view.snapshot.t_end
            await pilot.press("m")
            assert app._speed_i == 1 and "0.25x" in status(app)
            assert view.clip == 0.0  # a finished run replays from its start
            tick(0.2)
            assert view.clip == pytest.approx(0.05)  # a quarter of real time
            tick(0.2)
            assert view.clip == pytest.approx(0.10)
            tick(0)
            assert view.clip == pytest.approx(0.10)  # no time, no movement
            await pilot.press("m", "m")
            assert "0.01x" in status(app)
            tick(1.0)
            assert view.clip == pytest.approx(0.11)
            await pilot.press("m")
            assert app._speed_i == 0
            # at 1x the replay catches up and shows everything again
            tick(t_end)
            assert view.clip is None and app._t_view is None
    run(body)


def test_slow_motion_applies_to_a_new_run():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("m", "m", "m")  # 0.01x before any run
            await choose(pilot, "blocking-barista")
            view = app.query_one(TimelineView)
            assert view.clip is not None and view.clip < 0.05  # 0.3 s run lasts 30 s
    run(body)


def test_comma_and_full_stop_scrub_one_column_of_the_timeline():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            view = app.query_one(TimelineView)
            t_end = view.snapshot.t_end
            step = view.seconds_per_cell  # the step follows the zoom: one column
            await pilot.press("comma")
            assert app._paused and view.clip == pytest.approx(t_end - step)
            await pilot.press("comma", "comma")
            assert view.clip == pytest.approx(t_end - 3 * step)
            await pilot.press("full_stop")
            assert view.clip == pytest.approx(t_end - 2 * step)
            view.zoom(-1)  # zoomed in: smaller steps
            finer = view.seconds_per_cell
            assert finer < step
            before = view.clip
            await pilot.press("comma")
            assert view.clip == pytest.approx(before - finer)
            for _ in range(60):
                await pilot.press("pageup")  # a screen at a time
            assert view.clip == 0.0
            # scrubbed into the first block: its source line is marked
            await pilot.press("full_stop")
            src = app.query_one("#source")
            assert src.line is not None and "holding the loop" in src.note
    run(body)


def test_a_scrubbed_view_shows_the_caption_and_stats_of_that_moment():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            final_caption = caption(app)
            assert final_caption.startswith("serialized")
            await pilot.press("home")
            assert app._paused and app._t_view == 0.0
            assert caption(app).startswith("at 0 s, so far: 0 of")
            await pilot.press(*["full_stop"] * 40)
            t = app._t_view
            assert 0 < t < app._t_end()
            text = caption(app)
            assert text.startswith(f"at {fmt_s(t)}, ")
            stats = app.query_one("#stats-table")
            assert fmt_s(t) in rendered(stats)
            assert "mid-run" in rendered(stats)
            await pilot.press("pagedown")  # the timeline fits the run: one screen is all of it
            assert app._t_view == pytest.approx(app._t_end())
            assert caption(app) == final_caption
            await pilot.press("home", "end")  # back to the end: the run's own caption and stats
            assert not app._paused and app._t_view is None
            assert caption(app) == final_caption
            assert "mid-run" not in rendered(stats)
    run(body)


def test_pause_freezes_caption_stats_and_axis_of_a_live_run():
    async def body():
        app, factory = fake_app(hold=True, pace=0.25)  # ~2.5 s of feed: room to freeze mid-run
        async with app.run_test(size=SIZE) as pilot:
            lst = app.query_one(ScenarioList)
            lst.focus()
            lst.highlight_name("open-shop")
            await pilot.pause()
            await pilot.press("enter")
            while app.latest is None or app.latest.snapshot.t_end <= 0:
                await pilot.pause(0.01)
            await pilot.press("space")
            view = app.query_one(TimelineView)
            frozen = (view.snapshot, view.window, caption(app), rendered(app.query_one("#stats-table")))
            src = factory.sources[-1]
            src.reached_end.wait(10)
            await pilot.pause(0.1)
            assert app.latest.snapshot.t_end > frozen[0].t_end  # the run went on...
            # ...but nothing shown moved: timeline, axis, caption, stats
            assert (view.snapshot, view.window, caption(app),
                    rendered(app.query_one("#stats-table"))) == frozen
            await pilot.press("space")
            assert view.snapshot.t_end == app.latest.snapshot.t_end  # live again
    run(body)


def test_f_fits_and_a_short_finished_run_fills_the_axis():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "async-barista")
            view = app.query_one(TimelineView)
            t_end = view.snapshot.t_end
            assert view.fitting and view.window[1] == pytest.approx(t_end)
            view.focus()
            await pilot.press("plus", "plus")
            assert not view.fitting
            app.query_one(ScenarioList).focus()
            await pilot.press("f")
            assert view.fitting and view.window[1] == pytest.approx(t_end)
    run(body)


# ------------------------------------------------------------------ knobs
def test_at_80x24_every_knob_value_shows_and_long_names_are_shortened():
    """threadpool-barista's `executor_workers` once pushed every value off the 80-column
    sidebar: `customers …`."""
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.wait_for(app.panels_mounted.wait(), 30)  # the knobs follow the first frame
            app.query_one(ScenarioList).highlight_name("threadpool-barista")
            knobs = app.query_one(KnobPanel)
            for _ in range(100):  # the highlight reaches the knob panel through a message
                await pilot.pause(0.02)
                if "executor_workers" in [p.name for p in knobs.params]:
                    break
            assert "executor_workers" in [p.name for p in knobs.params]
            lines = knobs.render().plain.splitlines()
            assert len(lines) == len(knobs.params)
            for p, line in zip(knobs.params, lines):
                value = format_value(p, app.values["threadpool-barista"][p.name])
                assert len(line) <= knobs.content_size.width
                assert line.rstrip().split(" ")[-1] == value or f" {value} " in line, line
            assert any("…" in line.split()[1] for line in lines)  # a shortened name
    run(body)


def test_knob_keys_select_and_nudge_and_rerun_with_the_new_value():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            knobs = app.query_one(KnobPanel)
            assert [p.name for p in knobs.params] == ["customers", "brew_s"]
            assert knobs.selected == 0
            await pilot.press("greater_than_sign")
            await settle(pilot)
            assert factory.requests[-1].params["customers"] == 4
            assert app.values["blocking-barista"]["customers"] == 4
            assert caption(app).startswith("serialized: 4 coffees")
            assert sum("make_coffee" in lb for lb in lane_labels(app)) == 4
            await pilot.press("less_than_sign")
            await settle(pilot)
            assert factory.requests[-1].params["customers"] == 3
            await pilot.press("k")
            assert knobs.selected == 1
            await pilot.press("greater_than_sign")
            await settle(pilot)
            assert factory.requests[-1].params["brew_s"] == pytest.approx(0.2)
            await pilot.press("K")
            assert knobs.selected == 0
            # at the minimum: no rerun
            app.values["blocking-barista"]["customers"] = 1
            n = len(factory.requests)
            await pilot.press("less_than_sign")
            await pilot.pause()
            assert len(factory.requests) == n
    run(body)


def test_knob_nudges_are_debounced_into_one_rerun():
    async def body():
        app, factory = fake_app()
        app_debounce = 0.2
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            app.knob_debounce = app_debounce
            await pilot.press("greater_than_sign", "greater_than_sign", "greater_than_sign")
            await pilot.pause(app_debounce + 0.2)
            await settle(pilot)
            assert [r.params["customers"] for r in factory.requests] == [3, 6]
    run(body)


def test_knob_panel_keys_when_focused():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            knobs = app.query_one(KnobPanel)
            knobs.focus()
            await pilot.press("down")
            assert knobs.selected == 1
            await pilot.press("right")
            await settle(pilot)
            assert factory.requests[-1].params["brew_s"] == pytest.approx(0.2)
            await pilot.press("left")
            await settle(pilot)
            assert factory.requests[-1].params["brew_s"] == pytest.approx(0.1)
            await pilot.press("up", "enter")
            assert app.focused is app.query_one("#knob-input")
    run(body)


def test_i_edits_a_knob_in_an_input():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            await pilot.press("i")
            inp = app.query_one("#knob-input")
            assert app.focused is inp and inp.display and inp.value == "3"
            inp.value = ""
            await pilot.press("x", "y", "enter")  # not a number: an error, the input stays
            await pilot.pause()
            assert inp.display and len(factory.requests) == 1
            assert any("not a valid int" in n.message for n in app._notifications)
            inp.value = ""
            await pilot.press("9", "9", "enter")  # out of range [1, 50]
            await pilot.pause()
            assert len(factory.requests) == 1
            inp.value = ""
            await pilot.press("4", "enter")
            await settle(pilot)
            assert not inp.display
            assert factory.requests[-1].params["customers"] == 4
            await pilot.press("i")
            await pilot.press("escape")
            assert not inp.display and len(factory.requests) == 2
    run(body)


def test_open_shop_knob_changes_apply_live_without_a_rerun():
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "open-shop")
            assert app.latest.status == RUNNING and app.latest.live_knobs
            assert "live" in text_of(app.query_one("#knobs-title"))
            await pilot.press("greater_than_sign")  # rate 20 -> 20.5
            await pilot.pause()
            assert len(factory.requests) == 1
            assert factory.sources[0].knobs == [("rate", 20.5)]
            # once it has ended, a knob change reruns it
            await pilot.press("s")
            await settle(pilot)
            await pilot.press("greater_than_sign")
            await pilot.pause()
            assert len(factory.requests) == 2 and factory.requests[-1].params["rate"] == 21.0
    run(body)


# ------------------------------------------------------------------ compare
def test_p_pins_a_run_and_the_next_run_shares_the_axis_and_x_clears():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")  # nothing to pin: a notice
            await choose(pilot, "sync-barista")
            await pilot.press("p")
            assert [p.label for p in app.pins] == ["A sync-barista"]
            await pilot.press("p")  # already pinned
            assert len(app.pins) == 1
            await choose(pilot, "async-barista")
            groups = {lane.group for lane in app.query_one(TimelineView).snapshot.lanes}
            assert groups == {"A sync-barista", "B async-barista"}
            assert "pinned: A sync-barista" in status(app)
            await pilot.press("x")
            assert app.pins == []
            groups = {lane.group for lane in app.query_one(TimelineView).snapshot.lanes}
            assert groups == {""}
    run(body)


def test_c_compares_sync_async_blocking_on_one_axis():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            app.values["sync-barista"]["brew_s"] = 0.1  # the shared knobs come from the selection
            await pilot.press("c")
            for _ in range(3):
                await settle(pilot)
            await pilot.pause(0.1)
            assert [r.name for r in factory.requests] == ["sync-barista", "async-barista", "blocking-barista"]
            assert all(r.params["brew_s"] == 0.1 for r in factory.requests)
            assert [p.label for p in app.pins] == ["A sync-barista", "B async-barista", "C blocking-barista"]
            snap = app.query_one(TimelineView).snapshot
            assert [lane.group for lane in snap.lanes if lane.kind == "loop"] == [p.label for p in app.pins]
            walls = [p.stats["wall_s"] for p in app.pins]
            assert walls[1] < walls[0] / 2 and walls[1] < walls[2] / 2  # async overlaps
    run(body)


def test_a_stop_during_compare_ends_the_sequence():
    async def body():
        app, factory = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("c")
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            await pilot.pause(0.1)
            assert [r.name for r in factory.requests] == ["sync-barista"]
            assert app.pins == []
    run(body)


# ------------------------------------------------------------------ export, theme, palette
def test_e_exports_a_chrome_trace_and_an_svg(tmp_path):
    async def body():
        app, _ = fake_app()
        app.export_dir = str(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("e")  # nothing yet: a notice
            await choose(pilot, "blocking-barista")
            await pilot.press("e")
            await pilot.pause()
            files = sorted(os.listdir(tmp_path))
            assert len(files) == 2
            trace = next(f for f in files if f.endswith(".trace.json"))
            svg = next(f for f in files if f.endswith(".svg"))
            doc = json.loads((tmp_path / trace).read_text())
            assert any(ev.get("cat") == "blocked" for ev in doc["traceEvents"])
            assert "<svg" in (tmp_path / svg).read_text()[:500]
            assert any(trace in n.message for n in app._notifications)
    run(body)


def test_t_toggles_light_and_dark():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            dark = app.current_theme.dark
            await pilot.press("t")
            assert app.current_theme.dark != dark
            assert app.query_one("#source").dark == app.current_theme.dark
            await pilot.press("t")
            assert app.current_theme.dark == dark
    run(body)


def test_command_palette_lists_the_actions():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await asyncio.wait_for(app.panels_mounted.wait(), 30)  # the timeline (and its zoom commands) follows the first frame
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for want in ("Run / rerun", "Stop", "Pause / resume", "Slow motion", "Pin run",
                         "Compare sync vs async vs blocking", "Export", "Toggle light / dark", "Help",
                         "Zoom in", "Zoom to fit", "Knob up", "Edit knob"):
                assert want in titles
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"compare sync")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause(0.3)
            await settle(pilot)
            assert app.requests and app.requests[0].name == "sync-barista"
    run(body)


# ------------------------------------------------------------------ errors
def test_a_failing_scenario_shows_its_error_not_a_crash():
    async def body():
        app, _ = fake_app(scenario_file=FAILING_FILE)
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "spilled-coffee")
            assert app.latest.status == FAILED
            assert "ZeroDivisionError" in status(app)
            assert "ZeroDivisionError" in caption(app)
            assert "failing_scenarios.py" in status(app)
            assert app.is_running
    run(body)


def test_a_broken_source_factory_or_producer_is_an_error_line():
    class Boom:
        def __init__(self, request):
            self.request = request

        def start(self):
            pass

        def stop(self):
            self.stopped = True

        def set_knob(self, name, value):
            return False

        def chrome_trace(self):
            return None

        def updates(self):
            raise RuntimeError("the producer broke")
            yield

    def broken_factory(request):
        raise OSError("no processes left")

    async def body(factory, needle):
        app = create_app(source_factory=factory)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")
            await pilot.pause(0.2)
            assert app.latest.status == FAILED
            assert needle in status(app)
            assert app.is_running

    run(body, broken_factory, "no processes left")
    run(body, Boom, "the producer broke")


# ------------------------------------------------------------------ timeline cursor
def test_a_trimmed_recording_says_from_when_it_is_kept():
    """A long live run keeps its newest KEEP_S seconds: the status line says from when."""
    from coffeeshop_tui.scenarios.timeline import Timeline

    async def body():
        app, factory = fake_app()
        made = factory.__call__

        def short_memory(request):  # the capture's recording, keeping only its newest 0.1 s
            src = made(request)
            src.timeline = Timeline(block_ms=request.block_ms, max_age_s=0.1)
            return src

        app.source_factory = short_memory
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            snap = app.latest.snapshot
            kept = snap.extra["kept_from"]
            assert 0 < kept < snap.t_end
            assert f"(kept from {fmt_s(kept)})" in status(app)
    run(body)


def test_timeline_cursor_shows_the_segment_under_it():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            view = app.query_one(TimelineView)
            view.focus()
            await pilot.press("down")  # places the cursor on a lane
            await pilot.pause()
            info = text_of(app.query_one("#cursor-info"))
            assert "event loop" in info or "Task-" in info
            lane = next(l for l in view.snapshot.lanes if "make_coffee" in l.label)
            seg = next(s for s in lane.segments if s.state == "blocked")
            view.set_cursor(lane.key, (seg.start + seg.end) / 2)
            await pilot.pause()
            info = text_of(app.query_one("#cursor-info"))
            assert lane.label in info and "blocked" in info and "blocking_barista.py:10" in info
            assert view.highlighted_task == lane.task
            src = app.query_one("#source")
            assert src.line == 10 and src.note == "under the cursor"
    run(body)


def test_timeline_cursor_says_what_a_waiting_task_awaits():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "limited-baristas")
            view = app.query_one(TimelineView)
            view.focus()
            lane = next(l for l in view.snapshot.lanes if any(s.state == "lock" for s in l.segments))
            seg = next(s for s in lane.segments if s.state == "lock")
            view.set_cursor(lane.key, (seg.start + seg.end) / 2)
            info = await readout_says(pilot, "semaphore")
            assert "lock" in info and "waiting: semaphore `counter` (limited_baristas.py:" in info
            src = app.query_one("#source")  # the line that made the semaphore
            assert src.line and "asyncio.Semaphore(" in src.code.splitlines()[src.line - 1]
            seg = next(s for s in lane.segments if s.state == "waiting")
            view.set_cursor(lane.key, (seg.start + seg.end) / 2)
            await pilot.pause()
            assert "waiting: sleep" in text_of(app.query_one("#cursor-info"))
    run(body)


async def readout_says(pilot, needle: str, tries: int = 50) -> str:
    """The cursor readout once it mentions ``needle`` (the cursor's message may take a few
    message-loop turns on a busy machine), else what it says."""
    info = ""
    for _ in range(tries):
        await pilot.pause(0.02)
        info = text_of(pilot.app.query_one("#cursor-info"))
        if needle in info:
            break
    return info


def test_the_readout_shows_a_wait_reason_at_80x24_and_forgets_the_last_run():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await choose(pilot, "limited-baristas")
            view = app.query_one(TimelineView)
            view.focus()
            lane = next(l for l in view.snapshot.lanes if any(s.state == "lock" for s in l.segments))
            seg = next(s for s in lane.segments if s.state == "lock")
            view.set_cursor(lane.key, (seg.start + seg.end) / 2)
            info = await readout_says(pilot, "semaphore")
            assert "waiting: semaphore `counter`" in info
            # on screen, not cut off: the readout takes a 2nd line where one is too narrow
            widget = app.query_one("#cursor-info")
            shown = ""
            for _ in range(50):  # the new text is laid out (2 rows) on a later refresh
                shown = "".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))
                if "semaphore `counter`" in shown.replace("\n", ""):
                    break
                await pilot.pause(0.02)
            assert "semaphore `counter`" in shown.replace("\n", "")
            assert widget.outer_size.height == 2
            # a new run without that lane (compare): the readout does not keep the old segment
            await pilot.press("c")
            await pilot.pause(0.1)
            info = text_of(widget)
            assert "semaphore" not in info and "Task-" not in info
            assert "tab to the timeline" in info
    run(body)


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize("size", [(80, 24), (60, 20), (40, 12), (20, 6), (200, 60)])
def test_small_and_large_terminals_do_not_crash(size):
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=size) as pilot:
            await choose(pilot, "threadpool-barista")
            await pilot.press("question_mark")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert app.latest.final
            app.save_screenshot(os.devnull)
    run(body)


def test_resizing_relays_out_with_breakpoints():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.screen.has_class("-narrow") and app.screen.has_class("-short")
            narrow = app.query_one("#sidebar").size.width
            await pilot.resize_terminal(140, 45)
            await pilot.pause()
            assert app.screen.has_class("-wide") and app.screen.has_class("-tall")
            assert app.query_one("#sidebar").size.width > narrow
    run(body)


def test_a_crash_inside_the_app_still_stops_every_source():
    async def body():
        app, factory = fake_app(hold=True)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await choose(pilot, "blocking-barista")

                def boom():
                    raise RuntimeError("a bug in the app")

                app._show_caption = boom
                await pilot.press("r")  # the crash happens while handling the rerun
                await pilot.pause(0.3)
        except Exception:
            pass
        assert app.return_code not in (None, 0) or app._exception is not None
        assert len(factory.sources) >= 1 and all(s.stopped for s in factory.sources)
    run(body)


def test_updates_keep_flowing_while_the_help_screen_is_open():
    async def body():
        app, _ = fake_app(pace=0.01)
        async with app.run_test(size=SIZE) as pilot:
            lst = app.query_one(ScenarioList)
            lst.highlight_name("blocking-barista")
            await pilot.press("enter", "question_mark")
            await pilot.pause(0.05)
            assert isinstance(app.screen, HelpScreen)
            await settle(pilot)
            assert app.latest.final and app.is_running
            await pilot.press("escape")
            assert caption(app).startswith("serialized: 3 coffees")
    run(body)


def test_space_on_a_live_run_freezes_the_view_and_resumes_live():
    async def body():
        app, _ = fake_app(hold=True)
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            view = app.query_one(TimelineView)
            await pilot.press("space")
            assert app._paused and view.clip is not None
            await pilot.press("space")
            assert not app._paused and view.clip is None and "live" in status(app)
    run(body)


def test_a_highlighted_load_test_owns_the_panels_no_key_acts_on_the_previous_scenario():
    async def body():
        app, factory = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            lst = app.query_one(ScenarioList)
            lst.focus()
            lst.highlight_name("sync-barista")
            await pilot.pause()
            lst.highlighted = lst.get_option_index("load:/sync")
            await pilot.pause()
            assert app.highlighted_load == "/sync"
            assert "app.py" in (app.query_one("#source").path or "")
            assert app.query_one(KnobPanel).params == ()
            await pilot.press("greater_than_sign", "less_than_sign", "k", "i", "8")
            await pilot.pause()
            assert factory.requests == []  # nothing ran: sync-barista's knobs are not on screen
            assert not app.query_one("#knob-input").display
            # back on a scenario, its knobs act again
            lst.highlight_name("sync-barista")
            await pilot.pause()
            assert app.highlighted_load is None
            await pilot.press("greater_than_sign")
            await pilot.pause(0.2)
            assert [r.name for r in factory.requests] == ["sync-barista"]
    run(body)


def test_one_keymap_a_key_means_the_same_on_every_screen():
    from coffeeshop_tui.tui import keymap

    seen: dict[str, dict[str, str]] = {}
    for k in keymap.KEYS:
        for key in k.keys.split(","):
            for screen in k.screens:
                seen.setdefault(key, {})[screen] = k.action
    # one meaning per key, said in each screen's words: r runs it again (the scenario / the
    # server), q leaves (the app / the load screen), escape backs out (of typing / the screen)
    same = [{"run", "restart"}, {"quit", "close"}, {"cancel_edit", "close"}]
    for key, by_screen in seen.items():
        actions = set(by_screen.values())
        assert len(actions) == 1 or actions in same, (key, by_screen)
    # the footer, the help and the palette come from it
    from coffeeshop_tui.tui.screens.load import LoadTestScreen

    assert [b.key for b in CoffeeShopApp.BINDINGS] == [b.key for b in keymap.bindings(keymap.SCENARIO)]
    assert {b.key for b in keymap.bindings(keymap.LOAD)} <= {b.key for b in LoadTestScreen.BINDINGS}
    helped = {row[0] for row in keymap.help_rows(keymap.LOAD)}
    assert {"space", "g", "X", "T", "n / N"} <= helped


def test_forgotten_await_shows_pythons_warning_and_the_programs_output():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "forgotten-await")
            notes = text_of(app.query_one("#notes"))
            assert "RuntimeWarning: coroutine 'make_coffee' was never awaited x3" in notes
            assert "forgotten_await.py:24" in notes
            assert "output (1 line): the barista says all coffees are done (none was made)" in notes
            await choose(pilot, "async-barista")  # nothing to say: the panel is hidden
            assert "RuntimeWarning" not in text_of(app.query_one("#notes"))
    run(body)


def test_open_shop_is_judged_as_an_open_system():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "open-shop")
            stats = app.latest.stats
            o = stats["open"]
            assert o["arrived"] == o["served"] > 0 and o["little_ok"]
            assert caption(app).startswith(f"open shop, keeping up: {o['arrived']} arrived")
            table = rendered(app.query_one("#stats-table"))
            assert "arrivals" in table and "Little" in table and "one by one" not in table
            await pilot.press("home", *["full_stop"] * 20)  # a moment of it: open figures too
            assert caption(app).startswith(f"at {fmt_s(app._t_view)}, open shop")
            assert "Little" in rendered(app.query_one("#stats-table"))
    run(body)


def test_knob_changes_are_marked_on_the_time_axis():
    from test_app_fakes import load

    from coffeeshop_tui.tui.source import CaptureSource
    from coffeeshop_tui.tui.timeline_view import MARK_CHAR

    messages = load("open-shop")
    batches = [i for i, m in enumerate(messages) if m["type"] == "batch"]
    at = messages[batches[len(batches) // 2]]["t"]
    messages.insert(batches[len(batches) // 2] + 1, {"type": "knob", "t": at, "name": "baristas", "value": 3})

    async def body():
        app = create_app(source_factory=lambda req: CaptureSource(req, messages))
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "open-shop")
            view = app.query_one(TimelineView)
            origin = messages[0]["t"]
            [(t, label)] = view.marks
            assert t == pytest.approx((at - origin) / 1e9) and label == "baristas=3"
            axis = "".join(seg.text for seg in view.render_line(0))
            f = view._frame()
            assert axis[f.label_w + math.floor(t / f.dt) - f.k0] == MARK_CHAR
            assert f"{MARK_CHAR} knob changed" in text_of(app.query_one("#legend")).replace("\u00a0", " ")
    run(body)


def test_o_orders_task_lanes_newest_first_oldest_or_slowest():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(100, 24)) as pilot:
            await choose(pilot, "open-shop")
            view = app.query_one(TimelineView)
            snap = app.latest.snapshot
            tasks = [lane for lane in snap.lanes if lane.kind == "task"]
            assert len(snap.lanes) > view.size.height - 1  # they do not all fit
            shown = [lane for lane in view.snapshot.lanes if lane.kind == "task"]
            assert [lane.task for lane in shown] == sorted((lane.task for lane in tasks), reverse=True)
            assert view.snapshot.lanes[0].kind == "loop"
            await pilot.press("o")  # oldest first: the recording's order
            assert view.snapshot.lanes == snap.lanes
            await pilot.press("o")  # slowest first
            shown = [lane for lane in view.snapshot.lanes if lane.kind == "task"]
            spans = [lane.segments[-1].end - lane.segments[0].start for lane in shown]
            assert spans == sorted(spans, reverse=True) and shown[0].label == "Task-1 (main)"
            await pilot.press("o")
            assert app._lane_order == 0
    run(body)


def test_a_opens_the_task_table_sorted_filtered_and_enter_jumps_to_the_lane():
    from textual.widgets import DataTable

    from coffeeshop_tui.tui.widgets.task_table import TaskTableScreen

    async def body():
        app, _ = fake_app()
        async with app.run_test(size=SIZE) as pilot:
            await choose(pilot, "blocking-barista")
            await pilot.press("a")
            screen = app.screen
            assert isinstance(screen, TaskTableScreen)
            rows = screen.shown_rows()
            assert len(rows) == 4 and rows[0].label == "Task-1 (main)"  # longest total first
            totals = [r.total for r in rows]
            assert totals == sorted(totals, reverse=True)
            await pilot.press("S")  # by running time
            running = [r.running for r in screen.shown_rows()]
            assert running == sorted(running, reverse=True) and running[0] > 0
            await pilot.press("S", "S")  # by starved time: the last coffee starved longest
            assert screen.shown_rows()[0].label == "Task-4 (make_coffee)"
            await pilot.press("S")  # by blocked time: each coffee held the loop one brew
            assert all(r.blocked > 0.09 for r in screen.shown_rows()[:3])
            screen.query_one("#task-filter").value = "make_coffee"
            await pilot.pause()
            listed = [r.label for r in screen.shown_rows()]
            assert sorted(listed) == ["Task-2 (make_coffee)", "Task-3 (make_coffee)", "Task-4 (make_coffee)"]
            table = screen.query_one(DataTable)
            table.focus()
            await pilot.press("down", "enter")  # the second row
            await pilot.pause()
            assert not isinstance(app.screen, TaskTableScreen)
            view = app.query_one(TimelineView)
            assert view.cursor_lane is not None and view.cursor_lane.label == listed[1]
            assert view.highlighted_task == view.cursor_lane.task and view.has_focus
            await pilot.press("a")
            await pilot.press("escape")  # closes without a jump
            assert not isinstance(app.screen, TaskTableScreen)
    run(body)


def test_compare_at_80x24_shows_all_three_runs():
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.values["sync-barista"]["brew_s"] = 0.1
            await pilot.press("c")
            for _ in range(3):
                await settle(pilot)
            await pilot.pause(0.1)
            view = app.query_one(TimelineView)
            assert len(app.pins) == 3
            shown = "\n".join("".join(seg.text for seg in view.render_line(y)) for y in range(view.size.height))
            for label in ("A sync-barista", "B async-barista", "C blocking-barista"):
                assert label in shown  # every run in view, the blocking one (the punchline) too
            assert "▓" in shown.split("C blocking-barista")[1]  # its loop blocked
            assert "loop lanes only" in text_of(app.query_one("#status"))
    run(body)


def test_a_signal_during_a_stop_does_not_deadlock_the_app():
    """`tmux kill-session` once left the app spinning on a dead terminal: the terminal's SIGHUP
    and the one `uv run` forwards came one inside the other, and the 2nd handler waited for
    the child lock the 1st one held, in the same (main) thread."""
    import signal
    import threading

    app, _ = fake_app()
    lock = threading.Lock()  # like procs.Child's: not reentrant
    stopped = threading.Event()

    class Source:
        def stop(self):
            with lock:
                stopped.set()

    app._sources = [Source()]
    exits = []
    app.call_later = lambda fn, *a: exits.append(fn)  # the app is not running here
    handled = threading.Event()

    def main_thread_inside_a_stop():
        with lock:  # a stop() under way when the signal came
            app._on_signal(signal.SIGHUP, None)
            app._on_signal(signal.SIGHUP, None)  # the forwarded copy
            handled.set()

    threading.Thread(target=main_thread_inside_a_stop, daemon=True).start()
    assert handled.wait(5), "the signal handler blocked on the lock it interrupted"
    assert stopped.wait(5)  # the children are still stopped, once the lock is free
    assert exits == [app.exit, app.exit]
