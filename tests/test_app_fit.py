"""Every screen fits: at 80x24 nothing essential is cut (issue 10).

Checked on what is drawn (each widget's rendered rows), not on what was asked for: the
caption's whole text is on screen for every recorded scenario, also the longest (cpu-barista
with a thread pool and a process pool), the load screen's title keeps its pid and time, and no
line ends with a bare number whose unit starts the next one ("100" / "ms"; the rule:
``tui/line_breaks.py``).
"""

from __future__ import annotations

import asyncio
import os
import re
import time

import pytest
from conftest import ROOT
from test_app_fakes import RECORDINGS, fake_app, settle
from textual.content import Content
from textual.widgets import Static

from coffeeshop_tui.tui.line_breaks import number_cut
from coffeeshop_tui.tui.widgets.scenario_list import ScenarioList

LOAD_CAPTURE = os.path.join(ROOT, "tests", "app_captures", "load-sync-users.jsonl")
SCENARIOS = sorted({name for _stem, name, _p, sfile in RECORDINGS if sfile is None})


def shown_lines(widget) -> list[str]:
    """The rows the widget draws now (padding stripped)."""
    return [widget.render_line(y).text.strip() for y in range(widget.size.height)]


def words(text: str) -> list[str]:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).split()


def plain(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def wrapped(lines: list[str], text: str) -> list[str]:
    """``lines`` with each row that ends a paragraph of ``text`` (a hard line break) marked
    by a trailing "¶", so that :func:`number_cut` looks at soft wraps only."""
    ends, n = set(), 0
    for para in text.split("\n"):
        n += len(words(para))
        ends.add(n)
    out, seen = [], 0
    for line in lines:
        seen += len(words(line))
        out.append(line + (" ¶" if seen in ends else ""))
    return out


def cut_statics(screen) -> list[str]:
    """Every visible Static whose rendered rows miss words of its text, or end a row with a
    bare number (its unit on the next row)."""
    bad = []
    for w in screen.query(Static):
        if not w.display or not w.region.area or w.styles.text_wrap == "nowrap":
            continue
        lines = shown_lines(w)
        text = plain(w)
        cut = number_cut(wrapped(lines, text))
        if cut:
            bad.append(f"#{w.id}: {cut}")
        if words(" ".join(lines)) != words(text) and w.id in ("caption", "lesson", "notes", "lt-title",
                                                               "lt-caption", "lt-legend", "legend", "status"):
            bad.append(f"#{w.id} cut: {text!r} shows {lines!r}")
    return bad


def run(coro):
    return asyncio.run(coro)


def test_no_line_ends_with_a_bare_number():
    """The wrap rule: a figure stays with what follows it (a unit, a noun) at every width;
    a no-break space joins. (The app installs it when imported.)"""
    import coffeeshop_tui.tui.app  # noqa: F401

    text = ("default executor: 3 jobs in 1 wave (3 workers); process pool: 3 jobs in 1 wave "
            "(3 processes); 776 ms in all, the loop was still blocked 251 ms and waited 28.7 ms "
            "for the GIL (4% of the time) ≈ 10 × 1.00 s, ▓▓\xa0blocked  ░░\xa0starved")
    for width in range(20, 80):  # (from 20: no word is folded)
        lines = [line.plain for line in Content(text).wrap(width)]
        assert number_cut(lines) is None, (width, lines)
        assert words(" ".join(lines)) == words(text)
        assert not any(line.rstrip().endswith(("▓▓", "░░")) for line in lines), (width, lines)
    assert number_cut(["took 100", "ms in all"]) and number_cut(["3", "coffees"])
    assert number_cut(["p50", "12 ms"]) is None and number_cut(["≈ 10 ×", "1.00 s"]) is None


async def run_to_the_end(app, pilot, name: str) -> None:
    """Pick scenario ``name`` and run it (recorded data: the fakes) until it has ended."""
    await app.panels_mounted.wait()
    app.query_one(ScenarioList).highlight_name(name)
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)
    await pilot.pause(0.1)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_screens_fit_80x24(name):
    """Each recorded scenario, run and done at 80x24: the caption, lesson, legend, notes and
    status show every word they hold (the status holds the knob values only where they fit
    whole: the knob panel shows them)."""
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await run_to_the_end(app, pilot, name)
            caption = app.query_one("#caption", Static)
            assert words(" ".join(shown_lines(caption))) == words(app.latest.caption), shown_lines(caption)
            bad = cut_statics(app.screen)
            assert not bad, bad
            status = " ".join(shown_lines(app.query_one("#status", Static)))
            assert name in status and "done" in status, status
    run(body())


