"""The coffeeshop-tui app: pick a scenario, watch its event loop live, measured.

Data flows one way::

    source (child process runner, or a recorded capture)            [coffeeshop_tui.tui.source]
      -> producer thread worker: RunUpdate (immutable snapshot + stats + caption), <= 20 Hz
      -> FeedUpdated message (post_message is thread-safe; can_replace coalesces)
      -> the app applies it to the widgets inside ``batch_update()``

The loop under study is never Textual's: the runner uses a child process. Every source
the app starts is stopped on quit, on error, on Ctrl-C and at exit.

``create_app(scenario_file=None, block_ms=25.0, source_factory=None)`` is the one factory
used by the CLI and the tests (tests pass a ``source_factory`` that replays captures).

Size (~690 lines): the chassis only (compose, the progressive first frame, sources and
their stopping, menu selection); display, replay, knobs, compare and the loop panel are
its mixins (``app_*.py``).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import threading
import time
import weakref
from functools import partial
from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets._footer import FooterKey
from textual.worker import get_current_worker

from coffeeshop_tui.scenarios.api import Scenario, ScenarioError
from coffeeshop_tui.scenarios.catalog import all_scenarios
from coffeeshop_tui.scenarios.web.load_settings import ENDPOINTS as LOAD_ENDPOINTS

from . import keymap, line_breaks
from .app_compare import COMPARE_SET, CompareMixin, Pinned  # noqa: F401
from .app_display import COMBINED_VERSION_BASE, WELCOME, DisplayMixin
from .app_knobs import KnobsMixin
from .app_loop import LoopMixin
from .app_replay import SPEEDS, ReplayMixin
from .messages import FeedFailed, FeedUpdated
from .terminal_driver import HangupSafe
from .producer import produce
from .widgets.knobs import KnobPanel
from .widgets.quiet import update_static
from .widgets.scenario_list import ScenarioList
from .widgets.source_view import SourceView

# The first frame (menu, lesson, welcome, footer) imports none of what measures or draws a run
# (source, runner, explain, snapshot, the timeline and the panels after the first frame): the
# methods that use them import them (launch time, bench/app_launch.py).
if TYPE_CHECKING:
    from .source import RunRequest, RunUpdate, Source, SourceFactory


line_breaks.install()  # no line ends with a bare number ("100" / "ms")

#: actions that act on the selected scenario's knobs
KNOB_ACTIONS = frozenset(("knob_next", "knob_nudge", "knob_edit"))

#: The FastAPI endpoints offered as live load tests (scenarios/web/app.py), with their lesson:
#: from the one endpoint table (scenarios/web/load_settings.py: ENDPOINTS).
LOAD_TESTS = [(e.path, e.lesson) for e in LOAD_ENDPOINTS]

TICK_S = 1 / 30

class MainScreen(Screen):
    """The default screen; lists the app's own keys first in the footer (they matter most
    at 80 columns), then those of the focused widget as far as they fit whole."""

    @property
    def active_bindings(self):
        found = super().active_bindings
        mine = {k: v for k, v in found.items() if v.node is self.app}
        ordered = {**mine, **{k: v for k, v in found.items() if v.node is not self.app}}
        if not self.size.width:
            return ordered
        return keymap.footer_fit(ordered, self.size.width, True, self.app.get_key_display,  # (compact: below)
                                 palette=self.app.ENABLE_COMMAND_PALETTE)

    def on_resize(self) -> None:
        self.refresh_bindings()  # (the footer keeps the keys that fit this width)
        # the status row shows its optional parts only whole: choose them again for the new width
        self.app.call_after_refresh(self.app._show_status)


class FirstFrameFooter(Footer):
    """A footer that shows the keys in the first frame (Textual's waits a refresh or two for
    the first bindings update); it refreshes on every later update as usual.

    Its keys are composed with their ``-compact`` class already set (as the footer's): a key
    sets it when mounted otherwise, restyling itself each time (~0.5 ms a key, 11 keys at launch
    and at every recompose)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_reactive(Footer._bindings_ready, True)

    def compose(self) -> ComposeResult:
        for widget in super().compose():  # also the keys of a group (composed inside it)
            if isinstance(widget, FooterKey):
                widget.set_class(self.compact, "-compact", update=False)
            yield widget


_LIVE_APPS: "weakref.WeakSet[CoffeeShopApp]" = weakref.WeakSet()


@atexit.register
def _stop_everything_at_exit() -> None:  # the last line of defence: no child outlives us
    for app in list(_LIVE_APPS):
        app.stop_all_sources()


class CoffeeShopApp(HangupSafe, DisplayMixin, ReplayMixin, KnobsMixin, CompareMixin, LoopMixin, App):
    """See Python's event loop: live, measured timelines of barista scenarios."""

    TITLE = "coffeeshop-tui"
    SUB_TITLE = "watch the event loop"
    CSS_PATH = "app.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide"), (170, "-xwide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    BINDINGS = keymap.bindings(keymap.SCENARIO)
    HELP_KEYS = keymap.help_rows(keymap.SCENARIO)  # (key, what) for the help screen

    def __init__(self, scenario_file: str | None = None, block_ms: float = 25.0,
                 source_factory: SourceFactory | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        #: the replay clock (seconds); tests inject a fake one so pause/replay never race real time
        self.clock = clock
        self.scenario_file = scenario_file
        self.block_ms = block_ms
        self.source_factory: SourceFactory = source_factory or _runner_source
        self.scenarios: list[Scenario] = all_scenarios(scenario_file)
        self.by_name = {s.name: s for s in self.scenarios}
        self.values: dict[str, dict] = {s.name: s.defaults() for s in self.scenarios}
        self.knob_index: dict[str, int] = {s.name: 0 for s in self.scenarios}
        self.selected: Scenario = self.scenarios[0]
        #: the menu's highlighted load-test endpoint (None: a scenario is highlighted)
        self.highlighted_load: str | None = None
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
        self._lane_order = 0  # index in LANE_ORDERS
        self._pinned_lane: str | None = None  # a task lane the task table brought into view
        self._frozen: RunUpdate | None = None  # the update on screen while paused
        self._moment_cache: tuple | None = None
        self._moment_at = float("-inf")
        self._last_tick = self.clock()
        self._combined_version = COMBINED_VERSION_BASE
        self._focused: tuple | None = None  # (lane, segment, t) under the timeline cursor
        self._rerun_timer = None
        self._shown_stats = None
        self._old_signals: dict = {}
        self._stopping_on_signal = False
        self._lane_states: dict = {}
        self._knob_error: str | None = None
        self._main_screen: Screen | None = None
        self._legend_states: set | None = None
        self._panels_ready = False  # the panels after the first frame are mounted (_mount_rest)
        self._held_keys: list = []
        self._when_ready: list = []  # calls waiting for every panel (when_panels_mounted)
        #: set once every panel is mounted (tests await it: the first frame shows fewer)
        self.panels_mounted = asyncio.Event()
        _LIVE_APPS.add(self)

    # ================================================================== layout
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        # the first frame composes only what it shows: the menu, the lesson, the welcome
        # caption, the header and the footer; the rest (_mount_rest) follows right after it
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Static("Scenarios", classes="panel-title")
                yield ScenarioList(self.scenarios, LOAD_TESTS, id="scenarios")
                yield Static(id="lesson")
            with Vertical(id="main"):
                yield Static(id="status")
                yield Static(WELCOME, id="caption")
        yield FirstFrameFooter(compact=True)

    def _rest_of_sidebar(self) -> list:
        return [Static("Knobs  k · < > · i", classes="panel-title", id="knobs-title"),
                KnobPanel(id="knobs"), Static(id="knob-prompt"), Input(id="knob-input", compact=True)]

    def _rest_of_main(self) -> list:
        from .timeline_view import TimelineView
        from .widgets.loop_panel import LoopPanel
        from .widgets.stats import StatsPanel

        return [Static(id="notes"), TimelineView(id="timeline"), Static(id="legend"), Static(id="cursor-info"),
                Horizontal(SourceView(id="source"), StatsPanel(id="stats"), LoopPanel(id="loop"), id="bottom")]

    async def _mount_rest(self) -> None:
        """Mount the panels the first frame leaves out (the same final screen, a few frames
        later), then handle the keys that were pressed meanwhile, in order."""
        if self._panels_ready or not self._main_screen.is_attached:
            return
        screen = self._main_screen
        await screen.query_one("#sidebar").mount_all(self._rest_of_sidebar(), after="#lesson")
        await screen.query_one("#main").mount_all(self._rest_of_main(), after="#caption")
        self._panels_ready = True
        self.panels_mounted.set()
        self._q("#legend", Static).update(self._legend_text())
        self._show_cursor_hint()
        self._q(SourceView).set_dark(self.current_theme.dark)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        if self.highlighted_load is not None:
            self._show_load_test(self.highlighted_load)
        else:
            self._select(self.selected.name)
        while self._when_ready:
            self._when_ready.pop(0)()
        while self._held_keys:  # in the order they were pressed, before any key pressed later
            await super().on_event(self._held_keys.pop(0))

    def when_panels_mounted(self, callback: Callable, *args) -> None:
        """Call ``callback(*args)`` once every panel is mounted (at once if they are)."""
        if self._panels_ready:
            self.call_next(callback, *args)
        else:
            self._when_ready.append(partial(callback, *args))

    async def on_event(self, event) -> None:
        if isinstance(event, events.Key) and event.key == "ctrl+j" and not event.is_forwarded:
            # an Enter typed while the app started, before the terminal left cooked mode,
            # reaches us as "\n" (the tty turns CR into NL), read as ctrl+j: it meant Enter
            event = events.Key("enter", "\r")
        if not self._panels_ready and isinstance(event, events.InputEvent) and not event.is_forwarded:
            self._held_keys.append(event)  # a key (or click) before every panel is mounted waits
            return
        await super().on_event(event)

    def _show_cursor_hint(self) -> None:
        """The cursor readout before the cursor is on a segment of this run (one line at 80×24)."""
        update_static(self._q("#cursor-info", Static),
                      Text("tab to the timeline, then ↑ ↓ [ ] to inspect a segment", style="dim"))

    def _q(self, selector, expect_type=None):
        """A widget of the main screen (also while the help screen is on top)."""
        screen = self._main_screen if self._main_screen is not None else self.screen
        if expect_type is None:
            return screen.query_one(selector)
        return screen.query_one(selector, expect_type)

    def on_mount(self) -> None:
        self._main_screen = self.screen
        lst = self._q(ScenarioList)
        lst.highlight_name(self.selected.name)
        lst.focus()
        self._select(self.selected.name)
        self._show_status()
        self.set_interval(TICK_S, self._tick)
        self._install_signal_handlers()
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self, tries: int = 0, footer_seen: bool = False) -> None:
        """Mount the rest once the first frame is drawn with the footer's keys (the footer
        fills in its keys a refresh or two after the first frame: wait for the refresh after)."""
        if tries < 10 and not footer_seen:
            footer_seen = any(isinstance(w, Footer) and w.children for w in self._main_screen.children)
            self.call_after_refresh(self._after_first_frame, tries + 1, footer_seen)
            return
        self.call_next(self._mount_rest)

    def _legend_text(self, present: set | None = None) -> Text:
        """The legend, limited to the states on screen (all of them before the first run)."""
        from .timeline_view import LEGEND, MARK_CHAR

        out = Text(no_wrap=False, overflow="fold")
        first = True
        for state, char, style, _desc in LEGEND:
            if state == "idle" or (present is not None and state not in present):
                continue
            if not first:
                out.append("  ")
            first = False
            out.append(char * 2, style=style or "")
            out.append(f"\u00a0{state}", style="dim")  # a no-break space: wraps between items only
        if present is not None and "knob" in present:
            out.append(f"  {MARK_CHAR}\u00a0knob\u00a0changed", style="dim")
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

    def _on_signal(self, signum: int, _frame) -> None:
        """SIGTERM / SIGHUP / SIGINT: stop every child, then leave.

        The children are stopped from a thread, never inside the handler: the handler runs in
        the main thread between two bytecodes, maybe inside a ``stop()`` that holds a child's
        lock (a 2nd signal, e.g. the terminal's SIGHUP and the one ``uv run`` forwards, came
        during the 1st one's stop): stopping there waited for itself forever while Textual's
        input thread spun on the dead terminal."""
        if not self._stopping_on_signal:
            self._stopping_on_signal = True
            threading.Thread(target=self.stop_all_sources, name="stop-on-signal", daemon=True).start()
        try:
            self.call_later(self.exit)
        except Exception:
            raise SystemExit(128 + signum)

    def _install_signal_handlers(self) -> None:
        if self.is_headless or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                self._old_signals[sig] = signal.signal(sig, self._on_signal)
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
        if not self._panels_ready:  # _mount_rest shows them
            return
        self._show_knobs()
        self._q(SourceView).show(sc.source(), sc.source_file)
        self._show_source_mark()

    @on(OptionList.OptionHighlighted, "#scenarios")
    def _on_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id in self.by_name:
            self.highlighted_load = None
            self._select(event.option_id)
        elif (event.option_id or "").startswith("load:"):
            self.highlighted_load = event.option_id[5:]
            self._show_load_test(self.highlighted_load)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # the highlighted entry owns the panels: while a load test is highlighted, no key acts
        # on the barista scenario that was selected before (its knobs are not on screen)
        if self.highlighted_load is not None and action in KNOB_ACTIONS:
            return False
        return True

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
        lesson.append("\nEnter: a real server under real load.", style="dim")  # (fits 80x24 whole)
        self._q("#lesson", Static).update(lesson)
        if not self._panels_ready:  # _mount_rest shows them
            return
        self._q(KnobPanel).show((), {}, 0)
        self._q("#knobs-title", Static).update(
            Text.assemble(("Knobs", "bold"), ("  enter · < >", "dim")))  # (the load test's: 80 columns)
        from coffeeshop_tui.scenarios.web import app as web_app

        path = web_app.__file__
        try:
            with open(path, encoding="utf-8") as fh:
                self._q(SourceView).show(fh.read(), path)
        except OSError:
            pass

    @on(Input.Submitted, "#knob-input")
    def _on_knob_typed(self, event: Input.Submitted) -> None:
        self.knob_typed(event.value)  # Textual's @on only registers on the App class itself

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
        """Run (or rerun) the selected scenario with its knob values (a load test: open it)."""
        if self.highlighted_load is not None:
            self.open_load_test(self.highlighted_load)
            return
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
        from .source import RunRequest

        req = RunRequest(self._run_id, sc, values, self.scenario_file, self.block_ms)
        self.requests.append(req)
        self._request = req
        self.latest = None
        self._current_pinned = False
        self._focused = None
        self._loop_cursor = None
        self._shown_stats = None
        self._paused = False
        self._frozen = None
        self._moment_cache = None
        self._pinned_lane = None
        self._t_view = 0.0 if SPEEDS[self._speed_i] < 1 else None
        timeline = self._q("#timeline")
        timeline.clip_to(self._t_view)
        timeline.highlight_task(None)
        timeline.forget_reported()  # the cursor reports again on the new run's segments
        self._show_cursor_hint()  # not the last run's segment: the cursor may have no lane here
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
        produce(self, run_id, source.updates(), lambda: worker.is_cancelled, on_error=source.stop)

    def action_stop(self) -> None:
        """Stop the running scenario now."""
        self._end_compare()
        if self._source is None or (self.latest is not None and self.latest.finished):
            self.notify("nothing is running", timeout=2)
            return
        self._source.stop()

    def on_feed_updated(self, message: FeedUpdated) -> None:
        update = message.update
        if message.feed != self._run_id or not self._main_screen.is_attached:
            return  # a late update from a run that was replaced (or the app is closing)
        first = self.latest is None
        self.latest = update
        try:
            if not self._paused:  # a pause freezes what is shown; the run goes on
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
            self._show_loop()
            if first or update.final:
                self._show_knobs()

    def on_feed_failed(self, message: FeedFailed) -> None:
        if message.feed == self._run_id and self._request is not None:
            self._show_failure(self._request, message.error)

    def _show_failure(self, req: RunRequest, error: str) -> None:
        from coffeeshop_tui.scenarios.runner import FAILED

        from .source import RunUpdate, empty_snapshot

        self.latest = RunUpdate(run_id=req.run_id, scenario=req.name, params=req.params,
                                status=FAILED, snapshot=empty_snapshot(), final=True, error=error)
        self._show_status()
        self._show_caption()
        self.notify(error, severity="error", title="run failed")

    def _finished(self, update: RunUpdate) -> None:
        from coffeeshop_tui.scenarios.explain import short_where
        from coffeeshop_tui.scenarios.runner import DONE, FAILED

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

    # ================================================================== task table
    def action_tasks(self) -> None:
        """Open the task table of the run shown (of the moment shown when paused)."""
        from .widgets.task_table import TaskTableScreen, task_rows

        snap = self._q("#timeline").snapshot
        # every task lane built, also those the lane order leaves undrawn (a jump draws them)
        from dataclasses import replace

        rows = task_rows(replace(snap, lanes=snap.all_lanes), self._t_view) if snap is not None else []
        if not rows:
            self.notify("no tasks to list: run a scenario first", timeout=2)
            return
        title = self._request.name if self._request is not None else ""
        self.push_screen(TaskTableScreen(rows, title), self._jump_to_task)

    def _jump_to_task(self, row) -> None:
        """Put the timeline's cursor on the chosen task's lane (and emphasise it)."""
        if row is None:
            return
        timeline = self._q("#timeline")
        snap = timeline.snapshot
        if snap is not None and row.group == "" and all(lane.key != row.key for lane in snap.lanes):
            self._pinned_lane = row.key  # not drawn (older than the lanes shown): draw it
            self._show_snapshot()
        timeline.focus()
        t = row.start if self._t_view is None else min(row.start, self._t_view)
        timeline.set_cursor(row.key, t, row.group)
        timeline.highlight_task(row.task)

    # ================================================================== export
    def action_export(self) -> None:
        """Export the run as Chrome trace JSON (ui.perfetto.dev) and the screen as SVG."""
        import json

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
        shown = [os.path.relpath(p) if not os.path.relpath(p).startswith("..") else p for p in written]
        self.notify("\n".join(shown) + ("\n(open the .trace.json in ui.perfetto.dev)" if trace else ""),
                    title="exported", timeout=8)

    # ================================================================== help & palette
    def action_help(self) -> None:
        """Show what the colours mean and every key."""
        from .screens.help import SCENARIO_HELP, HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(SCENARIO_HELP, self.HELP_KEYS))

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        timeline = self._q("#timeline") if screen is self._main_screen and self._panels_ready else None
        # the palette of the screen on top, from the one keymap (the load screen's own actions)
        kind = getattr(screen, "KEYMAP", keymap.SCENARIO)
        target = self if kind == keymap.SCENARIO else screen
        commands = [(title, help_text, partial(target.run_action, action))
                    for title, help_text, action in keymap.palette(kind)]
        if timeline is not None:
            commands += [
                ("Zoom in", "timeline: fewer seconds per column (+)", timeline.action_zoom_in),
                ("Zoom out", "timeline: more seconds per column (-)", timeline.action_zoom_out),
                ("Zoom to fit", "timeline: the whole run (0)", timeline.action_zoom_fit),
            ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)


def _runner_source(request: RunRequest) -> Source:
    """The default source factory: ``source.runner_source``, imported by the first run."""
    from .source import runner_source

    return runner_source(request)


def create_app(scenario_file: str | None = None, block_ms: float = 25.0,
               source_factory: SourceFactory | None = None,
               clock: Callable[[], float] | None = None) -> CoffeeShopApp:
    """The app, as used by the CLI (real runner) and the tests (``source_factory``, ``clock``)."""
    return CoffeeShopApp(scenario_file=scenario_file, block_ms=block_ms, source_factory=source_factory,
                         clock=clock or time.monotonic)
