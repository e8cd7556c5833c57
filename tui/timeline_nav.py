"""Moving around a :class:`~coffeeshop_tui.tui.timeline_view.TimelineView`: zoom, pan, the
cursor (keys and mouse hover) and the mouse wheel. Mixed into the widget, whose window
arithmetic (``_frame``, ``_set_window``) and rows it uses; drawing stays in the widget.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from textual import events

from .lanes import zoom_step

if TYPE_CHECKING:
    from coffeeshop_tui.scenarios.snapshot import Segment

    from .timeline_view import _Row


class TimelineNavigation:
    """Zoom / pan / cursor actions and mouse handlers of the timeline (see the widget's keys)."""

    def show_time(self, t: float) -> None:
        """Pan (whole cells, keeping the zoom) so that time ``t`` is in the window."""
        self._time_visible(t)

    def _time_visible(self, t: float) -> None:
        """Pan (whole cells) so that time ``t`` is inside the window."""
        f = self._frame()
        k = math.floor(t / f.dt)
        if f.k0 <= k < f.k0 + f.cells:
            return
        if k < f.k0:
            k0 = k - f.cells // 8
        else:
            k0 = k - f.cells + 1 + f.cells // 8
        max_k0 = self._max_k0(f, f.dt)
        k0 = max(0, min(k0, max_k0))
        self._set_window(k0, f.dt, self.follow_live and k0 >= max_k0)

    def zoom(self, direction: int, anchor_col: int | None = None) -> None:
        """Zoom in (direction < 0: fewer seconds per cell) or out, keeping the time under
        ``anchor_col`` (default: the cursor if visible, else the centre) in place; while
        following a live run the right edge stays on the live edge."""
        f = self._frame()
        dt = zoom_step(f.dt, direction)
        snap = self._snapshot
        if self.follow_live and f.following and snap is not None and snap.live:
            self._set_window(0, dt, True)
            return
        t = None
        if anchor_col is None:
            anchor_col = f.cells // 2
            if self._cursor_t is not None and self._cursor_row() is not None:
                c = math.floor(self._cursor_t / f.dt) - f.k0
                if 0 <= c < f.cells:
                    anchor_col, t = c, self._cursor_t
        if t is None:
            t = (f.k0 + anchor_col + 0.5) * f.dt
        k0 = math.floor(t / dt) - anchor_col
        self._set_window(k0, dt, False)

    # ================================================================== actions
    def action_zoom_in(self) -> None:
        """Zoom in."""
        self.zoom(-1)

    def action_zoom_out(self) -> None:
        """Zoom out."""
        self.zoom(1)

    def action_zoom_fit(self) -> None:
        """Fit the whole run in the window (and follow it while it is live)."""
        self._fit = True
        self.follow_live = True
        self._frame_cache = None
        self.refresh()

    def pan(self, cells: int) -> None:
        """Move the window by ``cells`` (negative: back in time); reaching the live edge
        follows it again."""
        f = self._frame()
        max_k0 = self._max_k0(f, f.dt)
        k0 = max(0, min(f.k0 + cells, max(max_k0, f.k0)))
        follow = cells > 0 and k0 >= max_k0
        if k0 == f.k0 and (follow == f.following or cells < 0):
            return
        self._set_window(k0, f.dt, follow)

    def action_pan_left(self) -> None:
        """Pan back in time."""
        self.pan(-max(1, self._frame().cells // 8))

    def action_pan_right(self) -> None:
        """Pan forward in time."""
        self.pan(max(1, self._frame().cells // 8))

    def action_follow(self) -> None:
        """Follow the live edge (keeps the zoom)."""
        f = self._frame()
        self._set_window(self._max_k0(f, f.dt), f.dt, True)

    def action_go_start(self) -> None:
        """Go to the start of the run (keeps the zoom)."""
        f = self._frame()
        self._set_window(0, f.dt, False)

    def _ensure_cursor(self) -> bool:
        """Place the cursor (first lane, middle of the window) if there is none."""
        if self._cursor_row() is not None and self._cursor_t is not None:
            return False
        lane_rows = [r for r in self._rows if r.lane is not None]
        if not lane_rows:
            return True
        top = int(self.scroll_offset.y)
        row = next((r for r in lane_rows if self._row_pos(r) >= top), lane_rows[0])
        f = self._frame()
        self._cursor_ident = row.ident
        if self._cursor_t is None:
            edge_k = math.ceil(self._edge() / f.dt)
            k = min(f.k0 + f.cells // 2, max(f.k0, edge_k - 1))
            self._cursor_t = (k + 0.5) * f.dt
        self._cursor_moved()
        return True

    def _move_row(self, step: int) -> None:
        if self._ensure_cursor():
            return
        row = self._cursor_row()
        pos = self._row_pos(row) + step
        while 0 <= pos < len(self._rows) and self._rows[pos].lane is None:
            pos += step
        if 0 <= pos < len(self._rows):
            self._cursor_ident = self._rows[pos].ident
            self._scroll_row_visible(pos)
        self._cursor_moved()

    def _scroll_row_visible(self, pos: int) -> None:
        if not self.is_mounted:
            return
        lines = max(1, self._frame().height - 1)
        top = int(self.scroll_offset.y)
        if pos < top:
            self.scroll_to(y=pos, animate=False, immediate=True)
        elif pos >= top + lines:
            self.scroll_to(y=pos - lines + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        """Cursor to the lane above."""
        self._move_row(-1)

    def action_cursor_down(self) -> None:
        """Cursor to the lane below."""
        self._move_row(1)

    def _move_time(self, cells: int) -> None:
        if self._ensure_cursor():
            return
        f = self._frame()
        k = math.floor(self._cursor_t / f.dt) + cells
        k = max(0, min(k, math.ceil(self._edge() / f.dt) - 1))
        self._cursor_t = (k + 0.5) * f.dt
        self._time_visible(self._cursor_t)
        self._cursor_moved()

    def action_cursor_left(self) -> None:
        """Cursor back in time by one cell."""
        self._move_time(-1)

    def action_cursor_right(self) -> None:
        """Cursor forward in time by one cell."""
        self._move_time(1)

    def _jump_segment(self, direction: int) -> None:
        if self._ensure_cursor():
            return
        row = self._cursor_row()
        f = self._frame()
        k = math.floor(self._cursor_t / f.dt)
        # from the cursor's cell edge, so a jump always leaves the cell
        t_from = (k + 1) * f.dt * (1 - 1e-12) if direction > 0 else k * f.dt
        t = row.index.next_start(t_from, direction)
        if t is None:
            return
        self._cursor_t = t
        self._time_visible(t)
        self._cursor_moved()

    def action_prev_segment(self) -> None:
        """Cursor to the start of the previous segment in the lane."""
        self._jump_segment(-1)

    def action_next_segment(self) -> None:
        """Cursor to the start of the next segment in the lane."""
        self._jump_segment(1)

    def _cursor_moved(self) -> None:
        self._frame_cache = None
        self.refresh()
        self._report_cursor()

    # ================================================================== cursor report
    def _segment_at(self, row: _Row, t: float) -> Segment | None:
        if self._clip is not None and t > self._clip:
            return None
        f = self._frame()
        k = math.floor(t / f.dt)
        limit = self._clip if self._clip is not None else math.inf
        i = row.index.in_cell(k * f.dt, (k + 1) * f.dt, limit)
        if i < 0:
            return None
        return row.index.segments[i]

    def _report_cursor(self) -> None:
        row = self._cursor_row()
        if row is None or self._cursor_t is None or row.lane is None:
            return
        seg = self._segment_at(row, self._cursor_t)
        key = (row.ident, seg, self._cursor_t)
        if key == self._reported:
            return
        self._reported = key
        self.post_message(self.SegmentFocused(row.shown, seg, self._cursor_t, self))

    # ================================================================== mouse
    def on_mouse_move(self, event: events.MouseMove) -> None:
        off = event.get_content_offset(self)
        if off is None or off.y < 1:
            return
        f = self._frame()
        if off.x < f.label_w or off.x >= f.label_w + f.cells:
            return
        pos = int(self.scroll_offset.y) + off.y - 1
        if not 0 <= pos < len(self._rows) or self._rows[pos].lane is None:
            return
        t = (f.k0 + off.x - f.label_w + 0.5) * f.dt
        if self._cursor_ident == self._rows[pos].ident and self._cursor_t == t:
            return
        self._cursor_ident = self._rows[pos].ident
        self._cursor_t = t
        self._cursor_moved()

    def _wheel(self, event: events.MouseEvent, direction: int) -> bool:
        off = event.get_content_offset(self)
        if off is None:
            return False
        f = self._frame()
        if event.ctrl or off.y == 0:
            col = off.x - f.label_w
            self.zoom(-direction, col if 0 <= col < f.cells else None)
            return True
        if event.shift:
            self.pan(direction * max(1, f.cells // 16))
            return True
        return False

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._wheel(event, 1):
            event.prevent_default()
            event.stop()

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self._wheel(event, -1):
            event.prevent_default()
            event.stop()

    def _on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        self.pan(-max(1, self._frame().cells // 16))
        event.prevent_default()
        event.stop()

    def _on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        self.pan(max(1, self._frame().cells // 16))
        event.prevent_default()
        event.stop()

    # ================================================================== layout