def test_cpu_barista_caption_whole_at_80x24():
    """The longest caption (two pools; the GIL when threads fought the loop for it) is all on
    screen at 80x24, with the timeline and the panels below still there."""
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.panels_mounted.wait()
            app.query_one(ScenarioList).highlight_name("cpu-barista")
            await pilot.pause()
            await pilot.press("enter")
            await settle(pilot)
            await pilot.pause(0.1)
            text = app.latest.caption
            assert "process pool" in text and "default executor" in text and "for the GIL" in text, text
            rows = shown_lines(app.query_one("#caption", Static))
            assert words(" ".join(rows)) == words(text), rows
            assert number_cut(rows) is None, rows
            assert app.query_one("#timeline").size.height >= 6
            assert app.query_one("#bottom").size.height >= 5
    run(body())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_load_screen_fits(size):
    """The load screen's title (status, time, URL, server pid), caption, legend and the
    loop line of its numbers are on screen whole."""
    from coffeeshop_tui.scenarios.web.load_replay import ReplayLoad
    from coffeeshop_tui.tui.screens.load import LoadTestApp

    replay = ReplayLoad.from_file(LOAD_CAPTURE)
    replay.updates = replay.updates[-1:]
    last = replay.updates[-1]

    async def body():
        app = LoadTestApp(loadtest=replay)
        async with app.run_test(size=size) as pilot:
            screen = app.load_screen
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (screen.shown is not None and screen.shown.caption == last.caption):
                await pilot.pause(0.05)
            await pilot.pause(0.1)
            title = " ".join(shown_lines(screen.query_one("#lt-title", Static))).replace("\xa0", " ")
            s = last.stats
            assert title.startswith("Load test"), title  # (what a user, and test_tmux_e2e, look for)
            if s.server_pid:
                assert f"server pid {s.server_pid}" in title, title
            assert f"{s.elapsed_s:.1f} s" in title, title
            bad = cut_statics(screen)
            assert not bad, bad
            stats = " ".join(shown_lines(screen.query_one("#lt-stats", Static)))
            assert "in flight" in stats and "p99" in stats
            if s.recorded:
                assert "loop blocked" in stats, stats
            side = screen.query_one("#lt-side").query(Static)
            assert any(plain(w).startswith("Knobs") and words(" ".join(shown_lines(w))) == words(plain(w))
                       for w in side)
    run(body())


def _visible_rows(panel, widget) -> list[str]:
    """The rows of ``widget`` (inside the scrolling ``panel``) that are in view."""
    top = widget.region.y - panel.content_region.y
    room = panel.content_region.height - top
    return shown_lines(widget)[:max(0, room)]


@pytest.mark.parametrize("name", ["blocking-barista", "forgotten-await", "cpu-barista"])
def test_stats_verdicts_in_view_at_80x24(name):
    """At 80x24 the stats panel may show as few as 5 rows (a long caption, many lanes): the
    wall time, the speed-up and the blocked share are in view within them (what they rest on
    may need a scroll)."""
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await run_to_the_end(app, pilot, name)
            rows = " ".join(_visible_rows(app.query_one("#stats"), app.query_one("#stats-table"))[:5])
            for label in ("wall", "speed-up", "blocked"):
                assert label in rows, rows
    run(body())


def test_compare_table_in_view_at_80x24():
    """A compare's table (A, B, C: wall, speed-up, blocked) is the first thing in the stats
    panel, in view at 80x24."""
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.panels_mounted.wait()
            app.values["sync-barista"]["brew_s"] = 0.1
            await pilot.press("c")
            for _ in range(3):
                await settle(pilot)
            await pilot.pause(0.2)
            rows = _visible_rows(app.query_one("#stats"), app.query_one("#compare-table"))
            letters = [row.split()[0] for row in rows[1:] if row.split()]
            assert letters[:3] == ["A", "B", "C"], rows
    run(body())


# ----------------------------------------------------------------------------- the load screen
def _failing(u):
    """``u`` as a struggling server shows it: timeouts and 503s (so error kinds and a failing
    rate), the server's count apart from the client's, Little's law not steady."""
    from dataclasses import replace

    s = u.stats
    errors = {"timeout": 31, "503": 12}
    series = {"timeout": (0, 3, 5, 2, 4, 6, 3, 2, 4, 2), "503": (1, 0, 2, 0, 3, 0, 2, 1, 2, 1)}
    return replace(u, stats=replace(s, error_total=43, errors=errors, w_errors=errors, w_error_series=series,
                                    server_in_flight=(s.in_flight or 0) + 2, in_flight=41,
                                    w_avg_in_flight=s.w_rps * s.w_mean_s + 9))


