"""Tests of the timeline widget: the pure lane renderer, the axis, the window logic, a Pilot
session and one SVG snapshot. Async Textual tests run with ``asyncio.run`` (no pytest-asyncio)."""

from __future__ import annotations

import asyncio
import math
import random

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region

from coffeeshop_tui.scenarios.snapshot import STATES, Lane, Segment, Snapshot
from coffeeshop_tui.tui.lanes import (
    BLANK,
    LEFT_BLOCKS,
    LaneIndex,
    _nonzero,
    axis_text,
    axis_ticks,
    choose_code,
    format_duration,
    full_code,
    level_at_least,
    pair_code,
    truncate,
    zoom_step,
)
from coffeeshop_tui.tui.timeline_view import LEGEND, TimelineView

# --------------------------------------------------------------------------- data


def text(codes) -> str:
    return "".join(c[0] for c in codes)


def lanes_one_run(group: str = "") -> tuple[Lane, ...]:
    """A small blocking-barista-like run, 1 s long, deterministic."""
    loop = Lane("loop", "event loop", "loop", (
        Segment(0.0, 0.1, "running", 2, "barista-1"),
        Segment(0.1, 0.35, "blocked", 3, "barista-2"),
        Segment(0.4, 0.401, "callback", 0, ""),
        Segment(0.5, 0.6, "running", 2, "barista-1"),
        Segment(0.8, 0.805, "running", 4, "barista-3"),
    ), group=group)
    t2 = Lane("task-2", "barista-1 (make_coffee)", "task", (
        Segment(0.0, 0.1, "running", 2),
        Segment(0.1, 0.35, "waiting", 2),
        Segment(0.35, 0.5, "starved", 2),
        Segment(0.5, 0.6, "running", 2),
        Segment(0.6, 1.0, "waiting", 2),
    ), task=2, group=group)
    t3 = Lane("task-3", "barista-2 (make_coffee)", "task", (
        Segment(0.0, 0.1, "starved", 3),
        Segment(0.1, 0.35, "blocked", 3),
        Segment(0.35, 0.45, "queued", 3),
        Segment(0.45, 0.9, "thread", 3),
        Segment(0.9, 1.0, "waiting", 3),
    ), task=3, group=group)
    t4 = Lane("task-4", "barista-3 (make_coffee)", "task", (
        Segment(0.0, 0.8, "starved", 4),
        Segment(0.8, 0.805, "running", 4),
        Segment(0.805, 1.0, "waiting", 4),
    ), task=4, group=group)
    th = Lane("thread-w1", "worker 1", "thread", (Segment(0.45, 0.9, "thread", 3, "grind()"),), group=group)
    # deliberately out of order: the view puts the loop first and threads last
    return (t2, th, loop, t3, t4)


def make_snapshot(live: bool = False, t_end: float = 1.0, lanes=None, version: int = 1) -> Snapshot:
    return Snapshot(version, live, t_end, lanes if lanes is not None else lanes_one_run())


class TVApp(App):
    CSS = "TimelineView { height: 1fr; }"

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        super().__init__()
        self.snap = snapshot

    def compose(self) -> ComposeResult:
        yield TimelineView(self.snap)

    def on_mount(self) -> None:
        self.query_one(TimelineView).focus()


def run_app(coro_fn, snapshot=None, size=(100, 30)):
    """Run ``coro_fn(app, view, pilot, messages)`` in a headless app."""
    messages: list[TimelineView.SegmentFocused] = []

    def hook(message):
        if isinstance(message, TimelineView.SegmentFocused):
            messages.append(message)

    async def main():
        app = TVApp(snapshot)
        async with app.run_test(size=size, message_hook=hook) as pilot:
            await pilot.pause()
            view = app.query_one(TimelineView)
            await coro_fn(app, view, pilot, messages)

    asyncio.run(main())


def screen_lines(view: TimelineView) -> list[str]:
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


# --------------------------------------------------------------------------- renderer


def test_full_segment_fills_cells_with_its_character():
    idx = LaneIndex((Segment(0.0, 1.0, "running"),))
    codes = idx.compute(0, 10, 0.1)
    assert text(codes) == "█" * 10
    assert all(c is full_code("running") for c in codes)
    assert codes[0] == ("█", "running", None)


