"""The coffeeshop-tui app: pick a scenario, watch its event loop live, measured.

Data flows one way::

    source (child process runner, or a recorded capture)            [coffeeshop_tui.tui.source]
      -> producer thread worker: RunUpdate (immutable snapshot + stats + caption), <= 20 Hz
      -> RunUpdated message (post_message is thread-safe; can_replace coalesces)
      -> the app applies it to the widgets inside ``batch_update()``

The loop under study is never Textual's: the runner uses a child process. Every source
the app starts is stopped on quit, on error, on Ctrl-C and at exit.

``create_app(scenario_file=None, block_ms=25.0, source_factory=None)`` is the one factory
used by the CLI and the tests (tests pass a ``source_factory`` that replays captures).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import time
import weakref
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.worker import get_current_worker

from coffeeshop_tui.scenarios.api import Param, Scenario, ScenarioError
from coffeeshop_tui.scenarios.catalog import all_scenarios
from coffeeshop_tui.scenarios.explain import fmt_s, short_where
from coffeeshop_tui.scenarios.runner import DONE, FAILED, RUNNING, STARTING, STOPPED
from coffeeshop_tui.scenarios.snapshot import Lane, Snapshot
from coffeeshop_tui.scenarios.web.load_settings import ENDPOINTS as LOAD_ENDPOINTS

from .messages import KnobNudged, KnobSelected, ProducerFailed, RunUpdated
from .screens.help import HelpScreen
from .source import RunRequest, RunUpdate, Source, SourceFactory, empty_snapshot, runner_source
from .timeline_view import LEGEND, TimelineView
from .widgets.knobs import KnobPanel, format_range, format_value
from .widgets.scenario_list import ScenarioList
from .widgets.source_view import SourceView
from .widgets.stats import StatsPanel

try:  # a note on partial cells, if the timeline module offers one
    from .timeline_view import PARTIAL_NOTE
except ImportError:  # pragma: no cover
    PARTIAL_NOTE = ""

#: The FastAPI endpoints offered as live load tests (scenarios/web/app.py), with their lesson:
#: from the one endpoint table (scenarios/web/load_settings.py: ENDPOINTS).
LOAD_TESTS = [(e.path, e.lesson) for e in LOAD_ENDPOINTS]

SPEEDS = (1.0, 0.25, 0.1, 0.01)
LETTERS = "ABCDEFGH"
MAX_PINS = 4
COMPARE_SET = ("sync-barista", "async-barista", "blocking-barista")
COMPARE_SHARED = ("customers", "brew_s")
TICK_S = 1 / 30
COMBINED_VERSION_BASE = 1 << 40
KNOB_GROUP = Binding.Group("Knob", compact=True)

STATUS_STYLE = {
    STARTING: ("◌", "starting", "yellow"),
    RUNNING: ("●", "running", "green"),
    DONE: ("✓", "done", "green"),
    FAILED: ("✗", "failed", "bold red"),
    STOPPED: ("■", "stopped", "yellow"),
}

WELCOME = (
    "Welcome! Pick a scenario on the left and press Enter (or r) to run it: every lane is "
    "measured from the real code. First time? Press c to compare sync vs async vs blocking."
)


@dataclass
class Pinned:
    """A run kept on screen for comparison, drawn in its own lane group."""

    letter: str
    scenario: str
    params: dict
    snapshot: Snapshot
    stats: dict | None
    caption: str
    lanes: tuple[Lane, ...]
    source: Any = None

    @property
    def label(self) -> str:
        return f"{self.letter} {self.scenario}"


def _params_text(params: dict) -> str:
    return " ".join(f"{k}={format_value(None, v)}" for k, v in params.items())


class MainScreen(Screen):
    """The default screen; lists the app's own keys first in the footer (they matter most
    at 80 columns), then those of the focused widget."""

    @property
    def active_bindings(self):
        found = super().active_bindings
        mine = {k: v for k, v in found.items() if v.node is self.app}
        return {**mine, **{k: v for k, v in found.items() if v.node is not self.app}}


_LIVE_APPS: "weakref.WeakSet[CoffeeShopApp]" = weakref.WeakSet()


@atexit.register
def _stop_everything_at_exit() -> None:  # the last line of defence: no child outlives us
    for app in list(_LIVE_APPS):
        app.stop_all_sources()


class CoffeeShopApp(App):
    """See Python's event loop: live, measured timelines of barista scenarios."""

    TITLE = "coffeeshop-tui"
    SUB_TITLE = "watch the event loop"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("s", "stop", "Stop"),
        Binding("k", "knob_next(1)", "Knob", show=False),
        Binding("less_than_sign", "knob_nudge(-1)", "Knob -", key_display="<", group=KNOB_GROUP),
        Binding("greater_than_sign", "knob_nudge(1)", "Knob +", key_display=">", group=KNOB_GROUP),
        Binding("space", "toggle_pause", "Pause", key_display="␣"),
        Binding("m", "speed", "Slow"),
        Binding("comma", "scrub(-1)", "Scrub back", key_display=",", show=False),
        Binding("full_stop", "scrub(1)", "Scrub fwd", key_display=".", show=False),
        Binding("c", "compare", "Compare"),
        Binding("p", "pin", "Pin"),
        Binding("e", "export", "Export", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("K", "knob_next(-1)", "Prev knob", show=False),
        Binding("i", "knob_edit", "Edit knob", show=False),
        Binding("x", "clear_pins", "Clear pins", show=False),
        Binding("t", "toggle_dark", "Theme", show=False),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("escape", "cancel_edit", "Cancel", show=False),
    ]

    # (key, what) for the help screen
    HELP_KEYS = [
        ("r / enter", "run (or rerun) the selected scenario with its knob values"),
        ("s", "stop the running scenario now (kills its process, even inside time.sleep)"),
        ("k / K", "select the next / previous knob (a parameter of the scenario)"),
        ("< / >", "nudge the selected knob down / up: reruns at once (live for open-shop)"),
        ("i", "type a value for the selected knob (enter applies, escape cancels)"),
        ("space", "pause / resume the display (the run itself goes on)"),
        ("m", "slow motion: 1x, 0.25x, 0.1x, 0.01x (a 50 ms run lasts 5 s at 0.01x)"),
        (", / .", "scrub back / forward through the capture (pauses)"),
        ("p", "pin this run: the next run is drawn under it, on the same time axis"),
        ("c", "compare sync vs async vs blocking baristas (each run pinned: A, B, C)"),
        ("x", "clear the pinned runs"),
        ("e", "export: Chrome trace JSON (open in ui.perfetto.dev) + SVG screenshot"),
        ("t", "light / dark theme"),
        ("? / f1", "this help"),
        ("q / ctrl+q / ctrl+c", "quit (stops every scenario process)"),
        ("tab / shift+tab", "move between the scenario list, the timeline and the knobs"),
        ("timeline: + - 0", "zoom in / out / fit the whole run"),
        ("timeline: ← → home end", "pan back / forward in time; start; follow the live edge"),
        ("timeline: ↑ ↓ [ ] { }", "move the cursor between lanes / in time / to the next segment"),
        ("knobs: ↑ ↓ ← → enter", "select a knob / nudge it / edit it (when the knob panel has focus)"),
        ("ctrl+p", "command palette: every action by name"),
    ]

    def __init__(self, scenario_file: str | None = None, block_ms: float = 25.0,
                 source_factory: SourceFactory | None = None) -> None:
        super().__init__()
        self.scenario_file = scenario_file
        self.block_ms = block_ms
        self.source_factory: SourceFactory = source_factory or runner_source
        self.scenarios: list[Scenario] = all_scenarios(scenario_file)
        self.by_name = {s.name: s for s in self.scenarios}
        self.values: dict[str, dict] = {s.name: s.defaults() for s in self.scenarios}
        self.knob_index: dict[str, int] = {s.name: 0 for s in self.scenarios}
        self.selected: Scenario = self.scenarios[0]
        self.export_dir = "captures"
        self.knob_debounce = 0.15  # seconds: holding a key reruns once, not ten times
        self.requests: list[RunRequest] = []  # every run started (for tests and the status)
        self.latest: RunUpdate | None = None
        self.pins: list[Pinned] = []
        self._sources: list[Source] = []
        self._source: Source | None = None
        self._request: RunRequest | None = None
        self._run_id = 0
        self._current_pinned = False
        self._compare_queue: list[str] = []
        self._comparing = False
        self._speed_i = 0
        self._paused = False
        self._t_view: float | None = None
        self._last_tick = time.monotonic()
        self._combined_version = COMBINED_VERSION_BASE
        self._focused: tuple | None = None  # (lane, segment, t) under the timeline cursor
        self._rerun_timer = None
        self._shown_stats = None
        self._old_signals: dict = {}
        self._lane_states: dict = {}
        self._knob_error: str | None = None
        self._main_screen: Screen | None = None
        self._legend_states: set | None = None
        _LIVE_APPS.add(self)

    # ================================================================== layout
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Static("Scenarios", classes="panel-title")
                yield ScenarioList(self.scenarios, LOAD_TESTS, id="scenarios")
                yield Static(id="lesson")
                yield Static("Knobs  k select · < > nudge · i edit", classes="panel-title", id="knobs-title")
                yield KnobPanel(id="knobs")
                yield Static(id="knob-prompt")
                yield Input(id="knob-input", compact=True)
            with Vertical(id="main"):
                yield Static(id="status")
                yield Static(WELCOME, id="caption")
                yield TimelineView(id="timeline")
                yield Static(id="legend")
                yield Static(id="cursor-info")
                with Horizontal(id="bottom"):
                    yield SourceView(id="source")
                    yield StatsPanel(id="stats")
        yield Footer(compact=True)

    def _q(self, selector, expect_type=None):
        """A widget of the main screen (also while the help screen is on top)."""
        screen = self._main_screen if self._main_screen is not None else self.screen
        if expect_type is None:
            return screen.query_one(selector)
        return screen.query_one(selector, expect_type)

    def on_mount(self) -> None:
        self._main_screen = self.screen
        self._q("#legend", Static).update(self._legend_text())
        self._q("#cursor-info", Static).update(
            Text("tab to the timeline, then ↑ ↓ [ ] to inspect a segment (or hover it)", style="dim"))
        self._q(SourceView).set_dark(self.current_theme.dark)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        lst = self._q(ScenarioList)
        lst.highlight_name(self.selected.name)
        lst.focus()
        self._select(self.selected.name)
        self._show_status()
        self.set_interval(TICK_S, self._tick)
        self._install_signal_handlers()

    def _legend_text(self, present: set | None = None) -> Text:
        """The legend, limited to the states on screen (all of them before the first run)."""
        out = Text(no_wrap=False, overflow="fold")
        first = True
        for state, char, style, _desc in LEGEND:
            if state == "idle" or (present is not None and state not in present):
                continue
            if not first:
                out.append("  ")
            first = False
            out.append(char * 2, style=style or "")
            out.append(f" {state}", style="dim")
        return out

    def _on_theme_changed(self, _theme) -> None:
        self._q(SourceView).set_dark(self.current_theme.dark)

    # ================================================================== process safety
    def stop_all_sources(self) -> None:
        """Stop every source this app started (idempotent, any thread)."""
        for src in list(self._sources):
            try:
                src.stop()
            except Exception:
                pass

    def _install_signal_handlers(self) -> None:
        if self.is_headless or threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, _frame):
            self.stop_all_sources()
            try:
                self.call_later(self.exit)
            except Exception:
                raise SystemExit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                self._old_signals[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass

    def on_unmount(self) -> None:
        self.stop_all_sources()
        for sig, old in self._old_signals.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError, TypeError):
                pass
        self._old_signals.clear()

    def run(self, *args, **kwargs):  # also covers a crash inside the app
        # exported COLUMNS / LINES would pin the size (shutil.get_terminal_size reads them
        # first) and stop the app from following a resized terminal
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
        try:
            return super().run(*args, **kwargs)
        finally:
            self.stop_all_sources()

    async def action_quit(self) -> None:
        self.stop_all_sources()
        self.exit()

    # ================================================================== scenarios
    def _select(self, name: str) -> None:
        """Make ``name`` the selected scenario: lesson, knobs, source."""
        sc = self.by_name.get(name)
        if sc is None:
            return
        self.selected = sc
        lesson = Text()
        lesson.append(sc.name, style="bold")
        lesson.append(("  (live knobs)" if sc.live else "") + "\n", style="italic")
        lesson.append(sc.lesson)
        self._q("#lesson", Static).update(lesson)
        self._show_knobs()
        self._q(SourceView).show(sc.source(), sc.source_file)
        self._show_source_mark()

    @on(OptionList.OptionHighlighted, "#scenarios")
    def _on_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id in self.by_name:
            self._select(event.option_id)
        elif (event.option_id or "").startswith("load:"):
            self._show_load_test(event.option_id[5:])

    @on(OptionList.OptionSelected, "#scenarios")
    def _on_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option_id in self.by_name:
            self._select(event.option_id)
            self.action_run()
        elif (event.option_id or "").startswith("load:"):
            self.open_load_test(event.option_id[5:])

    def _show_load_test(self, endpoint: str) -> None:
        """The lesson and the FastAPI app's source for a load-test entry of the menu."""
        lesson = Text()
        lesson.append(f"GET {endpoint}", style="bold")
        lesson.append("  (live load test)\n", style="italic")
        lesson.append(dict(LOAD_TESTS).get(endpoint, ""))
        lesson.append("\nEnter opens it: a real uvicorn server, a real load generator.", style="dim")
        self._q("#lesson", Static).update(lesson)
        from coffeeshop_tui.scenarios.web import app as web_app

        path = web_app.__file__
        try:
            with open(path, encoding="utf-8") as fh:
                self._q(SourceView).show(fh.read(), path)
        except OSError:
            pass

    def open_load_test(self, endpoint: str) -> None:
        """Open the live load-test screen for ``endpoint`` (its server stops when it closes)."""
        from coffeeshop_tui.scenarios.web.loadtest import LoadTestError
        from coffeeshop_tui.tui.screens.load import LoadTestScreen

        try:
            screen = LoadTestScreen(endpoint=endpoint, block_ms=self.block_ms)
        except LoadTestError as exc:
            self.notify(str(exc), title="load test", severity="error")
            return
        self.push_screen(screen)

    # ================================================================== runs
    def action_run(self) -> None:
        """Run (or rerun) the selected scenario with its knob values."""
        self._end_compare()
        self.start_run(self.selected.name)

    def start_run(self, name: str, params: dict | None = None) -> RunRequest | None:
        sc = self.by_name[name]
        if self._rerun_timer is not None:
            self._rerun_timer.stop()
            self._rerun_timer = None
        try:
            values = sc.resolve(params if params is not None else self.values[name])
        except ScenarioError as exc:
            self.notify(str(exc), severity="error", title="cannot run")
            return None
        self.values[name] = dict(values)
        self._stop_current()
        self._run_id += 1
        req = RunRequest(self._run_id, sc, values, self.scenario_file, self.block_ms)
        self.requests.append(req)
        self._request = req
        self.latest = None
        self._current_pinned = False
        self._focused = None
        self._shown_stats = None
        self._paused = False
        self._t_view = 0.0 if SPEEDS[self._speed_i] < 1 else None
        timeline = self._q(TimelineView)
        timeline.clip_to(self._t_view)
        timeline.highlight_task(None)
        if self.selected.name != name:
            self._q(ScenarioList).highlight_name(name)
            self._select(name)
        try:
            source = self.source_factory(req)
            self._source = source
            self._sources.append(source)
            source.start()
        except Exception as exc:  # a broken factory: an error line, not a crash
            self._source = None
            self._show_failure(req, f"could not start: {type(exc).__name__}: {exc}")
            return req
        self._produce(source, req.run_id)
        with self.batch_update():
            self._show_snapshot()
            self._show_status()
            self._show_caption()
            self._show_stats()
            self._show_knobs()
        return req

    def _stop_current(self) -> None:
        src = self._source
        if src is not None:
            try:
                src.stop()
            except Exception:
                pass
        # forget finished sources except pinned ones (their traces can still be exported)
        keep = {id(p.source) for p in self.pins}
        self._sources = [s for s in self._sources if id(s) in keep]

    @work(thread=True, exclusive=True, group="producer")
    def _produce(self, source: Source, run_id: int) -> None:
        """The producer: pulls immutable updates from the source, posts them (thread-safe)."""
        worker = get_current_worker()
        try:
            for update in source.updates():
                if worker.is_cancelled:
                    break
                self.post_message(RunUpdated(update))
        except Exception as exc:
            try:
                source.stop()
            finally:
                self.post_message(ProducerFailed(run_id, f"{type(exc).__name__}: {exc}"))

    def action_stop(self) -> None:
        """Stop the running scenario now."""
        self._end_compare()
        if self._source is None or (self.latest is not None and self.latest.finished):
            self.notify("nothing is running", timeout=2)
            return
        self._source.stop()

    def on_run_updated(self, message: RunUpdated) -> None:
        update = message.update
        if update.run_id != self._run_id or not self._main_screen.is_attached:
            return  # a late update from a run that was replaced (or the app is closing)
        first = self.latest is None
        self.latest = update
        try:
            self._apply(update, first)
        except NoMatches:  # the app is closing: its widgets are already gone
            return
        if update.knob_error and update.knob_error != self._knob_error:
            self.notify(update.knob_error, severity="error", title="knob")
        self._knob_error = update.knob_error
        if update.final:
            self._finished(update)

    def _apply(self, update: RunUpdate, first: bool) -> None:
        """Show ``update`` everywhere, as one batch (no flicker)."""
        with self.batch_update():
            self._show_snapshot()
            self._show_status()
            self._show_caption()
            self._show_stats()
            self._show_source_mark()
            if first or update.final:
                self._show_knobs()

    def on_producer_failed(self, message: ProducerFailed) -> None:
        if message.run_id == self._run_id and self._request is not None:
            self._show_failure(self._request, message.error)

    def _show_failure(self, req: RunRequest, error: str) -> None:
        self.latest = RunUpdate(run_id=req.run_id, scenario=req.name, params=req.params,
                                status=FAILED, snapshot=empty_snapshot(), final=True, error=error)
        self._show_status()
        self._show_caption()
        self.notify(error, severity="error", title="run failed")

    def _finished(self, update: RunUpdate) -> None:
        if update.status == FAILED:
            where = f" at {short_where(update.error_where)}" if update.error_where else ""
            self.notify(f"{update.error}{where}", severity="error", title=f"{update.scenario} failed",
                        timeout=8)
        if self._comparing:
            if update.status != DONE:
                self._end_compare()
                return
            self._pin_current(quiet=True)
            if self._compare_queue:
                nxt = self._compare_queue.pop(0)
                self.start_run(nxt, self._compare_params(nxt))
            else:
                self._comparing = False
                self.notify("compare: done. Each run is pinned (A, B, C) on one time axis; "
                            "x clears the pins.", title="compare", timeout=6)

    # ================================================================== display
    def _display_snapshot(self) -> Snapshot:
        upd = self.latest
        current = upd.snapshot if upd is not None and not self._current_pinned else None
        if not self.pins:
            return current if current is not None else empty_snapshot()
        lanes: list[Lane] = [lane for pin in self.pins for lane in pin.lanes]
        t_end = max(pin.snapshot.t_end for pin in self.pins)
        if current is not None:
            group = f"{LETTERS[len(self.pins)]} {upd.scenario}"
            lanes.extend(replace(lane, group=group) for lane in current.lanes)
            t_end = max(t_end, current.t_end)
        self._combined_version += 1
        return Snapshot(
            version=self._combined_version,
            live=bool(current is not None and current.live),
            t_end=t_end,
            lanes=tuple(lanes),
            blocks=current.blocks if current is not None else (),
            warnings=current.warnings if current is not None else (),
            output=current.output if current is not None else (),
            holding=current.holding if current is not None else None,
            extra={"compare": [p.label for p in self.pins]},
        )

    def _show_snapshot(self) -> None:
        snap = self._display_snapshot()
        self._q(TimelineView).update_snapshot(snap)
        present = self._states_in(snap)
        if present != self._legend_states:
            self._legend_states = present
            self._q("#legend", Static).update(self._legend_text(present))

    def _states_in(self, snap: Snapshot) -> set:
        """States drawn in ``snap`` (for the legend). Lanes only grow at their end, so each
        lane's segments are scanned once, from where the last scan stopped."""
        cache = {}
        present = {"running", "waiting"}
        for lane in snap.lanes:
            ident = (lane.group, lane.key)
            seen, states = self._lane_states.get(ident, (0, frozenset()))
            segs = lane.segments
            if len(segs) != seen:
                start = max(0, min(seen, len(segs)) - 1)  # the last one may have changed
                states = states | {seg.state for seg in segs[start:]}
            cache[ident] = (len(segs), states)
            present |= states
        self._lane_states = cache
        return present

    def _status_text(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        upd = self.latest
        req = self._request
        if req is None:
            out.append("no run yet", style="dim")
        else:
            status = upd.status if upd is not None else STARTING
            icon, word, style = STATUS_STYLE.get(status, ("?", status, ""))
            out.append(f"{icon} {word} ", style=style)
            out.append(req.name, style="bold")
            if upd is not None and upd.snapshot.t_end:
                out.append(f"  {fmt_s(upd.snapshot.t_end)}", style="bold")
            if upd is not None and upd.status == FAILED and upd.error:
                where = f" at {short_where(upd.error_where)}" if upd.error_where else ""
                out.append(f"  {upd.error}{where}", style="bold red")
        out.append("  ")
        speed = SPEEDS[self._speed_i]
        if self._paused:
            out.append(f"⏸ paused at {fmt_s(self._t_view or 0.0)}", style="bold yellow")
        elif self._t_view is not None:
            out.append(f"▶ {speed:g}x replay {fmt_s(self._t_view)}", style="bold cyan")
        elif upd is not None and not upd.final:
            out.append("▶ live", style="dim")
            if speed < 1:
                out.append(f" ({speed:g}x)", style="cyan")
        elif upd is not None:
            out.append("m: slow-motion replay", style="dim italic")
        if self.pins:
            out.append("  pinned: " + ", ".join(p.label for p in self.pins), style="magenta")
        if req is not None:
            params = upd.params if upd is not None else req.params
            out.append(f"  {_params_text(params)}", style="dim")
        return out

    def _show_status(self) -> None:
        self._q("#status", Static).update(self._status_text())

    def _show_caption(self) -> None:
        upd = self.latest
        if upd is None:
            text = Text(WELCOME if self._request is None else "starting...", style="italic")
        elif upd.status == FAILED and not upd.caption.startswith("failed"):
            where = f" ({short_where(upd.error_where)})" if upd.error_where else ""
            text = Text(f"failed: {upd.error}{where}", style="bold red")
        else:
            text = Text(upd.caption or "", style="bold")
            if upd.snapshot.warnings and "forgotten await" not in upd.caption:
                w = upd.snapshot.warnings[0]
                text.append(f"  ⚠ {getattr(w, 'message', w)}", style="yellow")
        self._q("#caption", Static).update(text)

    def _show_stats(self) -> None:
        upd = self.latest
        stats = upd.stats if upd is not None else None
        key = (id(stats), len(self.pins), self._current_pinned)
        if key == self._shown_stats:
            return
        self._shown_stats = key
        pins = list(self.pins)
        if pins and upd is not None and not self._current_pinned:
            pins.append(Pinned(LETTERS[len(pins)], upd.scenario, upd.params, upd.snapshot, stats, "", ()))
        self._q(StatsPanel).show(stats, upd.lag if upd else (), upd.runnable if upd else (), pins)

    def _mark(self) -> tuple[str, str]:
        """(where, note) of the source line to mark now."""
        upd = self.latest
        if upd is None:
            return "", ""
        snap = upd.snapshot
        if self._focused is not None:
            where = self._segment_where(*self._focused)
            if where:
                return where, "under the cursor"
        if self._t_view is not None:
            for b in snap.blocks:
                if b["start_s"] <= self._t_view < b["end_s"]:
                    return b["where"], f"holding the loop ({fmt_s(self._t_view - b['start_s'])})"
            return "", ""
        if snap.holding is not None and snap.live:
            task, since, where = snap.holding
            return where, f"holding the loop for {fmt_s(snap.t_end - since)}"
        if upd.status == FAILED and upd.error_where:
            return upd.error_where, f"raised {upd.error.split(':')[0] if upd.error else 'an error'}"
        never = [w for w in snap.warnings if getattr(w, "kind", "") == "never-awaited" and w.where]
        if never and not snap.blocks:
            return never[0].where, f"coroutine created, never awaited (x{len(never)})"
        if snap.blocks:
            total: dict[str, float] = {}
            count: dict[str, int] = {}
            for b in snap.blocks:
                total[b["where"]] = total.get(b["where"], 0.0) + b["end_s"] - b["start_s"]
                count[b["where"]] = count.get(b["where"], 0) + 1
            where = max(total, key=total.get)
            return where, f"held the loop {fmt_s(total[where])} in {count[where]} block(s)"
        return "", ""

    def _show_source_mark(self) -> None:
        view = self._q(SourceView)
        upd = self.latest
        if upd is not None and upd.scenario != self.selected.name:
            view.mark(None)
            return
        where, note = self._mark()
        view.mark_where(where, note)

    # ================================================================== timeline cursor
    def _segment_where(self, lane: Lane, seg, t: float) -> str:
        if seg is None:
            return ""
        if seg.info and ":" in seg.info and seg.info.rsplit(":", 1)[-1].isdigit():
            return seg.info
        if seg.state == "blocked":
            blocks = self._blocks_for(lane)
            for b in blocks:
                if b["start_s"] <= t <= b["end_s"] and (not seg.task or b["task"] in (0, seg.task)):
                    return b["where"]
        return ""

    def _blocks_for(self, lane: Lane) -> tuple:
        if lane.group:
            for pin in self.pins:
                if lane.group == pin.label:
                    return pin.snapshot.blocks
        return self.latest.snapshot.blocks if self.latest is not None else ()

    def on_timeline_view_segment_focused(self, message: TimelineView.SegmentFocused) -> None:
        lane, seg, t = message.lane, message.segment, message.t
        self._focused = (lane, seg, t) if seg is not None else None
        out = Text(no_wrap=True, overflow="ellipsis")
        if lane.group:
            out.append(f"{lane.group} · ", style="magenta")
        out.append(lane.label, style="bold")
        if seg is None:
            out.append(f"  at {fmt_s(t)}: nothing", style="dim")
        else:
            style = next((s for st, _c, s, _d in LEGEND if st == seg.state), "")
            out.append(f"  {seg.state}", style=f"bold {style}" if style else "bold")
            out.append(f"  {fmt_s(seg.start)} → {fmt_s(seg.end)}  ({fmt_s(seg.end - seg.start)})")
            where = self._segment_where(lane, seg, t)
            if where:
                out.append(f"  at {short_where(where)}", style="cyan")
            elif seg.info and seg.info != lane.label:
                out.append(f"  {seg.info}", style="cyan")
        self._q("#cursor-info", Static).update(out)
        self._q(TimelineView).highlight_task(seg.task if seg is not None and seg.task else None)
        self._show_source_mark()

    # ================================================================== replay
    def _t_end(self) -> float:
        snap = self._q(TimelineView).snapshot
        return snap.t_end if snap is not None else 0.0

    def _set_view_time(self, t: float | None) -> None:
        self._t_view = t
        self._q(TimelineView).clip_to(t)
        self._show_status()
        self._show_source_mark()

    def _tick(self) -> None:
        try:
            self._advance_replay()
        except NoMatches:  # the app is closing: its widgets are already gone
            pass

    def _advance_replay(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        if self._t_view is None or self._paused or self.latest is None or not self._main_screen.is_attached:
            return
        speed = SPEEDS[self._speed_i]
        t_end = self._t_end()
        t = self._t_view + dt * speed
        if t >= t_end:
            if self.latest.final or speed >= 1:
                self._set_view_time(None)  # caught up: show everything (and follow live)
                return
            t = t_end
        self._set_view_time(t)

    def action_toggle_pause(self) -> None:
        """Pause / resume the display (the run itself goes on; scrub with , and .)."""
        if self.latest is None:
            self.notify("nothing to pause: run a scenario first", timeout=2)
            return
        if self._paused:
            self._paused = False
            self._last_tick = time.monotonic()
            if not self.latest.final and SPEEDS[self._speed_i] >= 1:
                self._set_view_time(None)  # a live run at 1x: back to the live edge
            elif self._t_view is not None and self._t_view >= self._t_end() and self.latest.final:
                self._set_view_time(0.0)  # at the end: play it again from the start
            self._show_status()
        else:
            self._paused = True
            self._set_view_time(self._t_view if self._t_view is not None else self._t_end())

    def action_speed(self) -> None:
        """Cycle the replay speed: 1x, 0.25x, 0.1x, 0.01x (a 50 ms run takes 5 s at 0.01x)."""
        self._speed_i = (self._speed_i + 1) % len(SPEEDS)
        speed = SPEEDS[self._speed_i]
        self._last_tick = time.monotonic()
        if speed < 1 and self._t_view is None and self.latest is not None:
            # a finished run replays from the start; a live one slows down from now
            self._set_view_time(0.0 if self.latest.final else self._t_end())
        self._show_status()
        self.notify(f"replay speed {speed:g}x" + (" (r reruns and replays at this speed)" if speed < 1 else ""),
                    timeout=2)

    def action_scrub(self, direction: int) -> None:
        """Step the display back / forward through the capture (pauses it)."""
        if self.latest is None:
            return
        t_end = self._t_end()
        step = max(t_end / 50, 0.0005)
        t = self._t_view if self._t_view is not None else t_end
        self._paused = True
        self._set_view_time(max(0.0, min(t_end, t + direction * step)))

    # ================================================================== knobs
    def _show_knobs(self) -> None:
        sc = self.selected
        live = bool(sc.live and self._source is not None and self._request is not None
                    and self._request.name == sc.name and self.latest is not None
                    and self.latest.live_knobs)
        values = self.values[sc.name]
        self._q(KnobPanel).show(sc.params, values, self.knob_index.get(sc.name, 0), live)
        title = "Knobs (live)" if live else "Knobs"
        self._q("#knobs-title", Static).update(
            Text.assemble((title, "bold"), ("  k select · < > nudge · i edit", "dim")))

    def _selected_param(self) -> Param | None:
        params = self.selected.params
        if not params:
            return None
        return params[self.knob_index.get(self.selected.name, 0) % len(params)]

    def action_knob_next(self, delta: int = 1) -> None:
        """Select the next (or previous) knob of the selected scenario."""
        n = len(self.selected.params)
        if not n:
            self.notify(f"{self.selected.name} has no knobs", timeout=2)
            return
        self.knob_index[self.selected.name] = (self.knob_index.get(self.selected.name, 0) + delta) % n
        self._show_knobs()

    def on_knob_selected(self, message: KnobSelected) -> None:
        self.knob_index[self.selected.name] = message.index
        self._show_knobs()

    def on_knob_nudged(self, message: KnobNudged) -> None:
        self.action_knob_nudge(message.direction)

    def action_knob_nudge(self, direction: int) -> None:
        """Nudge the selected knob one step up (+1) or down (-1), and apply it at once."""
        p = self._selected_param()
        if p is None:
            self.notify(f"{self.selected.name} has no knobs", timeout=2)
            return
        old = self.values[self.selected.name].get(p.name, p.default)
        new = p.nudge(old, direction)
        if new == old:
            self.bell()
            self.notify(f"{p.name} is at its {'maximum' if direction > 0 else 'minimum'} ({format_value(p, old)})",
                        timeout=2)
            return
        self.apply_knob(p.name, new)

    def apply_knob(self, name: str, value: Any) -> None:
        """Set knob ``name`` of the selected scenario: live if its run can take it, else rerun."""
        sc = self.selected
        self.values[sc.name][name] = value
        self._show_knobs()
        running_this = (self._source is not None and self._request is not None
                        and self._request.name == sc.name and self.latest is not None
                        and not self.latest.final)
        if running_this and sc.live:
            try:
                ok = self._source.set_knob(name, value)
            except Exception:
                ok = False
            if ok:
                self.notify(f"{name} = {format_value(None, value)} (live)", timeout=2)
                return
        self._end_compare()
        if self._rerun_timer is not None:
            self._rerun_timer.stop()
        if self.knob_debounce <= 0:
            self.start_run(sc.name)
        else:
            self._rerun_timer = self.set_timer(self.knob_debounce, lambda: self.start_run(sc.name))

    def action_knob_edit(self) -> None:
        """Type a value for the selected knob (enter applies, escape cancels)."""
        p = self._selected_param()
        if p is None:
            self.notify(f"{self.selected.name} has no knobs", timeout=2)
            return
        inp = self._q("#knob-input", Input)
        inp.value = format_value(p, self.values[self.selected.name].get(p.name, p.default))
        inp.placeholder = f"{p.name} {format_range(p)}"
        self._q("#knob-prompt", Static).update(
            Text.assemble((f"{p.name}", "bold"), (f" {format_range(p)}: enter applies, esc cancels", "dim")))
        self._q("#sidebar").add_class("editing")
        inp.focus()

    @on(Input.Submitted, "#knob-input")
    def _on_knob_typed(self, event: Input.Submitted) -> None:
        p = self._selected_param()
        if p is None:
            return
        try:
            value = p.parse(event.value.strip()) if p.kind is not str else p.check(event.value.strip())
        except ScenarioError as exc:
            self.notify(str(exc), severity="error", title="knob", timeout=4)
            return
        self.action_cancel_edit()
        self.apply_knob(p.name, value)

    def action_cancel_edit(self) -> None:
        sidebar = self._q("#sidebar")
        if sidebar.has_class("editing"):
            sidebar.remove_class("editing")
            self._q(KnobPanel).focus()

    # ================================================================== compare
    def _pin_current(self, quiet: bool = False) -> bool:
        upd = self.latest
        if upd is None or upd.snapshot is None or not upd.snapshot.lanes:
            if not quiet:
                self.notify("nothing to pin yet: run a scenario first", timeout=3)
            return False
        if self._current_pinned:
            if not quiet:
                self.notify("this run is already pinned: run another one (r) to compare", timeout=3)
            return False
        if len(self.pins) >= MAX_PINS:
            dropped = self.pins.pop(0)
            for i, pin in enumerate(self.pins):  # re-letter the rest
                self.pins[i] = self._relabel(pin, LETTERS[i])
            if not quiet:
                self.notify(f"dropped the oldest pin ({dropped.label})", timeout=3)
        letter = LETTERS[len(self.pins)]
        pin = Pinned(letter, upd.scenario, dict(upd.params), upd.snapshot, upd.stats, upd.caption,
                     (), self._source)
        self.pins.append(self._relabel(pin, letter))
        self._current_pinned = True
        self._show_snapshot()
        self._show_status()
        self._shown_stats = None
        self._show_stats()
        if not quiet:
            self.notify(f"pinned {pin.label}: run another scenario (r) to see both on one axis; "
                        "x clears the pins", timeout=4)
        return True

    @staticmethod
    def _relabel(pin: Pinned, letter: str) -> Pinned:
        group = f"{letter} {pin.scenario}"
        lanes = tuple(replace(lane, group=group) for lane in pin.snapshot.lanes)
        return replace(pin, letter=letter, lanes=lanes)

    def action_pin(self) -> None:
        """Pin the current run: the next run is drawn under it, on the same time axis."""
        self._pin_current()

    def action_clear_pins(self) -> None:
        """Forget the pinned runs."""
        if not self.pins:
            self.notify("no pinned runs", timeout=2)
            return
        self.pins.clear()
        self._current_pinned = False
        self._shown_stats = None
        with self.batch_update():
            self._show_snapshot()
            self._show_status()
            self._show_stats()

    def _compare_params(self, name: str) -> dict:
        base = self.values.get(self.selected.name, {})
        params = dict(self.values[name])
        for key in COMPARE_SHARED:
            if key in base and key in params:
                params[key] = base[key]
        return params

    def action_compare(self) -> None:
        """Compare sync vs async vs blocking baristas: run each, pin each, one time axis."""
        missing = [n for n in COMPARE_SET if n not in self.by_name]
        if missing:
            self.notify(f"missing scenarios: {', '.join(missing)}", severity="error")
            return
        params = {n: self._compare_params(n) for n in COMPARE_SET}
        self.pins.clear()
        self._current_pinned = False
        self._comparing = True
        self._compare_queue = list(COMPARE_SET[1:])
        self.start_run(COMPARE_SET[0], params[COMPARE_SET[0]])
        for n in COMPARE_SET[1:]:
            self.values[n] = params[n]
        shared = ", ".join(f"{k}={params[COMPARE_SET[0]][k]}" for k in COMPARE_SHARED
                           if k in params[COMPARE_SET[0]])
        self.notify(f"running {', then '.join(COMPARE_SET)} ({shared}); each is pinned when it ends",
                    title="compare", timeout=5)

    def _end_compare(self) -> None:
        self._comparing = False
        self._compare_queue = []

    # ================================================================== export
    def action_export(self) -> None:
        """Export the run as Chrome trace JSON (ui.perfetto.dev) and the screen as SVG."""
        if self._request is None:
            self.notify("nothing to export: run a scenario first", timeout=3)
            return
        folder = os.path.abspath(self.export_dir)
        try:
            os.makedirs(folder, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = f"coffeeshop-{self._request.name}-{stamp}"
            written = []
            source = self._source if self._source is not None else None
            trace = source.chrome_trace() if source is not None else None
            if trace is not None:
                path = os.path.join(folder, f"{base}.trace.json")
                with open(path, "w", encoding="utf-8") as fh:
                    json.dump(trace, fh)
                written.append(path)
            written.append(self.save_screenshot(filename=f"{base}.svg", path=folder))
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.last_export = written
        shown = [os.path.relpath(p) if not os.path.relpath(p).startswith("..") else p for p in written]
        self.notify("\n".join(shown) + ("\n(open the .trace.json in ui.perfetto.dev)" if trace else ""),
                    title="exported", timeout=8)

    # ================================================================== help & palette
    def action_help(self) -> None:
        """Show what the colours mean and every key."""
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(LEGEND, self.HELP_KEYS, PARTIAL_NOTE))

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        timeline = self._q(TimelineView) if screen is self._main_screen else None
        commands = [
            ("Run / rerun", "run the selected scenario with its knobs (r)", self.action_run),
            ("Stop", "stop the running scenario (s)", self.action_stop),
            ("Pause / resume", "freeze the display; scrub with , and . (space)", self.action_toggle_pause),
            ("Slow motion", "cycle 1x / 0.25x / 0.1x / 0.01x replay (m)", self.action_speed),
            ("Scrub back", "step the display back in time (,)", lambda: self.action_scrub(-1)),
            ("Scrub forward", "step the display forward in time (.)", lambda: self.action_scrub(1)),
            ("Next knob", "select the next parameter (k)", lambda: self.action_knob_next(1)),
            ("Knob up", "nudge the selected parameter up (>)", lambda: self.action_knob_nudge(1)),
            ("Knob down", "nudge the selected parameter down (<)", lambda: self.action_knob_nudge(-1)),
            ("Edit knob", "type a value for the selected parameter (i)", self.action_knob_edit),
            ("Pin run", "keep this run on screen to compare (p)", self.action_pin),
            ("Compare sync vs async vs blocking", "run the three baristas, pinned on one axis (c)",
             self.action_compare),
            ("Clear pins", "forget the pinned runs (x)", self.action_clear_pins),
            ("Export", "Chrome trace JSON + SVG screenshot (e)", self.action_export),
            ("Toggle light / dark", "switch the theme (t)", self.action_toggle_dark),
            ("Help", "colours and keys (?)", self.action_help),
        ]
        if timeline is not None:
            commands += [
                ("Zoom in", "timeline: fewer seconds per column (+)", timeline.action_zoom_in),
                ("Zoom out", "timeline: more seconds per column (-)", timeline.action_zoom_out),
                ("Zoom to fit", "timeline: the whole run (0)", timeline.action_zoom_fit),
            ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)


def create_app(scenario_file: str | None = None, block_ms: float = 25.0,
               source_factory: SourceFactory | None = None) -> CoffeeShopApp:
    """The app, as used by the CLI (real runner) and the tests (``source_factory``)."""
    return CoffeeShopApp(scenario_file=scenario_file, block_ms=block_ms, source_factory=source_factory)
