"""The loop panel of the main screen (``w``): what the event loop held at the cursor's time.

It takes the bottom row (the source and stats panels step aside while it is open) and
follows the timeline cursor (keys or mouse), else the time shown (scrub / slow motion /
pause), else the end of the run. The answer is ``scenarios.loop_moment.loop_at`` over the
snapshot of the run the cursor is on (a pinned run's own, when comparing).
"""

from __future__ import annotations

from .widgets.source_view import SourceView


class LoopMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.app.CoffeeShopApp` (uses its widgets and state)."""

    _loop_open = False
    _loop_cursor: tuple | None = None  # (lane group, t_s) of the timeline cursor
    _loop_shown: tuple | None = None

    def action_loop_panel(self) -> None:
        """Show / hide what the loop held at the cursor's time."""
        self._loop_open = not self._loop_open
        panel = self._q("#loop")
        panel.display = self._loop_open
        self._q(SourceView).display = not self._loop_open
        self._q("#stats").display = not self._loop_open
        self._loop_shown = None
        self._show_loop()

    def _loop_cursor_moved(self, group: str, t_s: float) -> None:
        self._loop_cursor = (group, t_s)
        self._show_loop()

    def _loop_snapshot_and_time(self):
        """(snapshot, t_s) the panel speaks for: the cursor's run and time, else the view time."""
        upd = self.shown
        snap = upd.snapshot if upd is not None and not self._current_pinned else None
        t = None
        if self._loop_cursor is not None:
            group, t = self._loop_cursor
            if group:
                snap = next((p.snapshot for p in self.pins if p.label == group), snap)
        if t is None or (self._t_view is not None and t > self._t_view):
            t = self._t_view  # the cursor beyond the time shown: what is shown
        if snap is not None and t is None:
            t = snap.t_end
        if snap is not None and t is not None:
            t = min(t, snap.t_end)
        return snap, t

    def _show_loop(self) -> None:
        if not self._loop_open:
            return
        snap, t = self._loop_snapshot_and_time()
        key = (id(snap), snap.version if snap is not None else None, t)
        if key == self._loop_shown:
            return
        self._loop_shown = key
        from coffeeshop_tui.scenarios.loop_moment import loop_at  # with the panel, not at launch

        from .widgets.loop_panel import held_at, moment_text

        if snap is None or t is None:
            self._q("#loop").show(moment_text(None, 0.0, str))
            return
        labels = {lane.task: lane.label for lane in snap.raw_lanes if lane.kind == "task"}

        def label(seq: int) -> str:
            return labels.get(seq) or f"task #{seq}"

        view = snap.loop
        m = loop_at(view, view.origin + int(round(t * 1e9))) if view is not None else None
        self._q("#loop").show(moment_text(m, t, label, held_at(snap, t)))
