"""Pure drawing helpers for the timeline: state glyphs and colours, per-lane indexes, cells, axis.

Nothing here imports Textual (only ``bisect``, ``array`` and Rich's cell widths), so it can be
unit-tested and benchmarked without an app. ``coffeeshop_tui.tui.timeline_view.TimelineView`` uses it.

A lane's time is cut into *cells* of ``dt`` seconds: cell ``k`` covers ``[k*dt, (k+1)*dt)``.
The window's left edge is always a whole cell (``k0``), so when the window moves by whole cells
(panning, following the live edge) the cells already computed stay valid and are reused; only
the cells at the growing edge (or after the earliest change of a lane) are computed again.

A cell is drawn as one *code*: an interned ``(char, fg, bg)`` tuple where ``fg``/``bg`` are a
state name, ``None`` (the row's own colours) or ``"bg"`` (the row's background colour used as a
foreground, for right-aligned partial blocks).

Why one module of ~640 lines: it is one job, a lane's cells (glyph rules, the per-lane index
that makes a cell a bisect, the cache of computed cells, the axis), and its parts share the
cell codes; the widget and the render benchmark import it whole.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from typing import Sequence

from rich.cells import cell_len, set_cell_size

# --------------------------------------------------------------------------- states

#: One state -> colour map. Mid-saturation colours that read on dark and light backgrounds.
STATE_STYLE: dict[str, str] = {
    "running": "#3fb950",
    "blocked": "#e5484d",
    "gil": "#d9822b",
    "starved": "#f0a020",
    "waiting": "#8b949e",
    "lock": "#e06c9f",
    "io": "#4fb8b0",
    "thread": "#3b9ede",
    "queued": "#c061cb",
    "callback": "#6e9f78",
    "idle": "",
}
OTHER_STYLE = "#a0a0a0"  # an unknown state

#: One state -> character map, so the timeline reads without colour too.
STATE_CHAR: dict[str, str] = {
    "running": "█",
    "blocked": "▓",
    "gil": "▚",
    "starved": "░",
    "waiting": "─",
    "lock": "═",
    "io": "≈",
    "thread": "▒",
    "queued": "┄",
    "callback": "▄",
    "idle": " ",
}
OTHER_CHAR = "▪"

#: (state, char, style, description), in the order a legend should list them.
LEGEND: list[tuple[str, str, str, str]] = [
    ("running", "█", STATE_STYLE["running"], "running a step on the event loop"),
    ("blocked", "▓", STATE_STYLE["blocked"], "a step that held the loop too long: everyone else waits"),
    ("gil", "▚", STATE_STYLE["gil"], "a long step waiting for the GIL while worker threads held it"),
    ("starved", "░", STATE_STYLE["starved"], "ready to run, but the loop was busy with something else"),
    ("waiting", "─", STATE_STYLE["waiting"], "awaiting a timer (sleep), a task or a future; the cursor says what"),
    ("lock", "═", STATE_STYLE["lock"], "awaiting a lock, semaphore, event, condition or queue"),
    ("io", "≈", STATE_STYLE["io"], "awaiting a socket, a pipe or a subprocess"),
    ("thread", "▒", STATE_STYLE["thread"], "a job running in a worker thread (or waiting for one)"),
    ("queued", "┄", STATE_STYLE["queued"], "a job queued for a free worker thread"),
    ("callback", "▄", STATE_STYLE["callback"], "the loop running a plain callback"),
    ("idle", " ", STATE_STYLE["idle"], "the loop idle, waiting for events"),
]
#: What a partial cell means (for a help screen).
PARTIAL_NOTE = (
    "▏▎▍▌▋▊▉ a cell partly covered: the coloured part is the share of the cell "
    "(never less than ⅛, so even a 1 ms step shows in a 10 s window); a cell mostly covered "
    "by two states is split between their two colours"
)

#: States drawn as lines: a task that awaits something (what: the cursor says), the loop idle.
#: Any other state ("mark") in a cell is shown over them.
WAIT_STATES = ("waiting", "lock", "io")
QUIET_STATES = frozenset((*WAIT_STATES, "idle"))
#: Tie-break between states with equal cover in one cell: problems first.
PRIORITY = {"blocked": 6, "starved": 5, "running": 4, "thread": 3, "queued": 2, "callback": 1}

LEFT_BLOCKS = " ▏▎▍▌▋▊▉█"
#: two marks share a cell as a two-colour split only when together they cover at least half
#: of it; below that the cell is partial (PARTIAL_NOTE), in the colour of the larger one
SPLIT_MIN = 0.5  # index = eighths of the cell covered from the left

_CODES: dict[tuple, tuple] = {}


def code(char: str, fg: str | None, bg: str | None) -> tuple:
    """The interned cell code ``(char, fg, bg)`` (equal codes are the same object)."""
    key = (char, fg, bg)
    c = _CODES.get(key)
    if c is None:
        c = _CODES[key] = key
    return c


BLANK = code(" ", None, None)
WAIT_LEFT = code("╴", "waiting", None)
WAIT_RIGHT = code("╶", "waiting", None)
_FULL: dict[str, tuple] = {}


def full_code(state: str) -> tuple:
    """The code of a cell completely covered by ``state``."""
    c = _FULL.get(state)
    if c is None:
        if state == "idle":
            c = BLANK
        elif state in STATE_CHAR:
            c = code(STATE_CHAR[state], state, None)
        else:
            c = code(OTHER_CHAR, state, None)
        _FULL[state] = c
    return c


def state_color(state: str | None) -> str:
    if state is None:
        return ""
    return STATE_STYLE.get(state, OTHER_STYLE)


def _is_mark(state: str) -> bool:
    return state not in QUIET_STATES


def mark_code(state: str, frac: float, touches_left: bool, touches_right: bool) -> tuple:
    """A cell where ``state`` covers ``frac`` of it and the rest is quiet (waiting/idle/empty)."""
    if frac >= 15 / 16:
        return full_code(state)
    n8 = min(7, max(1, round(frac * 8)))
    if touches_right and not touches_left:
        # right-aligned: draw the uncovered left part in the background colour over the state
        return code(LEFT_BLOCKS[8 - n8], "bg", state)
    return code(LEFT_BLOCKS[n8], state, None)


def quiet_code(state: str, frac: float, touches_left: bool, touches_right: bool) -> tuple:
    if state not in WAIT_STATES:
        return BLANK
    if frac >= 0.5 or (touches_left and touches_right) or state != "waiting":
        return full_code(state)
    if touches_left:
        return WAIT_LEFT
    if touches_right:
        return WAIT_RIGHT
    return full_code("waiting")


def choose_code(cov: dict, first: dict | None, last: dict | None, a: float, b: float) -> tuple:
    """The code of cell ``[a, b)`` from each state's cover (seconds) and, when known, each
    state's first start / last end inside the cell (``None`` for a dense cell)."""
    dt = b - a
    eps = dt * 1e-6
    marks = [(c, PRIORITY.get(s, 0), s) for s, c in cov.items() if c > 0 and _is_mark(s)]
    if not marks:
        w, ws = max((cov.get(st, 0.0), st) for st in WAIT_STATES)
        if w <= 0:
            return BLANK
        tl = first is not None and first[ws] <= a + eps
        tr = last is not None and last[ws] >= b - eps
        return quiet_code(ws, w / dt, tl, tr)
    marks.sort(reverse=True)
    c1, _, s1 = marks[0]
    if len(marks) == 1:
        if first is None:
            return mark_code(s1, c1 / dt, True, False)
        return mark_code(s1, c1 / dt, first[s1] <= a + eps, last[s1] >= b - eps)
    c2, _, s2 = marks[1]
    if (c1 + c2) / dt < SPLIT_MIN:
        # two marks that leave most of the cell quiet: a partial cell in the main one's
        # colour, as wide as both together (a 50 µs step never fills a 1 ms cell)
        tl = first is not None and min(first[s1], first[s2]) <= a + eps
        tr = last is not None and max(last[s1], last[s2]) >= b - eps
        return mark_code(s1, (c1 + c2) / dt, tl if first is not None else True, tr)
    if first is not None and first[s2] < first[s1]:
        left, right, cl = s2, s1, c2
    else:
        left, right, cl = s1, s2, c1
    n8 = min(7, max(1, round(8 * cl / (c1 + c2))))
    return code(LEFT_BLOCKS[n8], left, right)


