"""The load-test screen's help: what the lanes and colours mean, and its keys.

This module does not start anything; :mod:`coffeeshop_tui.tui.screens.load` opens it with ``?``.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..timeline_view import LEGEND
from .help import keys_table, legend_table

CLIENT_LEGEND = [
    ("queued", "┄", "#c061cb", "client lane: waiting in the client for its turn or a connection"),
    ("waiting", "─", "#8b949e", "client lane: sent, waiting for the server's answer"),
    ("running", "█", "#3fb950", "client lane: reading the answer"),
    ("blocked", "▓", "#e5484d", "client lane: the request FAILED (timeout, 503, refused...)"),
]


class LoadHelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close help")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Load test: a real FastAPI server under real load", classes="lt-help-title")
            yield Static(
                "The server (uvicorn, 1 worker) runs in a child process on 127.0.0.1; its event "
                "loop is recorded. The load generator runs here. Both stamp time.monotonic_ns(), so "
                "every lane shares one time axis. Top: the server's event loop and worker threads. "
                "Below: one lane per user, its requests one after another (l: one lane per request "
                "instead), and under it the server tasks that handled them (matched by the "
                "x-request-id header). Move the cursor onto a segment to see its request id.")
            yield Static("Colours", classes="lt-help-title")
            yield Static(legend_table(LEGEND))
            yield Static(legend_table(CLIENT_LEGEND))
            yield Static("Keys", classes="lt-help-title")
            yield Static(keys_table(self.keys))
            yield Static(Text("escape / q / ? closes this help", style="dim"))
