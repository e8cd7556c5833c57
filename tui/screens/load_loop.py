"""The loop panel of the load screen (``w``): what the server's event loop held at the cursor.

The same panel and words as the main screen's (:mod:`coffeeshop_tui.tui.app_loop`): the
answer is ``scenarios.loop_moment.loop_at`` over the update's snapshot (``Snapshot.loop``: the
newest server recording's, kept when the load test runs with ``loop_queue=True``), at the
timeline cursor's time, else the live edge. Handler tasks are named by their request
(``request r000042``), from the handler lanes shown.
"""

from __future__ import annotations

from rich.text import Text

from coffeeshop_tui.scenarios.explain import fmt_s
from coffeeshop_tui.scenarios.loop_moment import loop_at, queued_behind

from ..widgets.loop_panel import LoopPanel, held_at, moment_text

NOT_KEPT = ("  not recorded: this load test keeps no record of the server's loop queue "
            "(a replay, or the server is not recorded)")


def _labels(snapshot) -> dict[int, str]:
    """Handler task -> "request r000042", from the handler lanes' segments."""
    out: dict[int, str] = {}
    for lane in snapshot.lanes:
        if lane.kind != "task":
            continue
        for seg in lane.segments:
            if seg.task and seg.task not in out and seg.info:
                out[seg.task] = f"request {seg.info.split(' ', 1)[0]}"
    return out


class LoadLoopMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.screens.load.LoadTestScreen`."""

    _loop_open = False
    _loop_t: float | None = None  # the timeline cursor's time (None: follow the live edge)
    _loop_key: tuple | None = None

    def action_loop_panel(self) -> None:
        """Show / hide what the server's loop held at the cursor's time."""
        self._loop_open = not self._loop_open
        self.query_one("#lt-loop", LoopPanel).display = self._loop_open
        self._loop_key = None
        self._show_loop()

    def _loop_cursor_moved(self, t_s: float | None) -> None:
        self._loop_t = t_s
        self._show_loop()

    def _show_loop(self) -> None:
        if not self._loop_open:
            return
        u = self.shown or self.latest
        snap = u.snapshot if u is not None else None
        t = self._loop_t if self._loop_t is not None else (snap.t_end if snap is not None else 0.0)
        if snap is not None:
            t = max(0.0, min(t, snap.t_end))
        key = (id(snap), snap.version if snap is not None else None, t)
        if key == self._loop_key:
            return
        self._loop_key = key
        panel = self.query_one("#lt-loop", LoopPanel)
        view = snap.loop if snap is not None else None
        if view is None:
            panel.show(Text.assemble((f"Loop at {fmt_s(t)}", "bold"), (NOT_KEPT, "dim")))
            return
        labels: dict[int, str] | None = None

        def label(seq: int) -> str:
            nonlocal labels
            if labels is None:
                labels = _labels(snap)
            return labels.get(seq) or f"task #{seq}"

        t_ns = view.origin + int(round(t * 1e9))
        m = loop_at(view, t_ns)
        held = held_at(snap, t)
        behind = queued_behind(view, t_ns) if held is not None and held[0] != -1 and m.state == "between" else None
        panel.show(moment_text(m, t, label, held, behind))