def test_every_state_has_its_own_character():
    chars = {}
    for st in STATES:
        if st == "idle":
            continue
        idx = LaneIndex((Segment(0.0, 1.0, st),))
        chars[st] = idx.compute(0, 1, 1.0)[0][0]
    assert len(set(chars.values())) == len(chars)
    assert chars["running"] == "█" and chars["blocked"] == "▓" and chars["waiting"] == "─"
    # unknown states (e.g. load-test kinds) still draw
    assert LaneIndex((Segment(0.0, 1.0, "mystery"),)).compute(0, 1, 1.0)[0][0] != " "


def test_tiny_segment_in_a_long_window_is_still_visible():
    # a 1 ms step inside 10 s of waiting, drawn with 1 s per cell
    idx = LaneIndex((
        Segment(0.0, 5.0, "waiting"),
        Segment(5.0, 5.001, "running"),
        Segment(5.001, 10.0, "waiting"),
    ))
    codes = idx.compute(0, 10, 1.0)
    assert text(codes) == "─────▏────"
    assert codes[5] == ("▏", "running", None)
    # alone on an idle loop lane, and at 100 s per cell
    idx = LaneIndex((Segment(42.5, 42.501, "running"),))
    codes = idx.compute(0, 3, 100.0)
    assert codes[0] == ("▏", "running", None) and codes[1] is BLANK


def test_zero_length_segment_is_drawn():
    codes = LaneIndex((Segment(0.5, 0.5, "callback"),)).compute(0, 2, 1.0)
    assert codes[0] == ("▏", "callback", None) and codes[1] is BLANK


def test_sub_cell_edges():
    # covers the left quarter of the cell: left-aligned quarter block
    assert LaneIndex((Segment(0.0, 0.25, "running"),)).compute(0, 1, 1.0)[0] == ("▎", "running", None)
    # covers the right quarter: the left 6/8 drawn in the background colour over green
    assert LaneIndex((Segment(0.75, 1.0, "running"),)).compute(0, 1, 1.0)[0] == ("▊", "bg", "running")
    # starts mid-cell and runs on: half cell then full cells
    codes = LaneIndex((Segment(0.5, 3.0, "blocked"),)).compute(0, 4, 1.0)
    assert codes[0] == ("▌", "bg", "blocked")
    assert codes[1] == codes[2] == full_code("blocked")
    assert codes[3] is BLANK
    # waiting uses half lines at its edges
    codes = LaneIndex((Segment(0.7, 2.2, "waiting"),)).compute(0, 3, 1.0)
    assert text(codes) == "╶─╴"


def test_two_states_in_one_cell_share_it():
    idx = LaneIndex((Segment(0.0, 0.5, "running"), Segment(0.5, 1.0, "blocked")))
    assert idx.compute(0, 1, 1.0)[0] == ("▌", "running", "blocked")
    # a short one is never squeezed out: at least an eighth
    idx = LaneIndex((Segment(0.0, 0.99, "starved"), Segment(0.99, 1.0, "running")))
    c = idx.compute(0, 1, 1.0)[0]
    assert c == (LEFT_BLOCKS[7], "starved", "running")


def test_two_short_marks_in_a_quiet_cell_stay_a_partial_cell():
    # a task starved 50 µs then ran 50 µs, then waited: in a 1 ms cell that is a tenth of it,
    # drawn as a partial cell (the legend's rule), never as a full two-colour cell
    segs = (Segment(0.0, 0.00005, "starved"), Segment(0.00005, 0.0001, "running"),
            Segment(0.0001, 0.002, "waiting"))
    codes = LaneIndex(segs).compute(0, 2, 0.001)
    assert codes[0] == ("▏", "starved", None)
    assert codes[1] == full_code("waiting")
    # the two-piece fast path says the same
    codes = LaneIndex(segs[:2]).compute(0, 1, 0.001)
    assert codes[0] == ("▏", "starved", None)