def pair_code(s1: float, e1: float, st1: str, s2: float, e2: float, st2: str, a: float, b: float) -> tuple:
    """``choose_code`` for a cell holding exactly two (clipped, ordered) pieces, faster."""
    c1 = e1 - s1 if e1 > s1 else 0.0
    c2 = e2 - s2 if e2 > s2 else 0.0
    dt = b - a
    eps = dt * 1e-6
    m1 = st1 not in QUIET_STATES
    m2 = st2 not in QUIET_STATES
    if st1 == st2:
        if m1:
            return mark_code(st1, max(c1 + c2, dt * 1e-9) / dt, s1 <= a + eps, e2 >= b - eps)
        if st1 in WAIT_STATES and c1 + c2 > 0:
            return quiet_code(st1, (c1 + c2) / dt, s1 <= a + eps, e2 >= b - eps)
        return BLANK
    if m1 and m2:
        c1 = c1 or dt * 1e-9
        c2 = c2 or dt * 1e-9
        if (c1 + c2) / dt < SPLIT_MIN:  # mostly quiet: partial, in the main one's colour
            main = st1 if (c1, PRIORITY.get(st1, 0)) >= (c2, PRIORITY.get(st2, 0)) else st2
            return mark_code(main, (c1 + c2) / dt, s1 <= a + eps, e2 >= b - eps)
        n8 = min(7, max(1, round(8 * c1 / (c1 + c2))))
        return code(LEFT_BLOCKS[n8], st1, st2)
    if m1:
        return mark_code(st1, max(c1, dt * 1e-9) / dt, s1 <= a + eps, e1 >= b - eps)
    if m2:
        return mark_code(st2, max(c2, dt * 1e-9) / dt, s2 <= a + eps, e2 >= b - eps)
    if st1 in WAIT_STATES and c1 > 0 and (c1 >= c2 or st2 not in WAIT_STATES):
        return quiet_code(st1, c1 / dt, s1 <= a + eps, e1 >= b - eps)
    if st2 in WAIT_STATES and c2 > 0:
        return quiet_code(st2, c2 / dt, s2 <= a + eps, e2 >= b - eps)
    return BLANK