async def _replayed(app, pilot, last) -> None:
    screen = app.load_screen
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (screen.shown is not None and screen.shown.caption == last.caption):
        await pilot.pause(0.05)
    app.clear_notifications()
    await pilot.pause(0.1)


def _load_app(feed=lambda u: u):
    from coffeeshop_tui.scenarios.web.load_replay import ReplayLoad
    from coffeeshop_tui.tui.screens.load import LoadTestApp

    replay = ReplayLoad.from_file(LOAD_CAPTURE)
    replay.updates = [feed(replay.updates[-1])]
    return LoadTestApp(loadtest=replay), replay.updates[-1]


@pytest.mark.parametrize("feed", [lambda u: u, _failing], ids=["recorded", "failing"])
def test_load_screen_essential_rows_at_80x24(feed):
    """At 80x24 the load screen's numbers show, in the rows in view: in flight, throughput,
    the percentiles, errors, the loop line, Little's law whole and the latency histogram;
    the timeline keeps its rows. Also for a failing server (error kinds, Little's law not
    steady: its why is left to the help there)."""
    from coffeeshop_tui.scenarios.web.explain_load import littles_law
    from coffeeshop_tui.tui.screens.load_text import UNSTEADY_WHY, histogram_text

    app, last = _load_app(feed)

    async def body():
        async with app.run_test(size=(80, 24)) as pilot:
            await _replayed(app, pilot, last)
            screen = app.load_screen
            s = last.stats
            rows = shown_lines(screen.query_one("#lt-stats", Static))
            seen = " ".join(rows).replace("\xa0", " ")
            for label in ("in flight", "req/s ok", "p50", "p95", "p99", "errors", "loop blocked", "pool"):
                assert label in seen, (label, rows)
            if s.error_total:
                assert "failing" in seen and "timeout 31, 503 12" in seen, rows
            law = littles_law(s).replace(UNSTEADY_WHY, "")
            assert " ".join(words(law)) in " ".join(words(seen)), (law, rows)
            assert f"[last {s.window_s:.1f} s]" in seen, rows
            assert histogram_text(s.w_hist) in seen, rows
            assert screen.query_one("#lt-timeline").size.height >= 8
            bad = cut_statics(screen)
            assert not bad, bad
    run(body())


def _footer_text(app) -> str:
    return app.screen._compositor.render_strips()[-1].text


async def _footer_settled(app, pilot) -> None:
    """Wait (a bounded while) until the footer has recomposed with its palette key."""
    from textual.widgets import Footer

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not app.screen.query_one(Footer).query(".-command-palette"):
        await pilot.pause(0.05)
    await pilot.pause(0.1)


def _footer_keys(app) -> list:
    """The footer's keys on screen (the palette key apart), each checked whole: inside the
    footer, left of the palette key, its key and label in the footer's text."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    text = _footer_text(app)
    footer = app.screen.query_one(Footer)
    palette = footer.query_one(".-command-palette")
    assert "^p palette" in text, text
    keys = [k for k in footer.query(FooterKey) if k.display and not k.has_class("-command-palette")]
    for k in keys:
        assert k.region.right <= palette.region.x, (k.description, k.region, palette.region, text)
        assert f"{k.key_display} {k.description}".strip() in text, (k.description, text)
    return keys


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_footer_keeps_whole_keys_with_the_timeline_focused(size):
    """The barista screen's footer: its own keys whole, then the timeline's (when it has the
    focus) only as far as each fits whole, never one cut under the palette key."""
    async def body():
        app, _ = fake_app()
        async with app.run_test(size=size) as pilot:
            await app.panels_mounted.wait()
            app.query_one("#timeline").focus()
            await pilot.pause(0.2)
            await _footer_settled(app, pilot)
            keys = [k.description for k in _footer_keys(app)]
            for label in ("Run", "Stop", "Pause", "Compare", "Help", "Quit"):
                assert label in keys, keys
            if size[0] == 120:
                assert "Pan ◀" in keys, keys
    run(body())


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_load_footer_keeps_whole_keys(size):
    """The load screen's footer shows its own keys first, whole, and the palette key; the
    timeline's keys follow only as far as each fits whole (none at 80 columns, all at 200):
    no key is cut at the footer's end or under the palette key."""
    app, last = _load_app()

    async def body():
        async with app.run_test(size=size) as pilot:
            await _replayed(app, pilot, last)
            await _footer_settled(app, pilot)  # (the footer recomposes after a resize)
            text = _footer_text(app)
            for key in ("r Restart", "g Load on/off", "n Endpoint", "<> Knob", "␣ Pause", "? Help", "q Back"):
                assert key in text, (key, text)
            keys = _footer_keys(app)
            timeline_keys = [k.description for k in keys if k.description in ("Pan ◀", "Pan ▶", "Live", "Fit")]
            if size[0] == 80:
                assert not timeline_keys, text
            if size[0] == 200:
                assert timeline_keys == ["Pan ◀", "Pan ▶", "Live", "Fit"], text
    run(body())