def test_dense_cell_uses_the_share_of_time():
    # 20 steps of 10 ms in one 1 s cell: 20% running -> a quarter-ish block
    segs = tuple(Segment(i * 0.05, i * 0.05 + 0.01, "running") for i in range(20))
    codes = LaneIndex(segs).compute(0, 2, 1.0)
    assert codes[0] == ("▎", "running", None)
    assert codes[1] is BLANK
    # mostly running with a little blocked in between: both show
    segs = []
    t = 0.0
    for i in range(30):
        st = "blocked" if i == 15 else "running"
        segs.append(Segment(t, t + 0.03, st))
        t += 0.03
    c = LaneIndex(tuple(segs)).compute(0, 1, 1.0)[0]
    assert c[1] == "running" and c[2] == "blocked"


def test_two_piece_fast_path_matches_the_general_rule():
    rnd = random.Random(3)
    states = ["running", "blocked", "starved", "waiting", "thread", "queued", "callback", "idle"]
    for _ in range(3000):
        cuts = sorted(rnd.choice([0.0, 1.0, rnd.random()]) for _ in range(3))
        s1 = rnd.choice([0.0, cuts[0]])
        e1, s2 = cuts[1], cuts[1] + (cuts[2] - cuts[1]) * rnd.choice([0.0, 0.0, 0.5])
        e2 = rnd.choice([1.0, cuts[2]])
        if e2 < s2 or (s1 == e1 == s2):
            continue
        st1, st2 = rnd.choice(states), rnd.choice(states)
        cov, first, last = {}, {}, {}
        for s, e, st in ((s1, e1, st1), (s2, e2, st2)):
            cov[st] = cov.get(st, 0.0) + (e - s)
            first.setdefault(st, s)
            last[st] = max(last.get(st, e), e)
        expected = choose_code(_nonzero(cov, 1.0), first, last, 0.0, 1.0)
        assert pair_code(s1, e1, st1, s2, e2, st2, 0.0, 1.0) == expected, (s1, e1, st1, s2, e2, st2)


def test_clip_limit_draws_only_the_past():
    idx = LaneIndex((Segment(0.0, 1.0, "running"),))
    codes = idx.compute(0, 4, 0.25, limit=0.6)
    assert codes[0] == codes[1] == full_code("running")
    assert codes[2] == ("▍", "running", None)  # 0.1 of 0.25
    assert codes[3] is BLANK
    assert idx.cell(2, 0.25, 0.6) == codes[2]


def test_incremental_updates_match_a_fresh_index():
    rnd = random.Random(7)
    states = ["running", "waiting", "starved", "blocked", "thread"]
    segs: list[Segment] = []
    t = 0.0
    idx = LaneIndex()
    for _ in range(300):
        r = rnd.random()
        if r < 0.5 or not segs:  # append
            d = rnd.choice([0.0005, 0.003, 0.02, 0.3])
            gap = rnd.choice([0.0, 0.0, 0.001, 0.05])
            segs.append(Segment(t + gap, t + gap + d, rnd.choice(states)))
            t += gap + d
        elif r < 0.8:  # the live segment grows
            last = segs[-1]
            segs[-1] = last._replace(end=last.end + rnd.choice([0.001, 0.01]))
            t = segs[-1].end
        elif r < 0.9:  # the live segment changes state (a step becomes a block)
            segs[-1] = segs[-1]._replace(state=rnd.choice(states))
        else:  # the tail is rebuilt
            del segs[-2:]
            t = segs[-1].end if segs else 0.0
        idx.update(tuple(segs))
        dt = rnd.choice([0.001, 0.004, 0.05])
        span = 60
        k0 = max(0, math.floor(t / dt) - rnd.randint(0, span))
        fresh = LaneIndex(tuple(segs)).compute(k0, k0 + span, dt)
        assert idx.cells(k0, span, dt) == fresh
    assert idx.update(tuple(segs)) is None  # same content: no change


def test_cells_are_cached_and_invalidated_from_the_change():
    segs = [Segment(0.0, 1.0, "waiting"), Segment(1.0, 1.5, "running")]
    idx = LaneIndex(tuple(segs))
    before = idx.cells(0, 20, 0.1)
    assert text(before) == "─" * 10 + "█" * 5 + " " * 5
    t = idx.update(tuple(segs[:-1] + [Segment(1.0, 1.8, "running")]))
    assert t == pytest.approx(1.5)
    assert text(idx.cells(0, 20, 0.1)) == "─" * 10 + "█" * 8 + " " * 2
    assert idx.update(tuple(segs[:-1] + [Segment(1.0, 1.8, "running")])) is None


