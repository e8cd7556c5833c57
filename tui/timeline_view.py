"""TimelineView: every lane of a run (event loop, tasks, worker threads) on one time axis.

A Line API widget (``ScrollView`` + ``render_line``): only visible lines are drawn, each from
per-lane cached cells (see ``coffeeshop_tui.tui.lanes``: bisect per cell, never a walk over segments), and
finished lines are kept in an LRU cache of ``Strip``s keyed on everything that changes them
(lane + its version, window, widths, cursor column, highlight, clip, theme).

Layout::

    ● 20ms/col│╵0       ╵200 ms     ╵400 ms      <- time axis (fixed, never scrolls)
    event loop│██▏ █▓▓▓▓▓▓█ ▄ █                  <- per group: loop, then tasks, then threads
    barista-1 │░░███───────────▓▓▓▓▓▓           (lanes scroll vertically)
    ── run B ─────────────────────────          <- a header row per non-empty ``Lane.group``

Feeding it: ``update_snapshot(snapshot)`` is the only way data comes in (UI thread, 10-30 Hz
is fine; a snapshot is never mutated). ``clip_to(t)`` draws only up to ``t`` (replay),
``highlight_task(id)`` tints one task's lane, ``set_cursor(key, t)`` / ``reset_view()``.
Out: ``TimelineView.SegmentFocused(lane, segment, t)`` whenever the cursor (keys or mouse
hover) lands on another segment; also ``cursor_lane`` / ``cursor_segment`` / ``cursor_time``.

Time window: cells of ``dt`` seconds, left edge on a whole cell. ``zoom_fit`` (the start)
shows the whole run: exactly when it is finished, on a 1-2-5 zoom level while it is live (the
run grows into the window, which rescales when it fills). With ``follow_live`` (default) the
live edge (``t_end``, or the clip time) stays at the right. Zoom steps are 1-2-5 levels, from
1 µs to 1000 s per cell. Panning back stops following; panning to the end or ``end`` resumes.
A finished run that was being followed is fitted; a new run (``t_end`` went back) is fitted.

Keys (when focused): ``+``/``-`` zoom, ``0`` fit, ``left``/``right`` pan time, ``end`` follow
the live edge, ``home`` go to the start, ``up``/``down`` move the cursor between lanes,
``[``/``]`` (or shift+left/right) move the cursor in time, ``{``/``}`` jump to the previous /
next segment's start. Mouse: hovering moves the cursor; the wheel over the axis row, or
ctrl+wheel anywhere, zooms around the pointer (around the live edge while following);
shift+wheel (or a horizontal wheel) pans time; a plain wheel over the lanes scrolls them.

Size: ~740 lines for one widget's state, its snapshot and row bookkeeping, and its drawing
(the strips and their cache); moving around (zoom, pan, cursor, mouse) is in
:mod:`.timeline_nav`, the cell arithmetic in :mod:`.lanes`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import ClassVar, NamedTuple

from rich.segment import Segment as RichSegment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from coffeeshop_tui.scenarios.snapshot import Lane, Segment, Snapshot

from .lanes import (
    BLANK,
    LEGEND,
    PARTIAL_NOTE,
    STATE_CHAR,
    STATE_STYLE,
    LaneIndex,
    axis_text,
    format_duration,
    level_at_least,
    state_color,
    truncate,
)
from .timeline_nav import TimelineNavigation

__all__ = ["TimelineView", "LEGEND", "PARTIAL_NOTE", "STATE_CHAR", "STATE_STYLE"]

KIND_RANK = {"loop": 0, "thread": 2}  # anything else (task, client, server...) ranks 1
VIRTUAL_STEP = 16  # rows: see TimelineView._update_virtual_size
MARK_CHAR = "◆"  # a marked moment on the time axis (a knob change)
MIN_FIT_SPAN = 0.05  # seconds: the narrowest "fit" window (a run that just started)
REVERSE = Style(reverse=True)
_group_of, _kind_of, _label_of = attrgetter("group"), attrgetter("kind"), attrgetter("label")


class _Row:
    """One line under the axis: a lane, or a group header (``lane is None``).

    Its lane may be newer than its index: the index follows the lane when the row is drawn
    or looked at (``index``), so a snapshot costs what is on screen, not every lane."""

    __slots__ = ("uid", "ident", "lane", "_index", "group", "pos", "_label", "drawn", "_now", "_closed")

    def __init__(self, uid: int, ident: tuple, lane: Lane | None, group: str, now: list | None = None) -> None:
        self.uid = uid
        self.ident = ident
        #: the lane as the snapshot has it: if open (``Lane.open``), its end is the view's now
        self.lane = lane
        self._now = now if now is not None else [0.0]  # the view's: [t_end of its snapshot]
        self._closed: tuple = (None, 0.0, None)  # (open lane, t_end, that lane closed there)
        self._index = LaneIndex()
        self.group = group
        self.pos = 0
        self._label: tuple = (None, "")
        #: (k0, dt, cells, label, codes) of the cells last drawn (before any clip)
        self.drawn: tuple | None = None

    @property
    def index(self) -> LaneIndex:
        """The lane's index, brought up to date with the lane first."""
        self.sync()
        return self._index

    @property
    def shown(self) -> Lane | None:
        """The lane with its open end (if any) at the view's now: what is drawn."""
        lane = self.lane
        if lane is None or not lane.open:
            return lane
        t = self._now[0]
        c = self._closed
        if c[0] is not lane or c[1] != t:
            c = self._closed = (lane, t, lane.to(t))
        return c[2]

    def sync(self) -> float | None:
        """Index the lane's newest segments: the earliest time whose drawing may have
        changed, or None (``LaneIndex.update``)."""
        lane = self.shown
        if lane is None or self._index.segments is lane.segments:
            return None
        return self._index.update(lane.segments)

    def label(self, width: int, prefix: str = "") -> str:
        key = (width, prefix, self.lane.label if self.lane else self.group)
        if self._label[0] != key:
            self._label = (key, truncate(prefix + key[2], width))
        return self._label[1]