def test_load_screen_wide_layout_at_200x60():
    """At 200x60 the load screen uses the room: a wider side panel with every endpoint's gloss
    whole and the latency histogram a row per bucket (each count, the p50 / p95 / p99 marks);
    the numbers take a row per group."""
    from coffeeshop_tui.scenarios.web.load_settings import DEMO_ENDPOINTS

    app, last = _load_app(_failing)

    async def body():
        async with app.run_test(size=(200, 60)) as pilot:
            await _replayed(app, pilot, last)
            screen = app.load_screen
            assert screen.has_class("-xwide")
            side = screen.query_one("#lt-side")
            assert side.size.width >= 44, side.size
            shown = " ".join(shown_lines(screen.query_one("#lt-endpoints")))
            for path, gloss in DEMO_ENDPOINTS.items():
                short = next(e.short for e in __import__(
                    "coffeeshop_tui.scenarios.web.load_settings", fromlist=["ENDPOINTS"]).ENDPOINTS if e.path == path)
                assert path in shown and short in shown, (path, short, shown)
            hist = screen.query_one("#lt-hist", Static)
            assert hist.display and hist.region.height
            rows = shown_lines(hist)
            s = last.stats
            buckets = [c for c in s.w_hist if c]
            assert len(rows) >= len(buckets) and all("█" in r or "▏" in r for r in rows if r.split()[-1].isdigit())
            for c in buckets:
                assert any(str(c) in r for r in rows), (c, rows)
            marks = " ".join(rows)
            assert "p50" in marks and "p99" in marks, rows
            stats = shown_lines(screen.query_one("#lt-stats", Static))
            assert len([r for r in stats if r]) <= 7, stats  # (a row per group, the error kinds)
            bad = cut_statics(screen)
            assert not bad, bad
    run(body())


def test_source_title_whole_at_80x24():
    """The source panel's title (file, marked line, why) wraps in its ~22 columns at 80x24,
    never cut: forgotten-await's 'coroutine created, never awaited (x3)'."""
    from coffeeshop_tui.tui.widgets.source_view import SourceView

    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await run_to_the_end(app, pilot, "forgotten-await")
            view = app.query_one(SourceView)
            title = view._title
            text = plain(title)
            assert "never awaited" in text and "line" in text, text
            rows = shown_lines(title)
            assert words(" ".join(rows)) == words(text), rows
            assert number_cut(rows) is None, rows
    run(body())


def test_every_menu_entry_lesson_whole_at_80x24():
    """Each entry of the menu highlighted at 80x24 (the scenarios and the load tests): its
    lesson shows every word (the list scrolls instead; a word longer than the row folds)."""
    from coffeeshop_tui.tui.app import LOAD_TESTS

    async def body():
        app, _ = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.panels_mounted.wait()
            menu = app.query_one(ScenarioList)
            ids = [s for s in SCENARIOS if s in menu.scenarios] + [f"load:{path}" for path, _ in LOAD_TESTS]
            bad = []
            lesson = app.query_one("#lesson", Static)

            def whole() -> bool:  # (a long word folds)
                return "".join(words(" ".join(shown_lines(lesson)))) == "".join(words(plain(lesson)))

            for option_id in ids:
                menu.highlighted = menu.get_option_index(option_id)
                for _ in range(40):  # (a busy machine lays the panel out a few frames later)
                    await pilot.pause(0.05)
                    if whole():
                        break
                if not whole():
                    bad.append((option_id, shown_lines(lesson)))
            assert not bad, bad
    run(body())
