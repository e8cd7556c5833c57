"""The one help screen of every screen: what it shows, what the colours mean, every key.

Each screen opens :class:`HelpScreen` with its own :class:`HelpText` (``SCENARIO_HELP`` or
``LOAD_HELP``) and its keys from the one keymap (:func:`coffeeshop_tui.tui.keymap.help_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..timeline_view import LEGEND, PARTIAL_NOTE

INTRO = (
    "Every lane is MEASURED from real running code: the scenario runs in a child process "
    "on its own event loop, under a recorder. Nothing is scripted.\n"
    "Top lane: the event loop (who holds it). Then one lane per task, then one per worker "
    "thread or process. Time runs left to right."
)

PANELS = [
    ("caption", "what the measurement shows, computed from the recording"),
    ("source", "the scenario's code; ▶ marks the line holding the loop while a step blocks"),
    ("stats", "wall time vs the ideal one-by-one and overlapped times, speed-up, blocked share"),
    ("lag", "sparkline: how long the longest-waiting ready task had waited (loop lag)"),
    ("ready", "sparkline: how many tasks were ready but starved"),
]


def legend_table(legend) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(no_wrap=True)
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    for state, char, style, description in legend:
        t.add_row(Text((char * 4) if char.strip() else "    ", style=style or ""), state, description)
    return t


def keys_table(keys: list[tuple[str, str]]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    for key, what in keys:
        t.add_row(key, what)
    return t


CLIENT_LEGEND = [
    ("queued", "┄", "#c061cb", "client lane: waiting in the client for its turn or a connection"),
    ("waiting", "─", "#8b949e", "client lane: sent, waiting for the server's answer"),
    ("running", "█", "#3fb950", "client lane: reading the answer"),
    ("blocked", "▓", "#e5484d", "client lane: the request FAILED (timeout, 503, refused...)"),
]

LOAD_INTRO = (
    "The server (uvicorn, 1 worker) runs in a child process on 127.0.0.1; its event "
    "loop is recorded. The load generator runs here. Both stamp time.monotonic_ns(), so "
    "every lane shares one time axis. Top: the server's event loop and worker threads. "
    "Below: one lane per user, its requests one after another (l: one lane per request "
    "instead), and under it the server tasks that handled them (matched by the "
    "x-request-id header). Move the cursor onto a segment to see its request id and, on a "
    "handler's wait, what it awaited (═ a lock, semaphore, event or queue; ≈ a socket or pipe; "
    "─ a timer, a task or a future). w: what the server's loop held at the cursor's time. "
    "Little's law: requests in flight ≈ throughput × mean latency, both over the window; "
    "\"not steady yet\" means the load or the server changed within it. A wide screen "
    "(170 columns) also draws the latency histogram a row per bucket, left."
)


@dataclass(frozen=True)
class HelpText:
    """What a screen's help says besides its keys."""

    title: str
    intro: str
    legends: tuple = ()
    note: str = ""
    panels: tuple = ()


SCENARIO_HELP = HelpText("coffeeshop-tui: watch Python's event loop", INTRO, (LEGEND,), PARTIAL_NOTE,
                         tuple(PANELS))
LOAD_HELP = HelpText("Load test: a real FastAPI server under real load", LOAD_INTRO,
                     (LEGEND, CLIENT_LEGEND))


class HelpScreen(ModalScreen[None]):
    """Shows a screen's help text, its legend and its keys. Escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close help"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    HelpScreen .help-title { text-style: bold; color: $accent; margin-top: 1; }
    """

    def __init__(self, text: HelpText, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        text = self.text
        with VerticalScroll(id="help-body"):
            yield Static(text.title, classes="help-title")
            yield Static(text.intro)
            yield Static("Colours", classes="help-title")
            for legend in text.legends:
                yield Static(legend_table(legend))
            if text.note:
                yield Static(Text(text.note, style="dim"))
            yield Static("Keys", classes="help-title")
            yield Static(keys_table(self.keys))
            if text.panels:
                yield Static("Panels", classes="help-title")
                yield Static(keys_table(list(text.panels)))
            yield Static(Text("escape / q / ? closes this help", style="dim"))