def test_segment_lookup_prefers_the_telling_segment():
    idx = LaneIndex((Segment(0.0, 5.0, "waiting"), Segment(5.0, 5.001, "running"), Segment(5.001, 9, "waiting")))
    assert idx.segments[idx.at(2.0)].state == "waiting"
    assert idx.segments[idx.in_cell(5.0, 6.0)].state == "running"
    assert idx.at(20.0) == -1
    assert idx.next_start(1.0, 1) == 5.0 and idx.next_start(5.0, -1) == 0.0


# --------------------------------------------------------------------------- axis / time


def test_axis_ticks_in_ms():
    ticks = axis_ticks(0, 0.01, 100)  # 1 s over 100 cells
    assert ticks[0] == (0, "0")
    assert ticks[1] == (10, "100 ms")
    assert ticks[-1] == (90, "900 ms")


def test_axis_ticks_in_seconds_and_offsets():
    assert axis_ticks(0, 0.1, 100)[:3] == [(0, "0"), (10, "1 s"), (20, "2 s")]
    ticks = dict(axis_ticks(100, 0.01, 100))  # 1.0 s .. 2.0 s
    assert ticks[0] == "1.0 s" and ticks[50] == "1.5 s"
    assert axis_ticks(0, 1e-5, 100)[1] == (10, "100 µs")


def test_axis_labels_never_overlap():
    for dt in (1e-6, 3.3e-5, 0.0007, 0.01, 0.037, 0.5, 2.0, 40.0):
        for k0 in (0, 17, 12345):
            ticks = axis_ticks(k0, dt, 150)
            assert ticks, (dt, k0)
            for (c1, l1), (c2, _) in zip(ticks, ticks[1:]):
                assert c2 - c1 >= len(l1) + 2
            line = axis_text(k0, dt, 150)
            assert len(line) == 150 and line.count("╵") == len(ticks)


def test_zoom_levels_and_durations():
    assert zoom_step(0.01, -1) == pytest.approx(0.005)
    assert zoom_step(0.01, 1) == pytest.approx(0.02)
    assert zoom_step(0.013, -1) == pytest.approx(0.01)
    assert level_at_least(0.013) == pytest.approx(0.02)
    assert format_duration(0.0125) == "12.5ms"
    assert format_duration(1.25) == "1.25s"
    assert format_duration(0.00085) == "850µs"
    assert format_duration(125) == "2m05s"
    assert truncate("barista-1 (make_coffee)", 10) == "barista-1…"
    assert truncate("loop", 6) == "loop  "


def test_legend_format():
    states = [row[0] for row in LEGEND]
    assert set(states) == set(STATES)
    for state, char, style, desc in LEGEND:
        assert len(char) == 1 and isinstance(style, str) and desc
    assert len({row[1] for row in LEGEND}) == len(LEGEND)


# --------------------------------------------------------------------------- widget


def test_layout_labels_axis_and_order():
    async def check(app, view, pilot, messages):
        lines = screen_lines(view)
        assert "╵0" in lines[0] and "ms" in lines[0]
        labels = [ln.split("│")[0].strip() for ln in lines[1:6]]
        assert labels[0] == "event loop"
        assert labels[1].startswith("barista-1")
        assert labels[-1] == "worker 1"
        # not live: the whole run fits
        assert view.fitting and view.window == pytest.approx((0.0, 1.0))
        for ln in lines:
            assert len(ln) == view.scrollable_content_region.width

    run_app(check, make_snapshot())


def test_zoom_keys_fit_and_pan():
    async def check(app, view, pilot, messages):
        dt0 = view.seconds_per_cell
        await pilot.press("plus")
        assert view.seconds_per_cell == pytest.approx(zoom_step(dt0, -1))
        assert not view.fitting
        await pilot.press("plus")
        dt2 = view.seconds_per_cell
        w0, w1 = view.window
        await pilot.press("right")
        assert view.window[0] > w0
        await pilot.press("left", "left")
        assert view.window[0] < w0 + 1e-9
        await pilot.press("minus")
        assert view.seconds_per_cell == pytest.approx(zoom_step(dt2, 1))
        await pilot.press("0")
        assert view.fitting and view.window == pytest.approx((0.0, 1.0))

    run_app(check, make_snapshot())