# --------------------------------------------------------------------------- lane index

EXACT_MAX = 8  # cells overlapped by more segments than this use prefix sums (no positions)
CELL_CACHE_MAX = 1024  # cells kept per lane beyond the window (for panning back)


def _first_difference(old: Sequence, new: Sequence) -> int | None:
    """Index of the first segment that differs (None: same content).

    Segments are appended at the end as a run grows and only the last few change, so this
    walks back over the tail (at most 16) to find where the change starts, then checks that
    everything before it is the same (one C-level comparison, mostly identity checks: the
    unchanged segments are the same objects); anything else is a full change (index 0). A
    change in the middle is never missed, so what is drawn never depends on which of the
    updates in between were drawn.
    """
    lo, ln = len(old), len(new)
    m = min(lo, ln)
    if m == 0:
        return None if lo == ln else 0
    if old[0] != new[0]:
        return 0
    i = m - 1
    stop = max(-1, m - 17)
    while i > stop and old[i] != new[i]:
        i -= 1
    if i <= stop:
        return 0
    if old[:i] != new[:i]:
        return 0
    p = i + 1
    if p == m and lo == ln:
        return None
    return p


class LaneIndex:
    """Arrays over one lane's segments (sorted by start) for O(log n) lookups per cell,
    updated incrementally as the lane grows, plus the lane's cached cells for one ``dt``."""

    __slots__ = (
        "segments", "starts", "ends", "maxend", "states", "version",
        "_cum", "_cells", "_cells_k", "_cells_dt",
    )

    def __init__(self, segments: Sequence = ()) -> None:
        self.segments: Sequence = ()
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.maxend: list[float] = []  # running max of ends: bisect-able even if segments overlap
        self.states: list[str] = []
        self.version = 0
        self._cum: dict[str, array] | None = None  # state -> prefix sums of durations (lazy)
        self._cells: list = []
        self._cells_k = 0
        self._cells_dt = 0.0
        if segments:
            self.update(segments)

    # ------------------------------------------------------------------ updates
    def update(self, segments: Sequence) -> float | None:
        """Take the lane's new segments. Returns the earliest time whose drawing may have
        changed, or None when nothing changed (cheap when the lane only grew at its end)."""
        old = self.segments
        if segments is old:
            return None
        p = _first_difference(old, segments)
        if p is None:
            self.segments = segments
            return None
        if p < len(old) and p < len(segments):
            o, n = old[p], segments[p]
            if o[0] == n[0] and o[2] == n[2]:
                t = min(o[1], n[1])
            else:
                t = min(o[0], n[0])
        elif p < len(old):
            t = old[p][0]
        else:
            t = segments[p][0]
        tail = segments[p:] if p else segments
        del self.starts[p:], self.ends[p:], self.maxend[p:], self.states[p:]
        self.starts.extend([s[0] for s in tail])
        self.ends.extend([s[1] for s in tail])
        self.states.extend([s[2] for s in tail])
        mx = self.maxend
        cur = mx[-1] if mx else -math.inf
        for e in self.ends[p:]:
            if e > cur:
                cur = e
            mx.append(cur)
        cum = self._cum
        if cum is not None:
            if any(st not in cum for st in self.states[p:]):
                self._cum = None
            else:
                for st, arr in cum.items():
                    del arr[p + 1:]
                    acc = arr[-1]
                    ext = []
                    for s in tail:
                        if s[2] == st:
                            acc += s[1] - s[0]
                        ext.append(acc)
                    arr.extend(ext)
        self.segments = segments
        self.version += 1
        self.invalidate_from(t)
        return t

    def invalidate_from(self, t: float) -> None:
        """Forget cached cells from the one holding time ``t`` on."""
        if not self._cells:
            return
        k = math.floor(t / self._cells_dt)
        if k <= self._cells_k:
            self._cells = []
        else:
            del self._cells[k - self._cells_k:]

    def _ensure_cum(self) -> dict[str, array]:
        cum = self._cum
        if cum is None:
            cum = {}
            for st in set(self.states):
                acc = 0.0
                arr = array("d", [0.0])
                for s, e, x in zip(self.starts, self.ends, self.states):
                    if x == st:
                        acc += e - s
                    arr.append(acc)
                cum[st] = arr
            self._cum = cum
        return cum

    # ------------------------------------------------------------------ queries
    def at(self, t: float) -> int:
        """Index of the segment covering time ``t`` (``start <= t < end``), or -1."""
        i = bisect_right(self.starts, t) - 1
        while i >= 0:
            if self.ends[i] > t or (self.ends[i] == t == self.starts[i]):
                return i
            if self.maxend[i] <= t:
                return -1
            i -= 1
        return -1

    def in_cell(self, a: float, b: float, limit: float = math.inf) -> int:
        """Index of the most telling segment overlapping ``[a, b)`` (a problem state over a
        quiet one, then the longer one), or -1."""
        b = min(b, limit)
        i = bisect_right(self.maxend, a)
        j = bisect_left(self.starts, b, i)
        if j > i + 64:
            j = i + 64
        best, best_key = -1, None
        for x in range(i, j):
            s, e = self.starts[x], self.ends[x]
            if e < a or s >= b:
                continue
            st = self.states[x]
            key = (_is_mark(st), PRIORITY.get(st, 0), min(e, b) - max(s, a))
            if best_key is None or key > best_key:
                best, best_key = x, key
        return best

    def next_start(self, t: float, direction: int) -> float | None:
        """The first segment start at or after ``t`` (direction > 0), or the last one
        strictly before ``t`` (direction < 0); None if there is none."""
        i = bisect_left(self.starts, t)
        if direction < 0:
            i -= 1
        if 0 <= i < len(self.starts):
            return self.starts[i]
        return None

    # ------------------------------------------------------------------ cells
    def cells(self, k0: int, n: int, dt: float) -> list:
        """Codes of cells ``k0 .. k0+n-1`` of ``dt`` seconds, from the cache where possible."""
        if n <= 0:
            return []
        k1 = k0 + n
        cl = self._cells
        if dt != self._cells_dt or not cl:
            self._cells_dt = dt
            self._cells_k = k0
            cl = self._cells = self.compute(k0, k1, dt)
            return cl[:]
        ck = self._cells_k
        end = ck + len(cl)
        if k0 >= ck and k1 <= end:
            return cl[k0 - ck:k1 - ck]
        if k1 < ck or k0 > end or min(ck, k0) < k1 - CELL_CACHE_MAX - n:
            self._cells_k = k0
            cl = self._cells = self.compute(k0, k1, dt)
            return cl[:]
        if k0 < ck:
            cl[0:0] = self.compute(k0, ck, dt)
            self._cells_k = ck = k0
        if k1 > end:
            cl.extend(self.compute(end, k1, dt))
        if k0 - ck > CELL_CACHE_MAX:  # following the live edge: forget the far past
            del cl[:k0 - ck]
            self._cells_k = ck = k0
        return cl[k0 - ck:k1 - ck]

    def cell(self, k: int, dt: float, limit: float = math.inf) -> tuple:
        """One cell's code, drawing only what happened before ``limit``."""
        return self.compute(k, k + 1, dt, limit)[0]

    def compute(self, k_start: int, k_stop: int, dt: float, limit: float = math.inf) -> list:
        """Codes of cells ``k_start .. k_stop-1`` (no cache). Work is proportional to the
        number of cells (long segments and gaps fill many cells at once), not of segments."""
        starts, ends, maxend, states = self.starts, self.ends, self.maxend, self.states
        n = len(starts)
        out: list = []
        k = k_start
        i = 0
        while k < k_stop:
            a = k * dt
            if a >= limit:
                break
            b = (k + 1) * dt
            i = bisect_right(maxend, a, i)
            if i >= n:
                break
            s = starts[i]
            if s >= limit:
                break
            if s >= b:  # a gap: jump to the cell holding the next start
                kn = min(k_stop, max(k + 1, math.floor(s / dt)))
                out.extend([BLANK] * (kn - k))
                k = kn
                continue
            bb = b if b < limit else limit
            j = bisect_left(starts, bb, i + 1)
            if j == i + 1:
                e = ends[i]
                if e > limit:
                    e = limit
                st = states[i]
                if s <= a and e >= b:  # fully covered: fill every cell it covers
                    kf = math.floor(e / dt)
                    if j < n:
                        kf = min(kf, math.floor(starts[j] / dt))
                    kf = min(k_stop, max(k + 1, kf))
                    out.extend([full_code(st)] * (kf - k))
                    k = kf
                    continue
                frac = (min(e, b) - max(s, a)) / dt
                tl, tr = s <= a, e >= b
                if _is_mark(st):
                    out.append(mark_code(st, frac, tl, tr))
                else:
                    out.append(quiet_code(st, frac, tl, tr))
            elif j == i + 2:  # the common transition cell: two segments, no dicts
                e = ends[i + 1]
                out.append(pair_code(
                    s if s > a else a, ends[i] if ends[i] < bb else bb, states[i],
                    starts[i + 1], e if e < bb else bb, states[i + 1], a, b,
                ))
            elif j - i <= EXACT_MAX:
                cov: dict[str, float] = {}
                first: dict[str, float] = {}
                last: dict[str, float] = {}
                for x in range(i, j):
                    s0 = starts[x] if starts[x] > a else a
                    e0 = ends[x] if ends[x] < bb else bb
                    if e0 <= s0 and not (ends[x] == starts[x] and a <= s0 < bb):
                        continue
                    st = states[x]
                    cov[st] = cov.get(st, 0.0) + max(e0 - s0, 0.0)
                    if st not in first or s0 < first[st]:
                        first[st] = s0
                    if st not in last or e0 > last[st]:
                        last[st] = e0
                out.append(choose_code(_nonzero(cov, dt), first, last, a, b))
            else:
                cum = self._ensure_cum()
                cov = {}
                for st, arr in cum.items():
                    c = arr[j] - arr[i]
                    if c > 0:
                        cov[st] = c
                # clip the first and last overlapping segments to the cell
                if starts[i] < a:
                    st = states[i]
                    cov[st] = cov.get(st, 0.0) - (a - starts[i])
                if ends[j - 1] > bb:
                    st = states[j - 1]
                    cov[st] = cov.get(st, 0.0) - (ends[j - 1] - bb)
                out.append(choose_code(_nonzero(cov, dt), None, None, a, b))
            k += 1
        if len(out) < k_stop - k_start:
            out.extend([BLANK] * (k_stop - k_start - len(out)))
        return out


