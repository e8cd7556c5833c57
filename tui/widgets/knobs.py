"""The knob panel: a scenario's parameters, one selected, nudged with keys."""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget

from coffeeshop_tui.scenarios.api import Param

from ..messages import KnobEditRequested, KnobNudged, KnobSelected


def format_value(p: Param, value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_range(p: Param) -> str:
    if p.choices:
        return "|".join(map(str, p.choices))
    if p.kind is bool:
        return "on|off"
    if p.min is not None or p.max is not None:
        lo = "" if p.min is None else f"{p.min:g}"
        hi = "" if p.max is None else f"{p.max:g}"
        return f"{lo}..{hi}"
    return ""


class KnobPanel(Widget, can_focus=True):
    """Shows ``params`` with their ``values``; the selected one is marked.

    Keys when focused: up/down select, left/right (or -/+) nudge, enter edits.
    The app owns the values; this widget only posts KnobSelected / KnobNudged.
    """

    DEFAULT_CSS = """
    KnobPanel { height: auto; min-height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    KnobPanel:focus { background: $boost; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Prev knob", show=False),
        Binding("down", "move(1)", "Next knob", show=False),
        Binding("left,minus", "nudge(-1)", "Knob -", show=False),
        Binding("right,plus,equals_sign", "nudge(1)", "Knob +", show=False),
        Binding("enter", "edit", "Edit knob", show=False),
    ]

    selected: reactive[int] = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.params: tuple[Param, ...] = ()
        self.values: dict[str, Any] = {}
        self.live = False
        self.labels: dict[str, str] = {}
        self.fmt: Callable[[Param, Any], str] = format_value

    def show(self, params, values: dict, selected: int, live: bool = False,
             labels: dict[str, str] | None = None,
             fmt: Callable[[Param, Any], str] | None = None) -> None:
        """``labels``: a screen's names for the params (default: their names); ``fmt``: how a
        value is written (default :func:`format_value`). The range comes from each Param."""
        params = tuple(params)
        selected = max(0, min(selected, len(params) - 1)) if params else 0
        state = (params, dict(values), selected, live, dict(labels or {}), fmt)
        if state == getattr(self, "_shown", None):
            return  # a screen that shows its knobs with every update (20 Hz) costs nothing
        rows_changed = len(params) != len(getattr(self, "params", ()))
        self._shown = state
        self.params = params
        self.values = dict(values)
        self.live = live
        self.labels = dict(labels or {})
        self.fmt = fmt or format_value
        self.selected = selected
        self.refresh(layout=rows_changed)  # a layout pass only when the number of rows changes

    def render(self) -> Text:
        if not self.params:
            return Text("no parameters", style="dim")
        names = [self.labels.get(p.name, p.name) for p in self.params]
        values = [self.fmt(p, self.values.get(p.name, p.default)) for p in self.params]
        room = self.content_size.width or 10_000
        # the values always show: a narrow panel shortens the long names instead ("executor_w…")
        width = max(4, min(max(len(n) for n in names), room - 3 - max(len(v) for v in values)))
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, p in enumerate(self.params):
            mark = "▸" if i == self.selected else " "
            style = "reverse" if i == self.selected and self.has_focus else ("underline" if i == self.selected else "")
            if i:
                out.append("\n")
            name = names[i] if len(names[i]) <= width else names[i][:width - 1] + "…"
            head = f"{mark} {name:<{width}} "
            value = values[i]
            out.append(head, style=style)
            out.append(value, style="bold")
            rng = format_range(p)
            if rng and len(head) + len(value) + 1 + len(rng) <= room:  # the range only where it fits
                out.append(f" {rng}", style="dim")
        return out

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self.params))

    def watch_selected(self, _old: int, _new: int) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        if self.params:
            self.post_message(KnobSelected((self.selected + delta) % len(self.params)))

    def action_nudge(self, direction: int) -> None:
        self.post_message(KnobNudged(direction))

    def action_edit(self) -> None:
        self.post_message(KnobEditRequested())

    def on_click(self, event) -> None:
        y = event.y
        if 0 <= y < len(self.params):
            self.post_message(KnobSelected(y))
