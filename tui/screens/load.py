"""The load-test screen: a real FastAPI server under load, client and server on one time axis.

    app.push_screen(LoadTestScreen(endpoint="/sync", concurrency=41, delay=1.0))

Left: the endpoint picker and the knobs (users or rate, delay, the server's thread-pool size,
its 503 limit, closed / open model), on a wide screen (170 columns) the latency histogram a
row per bucket, then what changed while it ran. Right: a caption
computed from the measurement, the numbers (in flight next to throughput, so Little's law
L = λ·W is visible; p50/p95/p99; errors by kind; pool tokens in use), and a
:class:`~coffeeshop_tui.tui.timeline_view.TimelineView` with the server's event loop and worker threads,
then one client lane per request (newest first) with its server handler lane under it.

Data flows one way: :class:`coffeeshop_tui.scenarios.web.loadtest.LoadTest` (server child + load generator)
-> a producer thread worker calls ``update(view=self.view)`` at <= 20 Hz (what the lanes show is
an immutable :class:`~coffeeshop_tui.scenarios.web.load_lanes.ViewOptions` the keys ``h t l``
swap; nothing is flipped on the live object) -> :class:`LoadUpdated` (posted thread-safely,
coalesced) -> applied inside ``batch_update()``. Knobs are the
:data:`~coffeeshop_tui.scenarios.web.load_settings.KNOBS` the CLI uses (``< >`` walk a knob's
ladder within its Param's range, ``i`` parses a typed value with the same rule and error text);
the load test's setters take only its short lock, never the one of an update being built.
The screen uses the load test's public interface only, so any object with it can be injected
(``loadtest=``; e.g. :class:`~coffeeshop_tui.scenarios.web.load_replay.ReplayLoad` in the tests).

A server that cannot start (port in use) or dies mid-test is shown with its message; ``r``
(re)starts it, the screen stays up. Leaving the screen (``q`` / escape), quitting the app or
Ctrl-C stops the load and the server.

``LoadTestApp(**kwargs)`` runs the screen as a tiny app on its own (tests, ``load --tui``).
The numbers' text (stats, histogram, sparklines) lives in :mod:`.load_text`; this module
(~650 lines) is one screen's layout, rendering and key actions; its ``w`` panel (the server's
loop at the cursor) is :mod:`.load_loop`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from coffeeshop_tui.scenarios.explain import fmt_s
from coffeeshop_tui.scenarios.snapshot import WAIT_STATES
from coffeeshop_tui.scenarios.web.load_lanes import ViewOptions
from coffeeshop_tui.scenarios.web.load_export import chrome_trace, export_doc
from coffeeshop_tui.scenarios.web.load_settings import DEMO_ENDPOINTS, ENDPOINTS, KNOBS, LIVE_KNOBS
from coffeeshop_tui.scenarios.web.loadtest import (
    DOWN,
    FAILED,
    RESTARTING,
    STARTING,
    LoadTest,
    LoadTestError,
    LoadUpdate,
)
from coffeeshop_tui.scenarios.web.server import DEFAULT_APP, ServerError

from ..gc_pace import FreezeOld
from ..timeline_view import LEGEND, TimelineView
from .. import keymap, line_breaks
from ..messages import FeedFailed, FeedUpdated, KnobEditRequested, KnobNudged, KnobSelected, RoutesFound
from ..widgets.knobs import KnobPanel
from ..widgets.loop_panel import LoopPanel
from ..widgets.quiet import update_static
from ..producer import paced, produce
from ..terminal_driver import HangupSafe
from .help import CLIENT_LEGEND, LOAD_HELP, HelpScreen
from .load_loop import LoadLoopMixin
from .load_text import histogram_rows, histogram_text, sparkline, stats_text  # noqa: F401 (re-exported)

line_breaks.install()  # (also when this screen runs on its own: LoadTestApp)

LOAD_FEED = "load"  # the feed id of this screen's updates
NARROW, XWIDE = 110, 170  # the app's breakpoints (tui/app.py: -narrow below, -xwide from)
#: the app's palette key (App adds it so), shown in this screen's footer too
PALETTE_BINDING = Binding("ctrl+p", "app.command_palette", "palette", show=False, priority=True,
                          tooltip="Open the command palette")
START_FAILED = "the server did not start"


def _knob_fmt(p, value) -> str:
    """A load knob's value as the load test writes it (one function: the panel skips a redraw
    when nothing it shows changed)."""
    return KNOBS[p.name].fmt(value)


def _endpoint_what(path: str) -> str:
    return next((e.short for e in ENDPOINTS if e.path == path), "")


# ----------------------------------------------------------------------------- the screen
class LoadTestScreen(LoadLoopMixin, ModalScreen[None]):
    """A live load test (see the module docstring). Modal, so the main app's keys do not
    reach through; leaving it stops the server and the load."""

    CSS_PATH = "load.tcss"
    AUTO_FOCUS = "#lt-timeline"
    KEYMAP = keymap.LOAD  # its keys, help and palette entries in the one keymap

    @property
    def active_bindings(self):
        # the screen's own keys first in the footer (they matter most at 80 columns), then
        # those of the focused widget (the timeline's pan / zoom) as far as they fit whole,
        # and the palette key on the right (as on the main screen; a modal screen's chain
        # leaves out the app's bindings, though ctrl+p works)
        found = super().active_bindings
        mine = {k: v for k, v in found.items() if v.node is self}
        ordered = {**mine, **{k: v for k, v in found.items() if v.node is not self}}
        app = self.app
        palette = app.ENABLE_COMMAND_PALETTE
        if palette and app.COMMAND_PALETTE_BINDING not in ordered:
            ordered[app.COMMAND_PALETTE_BINDING] = ActiveBinding(app, PALETTE_BINDING, True)
        if not self.size.width:
            return ordered  # (not laid out yet: on_resize refreshes the footer)
        return keymap.footer_fit(ordered, self.size.width, self.size.width < NARROW, app.get_key_display,
                                 palette=palette)

    BINDINGS = [
        *keymap.bindings(keymap.LOAD),
        *[Binding(str(i + 1), f"endpoint_at({i})", f"endpoint {i + 1}", show=False) for i in range(9)],
    ]

    def __init__(
        self,
        endpoint: str = "/sync",
        *,
        app: str = DEFAULT_APP,
        url: str | None = None,
        model: str = "closed",
        concurrency: int = 10,
        rate: float = 10.0,
        delay: float | None = 1.0,
        pool_size: int | None = None,
        max_in_flight: int | None = None,
        port: int | None = None,
        allow_remote: bool = False,
        timeout: float = 30.0,
        block_ms: float = 25.0,
        cwd: str | None = None,
        max_lanes: int = 100,
        lane_mode: str = "users",
        loadtest=None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Raises LoadTestError for bad settings (before anything starts). ``loadtest``: a
        LoadTest not started yet (or anything with its interface, e.g. a ReplayLoad), to use
        instead of making one."""
        super().__init__(name=name, id=id, classes=classes)
        self.lt = loadtest or LoadTest(
            endpoint, app=app, url=url, model=model, concurrency=concurrency, rate=rate,
            delay=delay, pool_size=pool_size, max_in_flight=max_in_flight, port=port,
            allow_remote=allow_remote, timeout=timeout, block_ms=block_ms, cwd=cwd,
            max_lanes=max_lanes, lane_mode=lane_mode, loop_queue=True,  # `w`: the loop at the cursor
            loadgen_process=True,  # the HTTP client's GIL and garbage collector are not the UI's
        )
        self.routes: tuple[str, ...] = tuple(DEMO_ENDPOINTS) if self.lt.demo else (self.lt.endpoint,)
        #: what the lanes show; swapped whole (immutable), the producer passes it to update()
        self.view = ViewOptions(handlers=True, threads=True, lane_mode=self.lt.lane_mode)
        self.knob_index = 0
        self.latest: LoadUpdate | None = None  # the newest update (shown unless frozen)
        self.shown: LoadUpdate | None = None  # the update on screen (what `e` exports)
        self.frozen = False  # space: the display is paused
        self._last_status = ""
        self._auto_zoomed = False
        self._lt_closed = False
        self._gc = FreezeOld()  # short garbage collections while it runs (tui/gc_pace.py)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static("", id="lt-title")
        with Horizontal(id="lt-body"):
            with Vertical(id="lt-side"):
                yield Static("Endpoint", classes="lt-panel-title")
                yield OptionList(*self._endpoint_options(), id="lt-endpoints")
                yield Static("Knobs  k · < > · i", classes="lt-panel-title")  # (as the main screen's)
                yield KnobPanel(id="lt-knobs")
                yield Input(id="lt-knob-input")
                # (a wide screen only: the latency histogram, a row per bucket)
                yield Static("Latency  last window, successes", classes="lt-panel-title", id="lt-hist-title")
                yield Static("", id="lt-hist")
                yield Static("Changes", classes="lt-panel-title")
                yield Static("", id="lt-notes")
            with Vertical(id="lt-main"):
                yield Static("starting the server...", id="lt-caption")
                yield Static("", id="lt-message")
                yield Static("", id="lt-stats")
                yield Static(self._legend_text(), id="lt-legend")
                yield TimelineView(id="lt-timeline")
                yield Static("", id="lt-cursor")
                yield LoopPanel("", id="lt-loop")
        yield Footer()

    def _endpoint_options(self, narrow: bool = False) -> list[Option]:
        out = []
        for i, path in enumerate(self.routes):
            what = _endpoint_what(path) if self.lt.demo and not narrow else ""
            prompt = Text.assemble((f"{i + 1} " if i < 9 else "  ", "dim"), (f"{path:<10} ", "bold"),
                                   (what, "dim"), no_wrap=True, overflow="ellipsis")
            out.append(Option(prompt, id=path))
        return out

    @staticmethod
    def _legend_text() -> Text:
        # wraps at 80 columns (2 rows): each glyph stays with its word (a no-break space)
        t = Text()
        t.append("client ", style="bold")
        for (_state, char, style, _d), word in zip(CLIENT_LEGEND, ("queued", "waiting", "reading", "failed")):
            t.append(char, style=style)
            t.append(f"{word} ")
        t.append("│\u00a0server ", style="bold")
        words = {"running": "runs", "blocked": "BLOCKS", "starved": "starved", "lock": "lock", "io": "io",
                 "queued": "thread wait", "thread": "thread"}
        for state, char, style, _d in LEGEND:
            if state in words:
                t.append(char, style=style or "")
                t.append(f"{words[state]} ".replace(" ", "\u00a0", words[state].count(" ")))
        return t

    def on_mount(self) -> None:
        self._sync_endpoint_highlight()
        self._render_knobs()
        self._produce()

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW
        short = self.size.height < 32  # (as the app's breakpoints: also on its own)
        xwide = self.size.width >= XWIDE
        if (narrow, xwide, short) != tuple(map(self.has_class, ("-narrow", "-xwide", "-short"))):
            self.set_class(short, "-short")
            self.set_class(narrow, "-narrow")
            self.set_class(xwide, "-xwide")  # a wider side panel, with the latency histogram
            self._fill_endpoints()
            if self.shown is not None:
                update_static(self.query_one("#lt-title", Static), self._title(self.shown))
                update_static(self.query_one("#lt-stats", Static), self._stats_text(self.shown))
                self.call_after_refresh(self._render_hist, self.shown)  # (at the panel's new width)
        # a compact footer at 80 columns: the screen's own keys (first, see active_bindings)
        # all fit, the timeline's pan / zoom keys follow as far as there is room
        self.query_one(Footer).compact = narrow
        self.refresh_bindings()  # (the footer keeps the keys that fit this width: active_bindings)

    def _fill_endpoints(self) -> None:
        ol = self.query_one("#lt-endpoints", OptionList)
        ol.clear_options()
        ol.add_options(self._endpoint_options(self.has_class("-narrow")))
        self._sync_endpoint_highlight()

    def on_unmount(self) -> None:
        self.stop_everything()

    def on_key(self, event) -> None:
        self._gc.key()  # a full garbage collection waits until keys are quiet (tui/gc_pace.py)

    def stop_everything(self) -> None:
        """Stop the producer, the load and the server (idempotent; blocks briefly)."""
        self._lt_closed = True
        self._gc.close()
        try:
            self.workers.cancel_group(self, "lt-producer")
        except Exception:
            pass
        self.lt.stop()

    # ------------------------------------------------------------------ producer
    @work(thread=True, exclusive=True, group="lt-producer", exit_on_error=False)
    def _produce(self) -> None:
        worker = get_current_worker()
        lt = self.lt
        try:
            lt.start()
            if not lt.demo and lt.routes:
                self.post_message(RoutesFound(lt.routes))
        except (ServerError, LoadTestError) as exc:
            self.post_message(FeedFailed(LOAD_FEED, str(exc), START_FAILED))
        except Exception as exc:  # never crash the app
            self.post_message(FeedFailed(LOAD_FEED, f"{type(exc).__name__}: {exc}", START_FAILED))

        def stopped() -> bool:
            return worker.is_cancelled or self._lt_closed

        def build() -> LoadUpdate:
            self._gc.tick()
            return lt.update(view=self.view)

        # <= 20 Hz, and building takes at most ~1/3 of a core (the UI shares the GIL)
        updates = paced(build, share=1 / 3, stopped=stopped)
        try:
            produce(self, LOAD_FEED, updates, stopped, title="measuring failed")
        finally:
            self._gc.close()

    def on_feed_updated(self, message: FeedUpdated) -> None:
        if self._lt_closed or not self.is_mounted or message.feed != LOAD_FEED:
            return
        u = message.update
        self.latest = u
        if self.frozen:
            return  # paused: everything shown stays as it was (space resumes)
        self._apply(u)

    def _apply(self, u: LoadUpdate) -> None:
        self.shown = u
        with self.app.batch_update():
            view = self.query_one("#lt-timeline", TimelineView)
            view.update_snapshot(u.snapshot)
            self._auto_window(view, u)
            # (update_static: no screen-wide layout pass at 20 Hz unless a height changes: a
            # layout per update made keys wait under load)
            update_static(self.query_one("#lt-title", Static), self._title(u))
            update_static(self.query_one("#lt-caption", Static), u.caption)
            update_static(self.query_one("#lt-stats", Static), self._stats_text(u))
            self._render_hist(u)
            # (the caption already says to press r: the message says only what happened)
            self._show_message(u.error if u.status in (DOWN, FAILED) and u.error else None)
            self._render_knobs(u.knobs)
            self._render_notes(u.notes)
            self._show_loop()
        if u.status != self._last_status:
            if u.status == DOWN:
                self.notify(u.error or "the server died", severity="error", title="server down")
            self._last_status = u.status

    def _auto_window(self, view: TimelineView, u: LoadUpdate) -> None:
        """Once the run is longer than a few request times, stop fitting the whole run and
        follow the live edge with a window of ~8 requests' time (once: the user's zoom wins)."""
        if self._auto_zoomed or not view.fitting or not u.snapshot.live:
            return
        per = u.stats.delay_s or u.stats.p50_s or 0.0
        target = min(30.0, max(3.0, 8 * per))
        if u.snapshot.t_end <= target:
            return
        self._auto_zoomed = True
        cells = max(1, view.size.width - 20)
        for _ in range(40):
            if view.seconds_per_cell * cells <= target:
                break
            view.zoom(-1)

    def on_feed_failed(self, message: FeedFailed) -> None:
        if self._lt_closed:
            return
        if message.title == START_FAILED:  # stays until the server is up (the updates clear it)
            self._show_message(message.error + "  (press r to try again)")
        self.notify(message.error.splitlines()[0], severity="error", title=message.title)

    @on(RoutesFound)
    def _routes(self, message: RoutesFound) -> None:
        self.routes = tuple(message.routes)
        self._fill_endpoints()

    def _show_message(self, text: str | None) -> None:
        msg = self.query_one("#lt-message", Static)
        msg.set_class(bool(text), "shown")
        update_static(msg, text or "")

    # ------------------------------------------------------------------ rendering
    def _title(self, u: LoadUpdate) -> Text:
        s = u.stats
        style = {"running": "bold green", DOWN: "bold red", FAILED: "bold red", STARTING: "yellow",
                 RESTARTING: "yellow", "paused": "yellow"}.get(u.status, "bold")
        # most important first: a narrow screen wraps the rest to a 2nd row, never cuts it
        t = Text()
        t.append("Load test ", style="bold")
        t.append(f"●\u00a0{u.status}", style=style)
        t.append(f"  {s.elapsed_s:.1f}\u00a0s", style="dim")
        url = s.url or self.lt.endpoint
        if self.has_class("-narrow"):  # (80 columns: without "http://" the title fits one row)
            url = url.removeprefix("http://")
        t.append(f"  {url}")
        if s.server_pid:
            t.append(f"  server\u00a0pid\u00a0{s.server_pid}", style="dim")  # (wraps whole)
        return t

    def _stats_text(self, u: LoadUpdate) -> Text:
        return stats_text(u, narrow=self.has_class("-narrow"),  # (tui/screens/load_text.py)
                          short=self.has_class("-short"))

    def _render_hist(self, u: LoadUpdate) -> None:
        """The latency histogram panel (shown on a wide screen only: drawn only then)."""
        if self.has_class("-xwide"):
            hist = self.query_one("#lt-hist", Static)
            update_static(hist, histogram_rows(u.stats, hist.content_region.width or 45))


    def _knob_names(self) -> list[str]:
        names = [n for n in LIVE_KNOBS if n != ("rate" if self.lt.model == "closed" else "concurrency")]
        if self.lt.external:  # the pool and the 503 limit need our own server
            names = [n for n in names if n not in ("pool_size", "max_in_flight")]
        return names

    def _render_knobs(self, knobs: dict | None = None) -> None:
        knobs = knobs or self.lt.knobs()
        names = self._knob_names()
        self.knob_index %= len(names)
        # the same knob panel as the scenarios', showing each knob's Param (its range is the rule)
        self.query_one("#lt-knobs", KnobPanel).show(
            [KNOBS[n].param for n in names], {n: knobs.get(n) for n in names}, self.knob_index, live=True,
            labels={n: KNOBS[n].label for n in names}, fmt=_knob_fmt)

    def on_knob_selected(self, message: KnobSelected) -> None:
        message.stop()  # this screen's knobs, not the app's
        self.knob_index = message.index
        self._render_knobs()

    def on_knob_nudged(self, message: KnobNudged) -> None:
        message.stop()
        self.action_knob_nudge(message.direction)

    def on_knob_edit_requested(self, message: KnobEditRequested) -> None:
        message.stop()
        self.action_knob_edit()

    def _render_notes(self, notes: tuple) -> None:
        t = Text(no_wrap=True, overflow="ellipsis")
        for i, (ts, text) in enumerate(notes[-8:]):
            if i:
                t.append("\n")
            t.append(f"{ts:5.1f} s ", style="dim")
            t.append(text)
        update_static(self.query_one("#lt-notes", Static), t)

    def _sync_endpoint_highlight(self) -> None:
        ol = self.query_one("#lt-endpoints", OptionList)
        try:
            ol.highlighted = ol.get_option_index(self.lt.endpoint)
        except Exception:
            pass

    # ------------------------------------------------------------------ actions
    def action_close(self) -> None:
        editing = self.query_one("#lt-side").has_class("editing")
        if editing:
            self._end_edit()
            return
        self.stop_everything()
        self.dismiss(None)

    def _nothing_runs(self) -> bool:
        """A saved recording (``coffeeshop-tui open``) replays what was measured: no server and
        no load to restart, kill, pause or turn. True (and says so) there."""
        if not getattr(self.lt, "saved", False):
            return False
        self.notify("a saved recording: nothing runs here, so the server and load keys do nothing "
                    "(scrub, zoom, w, e and the lane keys work)", timeout=4)
        return True

    def _set_endpoint(self, path: str) -> None:
        if self._nothing_runs():
            return
        try:
            self.lt.set_endpoint(path)
        except LoadTestError as exc:
            self.notify(str(exc), severity="error", title="endpoint")
            return
        self._sync_endpoint_highlight()
        self.notify(f"now loading {path}" + (f": {DEMO_ENDPOINTS[path]}" if path in DEMO_ENDPOINTS else ""),
                    timeout=2)

    def action_endpoint(self, direction: int) -> None:
        routes = self.routes
        if not routes:
            return
        i = routes.index(self.lt.endpoint) if self.lt.endpoint in routes else -1
        self._set_endpoint(routes[(i + direction) % len(routes)])

    def action_endpoint_at(self, index: int) -> None:
        if 0 <= index < len(self.routes):
            self._set_endpoint(self.routes[index])

    @on(OptionList.OptionSelected, "#lt-endpoints")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id != self.lt.endpoint:
            self._set_endpoint(event.option.id)

    def action_knob_next(self, direction: int) -> None:
        self.knob_index = (self.knob_index + direction) % len(self._knob_names())
        self._render_knobs()

    def selected_knob(self) -> str:
        names = self._knob_names()
        return names[self.knob_index % len(names)]

    def select_knob(self, name: str) -> None:
        self.knob_index = self._knob_names().index(name)
        self._render_knobs()

    def action_knob_nudge(self, direction: int) -> None:
        if self._nothing_runs():
            return
        name = self.selected_knob()
        self.set_knob(name, KNOBS[name].nudge(self.lt.knobs().get(name), direction))

    def set_knob(self, name: str, value) -> None:
        """Apply a knob value live (the HTTP ones, the pool and the 503 limit, in a worker;
        the others take the load test's short lock only)."""
        lt = self.lt
        try:
            value = KNOBS[name].check(value)
            if name == "concurrency":
                lt.set_concurrency(value)
            elif name == "rate":
                lt.set_rate(value)
            elif name == "delay":
                lt.set_delay(value)
            elif name == "model":
                lt.set_model(value)
            elif name in ("pool_size", "max_in_flight"):
                self._apply_admin(name, value)
                return
        except LoadTestError as exc:
            self.notify(str(exc), severity="error", title=KNOBS[name].label)
            return
        self._render_knobs()

    @work(thread=True, group="lt-control", exit_on_error=False)
    def _apply_admin(self, name: str, value: int) -> None:
        try:
            if name == "pool_size":
                info = self.lt.set_pool_size(value)
                text = f"pool: {info['total']} threads"
            else:
                self.lt.set_max_in_flight(value)
                text = f"503 limit: {value or 'off'}"
        except (LoadTestError, ServerError) as exc:
            self.post_message(FeedFailed(LOAD_FEED, str(exc), KNOBS[name].label))
            return
        self.app.call_from_thread(self.notify, text, timeout=2)

    def action_knob_edit(self) -> None:
        if self._nothing_runs():
            return
        name = self.selected_knob()
        k = KNOBS[name]
        side = self.query_one("#lt-side")
        side.add_class("editing")
        inp = self.query_one("#lt-knob-input", Input)
        inp.placeholder = f"{k.label} now {k.fmt(self.lt.knobs().get(name))}: {k.help()}"
        inp.value = ""
        inp.focus()

    def _end_edit(self) -> None:
        self.query_one("#lt-side").remove_class("editing")
        self.query_one("#lt-timeline", TimelineView).focus()

    @on(Input.Submitted, "#lt-knob-input")
    def _edited(self, event: Input.Submitted) -> None:
        name = self.selected_knob()
        text = event.value.strip()
        self._end_edit()
        if not text:
            return
        try:
            value = KNOBS[name].parse(text.lower() if name == "model" else text)
        except LoadTestError as exc:
            self.notify(str(exc), severity="error", title=KNOBS[name].label)
            return
        self.set_knob(name, value)

    def action_toggle_load(self) -> None:
        if self._nothing_runs():
            return
        u = self.latest
        if u is not None and u.status == "paused":
            self.lt.resume()
            self.notify("load resumed", timeout=2)
        else:
            self.lt.pause()
            self.notify("load paused (g resumes)", timeout=2)

    def action_restart(self) -> None:
        if self._nothing_runs():
            return
        self._restart()

    @work(thread=True, exclusive=True, group="lt-control", exit_on_error=False)
    def _restart(self) -> None:
        lt = self.lt
        self.app.call_from_thread(self.notify, "starting the server...", timeout=2)
        try:
            if lt.status == FAILED:
                lt.retry_start()
            else:
                lt.restart()
        except (ServerError, LoadTestError) as exc:
            self.post_message(FeedFailed(LOAD_FEED, str(exc), START_FAILED))
            return
        if not lt.demo and lt.routes:
            self.post_message(RoutesFound(lt.routes))
        self.app.call_from_thread(self.notify, "server is up", timeout=2)

    def action_export(self) -> None:
        """Export what is shown (the frozen picture when paused): Chrome trace JSON of the
        lanes (ui.perfetto.dev), the numbers as JSON, and the screen as SVG."""
        u = self.shown or self.latest
        if u is None:
            self.notify("nothing to export yet", timeout=3)
            return
        folder = os.path.abspath(getattr(self.app, "export_dir", "captures"))
        try:
            os.makedirs(folder, exist_ok=True)
            base = f"coffeeshop-load-{time.strftime('%Y%m%d-%H%M%S')}"
            written = []
            for suffix, doc in ((".trace.json", chrome_trace(u.snapshot)), (".json", export_doc(u))):
                path = os.path.join(folder, base + suffix)
                with open(path, "w", encoding="utf-8") as fh:
                    json.dump(doc, fh)
                written.append(path)
            written.append(self.app.save_screenshot(filename=f"{base}.svg", path=folder))
        except OSError as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify("\n".join(written) + "\n(open the .trace.json in ui.perfetto.dev)", title="exported",
                    timeout=8)

    def action_kill(self) -> None:
        if self._nothing_runs():
            return
        self._kill()

    @work(thread=True, group="lt-control", exit_on_error=False)
    def _kill(self) -> None:
        self.lt.kill_server()

    def action_toggle_handlers(self) -> None:
        self.view = replace(self.view, handlers=not self.view.handlers)
        self.notify("handler lanes " + ("shown" if self.view.handlers else "hidden"), timeout=2)

    def action_toggle_lane_mode(self) -> None:
        mode = "requests" if self.view.lane_mode == "users" else "users"
        self.view = replace(self.view, lane_mode=mode)
        self.notify("one lane per " + ("user (rows stay put)" if mode == "users"
                                       else "request (newest first)"), timeout=2)

    def action_toggle_threads(self) -> None:
        self.view = replace(self.view, threads=not self.view.threads)
        self.notify("worker-thread lanes " + ("shown" if self.view.threads else "hidden"), timeout=2)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(LOAD_HELP, keymap.help_rows(keymap.LOAD)))

    def action_toggle_pause(self) -> None:
        """Freeze / unfreeze everything shown (the load and the server go on)."""
        self.frozen = not self.frozen
        if not self.frozen and self.latest is not None:
            self._apply(self.latest)
        self.notify("display paused: the load goes on (space resumes)" if self.frozen
                    else "display live", timeout=2)

    # ------------------------------------------------------------------ cursor
    @on(TimelineView.SegmentFocused)
    def _focused(self, message: TimelineView.SegmentFocused) -> None:
        message.stop()  # this screen's cursor: not the main screen's readout, source or loop panel
        seg = message.segment
        self._loop_cursor_moved(message.t)
        label = message.lane.label.strip().lstrip("└ ").strip()
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{message.t:.3f} s  ", style="dim")
        t.append(label, style="bold")
        if seg is not None:
            t.append(f"  {seg.state} {fmt_s(seg.end - seg.start)}")
            if seg.wait and seg.state in WAIT_STATES:  # a handler's wait: what it awaited
                t.append(f"  waiting: {seg.wait[1]}", style="cyan")
            if seg.info:
                t.append(f"  {seg.info}", style="dim")
        cursor = self.query_one("#lt-cursor", Static)
        cursor.add_class("shown")  # (hidden until a segment is focused: its row is the timeline's)
        cursor.update(t)


class LoadTestApp(HangupSafe, App):
    """The load-test screen on its own (tests, ``coffeeshop-tui load --tui``)."""

    TITLE = "coffeeshop-tui load test"
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.screen_kwargs = kwargs
        self.load_screen: LoadTestScreen | None = None

    def on_mount(self) -> None:
        self.load_screen = LoadTestScreen(**self.screen_kwargs)
        self.push_screen(self.load_screen, callback=lambda _result: self.exit())

    async def action_quit(self) -> None:
        if self.load_screen is not None:
            self.load_screen.stop_everything()
        self.exit()