def _nonzero(cov: dict, dt: float) -> dict:
    """Give zero-length marks (instant events) a sliver so they are never dropped."""
    for st, c in cov.items():
        if c <= 0 and _is_mark(st):
            cov[st] = dt * 1e-9
    return cov


# --------------------------------------------------------------------------- time

#: Zoom levels, seconds per cell: 1-2-5 from 1 µs to 1000 s.
ZOOM_LEVELS: tuple[float, ...] = tuple(
    m * 10.0 ** e for e in range(-6, 4) for m in (1, 2, 5)
)


def level_at_least(dt: float) -> float:
    """The smallest zoom level >= dt (the largest level if none)."""
    i = bisect_left(ZOOM_LEVELS, dt * (1 - 1e-9))
    return ZOOM_LEVELS[min(i, len(ZOOM_LEVELS) - 1)]


def zoom_step(dt: float, direction: int) -> float:
    """The next zoom level finer (direction < 0) or coarser (> 0) than ``dt``."""
    if direction < 0:
        i = bisect_left(ZOOM_LEVELS, dt * (1 - 1e-9)) - 1
        return ZOOM_LEVELS[max(0, i)]
    i = bisect_right(ZOOM_LEVELS, dt * (1 + 1e-9))
    return ZOOM_LEVELS[min(i, len(ZOOM_LEVELS) - 1)]