def test_follow_live_keeps_the_edge_at_the_right():
    async def check(app, view, pilot, messages):
        assert view.follow_live
        # live + fit: a whole zoom level, the run grows into it from the left
        w0, w1 = view.window
        assert w0 == 0 and w1 >= 5.0
        await pilot.press("plus", "plus", "plus")
        dt = view.seconds_per_cell
        assert view.window[1] == pytest.approx(5.0, abs=dt)
        view.update_snapshot(make_snapshot(live=True, t_end=6.0, version=2))
        assert view.window[1] == pytest.approx(6.0, abs=dt)
        await pilot.press("left")  # panning back in time stops following
        assert not view.follow_live
        frozen = view.window
        view.update_snapshot(make_snapshot(live=True, t_end=7.0, version=3))
        assert view.window == frozen
        await pilot.press("end")
        assert view.follow_live and view.window[1] == pytest.approx(7.0, abs=dt)
        # the run ends while following: fit all of it
        view.update_snapshot(make_snapshot(live=False, t_end=7.5, version=4))
        await pilot.pause()
        assert view.fitting and view.window == pytest.approx((0.0, 7.5))
        # zoomed into the past, then a new run starts: fit and follow it
        await pilot.press("plus", "plus", "left")
        assert not view.follow_live and not view.fitting
        view.update_snapshot(make_snapshot(live=True, t_end=0.3, version=1))
        await pilot.pause()
        assert view.fitting and view.follow_live and view.window[0] == 0 and view.window[1] >= 0.3

    run_app(check, make_snapshot(live=True, t_end=5.0))


def test_cursor_keys_post_segment_focused():
    async def check(app, view, pilot, messages):
        await pilot.press("down")  # places the cursor on the first lane
        await pilot.pause()
        assert messages and messages[-1].lane.key == "loop"
        await pilot.press("down")
        await pilot.pause()
        assert messages[-1].lane.key == "task-2"
        view.set_cursor("task-2", 0.2)
        await pilot.pause()
        m = messages[-1]
        assert m.segment == Segment(0.1, 0.35, "waiting", 2) and m.t == 0.2
        assert view.cursor_segment == m.segment and view.cursor_lane.key == "task-2"
        dt = view.seconds_per_cell
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert messages[-1].t == pytest.approx((math.floor(0.2 / dt) + 1.5) * dt)
        await pilot.press("right_curly_bracket")  # next segment: starved from 0.35
        await pilot.pause()
        assert messages[-1].segment.state == "starved" and messages[-1].t == pytest.approx(0.35)
        await pilot.press("down")
        await pilot.pause()
        assert messages[-1].lane.key == "task-3" and messages[-1].segment.state == "blocked"
        # the cursor shows on the axis and in the lane (reverse cell)
        line = view.render_line(3)
        assert any(seg.style and seg.style.reverse for seg in line)

    run_app(check, make_snapshot())


def test_mouse_hover_moves_the_cursor():
    async def check(app, view, pilot, messages):
        label_w = view._frame().label_w
        dt = view.seconds_per_cell
        col = 30
        await pilot.hover(TimelineView, offset=(label_w + col, 3))  # 3rd lane: task-3
        await pilot.pause()
        m = messages[-1]
        assert m.lane.key == "task-3"
        assert m.t == pytest.approx((col + 0.5) * dt)
        assert m.segment.start <= m.t < m.segment.end

    run_app(check, make_snapshot())


