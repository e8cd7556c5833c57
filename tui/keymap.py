"""The one keymap: a key means the same on every screen.

Each :class:`Key` is written once, with the screens that offer it (``"scenario"``: the main
barista screen, ``"load"``: the load-test screen). Every screen builds from it, and only
from it:

- its ``BINDINGS`` (:func:`bindings`),
- the rows of its help screen (:func:`help_rows`),
- the command palette's entries (:func:`palette`).

So the footer, the help and the palette can never disagree, and a key that one screen does
not offer does nothing there (it is never reused for something else). A screen lists its
own keys first, then the focused widget's, and :func:`footer_fit` keeps those that fit the
footer whole (never a key cut at its end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from rich.cells import cell_len
from textual.binding import ActiveBinding, Binding

SCENARIO = "scenario"
LOAD = "load"
TASKS = "tasks"  # the task table (tui/widgets/task_table.py)
BOTH = (SCENARIO, LOAD)

KNOB_GROUP = Binding.Group("Knob", compact=True)


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str  # the action (with arguments) it runs
    label: str  # short footer label
    help: str  # what it does (help screen, palette)
    screens: tuple[str, ...] = BOTH
    show: bool = True  # in the footer
    display: str | None = None  # how the key is shown in the footer
    written: str | None = None  # how the help writes it (default: the keys, readable)
    palette: str | None = None  # command palette title (None: not in the palette)
    priority: bool = False
    group: Binding.Group | None = None
    in_help: bool = True  # False where a partner's row already says it ("k / K")
    #: per-screen wording of ``help`` where the same meaning reads better in that screen's words
    help_on: tuple[tuple[str, str], ...] = ()

    def help_for(self, screen: str) -> str:
        return dict(self.help_on).get(screen, self.help)

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.label, show=self.show, key_display=self.display,
                       priority=self.priority, group=self.group)


def _written(k: Key) -> str:
    if k.written:
        return k.written
    keys = k.keys
    return " / ".join(keys.split(","))


KEYS: tuple[Key, ...] = (
    # ---- runs
    Key("r", "run", "Run", "run (or rerun) the selected scenario with its knob values",
        screens=(SCENARIO,), written="r / enter", palette="Run / rerun"),
    Key("s", "stop", "Stop", "stop the running scenario now (kills its process, even inside time.sleep)",
        screens=(SCENARIO,), palette="Stop"),
    Key("r", "restart", "Restart", "restart the server (after a crash, a failed start, or to start afresh)",
        screens=(LOAD,), palette="Restart the server"),
    Key("X", "kill", "Kill server", "kill the server (see what a crash looks like)", screens=(LOAD,),
        show=False, palette="Kill the server"),
    Key("g", "toggle_load", "Load on/off", "pause / resume the load generator (the server stays up)",
        screens=(LOAD,), palette="Pause / resume the load"),
    # ---- endpoints (load screen)
    Key("n", "endpoint(1)", "Endpoint", "next endpoint (or pick one in the list and press enter)",
        screens=(LOAD,), written="n / N", palette="Next endpoint"),
    Key("N", "endpoint(-1)", "Prev endpoint", "previous endpoint", screens=(LOAD,), show=False,
        in_help=False),
    # ---- knobs
    Key("k", "knob_next(1)", "Knob", "select the next / previous knob (a parameter of the scenario)", written="k / K", show=False,
        palette="Next knob"),
    Key("K", "knob_next(-1)", "Prev knob", "select the previous knob", show=False, in_help=False),
    Key("less_than_sign", "knob_nudge(-1)", "Knob -", "nudge the selected knob down",
        display="<", group=KNOB_GROUP, palette="Knob down", in_help=False),
    Key("greater_than_sign", "knob_nudge(1)", "Knob +", "nudge the selected knob up (< down)",
        display=">", written="< / >", group=KNOB_GROUP, palette="Knob up",
        help_on=((SCENARIO, "nudge the selected knob down / up: reruns at once (live for open-shop)"),
                 (LOAD, "turn the selected knob down / up: live, new requests use it"))),
    Key("i", "knob_edit", "Edit knob", "type a value for the selected knob (enter applies, escape cancels)",
        show=False, palette="Edit knob"),
    # ---- time
    Key("space", "toggle_pause", "Pause", "pause / resume the display: everything shown freezes "
        "(the run itself goes on)", display="␣", written="space", palette="Pause / resume",
        help_on=((SCENARIO, "pause / resume the display (the run itself goes on)"),)),
    Key("m", "speed", "Slow", "slow motion: 1x, 0.25x, 0.1x, 0.01x (a 50 ms run lasts 5 s at 0.01x)",
        screens=(SCENARIO,), palette="Slow motion"),
    Key("comma", "scrub(-1)", "Scrub back", "scrub back / forward one column of the timeline (pauses; "
        "caption and stats show that moment)",
        screens=(SCENARIO,), display=",", written=", / .", show=False, palette="Scrub back"),
    Key("full_stop", "scrub(1)", "Scrub fwd", "scrub forward", screens=(SCENARIO,), show=False, display=".",
        palette="Scrub forward", in_help=False),
    Key("pageup", "scrub_page(-1)", "Screen back", "scrub back / forward one screen of the timeline (pauses)",
        screens=(SCENARIO,), show=False, written="pgup / pgdn", palette="Scrub back a screen", priority=True),
    Key("pagedown", "scrub_page(1)", "Screen fwd", "scrub forward one screen", screens=(SCENARIO,),
        show=False, palette="Scrub forward a screen", priority=True, in_help=False),
    Key("home", "time_start", "Start", "go to the start of the run (pauses there)", screens=(SCENARIO,),
        show=False, palette="Go to the start", priority=True, written="home / end",
        help_on=((SCENARIO, "go to the start of the run (pauses there) / back to the end or live edge"),)),
    Key("end", "time_end", "End", "back to the end of the run (the live edge while it runs)",
        screens=(SCENARIO,), show=False, palette="Go to the end (live)", priority=True, in_help=False),
    Key("f", "fit", "Fit", "fit the whole run in the timeline", screens=(SCENARIO,), show=False,
        palette="Fit the run"),
    # ---- compare
    Key("c", "compare", "Compare", "compare sync vs async vs blocking baristas (each run pinned: A, B, C)",
        screens=(SCENARIO,), palette="Compare sync vs async vs blocking"),
    Key("p", "pin", "Pin", "pin this run: the next run is drawn under it, on the same time axis",
        screens=(SCENARIO,), palette="Pin run"),
    Key("x", "clear_pins", "Clear pins", "clear the pinned runs", screens=(SCENARIO,), show=False,
        palette="Clear pins"),
    # ---- lanes
    Key("o", "lane_order", "Lane order", "task lanes: newest first (when they do not all fit) / "
        "oldest first / slowest first", screens=(SCENARIO,), show=False, palette="Lane order"),
    Key("a", "tasks", "Tasks", "task table: every task's time per state, sortable, filterable; "
        "enter goes to its lane", screens=(SCENARIO,), show=False, palette="Task table"),
    Key("w", "loop_panel", "Loop", "the loop at the cursor's time: ready queue, next timers, what "
        "select waited on",
        screens=(SCENARIO, LOAD), show=False, palette="Loop at the cursor",
        help_on=((LOAD, "the server's loop at the cursor's time (else the live edge): ready queue, "
                        "next timers, what select waited on"),)),
    Key("S", "sort_next", "Sort", "sort the task table by the next column", screens=(TASKS,),
        palette="Sort by the next column"),
    # ---- lanes (load screen)
    Key("h", "toggle_handlers", "Handlers", "show / hide the server handler lane under each request",
        screens=(LOAD,), show=False, palette="Handler lanes"),
    Key("T", "toggle_threads", "Threads", "show / hide the worker-thread lanes", screens=(LOAD,),
        show=False, palette="Thread lanes"),
    Key("l", "toggle_lane_mode", "Lanes", "one lane per user (rows stay put) / one lane per request "
        "(newest first)", screens=(LOAD,), show=False, palette="Lanes: users / requests"),
    # ---- everywhere
    Key("e", "export", "Export", "export: Chrome trace JSON (open in ui.perfetto.dev) + SVG screenshot",
        screens=(SCENARIO, LOAD), show=False, palette="Export"),
    Key("t", "app.toggle_dark", "Theme", "light / dark theme", show=False, palette="Toggle light / dark"),
    Key("question_mark,f1", "help", "Help", "this help", display="?", written="? / f1", palette="Help"),
    Key("q", "quit", "Quit", "quit (stops every scenario process and server)", screens=(SCENARIO,),
        written="q / ctrl+q / ctrl+c"),
    Key("q,escape", "close", "Back", "leave: stops the load and the server", screens=(LOAD, TASKS),
        written="q / escape", help_on=((TASKS, "close the task table"),)),
    Key("ctrl+c", "quit", "Quit", "quit", screens=(SCENARIO,), show=False, priority=True, in_help=False),
    Key("escape", "cancel_edit", "Cancel", "cancel typing a knob value", screens=(SCENARIO,), show=False,
        in_help=False),
)

#: keys handled by widgets (not by a screen's bindings), for the help screen
WIDGET_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    SCENARIO: (
        ("tab / shift+tab", "move between the scenario list, the timeline and the knobs"),
        ("timeline: + - 0", "zoom in / out / fit the whole run"),
        ("timeline: ← →", "pan back / forward in time"),
        ("timeline: ↑ ↓ [ ] { }", "move the cursor between lanes / in time / to the next segment"),
        ("knobs: ↑ ↓ ← → enter", "select a knob / nudge it / edit it (when the knob panel has focus)"),
        ("ctrl+p", "command palette: every action by name"),
    ),
    LOAD: (
        ("1-9", "endpoint by its place in the list"),
        ("timeline: + - 0", "zoom in / out / fit (timeline focused)"),
        ("timeline: ← → end", "pan / back to the live edge"),
        ("ctrl+p", "command palette: every action by name"),
    ),
}


PALETTE_WIDTH = {True: 11, False: 14}  # "▏^p palette" in a compact / a roomy footer


def _footer_cells(entries: list[Binding], compact: bool, display: Callable[[Binding], str]) -> int:
    """Columns Textual's Footer gives these keys (one action's entry, or a group's keys that
    share one label): the key, its label and the paddings and margins of its CSS (Textual 8;
    a group's label as app.tcss / load.tcss space it)."""
    if len(entries) > 1:  # a group: its keys, then its label
        keys = sum(cell_len(display(b)) for b in entries)
        return (1 + keys + 1 if entries[0].group.compact else keys + 2 * len(entries)) + \
            cell_len(entries[0].group.description) + 1
    b = entries[0]
    return cell_len(display(b)) + cell_len(b.description) + (2 if compact else 3)


def footer_fit(active: dict[str, ActiveBinding], width: int, compact: bool,
               display: Callable[[Binding], str], palette: bool = True) -> dict[str, ActiveBinding]:
    """``active`` (a screen's ``active_bindings``, the most important first) with the shown keys
    that would not fit a footer ``width`` columns wide (with the palette key on its right)
    hidden: the footer ends with a whole key, never a cut one. (The keys still work.)"""
    room = width - (PALETTE_WIDTH[compact] if palette else 0)
    by_action: dict[str, list[str]] = {}
    for key, ab in active.items():
        if ab.binding.show:
            by_action.setdefault(ab.binding.action, []).append(key)
    # the Footer's entries: one per action, consecutive actions of one group share a label
    entries: list[list[str]] = []
    for keys in by_action.values():
        group = active[keys[0]].binding.group
        if entries and group is not None and active[entries[-1][0]].binding.group is group:
            entries[-1].append(keys[0])
        else:
            entries.append([keys[0]])
    hidden: set[str] = set()
    used = 0
    for entry in entries:  # (once one does not fit, neither do the less important after it)
        used += _footer_cells([active[k].binding for k in entry], compact, display)
        if used > room:
            for k in entry:
                hidden.update(by_action[active[k].binding.action])
    if not hidden:
        return active
    return {key: (ab._replace(binding=replace(ab.binding, show=False)) if key in hidden else ab)
            for key, ab in active.items()}


def keys_for(screen: str) -> tuple[Key, ...]:
    return tuple(k for k in KEYS if screen in k.screens)


def bindings(screen: str) -> list[Binding]:
    """The screen's ``BINDINGS``: every key of the keymap it offers."""
    return [k.binding() for k in keys_for(screen)]


def help_rows(screen: str) -> list[tuple[str, str]]:
    """(key as written, what it does) for the screen's help, widget keys last."""
    rows = [(_written(k), k.help_for(screen))
            for k in keys_for(screen) if k.in_help]
    return rows + list(WIDGET_KEYS.get(screen, ()))


def palette(screen: str) -> list[tuple[str, str, str]]:
    """(title, help, action) for the command palette."""
    out = []
    for k in keys_for(screen):
        if k.palette:
            out.append((k.palette, f"{k.help_for(screen)} ({_written(k)})", k.action))
    return out