def format_duration(s: float) -> str:
    """A short duration: ``850µs``, ``12.5ms``, ``1.25s``, ``2m05s``."""
    a = abs(s)
    if a == 0:
        return "0"
    if a < 1e-3:
        v, u = s * 1e6, "µs"
    elif a < 1:
        v, u = s * 1e3, "ms"
    elif a < 120:
        v, u = s, "s"
    else:
        m, sec = divmod(int(round(s)), 60)
        return f"{m}m{sec:02d}s"
    if abs(v) >= 100:
        txt = f"{v:.0f}"
    elif abs(v) >= 10:
        txt = f"{v:.1f}"
    else:
        txt = f"{v:.2f}"
    if "." in txt:
        txt = txt.rstrip("0").rstrip(".")
    return txt + u


_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"))


def _tick_labels(step: float, m0: int, m1: int) -> list[str]:
    """Labels for ticks ``m0*step .. m1*step`` in the unit of the step (``250 ms``), or the
    next larger one with decimals once values reach 1000 (``1.25 s``); ``0`` for zero."""
    ui = next((x for x, (u, _) in enumerate(_UNITS) if step >= u * 0.999), len(_UNITS) - 1)
    for unit_i in range(ui, -1, -1):
        u, name = _UNITS[unit_i]
        dec = max(0, -math.floor(math.log10(step / u) + 1e-9))
        labels = []
        for m in range(m0, m1 + 1):
            t = m * step
            if m == 0:
                labels.append("0")
            else:
                labels.append(f"{t / u:.{dec}f} {name}")
        # 1000 ms reads better as 1.0 s: go up a unit once values reach 1000
        if unit_i == 0 or max(abs(m0), abs(m1)) * step / u < 999.5:
            return labels
    return labels


