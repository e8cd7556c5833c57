"""Time control of the main screen: pause, slow-motion replay, scrub (one clock, injectable)."""

from __future__ import annotations

from coffeeshop_tui.scenarios.explain import fmt_s  # noqa: F401
from textual.css.query import NoMatches

from .timeline_view import TimelineView

SPEEDS = (1.0, 0.25, 0.1, 0.01)


class ReplayMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.app.CoffeeShopApp` (uses its widgets and state)."""

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
        now = self.clock()
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
            self._last_tick = self.clock()
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
        self._last_tick = self.clock()
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

