"""The help screen: what the colours mean (from the timeline's LEGEND) and every key."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

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


class HelpScreen(ModalScreen[None]):
    """Shows the legend and the keys. Escape, q or ? closes it."""

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

    def __init__(self, legend, keys: list[tuple[str, str]], note: str = "") -> None:
        super().__init__()
        self.legend = legend
        self.keys = keys
        self.note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static("coffeeshop-tui: watch Python's event loop", classes="help-title")
            yield Static(INTRO)
            yield Static("Colours", classes="help-title")
            yield Static(legend_table(self.legend))
            if self.note:
                yield Static(Text(self.note, style="dim"))
            yield Static("Keys", classes="help-title")
            yield Static(keys_table(self.keys))
            yield Static("Panels", classes="help-title")
            yield Static(keys_table(PANELS))
            yield Static(Text("escape / q / ? closes this help", style="dim"))
