"""What the main screen shows of the current run: timeline, legend, status, caption, stats,
the marked source line and the timeline cursor's info line."""

from __future__ import annotations

import heapq
from dataclasses import replace
from functools import cache
from operator import attrgetter
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from .app_compare import LETTERS, Pinned
from .app_replay import SPEEDS
from .lanes import WAIT_STATES
from .widgets.knobs import format_value
from .widgets.quiet import update_static
from .widgets.source_view import SourceView

# what measures and draws a run is imported by the methods that show one (not by the first frame)
if TYPE_CHECKING:
    from coffeeshop_tui.scenarios.snapshot import Lane, Snapshot
    from .timeline_view import TimelineView

COMBINED_VERSION_BASE = 1 << 40
#: the orders of the task lanes, cycled with ``o`` (the first is the default)
LANE_ORDERS = ("newest", "oldest", "slowest")


def lanes_note(snap, order: str) -> str:
    """Which tasks have their lanes drawn when a snapshot draws fewer lanes than there are
    tasks (``extra["task_lanes"]``: the builder draws the newest ``max_task_lanes``; the view
    picks the oldest / slowest from every lane built, ``Snapshot.hidden``), in lane order
    ``order``: ``"lanes: the slowest 2,000 of 3,412 tasks kept (9,000 in the run)"``; "" when
    every kept task's lane is drawn."""
    n = snap.extra.get("task_lanes") if snap is not None else None
    if not n:
        return ""
    of = f"{n['kept']:,} tasks" + (f" kept ({n['run']:,} in the run)" if n["run"] > n["kept"] else "")
    if order != "newest" and n.get("built", n["drawn"]) < n["kept"]:  # (older lanes still being built)
        of = f"the newest {n['built']:,} of {of}"
    return f"lanes: the {order} {n['drawn']:,} of {of}"


@cache
def status_style() -> dict:
    """(icon, word, style) of each run status."""
    from coffeeshop_tui.scenarios.runner import DONE, FAILED, RUNNING, STARTING, STOPPED

    return {
        STARTING: ("◌", "starting", "yellow"),
        RUNNING: ("●", "running", "green"),
        DONE: ("✓", "done", "green"),
        FAILED: ("✗", "failed", "bold red"),
        STOPPED: ("■", "stopped", "yellow"),
    }


WELCOME = (
    "Welcome! Pick a scenario, press Enter: every lane is measured from the real code. "
    "New here? Press c to compare sync, async and blocking."
)


_task_of = attrgetter("task")
_kind_of = attrgetter("kind")


def _params_text(params: dict) -> str:
    return " ".join(f"{k}={format_value(None, v)}" for k, v in params.items())


class DisplayMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.app.CoffeeShopApp` (uses its widgets and state)."""

    # ================================================================== display
    @property
    def shown(self):
        """The update on screen: the one frozen by a pause, else the newest."""
        return self._frozen if self._frozen is not None else self.latest

    def _display_snapshot(self) -> Snapshot:
        from coffeeshop_tui.scenarios.snapshot import Snapshot

        from .source import empty_snapshot

        upd = self.shown
        current = upd.snapshot if upd is not None and not self._current_pinned else None
        if not self.pins:
            return self._with_pinned(self._ordered(current)) if current is not None else empty_snapshot()
        lanes: list[Lane] = [lane for pin in self.pins for lane in pin.lanes]
        t_end = max(pin.snapshot.t_end for pin in self.pins)
        if current is not None:
            group = f"{LETTERS[len(self.pins)]} {upd.scenario}"
            lanes.extend(replace(lane, group=group) for lane in current.lanes)
            t_end = max(t_end, current.t_end)
        groups = {lane.group for lane in lanes}
        compact = len(lanes) + len(groups) > self._timeline_rows()
        if compact:  # too little room for every lane: each run's event loop, all runs in view
            lanes = [lane for lane in lanes if lane.kind == "loop"]
        self._combined_version += 1
        return Snapshot(
            version=self._combined_version,
            live=bool(current is not None and current.live),
            t_end=t_end,
            lanes=tuple(lanes),
            blocks=current.blocks if current is not None else (),
            warnings=current.warnings if current is not None else (),
            output=current.output if current is not None else (),
            output_total=current.output_total if current is not None else 0,
            holding=current.holding if current is not None else None,
            extra={"compare": [p.label for p in self.pins], "compact": compact},
        )

    def _ordered(self, snap: Snapshot) -> Snapshot:
        """The snapshot with its task lanes in the chosen order (``o``): newest first when
        they do not all fit (an open system's newest customers stay in view), oldest first,
        or slowest first (longest from creation to end)."""
        order = LANE_ORDERS[self._lane_order]
        raw = snap.raw_lanes  # (open lanes stay open: the view closes those it draws)
        hidden = getattr(snap, "hidden", ())
        if hidden and order != "newest":  # older tasks' lanes not drawn: pick from every lane
            return self._picked(snap, raw, hidden, order)
        kinds = list(map(_kind_of, raw))
        n = kinds.count("task")
        if order == "oldest" or n < 2:
            return snap
        if order == "newest" and len(raw) <= self._timeline_rows():
            return snap
        a = kinds.index("task")
        if kinds[a:a + n].count("task") == n:  # one stretch of task lanes (as built): slices
            tasks, others = list(raw[a:a + n]), [*raw[:a], *raw[a + n:]]
        else:
            tasks = [lane for lane in raw if lane.kind == "task"]
            others = [lane for lane in raw if lane.kind != "task"]
        if order == "newest":
            tasks.sort(key=_task_of, reverse=True)  # (already ascending: a C-level key is O(n))
        else:
            t_end = snap.t_end
            tasks.sort(key=lambda lane: ((t_end if lane.open else lane.segments[-1].end) - lane.segments[0].start
                                         if lane.segments else 0.0), reverse=True)
        from coffeeshop_tui.scenarios.snapshot import LiveLanes

        lanes = (*others[:1], *tasks, *others[1:])
        # (raw: with the open lanes of a live run, read closed at t_end)
        return replace(snap, lanes=lanes if snap.lanes is raw else LiveLanes(lanes, snap.t_end))

    def _with_pinned(self, snap: Snapshot) -> Snapshot:
        """The snapshot with the task lane chosen in the task table drawn (first of the task
        lanes) if the lane order left it out (``hidden``): the lane drawn last makes room."""
        key = self._pinned_lane
        hidden = getattr(snap, "hidden", ())
        if key is None or not hidden:
            return snap
        lane = next((h for h in hidden if h.key == key), None)
        if lane is None:
            return snap
        from coffeeshop_tui.scenarios.snapshot import LiveLanes

        raw = snap.raw_lanes
        tasks = [x for x in raw if x.kind == "task"]
        others = [x for x in raw if x.kind != "task"]
        out = tasks[-1:]  # (it goes hidden: all_lanes stays every lane)
        lanes = (*others[:1], lane, *tasks[:-1], *others[1:])
        return replace(snap, lanes=lanes if snap.lanes is raw else LiveLanes(lanes, snap.t_end),
                       hidden=(*(h for h in hidden if h is not lane), *out))

    @staticmethod
    def _picked(snap: Snapshot, raw: tuple, hidden: tuple, order: str) -> Snapshot:
        """The snapshot drawing, of every task lane built (those drawn and ``hidden``), as many
        as it draws: the oldest, or the slowest first (longest from creation to end, to now
        if not done)."""
        from coffeeshop_tui.scenarios.snapshot import LiveLanes

        tasks = [lane for lane in raw if lane.kind == "task"]
        others = [lane for lane in raw if lane.kind != "task"]
        every = [*hidden, *tasks]  # (task order: the hidden ones are the older)
        if order == "oldest":
            picked = every[:len(tasks)]
        else:
            t_end = snap.t_end

            def span(lane) -> float:
                segs = lane.segments
                return ((t_end if lane.open else segs[-1].end) - segs[0].start) if segs else 0.0

            picked = heapq.nlargest(len(tasks), every, key=span)
        ids = set(map(id, picked))  # (those not picked are the hidden ones now: all_lanes stays every lane)
        rest = tuple(lane for lane in every if id(lane) not in ids)
        return replace(snap, lanes=LiveLanes((*others[:1], *picked, *others[1:]), snap.t_end), hidden=rest)

    def _timeline_rows(self) -> int:
        """How many lanes the timeline can show at most (its max height, not its height now:
        it grows with its content)."""
        view = self._q("#timeline")
        max_h = view.styles.max_height
        try:
            height = int(max_h.resolve(view.parent.size, self.size)) if max_h is not None else view.size.height
        except Exception:  # an unresolvable unit: what it shows now
            height = view.size.height
        return max(1, height - 1)

    def action_lane_order(self) -> None:
        """Cycle the order of the task lanes: newest / oldest / slowest first."""
        self._lane_order = (self._lane_order + 1) % len(LANE_ORDERS)
        self._pinned_lane = None  # (a lane the task table brought into view goes with the order)
        order = LANE_ORDERS[self._lane_order]
        note = lanes_note(self.shown.snapshot if self.shown is not None else None, order)
        self.notify(f"task lanes: {order} first" + (f" ({note.removeprefix('lanes: ')})" if note else ""),
                    timeout=4 if note else 2)
        self._show_status()
        self._show_snapshot()

    def _show_snapshot(self) -> None:
        snap = self._display_snapshot()
        timeline = self._q("#timeline")
        timeline.update_snapshot(snap)
        pace = getattr(self._source, "pace_for", None)
        if pace is not None:  # updates as often as what is shown can change
            pace(timeline.seconds_per_cell)
        upd = self.shown
        marks = upd.marks if upd is not None and not self._current_pinned else ()
        timeline.set_marks((t, f"{knob}={format_value(None, value)}") for t, knob, value in marks)
        present = self._states_in(snap) | ({"knob"} if marks else set())
        if present != self._legend_states:
            self._legend_states = present
            update_static(self._q("#legend", Static), self._legend_text(present))

    def _states_in(self, snap: Snapshot) -> set:
        """States drawn in ``snap`` (for the legend). Lanes only grow at their end, so each
        lane's segments are scanned once, from where the last scan stopped."""
        present = {"running", "waiting"}
        if snap.states is not None:  # kept by its builder as it built the lanes
            return present | snap.states
        cache = {}
        old = self._lane_states
        empty = (0, frozenset())
        for lane in snap.raw_lanes:  # (an open lane's end has the state it had)
            ident = (lane.group, lane.key)
            seen, states = old.get(ident, empty)
            segs = lane.segments
            if len(segs) != seen:
                start = max(0, min(seen, len(segs)) - 1)  # the last one may have changed
                states = states | {seg.state for seg in segs[start:]}
                cache[ident] = (len(segs), states)
            else:
                cache[ident] = (seen, states)
            if not states <= present:
                present |= states
        self._lane_states = cache
        return present

    def _status_text(self) -> Text:
        """The status row: what runs and the time shown always; then, each only if it fits
        whole (no half-cut hint at 80 columns): why only loop lanes show, the pins, the replay
        hint and the knob values (the knob panel shows them too)."""
        out = Text(no_wrap=True, overflow="ellipsis")
        #: (rank, texts, style): each shown whole or not at all, the lowest rank first, the longest
        #: of its texts that fits
        optional: list[tuple[int, tuple[str, ...], str]] = []
        upd = self.shown
        req = self._request
        if req is not None or self._paused or self._t_view is not None:  # (not in the first frame)
            from coffeeshop_tui.scenarios.explain import fmt_s, short_where
            from coffeeshop_tui.scenarios.runner import FAILED, STARTING
        if req is None:
            out.append("no run yet", style="dim")
        else:
            status = upd.status if upd is not None else STARTING
            icon, word, style = status_style().get(status, ("?", status, ""))
            out.append(f"{icon} {word} ", style=style)
            out.append(req.name, style="bold")
            if upd is not None and upd.snapshot.t_end:
                out.append(f"  {fmt_s(upd.snapshot.t_end)}", style="bold")
                kept = upd.snapshot.extra.get("kept_from")
                if kept:  # a long live run keeps its newest minutes (runner.KEEP_S)
                    out.append(f" (kept from {fmt_s(kept)})", style="dim")
                note = lanes_note(upd.snapshot, LANE_ORDERS[self._lane_order])
                if note:  # more tasks than lanes: which ones have a lane (the long form if it fits)
                    optional.append((0, (f"  {note}", f"  {note.split(' (')[0]}"), "dim"))
            if upd is not None and upd.status == FAILED and upd.error:
                where = f" at {short_where(upd.error_where)}" if upd.error_where else ""
                out.append(f"  {upd.error}{where}", style="bold red")
        speed = SPEEDS[self._speed_i]
        if self._paused:
            out.append(f"  ⏸ paused at {fmt_s(self._t_view or 0.0)}", style="bold yellow")
        elif self._t_view is not None:
            out.append(f"  ▶ {speed:g}x replay {fmt_s(self._t_view)}", style="bold cyan")
        elif upd is not None and not upd.final:
            out.append("  ▶ live", style="dim")
            if speed < 1:
                out.append(f" ({speed:g}x)", style="cyan")
        elif upd is not None:
            optional.append((3, ("  m: slow-motion replay",), "dim italic"))
        if self.pins:
            optional.append((2, ("  pinned: " + ", ".join(p.label for p in self.pins),
                                 "  pinned: " + " ".join(p.letter for p in self.pins)), "magenta"))
            snap = self._q("#timeline").snapshot
            if snap is not None and snap.extra.get("compact"):  # (why lanes are missing: first)
                optional.append((1, (" (loop lanes only: a taller terminal shows every lane)",
                                     "  loop lanes only"), "dim"))
        if req is not None:
            params = upd.params if upd is not None else req.params
            optional.append((4, (f"  {_params_text(params)}",), "dim"))
        status_bar = self._q("#status", Static)
        room = status_bar.content_region.width if status_bar.is_mounted and status_bar.size.width else 10_000
        room -= out.cell_len
        chosen = {}
        for rank, texts, _style in sorted(optional, key=lambda o: o[0]):  # the most useful first
            text = next((t for t in texts if len(t) <= room), None)
            if text is not None:
                chosen[rank] = text
                room -= len(text)
        for rank, _texts, style in optional:  # (in reading order)
            if rank in chosen:
                out.append(chosen[rank], style=style)
        return out

    def _show_status(self) -> None:
        update_static(self._q("#status", Static), self._status_text())

    def _show_caption(self) -> None:
        from coffeeshop_tui.scenarios.explain import short_where
        from coffeeshop_tui.scenarios.runner import FAILED

        upd = self.shown
        moment = self._moment()
        if upd is None:
            text = Text(WELCOME if self._request is None else "starting...", style="italic")
        elif moment is not None:
            text = Text(moment[1], style="bold")
            n = upd.snapshot.extra.get("task_lanes")
            if n and n["built"] < n["kept"]:  # (explain.moment sums the lanes built: not yet all)
                text.append(f"  (of the newest {n['built']:,} of {n['kept']:,} tasks)", style="dim")
        elif upd.status == FAILED and not upd.caption.startswith("failed"):
            where = f" ({short_where(upd.error_where)})" if upd.error_where else ""
            text = Text(f"failed: {upd.error}{where}", style="bold red")
        else:
            text = Text(upd.caption or "", style="bold")
        update_static(self._q("#caption", Static), text)
        self._show_notes()

    def _notes_text(self) -> Text:
        """Python's warnings (as Python words them) and what the program printed, up to the
        moment shown: the run's own voice next to what was measured."""
        from coffeeshop_tui.scenarios.explain import short_where

        upd = self.shown
        out = Text()  # wraps: Python's warning is never cut (app.tcss: up to 3 rows)
        if upd is None:
            return out
        snap = upd.snapshot
        seen: dict[tuple, int] = {}
        for w in snap.warnings:
            key = (getattr(w, "kind", ""), getattr(w, "message", str(w)), getattr(w, "where", ""))
            seen[key] = seen.get(key, 0) + 1
        for (kind, message, where), n in list(seen.items())[:2]:
            if out:
                out.append("\n")
            word = "RuntimeWarning: " if kind == "never-awaited" else ""
            out.append(f"⚠ {word}{message}", style="yellow")
            out.append((f" x{n}" if n > 1 else "") + (f"  at {short_where(where)}" if where else ""),
                       style="dim")
        t = self._t_view
        lines = [line for ts, line in snap.output if t is None or ts <= t]
        if lines:
            # the snapshot holds the newest lines; the count is of every line printed by then
            total = max(snap.output_total, len(snap.output)) - (len(snap.output) - len(lines))
            if out:
                out.append("\n")
            out.append(f"output ({total} line{'s' if total != 1 else ''}): ", style="dim")
            out.append(lines[-1])
        return out

    def _show_notes(self) -> None:
        notes = self._q("#notes", Static)
        text = self._notes_text()
        notes.display = bool(text)
        update_static(notes, text)

    def _show_stats(self) -> None:
        upd = self.shown
        moment = self._moment()
        stats = moment[0] if moment is not None else (upd.stats if upd is not None else None)
        key = (id(stats), len(self.pins), self._current_pinned)
        if key == self._shown_stats:
            return
        self._shown_stats = key
        pins = list(self.pins)
        if pins and upd is not None and not self._current_pinned:
            pins.append(Pinned(LETTERS[len(pins)], upd.scenario, upd.params, upd.snapshot, stats, "", ()))
        self._q("#stats").show(stats, upd.lag if upd else (), upd.runnable if upd else (), pins)

    def _mark(self) -> tuple[str, str]:
        """(where, note) of the source line to mark now."""
        from coffeeshop_tui.scenarios.explain import fmt_s, plural
        from coffeeshop_tui.scenarios.runner import FAILED

        upd = self.shown
        if upd is None:
            return "", ""
        snap = upd.snapshot
        if self._focused is not None:
            where = self._segment_where(*self._focused)
            if where:
                return where, "under the cursor"
        if self._t_view is not None:
            for b in snap.blocks:
                if b["start_s"] <= self._t_view < b["end_s"]:
                    return b["where"], f"holding the loop ({fmt_s(self._t_view - b['start_s'])})"
            return "", ""
        if snap.holding is not None and snap.live:
            task, since, where = snap.holding
            return where, f"holding the loop for {fmt_s(snap.t_end - since)}"
        if upd.status == FAILED and upd.error_where:
            return upd.error_where, f"raised {upd.error.split(':')[0] if upd.error else 'an error'}"
        never = [w for w in snap.warnings if getattr(w, "kind", "") == "never-awaited" and w.where]
        if never and not snap.blocks:
            return never[0].where, f"coroutine created, never awaited (x{len(never)})"
        if snap.blocks:
            total: dict[str, float] = {}
            count: dict[str, int] = {}
            for b in snap.blocks:
                total[b["where"]] = total.get(b["where"], 0.0) + b["end_s"] - b["start_s"]
                count[b["where"]] = count.get(b["where"], 0) + 1
            where = max(total, key=total.get)
            return where, f"held the loop {fmt_s(total[where])} in {plural(count[where], 'block')}"
        return "", ""

    def _show_source_mark(self) -> None:
        if self.highlighted_load is not None:
            return  # the source panel shows the web app, not the scenario that runs
        view = self._q(SourceView)
        upd = self.shown
        if upd is not None and upd.scenario != self.selected.name:
            view.mark(None)
            return
        where, note = self._mark()
        view.mark_where(where, note)

    # ================================================================== timeline cursor
    def _segment_where(self, lane: Lane, seg, t: float) -> str:
        if seg is None:
            return ""
        if getattr(seg, "where", ""):  # a wait: where its lock was made, or where it is awaited
            return seg.where
        if seg.info and ":" in seg.info and seg.info.rsplit(":", 1)[-1].isdigit():
            return seg.info
        if seg.state == "blocked":
            blocks = self._blocks_for(lane)
            for b in blocks:
                if b["start_s"] <= t <= b["end_s"] and (not seg.task or b["task"] in (0, seg.task)):
                    return b["where"]
        return ""

    def _blocks_for(self, lane: Lane) -> tuple:
        if lane.group:
            for pin in self.pins:
                if lane.group == pin.label:
                    return pin.snapshot.blocks
        return self.shown.snapshot.blocks if self.shown is not None else ()

    def on_timeline_view_segment_focused(self, message: TimelineView.SegmentFocused) -> None:
        if message.view is not None and message.view is not self._q("#timeline"):
            return  # another screen's timeline (the load test's): not this readout
        from coffeeshop_tui.scenarios.explain import fmt_s, short_where

        from .timeline_view import LEGEND

        lane, seg, t = message.lane, message.segment, message.t
        self._focused = (lane, seg, t) if seg is not None else None
        out = Text()  # wraps: 2 lines at most (app.tcss), so a wait's reason shows at 80 columns
        if lane.group:
            out.append(f"{lane.group} · ", style="magenta")
        out.append(lane.label, style="bold")
        if seg is None:
            out.append(f"  at {fmt_s(t)}: nothing", style="dim")
        else:
            style = next((s for st, _c, s, _d in LEGEND if st == seg.state), "")
            out.append(f"  {seg.state}", style=f"bold {style}" if style else "bold")
            out.append(f"  {fmt_s(seg.start)} → {fmt_s(seg.end)}  ({fmt_s(seg.end - seg.start)})")
            where = self._segment_where(lane, seg, t)
            if seg.info and lane.kind == "task" and seg.state in WAIT_STATES + ("thread", "queued"):
                out.append(f"  waiting: {seg.info}", style="cyan")  # what it awaits (wait_reasons.py)
            elif where:
                out.append(f"  at {short_where(where)}", style="cyan")
            elif seg.info and seg.info != lane.label:
                out.append(f"  {seg.info}", style="cyan")
        update_static(self._q("#cursor-info", Static), out)
        self._q("#timeline").highlight_task(seg.task if seg is not None and seg.task else None)
        self._show_source_mark()
        self._loop_cursor_moved(lane.group, t)