class _Frame(NamedTuple):
    width: int  # content width (cells)
    height: int  # content height (lines, axis included)
    label_w: int  # label column, separator included (0 = no label column)
    cells: int  # lane area width (cells)
    k0: int  # first cell shown (absolute: cell k covers [k*dt, (k+1)*dt))
    dt: float  # seconds per cell
    following: bool  # the right edge tracks the live edge


class TimelineView(TimelineNavigation, ScrollView, can_focus=True):
    """A live, zoomable timeline of a run's lanes (see the module docstring)."""

    DEFAULT_CSS = """
    TimelineView {
        background: $surface;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    TimelineView > .timeline-view--axis { color: $text-muted; }
    TimelineView > .timeline-view--axis-live { color: $success; text-style: bold; }
    TimelineView > .timeline-view--label { color: $text; }
    TimelineView > .timeline-view--separator { color: $text-disabled; }
    TimelineView > .timeline-view--header { color: $accent; text-style: bold; }
    TimelineView > .timeline-view--cursor { background: $accent 40%; text-style: bold; }
    TimelineView > .timeline-view--highlight { background: $warning 15%; text-style: bold; }
    TimelineView > .timeline-view--mark { color: $secondary; text-style: bold; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline-view--axis",
        "timeline-view--axis-live",
        "timeline-view--label",
        "timeline-view--separator",
        "timeline-view--header",
        "timeline-view--cursor",
        "timeline-view--highlight",
        "timeline-view--mark",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "zoom_in", "Zoom in", key_display="+"),
        Binding("minus", "zoom_out", "Zoom out", key_display="-"),
        Binding("0", "zoom_fit", "Fit"),
        Binding("left", "pan_left", "Pan ◀", key_display="←"),
        Binding("right", "pan_right", "Pan ▶", key_display="→"),
        Binding("end", "follow", "Live"),
        Binding("home", "go_start", "Start", show=False),
        Binding("up", "cursor_up", "Lane up", show=False),
        Binding("down", "cursor_down", "Lane down", show=False),
        Binding("left_square_bracket,shift+left", "cursor_left", "Cursor ◀", show=False),
        Binding("right_square_bracket,shift+right", "cursor_right", "Cursor ▶", show=False),
        Binding("left_curly_bracket", "prev_segment", "Prev segment", show=False),
        Binding("right_curly_bracket", "next_segment", "Next segment", show=False),
    ]

    follow_live: reactive[bool] = reactive(True, init=False)
    """Keep the live edge (``snapshot.t_end``, or the clip time) at the right edge."""

    @dataclass
    class SegmentFocused(Message):
        """The cursor (keys or mouse hover) is over ``segment`` of ``lane`` at time ``t``
        (seconds from the run's origin); ``segment`` is None over an empty stretch."""

        lane: Lane
        segment: Segment | None
        t: float
        view: TimelineView | None = field(default=None, repr=False, compare=False)

        @property
        def control(self) -> TimelineView | None:
            return self.view

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TimelineView.SegmentFocused) and message.view is self.view

    def __init__(
        self,
        snapshot: Snapshot | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._snapshot: Snapshot | None = None
        self._rows: list[_Row] = []  # display order
        self._order: list[_Row] = []  # snapshot order (lane rows only)
        self._by_ident: dict[tuple, _Row] = {}
        self._pos_stale = False
        self._uid = 0
        self._label_max = 0
        self._fit = True  # window = the whole run
        self._dt = 0.01  # seconds per cell when not fitting
        self._k0 = 0  # first cell when neither fitting nor following
        self._clip: float | None = None
        self._marks: tuple = ()
        self._highlight: int | None = None
        self._cursor_t: float | None = None
        self._cursor_ident: tuple | None = None
        self._reported: tuple | None = None
        self._frame_cache: _Frame | None = None
        self._tv_styles: dict[str, Style] | None = None
        self._last_styles: dict[str, Style] | None = None
        self._style_gen = 0
        self._palettes: dict[Style, dict] = {}
        self._strips: LRUCache[tuple, Strip] = LRUCache(2048)
        self._now = [0.0]  # the snapshot's t_end: where the open lanes end (_Row.shown)
        if snapshot is not None:
            self.update_snapshot(snapshot)

    # ================================================================== public API
    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Show ``snapshot``. Cheap: only lanes whose segments changed are re-indexed (from
        their first change on), the scroll position is kept and only visible lines that
        changed are refreshed (all of them when the time window moved)."""
        prev = self._snapshot
        self._snapshot = snapshot
        # as built: a waiting task's lane is the same object from one snapshot to the next
        # (its open end is now, closed only for the rows drawn), so this costs the lanes
        # that changed, and the rows on screen
        lanes = snapshot.raw_lanes
        self._now[0] = snapshot.t_end
        order = self._order
        structure = len(lanes) != len(order)
        if not structure:
            for row, lane in zip(order, lanes):
                old = row.lane
                if old is lane:
                    continue
                if old.key != lane.key or old.group != lane.group or old.kind != lane.kind:
                    structure = True
                    break
                row.lane = lane  # indexed when drawn or looked at (_Row.index)
        old_top = [row.uid for row in self._visible_rows()] if structure else None
        if structure:
            self._rebuild_rows(lanes)
        if prev is not None and snapshot.t_end < prev.t_end:
            self._fit = True  # time went backwards: a new run, start from the whole of it
            self.follow_live = True
        elif prev is not None and prev.live and not snapshot.live and self.follow_live:
            self._fit = True  # the run ended: show all of it
        old_frame = self._frame_cache
        self._frame_cache = None
        if not self.is_mounted:
            return
        frame = self._frame()
        if old_frame != frame:
            self.refresh()
        else:
            # only the lines whose lane (or its cells on screen) changed
            top = int(self.scroll_offset.y)
            for y, row in enumerate(self._visible_rows(), 1):
                if structure and (y > len(old_top) or old_top[y - 1] != row.uid):
                    self.refresh(Region(0, y, frame.width, 1))
                elif self._row_changed(row, frame):
                    self.refresh(Region(0, y, frame.width, 1))
            if structure and len(old_top) > len(self._rows) - top:  # rows that are gone
                self.refresh(Region(0, len(self._rows) - top + 1, frame.width, len(old_top)))
        self._report_cursor()

    def _visible_rows(self) -> list[_Row]:
        """The rows on screen now (under the axis), top to bottom."""
        if not self.is_mounted:
            return []
        top = int(self.scroll_offset.y)
        return self._rows[top:top + max(0, self.scrollable_content_region.height - 1)]

    def _row_changed(self, row: _Row, f: _Frame) -> bool:
        """Index ``row``'s newest lane; True if what it draws in frame ``f`` changed (a lane
        that grew within a cell it already showed keeps its line: no redraw)."""
        if row.lane is None:
            return False
        t = row.sync()
        drawn = row.drawn
        if drawn is None or drawn[:4] != (f.k0, f.dt, f.cells, row.lane.label):
            return True
        if t is None or t >= (f.k0 + f.cells) * f.dt:
            return False
        if self._clip is not None:  # a clipped cell draws part of a cell: redraw to be sure
            return True
        return row._index.cells(f.k0, f.cells, f.dt) != drawn[4]

    def reset_view(self) -> None:
        """Fit the whole run, follow the live edge, hide the cursor, scroll to the top."""
        self._fit = True
        self.follow_live = True
        self._cursor_ident = self._cursor_t = None
        self._reported = None
        self._frame_cache = None
        if self.is_mounted:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def forget_reported(self) -> None:
        """Report the cursor's segment again at the next chance, even if it looks the same."""
        self._reported = None

    def set_marks(self, marks) -> None:
        """Mark moments on the time axis (``MARK_CHAR``): ``(t_s, label)`` pairs, e.g. the
        knob changes of a live run."""
        marks = tuple((float(t), str(label)) for t, label in marks)
        if marks != self._marks:
            self._marks = marks
            self.refresh(Region(0, 0, self.size.width, 1))

    @property
    def marks(self) -> tuple:
        return self._marks

    def clip_to(self, t: float | None) -> None:
        """Draw only what happened up to time ``t`` (replay / scrubbing); None = everything."""
        if t == self._clip:
            return
        self._clip = t
        self._frame_cache = None
        self.refresh()
        self._report_cursor()

    @property
    def clip(self) -> float | None:
        return self._clip

    def highlight_task(self, task_id: int | None) -> None:
        """Emphasise the lane(s) of task ``task_id`` (None: no emphasis): a tinted row and a
        ``▶`` before the label. Does not scroll (use ``set_cursor`` to bring a lane into view)."""
        if task_id == self._highlight:
            return
        self._highlight = task_id
        self.refresh()

    @property
    def highlighted_task(self) -> int | None:
        return self._highlight

    @property
    def window(self) -> tuple[float, float]:
        """(start, end) in seconds of the time window shown."""
        f = self._frame()
        return (f.k0 * f.dt, (f.k0 + f.cells) * f.dt)

    @property
    def seconds_per_cell(self) -> float:
        return self._frame().dt

    @property
    def fitting(self) -> bool:
        """The window shows the whole run (``zoom_fit``)."""
        return self._fit

    @property
    def cursor_lane(self) -> Lane | None:
        row = self._cursor_row()
        return row.shown if row is not None else None

    @property
    def cursor_time(self) -> float | None:
        return self._cursor_t

    @property
    def cursor_segment(self) -> Segment | None:
        """The segment under the cursor (the most telling one in the cursor's cell)."""
        row = self._cursor_row()
        if row is None or self._cursor_t is None:
            return None
        return self._segment_at(row, self._cursor_t)

    def set_cursor(self, lane_key: str | None, t: float | None, group: str = "") -> None:
        """Put the cursor on lane ``lane_key`` (of ``group``) at time ``t``; None hides it."""
        if lane_key is None or t is None:
            self._cursor_ident = self._cursor_t = None
        else:
            self._cursor_ident = (group, lane_key)
            self._cursor_t = t
            row = self._cursor_row()
            if row is not None:
                self._scroll_row_visible(self._row_pos(row))
            self._time_visible(t)
        self.refresh()
        self._report_cursor()

    # ================================================================== rows
    def _rebuild_rows(self, lanes: tuple[Lane, ...]) -> None:
        """The rows of ``lanes`` (an open system adds lanes with nearly every update): the
        rows of lanes seen before are kept, and the per-lane work is in comprehensions and
        C-level calls (a few hundred ns a lane), never a row's drawing."""
        old = self._by_ident
        idents = [(lane.group, lane.key) for lane in lanes]
        by_ident = dict(zip(idents, idents))
        if len(by_ident) < len(idents):  # two lanes with one key (never made here): a row each
            old = dict(old)
            order = []
            for ident in idents:
                order.append(old.pop(ident, None))
        else:
            order = list(map(old.get, idents))
        if None in order:  # new lanes: new rows
            for i in [i for i, row in enumerate(order) if row is None]:
                self._uid += 1
                lane = lanes[i]
                order[i] = _Row(self._uid, idents[i], lane, lane.group, self._now)
        # (indexed when drawn or looked at: _Row.index)
        deque(map(setattr, order, repeat("lane"), lanes), maxlen=0)
        if not any(map(_group_of, lanes)):  # one run: loop, tasks, threads (as built: in order)
            ranks = list(map(KIND_RANK.get, map(_kind_of, lanes), repeat(1)))
            if ranks == sorted(ranks):
                rows = order[:]
            else:
                rows = [row for _r, _i, row in sorted(zip(ranks, range(len(order)), order))]
        else:
            by_group: dict[str, list[_Row]] = {}
            for row in order:
                by_group.setdefault(row.group, []).append(row)
            rows = []
            headers = {row.ident[1]: row for row in self._rows if row.lane is None}
            for group, members in by_group.items():
                if group:
                    head = headers.get(group)
                    if head is None:
                        self._uid += 1
                        head = _Row(self._uid, ("#header", group), None, group)
                    rows.append(head)
                members.sort(key=lambda r: KIND_RANK.get(r.lane.kind, 1))
                rows.extend(members)
        self._pos_stale = True  # (row.pos: set when asked, _row_pos)
        self._order = order
        self._rows = rows
        self._by_ident = dict(zip(idents, order))
        self._label_max = max(map(len, map(_label_of, lanes)), default=0)
        self._update_virtual_size()

    def _row_pos(self, row: _Row) -> int:
        """``row``'s place among the rows (kept up to date only when asked: the rows move with
        nearly every update of an open system, the cursor seldom)."""
        if self._pos_stale:
            self._pos_stale = False
            for pos, r in enumerate(self._rows):
                r.pos = pos
        return row.pos

    def _update_virtual_size(self) -> None:
        """The scrollable height: the rows, plus the axis. Once the rows scroll, it grows in
        steps of VIRTUAL_STEP rows (a few blank rows at the end): a change of virtual size lays
        out the whole screen, and an open system adds a lane with nearly every update."""
        if not self.is_mounted:
            return
        rows = len(self._rows) + 1
        visible = self.size.height
        if visible and rows > visible:
            rows = -(-rows // VIRTUAL_STEP) * VIRTUAL_STEP
        if self.virtual_size.height != rows:
            self.virtual_size = Size(0, rows)

    def _cursor_row(self) -> _Row | None:
        if self._cursor_ident is None:
            return None
        return self._by_ident.get(self._cursor_ident)

    # ================================================================== window
    def _frame(self) -> _Frame:
        f = self._frame_cache
        if f is None:
            f = self._frame_cache = self._compute_frame()
        return f

    def _compute_frame(self) -> _Frame:
        region = self.scrollable_content_region if self.is_mounted else Region(0, 0, 80, 24)
        width, height = max(0, region.width), max(0, region.height)
        # label column: the longest label, within a quarter/third of the width
        if width < 12:
            label_w = 0
        else:
            cap = max(6, min(28, width // 3))
            label_w = min(max(self._label_max, 10) + 1, cap)
        cells = max(1, width - label_w)
        k0, dt, following = self._compute_window(cells)
        return _Frame(width, height, label_w, cells, k0, dt, following)

    def _edge(self) -> float:
        snap = self._snapshot
        t_end = snap.t_end if snap is not None else 0.0
        if self._clip is not None:
            return max(0.0, min(self._clip, t_end))
        return t_end

    def _compute_window(self, cells: int) -> tuple[int, float, bool]:
        snap = self._snapshot
        t_end = snap.t_end if snap is not None else 0.0
        live = snap is not None and snap.live
        if self._fit:
            if live:  # a whole zoom level, so cells stay cached while the run grows
                span = max(t_end, MIN_FIT_SPAN)
                return 0, level_at_least(span / cells), True
            # a finished run fills the width, however short it was (1.1 ms: all columns)
            span = t_end if t_end > 0 else MIN_FIT_SPAN
            return 0, span / cells, False
        dt = self._dt
        if self.follow_live:
            k_end = math.ceil(self._edge() / dt - 1e-9)
            return max(0, k_end - cells), dt, True
        return self._k0, dt, False

    def _set_window(self, k0: int, dt: float, follow: bool) -> None:
        self._fit = False
        self._dt = dt
        self._k0 = max(0, k0)
        self.follow_live = follow  # (watcher refreshes)
        self._frame_cache = None
        self.refresh()

    def watch_follow_live(self, value: bool) -> None:
        self._frame_cache = None
        self.refresh()

    def _max_k0(self, f: _Frame, dt: float) -> int:
        return max(0, math.ceil(self._edge() / dt - 1e-9) - f.cells)

    def on_resize(self, event: events.Resize) -> None:
        self._frame_cache = None
        self._update_virtual_size()
        self.refresh()

    def on_mount(self) -> None:
        self._frame_cache = None
        self._update_virtual_size()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._tv_styles = None  # recomputed on the next line; caches dropped only if they differ

    # ================================================================== drawing
    def _styles(self) -> dict[str, Style]:
        st = self._tv_styles
        if st is None:
            comp = self.get_component_rich_style
            st = {
                "base": self.rich_style,
                "axis": comp("timeline-view--axis"),
                "live": comp("timeline-view--axis-live"),
                "label": comp("timeline-view--label"),
                "sep": comp("timeline-view--separator"),
                "header": comp("timeline-view--header"),
                "cursor": comp("timeline-view--cursor"),
                "highlight": comp("timeline-view--highlight"),
                "mark": comp("timeline-view--mark"),
            }
            if st != self._last_styles:  # a theme change (not just focus / hover)
                self._last_styles = st
                self._style_gen += 1
                self._palettes.clear()
                self._strips.clear()
            self._tv_styles = st
        return st

    def _palette(self, base: Style) -> dict:
        pal = self._palettes.get(base)
        if pal is None:
            pal = self._palettes[base] = {}
        return pal

    @staticmethod
    def _code_style(code: tuple, base: Style) -> Style:
        _char, fg, bg = code
        if fg is None and bg is None:
            return base
        color = base.bgcolor if fg == "bg" else (state_color(fg) or None)
        bgcolor = (state_color(bg) or None) if bg else None
        return base + Style(color=color, bgcolor=bgcolor)

    def render_line(self, y: int) -> Strip:
        f = self._frame()
        if y == 0:  # the scrollbar may have come or gone without a resize
            w, h = self.scrollable_content_region.size
            if w != f.width or h != f.height:
                self._frame_cache = None
                f = self._frame()
        styles = self._styles()
        if f.width <= 0:
            return Strip.blank(0)
        if y == 0:
            return self._axis_strip(f, styles)
        pos = int(self.scroll_offset.y) + y - 1
        if not 0 <= pos < len(self._rows):
            return Strip.blank(f.width, styles["base"])
        row = self._rows[pos]
        if row.lane is None:
            key = (row.uid, f.width, self._style_gen)
            strip = self._strips.get(key)
            if strip is None:
                text = f"── {row.group} "
                text = truncate(text + "─" * max(0, f.width - len(text)), f.width)
                strip = Strip([RichSegment(text, styles["header"])], f.width)
                self._strips[key] = strip
            return strip
        cursor_col = None
        if self._cursor_t is not None and row.ident == self._cursor_ident:
            cursor_col = math.floor(self._cursor_t / f.dt) - f.k0
        highlighted = (
            self._highlight is not None and row.lane.task == self._highlight and row.lane.kind != "loop"
        )
        key = (
            row.uid, row.index.version, row.lane.label, f.k0, f.dt, f.cells, f.label_w,
            cursor_col, highlighted, self._clip, self._style_gen,
        )
        strip = self._strips.get(key)
        if strip is None:
            strip = self._lane_strip(row, f, styles, cursor_col, highlighted)
            self._strips[key] = strip
        return strip

    def _lane_strip(
        self, row: _Row, f: _Frame, styles: dict, cursor_col: int | None, highlighted: bool
    ) -> Strip:
        base = styles["highlight"] if highlighted else styles["base"]
        segs: list[RichSegment] = []
        if f.label_w:
            if cursor_col is not None:
                lstyle = styles["cursor"]
            else:
                lstyle = styles["highlight"] if highlighted else styles["label"]
            segs.append(RichSegment(row.label(f.label_w - 1, "▶" if highlighted else ""), lstyle))
            segs.append(RichSegment("│", styles["sep"]))
        codes = row.index.cells(f.k0, f.cells, f.dt)
        row.drawn = (f.k0, f.dt, f.cells, row.lane.label, codes[:])
        clip = self._clip
        if clip is not None:
            kc = math.floor(clip / f.dt) - f.k0
            if kc < f.cells:
                kc = max(kc, 0)
                codes[kc:] = [BLANK] * (f.cells - kc)
                if clip > f.k0 * f.dt:
                    codes[kc] = row.index.cell(f.k0 + kc, f.dt, clip)
        pal = self._palette(base)
        code_style = self._code_style
        append = segs.append
        if cursor_col is not None and 0 <= cursor_col < f.cells:
            parts = ((0, cursor_col), (cursor_col, cursor_col + 1), (cursor_col + 1, f.cells))
        else:
            parts = ((0, f.cells),)
        for lo, hi in parts:
            if lo >= hi:
                continue
            is_cursor = hi - lo == 1 and lo == cursor_col
            prev = codes[lo]
            n = 0
            for c in codes[lo:hi]:
                if c is prev:
                    n += 1
                    continue
                style = pal.get(prev)
                if style is None:
                    style = pal[prev] = code_style(prev, base)
                append(RichSegment(prev[0] * n, style))
                prev, n = c, 1
            style = pal.get(prev)
            if style is None:
                style = pal[prev] = code_style(prev, base)
            if is_cursor:
                style = style + REVERSE
            append(RichSegment(prev[0] * n, style))
        return Strip(segs, f.width)

    def _axis_strip(self, f: _Frame, styles: dict) -> Strip:
        cursor_col = None
        if self._cursor_t is not None and self._cursor_row() is not None:
            cursor_col = math.floor(self._cursor_t / f.dt) - f.k0
        live = f.following and self._snapshot is not None and self._snapshot.live
        key = ("#axis", f.k0, f.dt, f.cells, f.label_w, cursor_col, live, self._style_gen, self._marks)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        segs: list[RichSegment] = []
        if f.label_w:
            info = f"{format_duration(f.dt)}/col"
            if live:
                segs.append(RichSegment(truncate("● " + info, f.label_w - 1), styles["live"]))
            else:
                segs.append(RichSegment(truncate(info, f.label_w - 1), styles["axis"]))
            segs.append(RichSegment("│", styles["sep"]))
        chars = list(axis_text(f.k0, f.dt, f.cells))
        kinds = ["axis"] * len(chars)
        for t, _label in self._marks:  # a knob changed here (live knobs)
            col = math.floor(t / f.dt) - f.k0
            if 0 <= col < len(chars):
                chars[col], kinds[col] = MARK_CHAR, "mark"
        if cursor_col is not None and 0 <= cursor_col < len(chars):
            kinds[cursor_col] = "cursor"
        start = 0
        for i in range(1, len(chars) + 1):
            if i == len(chars) or kinds[i] != kinds[start]:
                segs.append(RichSegment("".join(chars[start:i]), styles[kinds[start]]))
                start = i
        strip = Strip(segs, f.width)
        self._strips[key] = strip
        return strip
