"""Time control of the main screen: pause, slow-motion replay, scrub (one clock, injectable).

A pause freezes everything shown (timeline, axis, caption, stats, status): the update on
screen when space was pressed stays there (``_frozen``) while the run goes on behind it.
A paused or scrubbed view shows the caption and stats *of the moment shown*:
``explain.moment`` over the recording clipped at the view time (the same rules as a live
caption). Scrubbing steps one column of the timeline (``,`` / ``.``) or one screen
(page up / page down); home / end go to the start / back to the end (live edge).
"""

from __future__ import annotations

from textual.actions import SkipAction
from textual.css.query import NoMatches
from textual.widgets import Input


SPEEDS = (1.0, 0.25, 0.1, 0.01)
#: seconds of replay clock between two recomputations of a moment's caption and stats
MOMENT_PERIOD = 0.2


class ReplayMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.app.CoffeeShopApp` (uses its widgets and state)."""

    # ================================================================== replay
    def _t_end(self) -> float:
        snap = self._q("#timeline").snapshot
        return snap.t_end if snap is not None else 0.0

    def _set_view_time(self, t: float | None) -> None:
        self._t_view = t
        self._q("#timeline").clip_to(t)
        self._show_status()
        self._show_source_mark()
        self._show_loop()
        if t is None or self._paused or self.clock() - self._moment_at >= MOMENT_PERIOD:
            self._moment_at = self.clock()
            self._show_caption()
            self._show_stats()

    def _moment(self) -> tuple[dict, str] | None:
        """(stats, caption) of the moment shown, None when the view shows the whole of the
        update (live edge, or the end of the run). Cached per (update, view time)."""
        upd, t = self.shown, self._t_view
        if upd is None or t is None or self._current_pinned or self.pins:
            return None
        if t >= upd.snapshot.t_end - 1e-9:
            return None
        key = (id(upd), t)
        if self._moment_cache is None or self._moment_cache[0] != key:
            from coffeeshop_tui.scenarios.explain import moment

            self._moment_cache = (key, moment(upd.snapshot, t, upd.stats))
        return self._moment_cache[1]

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

    def _freeze(self) -> None:
        """Pause: keep what is on screen now (the run goes on behind it)."""
        self._paused = True
        self._frozen = self.latest

    def _thaw(self) -> None:
        """Resume: show the newest update again (everything it changed)."""
        self._paused = False
        self._frozen = None
        self._moment_cache = None
        self._last_tick = self.clock()
        self._shown_stats = None
        if self.latest is not None:
            self._apply(self.latest, True)

    def action_toggle_pause(self) -> None:
        """Pause / resume the display (the run itself goes on; scrub with , and .)."""
        if self.latest is None:
            self.notify("nothing to pause: run a scenario first", timeout=2)
            return
        if self._paused:
            at_end = self._t_view is not None and self._t_view >= self._t_end() - 1e-9
            self._thaw()
            if not self.latest.final and SPEEDS[self._speed_i] >= 1:
                self._set_view_time(None)  # a live run at 1x: back to the live edge
            elif at_end and self.latest.final:
                self._set_view_time(0.0)  # at the end: play it again from the start
            self._show_status()
        else:
            self._freeze()
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

    def _scrub_to(self, t: float) -> None:
        if not self._paused:
            self._freeze()
        t_end = self._t_end()
        t = max(0.0, min(t_end, t))
        self._set_view_time(t)
        timeline = self._q("#timeline")
        if not timeline.fitting:
            timeline.show_time(t)

    def action_scrub(self, direction: int) -> None:
        """Step the display back / forward one column of the timeline (pauses it)."""
        if self.latest is None:
            return
        step = self._q("#timeline").seconds_per_cell
        t = self._t_view if self._t_view is not None else self._t_end()
        self._scrub_to(t + direction * step)

    def _time_keys_apply(self) -> None:
        """The priority time keys (page up/down, home, end) act on the run shown, not inside
        a typed knob value or on another screen (there the key goes on to its usual owner)."""
        if (self.latest is None or self.screen is not self._main_screen
                or isinstance(self.focused, Input)):
            raise SkipAction()

    def action_scrub_page(self, direction: int) -> None:
        """Step the display back / forward one screen of the timeline (pauses it)."""
        self._time_keys_apply()
        timeline = self._q("#timeline")
        t0, t1 = timeline.window
        t = self._t_view if self._t_view is not None else self._t_end()
        self._scrub_to(t + direction * (t1 - t0))

    def action_time_start(self) -> None:
        """Go to the start of the run (pauses the display there)."""
        self._time_keys_apply()
        self._scrub_to(0.0)
        timeline = self._q("#timeline")
        if not timeline.fitting:
            timeline.action_go_start()

    def action_time_end(self) -> None:
        """Back to the end: the live edge of a running run, the whole of a finished one."""
        self._time_keys_apply()
        if self._paused:
            self._thaw()
        self._set_view_time(None)
        self._q("#timeline").action_follow()

    def action_fit(self) -> None:
        """Fit the whole run in the timeline (the axis spans the run)."""
        self._q("#timeline").action_zoom_fit()
