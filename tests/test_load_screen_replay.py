"""The load screen driven by a recorded feed (no server): tests/app_captures/load-sync-users.jsonl.

The capture is a real run's LoadUpdates (/sync, 4 users, pool of 3 threads); re-record it with
``uv run python -m coffeeshop_tui.scenarios.web.load_replay tests/app_captures/load-sync-users.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from conftest import ROOT

from coffeeshop_tui.scenarios.web.load_replay import ReplayLoad, load, save, update_to_dict
from coffeeshop_tui.scenarios.web.load_settings import KNOBS
from coffeeshop_tui.tui.screens.load import LoadTestApp
from coffeeshop_tui.tui.timeline_view import TimelineView

CAPTURE = os.path.join(ROOT, "tests", "app_captures", "load-sync-users.jsonl")


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).content)


async def until(pilot, cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await pilot.pause(0.05)
    return bool(cond())


def test_the_capture_round_trips(tmp_path):
    ups = load(CAPTURE)
    assert len(ups) >= 3 and ups[-1].stats.ok > 0
    again = tmp_path / "again.jsonl"
    save(str(again), ups)
    assert [update_to_dict(u) for u in load(str(again))] == [update_to_dict(u) for u in ups]


def test_screen_shows_a_recorded_feed_and_passes_its_view_options():
    replay = ReplayLoad.from_file(CAPTURE)
    last = replay.updates[-1]

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            assert await until(pilot, lambda: replay.finished and screen.latest is not None
                               and screen.latest.caption == last.caption)
            assert "pool of 3 threads" in text_of(screen, "#lt-caption")
            assert "in flight" in text_of(screen, "#lt-stats") and "p95" in text_of(screen, "#lt-stats")
            view = screen.query_one("#lt-timeline", TimelineView)
            kinds = {ln.kind for ln in view.snapshot.lanes}
            assert {"loop", "client", "task", "thread"} <= kinds

            await pilot.press("T")  # thread lanes off: a view option passed to update()
            assert await until(pilot, lambda: not any(ln.kind == "thread" for ln in view.snapshot.lanes))
            assert replay.last_view.threads is False
            await pilot.press("h")  # handler lanes off
            assert await until(pilot, lambda: not any(ln.kind == "task" for ln in view.snapshot.lanes))
            await pilot.press("l")
            assert await until(pilot, lambda: replay.last_view.lane_mode == "requests")
            assert screen.view.lane_mode == "requests" and not screen.view.handlers

            await pilot.press("greater_than_sign")  # users 4 -> 5 (the knob's ladder)
            assert ("concurrency", 5) in replay.calls
            panel = screen.query_one("#lt-knobs")  # the scenarios' knob panel, with the load knobs
            assert await until(pilot, lambda: panel.values.get("concurrency") == 5)
            shown = panel.render().plain
            assert "users" in shown and " 5 " in shown and "1..10000" in shown  # the Param's range
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())
    assert ("stop",) in replay.calls


def test_a_typed_value_out_of_range_shows_the_knobs_rule_and_changes_nothing():
    replay = ReplayLoad.from_file(CAPTURE)
    seen: list[str] = []

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            screen.notify = lambda message, **kw: seen.append(str(message))
            assert await until(pilot, lambda: screen.latest is not None)
            await pilot.press("i")  # users is the selected knob
            await pilot.press(*"99999", "enter")
            await pilot.pause(0.1)
            await pilot.press("i")
            await pilot.press(*"12", "enter")
            await pilot.pause(0.1)
            await pilot.press("q")

    asyncio.run(go())
    rule = KNOBS["concurrency"].rule()
    assert any(f"must be {rule}" in m for m in seen), seen  # the same text as the CLI's error
    assert ("concurrency", 99999) not in replay.calls and ("concurrency", 12) in replay.calls


def test_keys_reach_the_load_test_only_through_its_interface():
    replay = ReplayLoad.from_file(CAPTURE)

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            assert await until(pilot, lambda: screen.latest is not None)
            await pilot.press("n")  # the next endpoint of the one table
            assert replay.endpoint == "/async"
            await pilot.press("k", "k", "greater_than_sign")  # the pool: in a worker (an HTTP call)
            assert await until(pilot, lambda: ("pool_size", 4) in replay.calls)
            await pilot.press("k", "greater_than_sign")  # the 503 limit: off -> 1
            assert await until(pilot, lambda: ("max_in_flight", 1) in replay.calls)
            await pilot.press("k", "greater_than_sign")  # the model: closed -> open, then the rate knob
            assert replay.model == "open" and screen.selected_knob() == "model"
            await pilot.press("g")
            assert await until(pilot, lambda: screen.latest.status == "paused")
            await pilot.press("X", "r")
            assert await until(pilot, lambda: ("restart",) in replay.calls and ("kill_server",) in replay.calls)
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())
    assert ("stop",) in replay.calls


def test_space_freezes_everything_shown_while_the_feed_goes_on():
    import threading

    replay = ReplayLoad.from_file(CAPTURE)
    last = replay.updates[-1]
    gate = threading.Event()  # holds the feed after its first update until the screen is frozen
    first_update = replay.update

    def gated_update(view=None):
        if replay._i >= 1:
            gate.wait(10)
        return first_update(view)

    replay.update = gated_update

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            assert await until(pilot, lambda: screen.latest is not None)
            await pilot.press("space")
            assert screen.frozen
            shown = (text_of(screen, "#lt-caption"), text_of(screen, "#lt-stats"))
            t_end = screen.query_one("#lt-timeline", TimelineView).snapshot.t_end
            v0 = screen.latest.version
            gate.set()
            assert await until(pilot, lambda: replay.finished and screen.latest.caption == last.caption)
            assert screen.latest.version != v0  # updates kept arriving while frozen
            assert last.snapshot.t_end != t_end
            assert (text_of(screen, "#lt-caption"), text_of(screen, "#lt-stats")) == shown
            assert screen.query_one("#lt-timeline", TimelineView).snapshot.t_end == t_end
            await pilot.press("space")  # live again: the newest update at once
            assert not screen.frozen
            assert text_of(screen, "#lt-caption") == str(last.caption)
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())


def test_e_exports_what_is_shown_as_trace_json_and_svg(tmp_path):
    replay = ReplayLoad.from_file(CAPTURE)
    last = replay.updates[-1]

    async def go():
        app = LoadTestApp(loadtest=replay)
        app.export_dir = str(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            assert await until(pilot, lambda: replay.finished and screen.shown is not None
                               and screen.shown.caption == last.caption)
            await pilot.press("e")
            assert await until(pilot, lambda: len(os.listdir(tmp_path)) == 3)
            return screen.shown

    shown = asyncio.run(go())
    names = sorted(os.listdir(tmp_path))
    assert [n.rsplit(".", 2)[-2:] if n.endswith(".trace.json") else n.rsplit(".", 1)[-1:] for n in names] == [
        ["json"], ["svg"], ["trace", "json"]]
    trace = json.load(open(tmp_path / next(n for n in names if n.endswith(".trace.json"))))
    tracks = [e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"]
    assert len(tracks) == len(shown.snapshot.lanes)
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == sum(1 for ln in shown.snapshot.lanes for s in ln.segments if s.end > s.start)
    doc = json.load(open(tmp_path / next(n for n in names if n.endswith(".json") and ".trace." not in n)))
    assert doc["caption"] == shown.caption and doc["stats"]["ok"] == shown.stats.ok
    assert [r["count"] for r in doc["stats"]["w_hist"]] == list(shown.stats.w_hist) or not shown.stats.w_hist


def test_the_load_screens_cursor_leaves_the_main_screens_readout_alone():
    """Moving the cursor on the load screen once wrote the load lane's label into the main
    screen's cursor readout (and its loop panel's time): the message bubbled up to the app."""
    from test_app_fakes import fake_app, text_of as static_text

    from coffeeshop_tui.tui.screens.load import LoadTestScreen

    replay = ReplayLoad.from_file(CAPTURE)

    async def go():
        app, _ = fake_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await asyncio.wait_for(app.panels_mounted.wait(), 30)  # they follow the first frame
            before = static_text(app.query_one("#cursor-info"))
            screen = LoadTestScreen(loadtest=replay)
            app.push_screen(screen)
            assert await until(pilot, lambda: replay.finished and screen.latest is not None)
            view = screen.query_one("#lt-timeline", TimelineView)
            lane = next(ln for ln in view.snapshot.lanes if ln.kind == "client")
            view.set_cursor(lane.key, lane.segments[0].start, lane.group)
            assert await until(pilot, lambda: "s  " in str(screen.query_one("#lt-cursor").content))
            assert static_text(app._q("#cursor-info")) == before
            assert app._loop_cursor is None
            await pilot.press("q")
            await pilot.pause(0.1)
            assert static_text(app.query_one("#cursor-info")) == before

    asyncio.run(go())


def test_a_saved_recording_says_its_server_and_load_keys_do_nothing():
    """`open FILE` of a saved load test: r once said "server is up" and > turned a knob that
    nothing used; now they say that nothing runs and change nothing."""
    replay = ReplayLoad(load(CAPTURE), saved=True)

    async def go():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.load_screen
            assert await until(pilot, lambda: screen.latest is not None)
            before = replay.knobs()
            for key in ("r", "X", "g", "n", "greater_than_sign", "i", "2"):
                await pilot.press(key)
            await pilot.pause(0.2)
            assert replay.knobs() == before
            assert not [c for c in replay.calls if c[0] != "start"]
            said = [n.message for n in app._notifications]
            assert any("saved recording" in m for m in said)
            assert not any("server is up" in m for m in said)
            await pilot.press("q")
            await pilot.pause(0.1)

    asyncio.run(go())