def axis_ticks(k0: int, dt: float, width: int) -> list[tuple[int, str]]:
    """(column, label) of the axis ticks for cells ``k0 .. k0+width-1`` of ``dt`` seconds,
    at round times (1-2-5 steps), spaced so labels never touch."""
    if width <= 0 or dt <= 0:
        return []
    t0, t1 = k0 * dt, (k0 + width) * dt
    best: list[tuple[int, str]] = []
    for e in range(-7, 6):
        for mult in (1, 2, 5):
            step = mult * 10.0 ** e
            cells = step / dt
            if cells < 4:
                continue
            m0 = math.ceil(t0 / step - 1e-9)
            m1 = math.floor(t1 / step - 1e-9)
            if m1 < m0:
                return best
            labels = _tick_labels(step, m0, m1)
            longest = max(len(x) for x in labels)
            if cells < longest + 2:
                continue
            out = []
            for m, lab in zip(range(m0, m1 + 1), labels):
                col = math.floor(m * step / dt + 1e-9) - k0
                if 0 <= col < width:
                    out.append((col, lab))
            return out
    return best


def axis_text(k0: int, dt: float, width: int) -> str:
    """The axis row as text: ``╵`` at each tick followed by its label."""
    buf = [" "] * width
    for col, lab in axis_ticks(k0, dt, width):
        txt = "╵" + lab
        if col + len(txt) > width:
            txt = "╵"
        for x, ch in enumerate(txt):
            buf[col + x] = ch
    return "".join(buf)


def truncate(text: str, width: int) -> str:
    """``text`` cut to exactly ``width`` terminal cells: an ellipsis if too long, padded with
    spaces if short (wide characters count double)."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, 1)
    return set_cell_size(text, width)