def test_clip_and_highlight():
    async def check(app, view, pilot, messages):
        cells = view._frame().cells
        view.clip_to(0.5)
        await pilot.pause()
        line = view.render_line(2).text.split("│", 1)[1]  # barista-1
        assert line[: cells // 2 - 1].strip() != ""
        assert line[cells // 2 + 1:].strip() == ""
        view.clip_to(None)
        assert view.render_line(2).text.split("│", 1)[1].rstrip() != line.rstrip()
        view.highlight_task(3)
        await pilot.pause()
        assert view.render_line(3).text.startswith("▶barista-2")
        assert view.highlighted_task == 3

    run_app(check, make_snapshot())


def test_theme_change_restyles_cached_lines():
    async def check(app, view, pilot, messages):
        before = view.render_line(1)
        bg_before = {seg.style.bgcolor for seg in before if seg.style}
        app.theme = "textual-light" if app.current_theme.dark else "textual-dark"
        await pilot.pause()
        after = view.render_line(1)
        assert after.text == before.text
        assert {seg.style.bgcolor for seg in after if seg.style} != bg_before

    run_app(check, make_snapshot())


def test_groups_get_header_rows():
    lanes = lanes_one_run("run A") + lanes_one_run("run B")

    async def check(app, view, pilot, messages):
        lines = screen_lines(view)
        assert lines[1].startswith("── run A ")
        assert lines[2].startswith("event loop")
        assert lines[7].startswith("── run B ")
        assert lines[8].startswith("event loop")
        await pilot.press("down", "down", "down", "down", "down", "down")  # skips the header
        await pilot.pause()
        assert messages[-1].lane.group == "run B" and messages[-1].lane.key == "loop"

    run_app(check, make_snapshot(lanes=lanes))


def test_update_refreshes_only_changed_visible_lines_and_keeps_scroll():
    many = list(lanes_one_run())
    for i in range(60):
        many.append(Lane(f"task-{100 + i}", f"extra {i}", "task", (Segment(0.0, 1.0, "waiting", 100 + i),), task=100 + i))
    snap1 = make_snapshot(lanes=tuple(many))

    async def check(app, view, pilot, messages):
        view.scroll_to(y=3, animate=False, immediate=True)
        await pilot.pause()
        assert view.scroll_offset.y == 3
        assert screen_lines(view)[0].startswith(view.render_line(0).text[:5])  # axis stays on top
        calls = []
        real = view.refresh
        view.refresh = lambda *regions, **kw: calls.append(regions) or real(*regions, **kw)
        lanes2 = list(many)
        # change one visible lane (row 5 = extra 1: rows are loop, 4 tasks... then extras)
        i = next(i for i, ln in enumerate(lanes2) if ln.key == "task-101")
        lanes2[i] = Lane("task-101", "extra 1", "task",
                         (Segment(0.0, 0.5, "waiting", 101), Segment(0.5, 1.0, "running", 101)), task=101)
        view.update_snapshot(make_snapshot(lanes=tuple(lanes2), version=2))
        assert len(calls) == 1 and len(calls[0]) == 1
        region = calls[0][0]
        assert isinstance(region, Region) and region.height == 1
        pos = view._row_pos(view._by_ident[("", "task-101")])
        assert region.y == pos - 3 + 1
        # a lane below the screen changed: nothing to repaint
        calls.clear()
        lanes3 = list(lanes2)
        lanes3[-1] = Lane(lanes3[-1].key, lanes3[-1].label, "task", (Segment(0.0, 0.2, "running", 1),), task=1)
        view.update_snapshot(make_snapshot(lanes=tuple(lanes3), version=3))
        assert calls == []
        # unchanged data: nothing either
        view.update_snapshot(make_snapshot(lanes=tuple(lanes3), version=4))
        assert calls == []
        assert view.scroll_offset.y == 3
        view.refresh = real

    run_app(check, snap1, size=(80, 20))


def test_cursor_scrolls_lanes_but_not_the_axis():
    many = tuple(
        Lane(f"task-{i}", f"lane {i}", "task", (Segment(0.0, 1.0, "running" if i % 2 else "waiting", i),), task=i)
        for i in range(40)
    )

    async def check(app, view, pilot, messages):
        for _ in range(30):
            await pilot.press("down")
        await pilot.pause()
        assert view.scroll_offset.y > 0
        lines = screen_lines(view)
        assert "╵0" in lines[0] or "╵" in lines[0]
        assert messages[-1].lane.key == "task-29"
        assert any(ln.startswith("lane 29") for ln in lines[1:])

    run_app(check, make_snapshot(lanes=many), size=(60, 12))


@pytest.mark.parametrize("size", [(80, 24), (40, 10), (12, 4), (6, 3), (2, 2)])
def test_small_terminals_and_resize(size):
    async def check(app, view, pilot, messages):
        await pilot.press("plus", "down", "right_square_bracket", "left", "0")
        await pilot.pause()
        for ln in screen_lines(view):
            assert len(ln) == view.scrollable_content_region.width
        await pilot.resize_terminal(size[0] + 30, size[1] + 5)
        await pilot.pause()
        lines = screen_lines(view)
        assert all(len(ln) == view.scrollable_content_region.width for ln in lines)
        await pilot.resize_terminal(*size)
        await pilot.pause()
        screen_lines(view)

    run_app(check, make_snapshot(live=True, t_end=1.0), size=size)


def test_empty_view_renders():
    async def check(app, view, pilot, messages):
        lines = screen_lines(view)
        assert lines[0].strip()
        await pilot.press("down", "plus", "right", "right_curly_bracket")
        view.update_snapshot(make_snapshot())
        await pilot.pause()
        assert "event loop" in view.render_line(1).text

    run_app(check, None, size=(60, 10))


@pytest.mark.slow
def test_real_scenario_snapshot_renders():
    from coffeeshop_tui.scenarios.runner import run_scenario
    from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder

    run = run_scenario("blocking-barista", {"brew_s": 0.05}, timeout=60)
    snap = SnapshotBuilder(run.timeline).build()

    async def check(app, view, pilot, messages):
        lines = screen_lines(view)
        assert lines[1].startswith("event loop")
        assert "▓" in lines[1]  # the blocking brews

    run_app(check, snap)


# --------------------------------------------------------------------------- SVG snapshot


class CompareApp(TVApp):
    """Two runs on one axis, a cursor and a highlighted task: the whole look in one picture."""

    def __init__(self) -> None:
        lanes = lanes_one_run("run A: blocking") + lanes_one_run("run B: async")
        super().__init__(make_snapshot(lanes=lanes))

    def on_mount(self) -> None:
        view = self.query_one(TimelineView)
        view.focus()
        view.set_cursor("task-3", 0.2, group="run A: blocking")
        view.highlight_task(4)


def test_snapshot_timeline_view(snap_compare):
    assert snap_compare(CompareApp(), terminal_size=(100, 30))


# --------------------------------------------------------------------------- redraw only what changed
def test_a_live_update_redraws_only_lines_whose_cells_changed():
    """A waiting lane that grows inside a cell it already draws is not redrawn; one that
    reaches a new cell is; lanes off screen are indexed only when they come into view."""

    def lanes(t_end, n=60):
        return tuple(Lane(f"task-{k}", f"customer {k}", "task",
                          (Segment(0.0, 0.01, "running", k), Segment(0.01, t_end, "waiting", k)), task=k)
                     for k in range(1, n + 1))

    async def go(app, view, pilot, _messages):
        # a finished-looking live window: fixed zoom, following the live edge
        view.update_snapshot(Snapshot(1, True, 10.0, lanes(10.0)))
        view._set_window(0, 0.1, False)
        await pilot.pause()
        screen_lines(view)  # draw every visible line once
        refreshed = []
        real = view.refresh

        def spy(*regions, **kw):
            refreshed.append(regions)
            return real(*regions, **kw)

        view.refresh = spy
        view.update_snapshot(Snapshot(2, True, 10.0, lanes(10.0005)))  # grows inside a cell off screen
        assert refreshed == []
        view._set_window(99, 0.1, False)  # the edge in view: cells 99.. (9.9 s ..)
        await pilot.pause()
        screen_lines(view)
        refreshed.clear()
        view.update_snapshot(Snapshot(3, True, 10.0, lanes(10.001)))  # the same last cell (10.0-10.1)
        assert refreshed == []
        view.update_snapshot(Snapshot(4, True, 10.2, lanes(10.2)))  # two more cells, every lane
        visible = view.scrollable_content_region.height - 1
        assert len(refreshed) == visible and all(r and r[0].height == 1 for r in refreshed)
        hidden = view._rows[-1]
        assert hidden._index.segments is not hidden.lane.segments  # off screen: not indexed yet
        assert hidden.index.segments is hidden.lane.segments  # indexed when looked at

    run_app(go, size=(100, 20))
