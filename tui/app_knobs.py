"""The knob panel of the main screen: select, nudge, type a value; reruns (debounced) or live changes."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Input, Static

from coffeeshop_tui.scenarios.api import Param, ScenarioError

from .messages import KnobNudged, KnobSelected
from .widgets.knobs import KnobPanel, format_range, format_value


class KnobsMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.app.CoffeeShopApp` (uses its widgets and state)."""

    # ================================================================== knobs
    def _show_knobs(self) -> None:
        if self.highlighted_load is not None:
            return  # a load test owns the panels (its knobs are on its own screen)
        sc = self.selected
        live = bool(sc.live and self._source is not None and self._request is not None
                    and self._request.name == sc.name and self.latest is not None
                    and self.latest.live_knobs)
        values = self.values[sc.name]
        self._q(KnobPanel).show(sc.params, values, self.knob_index.get(sc.name, 0), live)
        title = "Knobs (live)" if live else "Knobs"
        keys = "  k <> i" if live else "  k · < > · i"  # both fit the 80-column sidebar
        self._q("#knobs-title", Static).update(Text.assemble((title, "bold"), (keys, "dim")))

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

    def on_knob_edit_requested(self, _message) -> None:
        self.action_knob_edit()

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

    def knob_typed(self, text: str) -> None:
        """A value typed into the knob input (the app routes ``Input.Submitted`` here)."""
        p = self._selected_param()
        if p is None:
            return
        try:
            value = p.parse(text.strip()) if p.kind is not str else p.check(text.strip())
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

