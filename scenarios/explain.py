"""Plain-language captions and small time series, computed from what was measured.

Nothing here knows which scenario ran: a caption is derived from the recording (tasks,
loop blocks and where they were stuck, worker-thread jobs, warnings, wall time) plus the
run's parameters (how many ``customers``, how long one ``brew_s`` is), so the same rules
explain a user's own scenario file. This module must not import textual.

* :func:`caption` -> one sentence, e.g.
  ``serialized: 3 coffees took 3.00 s = 3 x brew because time.sleep held the loop for 2.99 s``
* :func:`series` -> (loop lag, runnable tasks) sampled over the run, for sparklines.
"""

from __future__ import annotations

import linecache
import os
import re
from collections import Counter

from .timeline import WAITING, Timeline
from .wait_reasons import CATEGORY

NEVER_AWAITED = "never-awaited"
_CALL = re.compile(r"^\s*(?:return\s+|await\s+|\w+\s*=\s*(?:await\s+)?)?([A-Za-z_][\w.]*)\s*\(")
_NAME_IN_QUOTES = re.compile(r"'([^']+)'")


# ----------------------------------------------------------------------------- formatting
def fmt_s(seconds: float) -> str:
    """0.0042 -> '4.2 ms', 1.5 -> '1.50 s'."""
    if seconds is None:
        return "-"
    a = abs(seconds)
    if a == 0:
        return "0 s"
    if a < 0.000001:
        return "<1 µs"
    if a < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if a < 1:
        return f"{seconds * 1000:.1f} ms" if a < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def short_where(where: str) -> str:
    """'/abs/path/scenarios/baristas/blocking_barista.py:10' -> 'blocking_barista.py:10'."""
    if not where:
        return ""
    path, _, line = where.rpartition(":")
    return f"{os.path.basename(path)}:{line}" if path else where


def source_line(where: str) -> str:
    """The stripped text of the source line ``file:line`` (empty if unknown)."""
    path, _, line = where.rpartition(":")
    try:
        return linecache.getline(path, int(line)).strip()
    except (ValueError, TypeError):
        return ""


def culprit(where: str, func: str = "") -> str:
    """What held the loop at ``where``: the call on that line (``time.sleep``), else the
    function doing CPU work there (``CPU work in grind_beans``), else the place."""
    text = source_line(where)
    m = _CALL.match(text) if text else None
    if m and m.group(1) not in ("print",):
        return m.group(1)
    if func and func not in ("<module>",):
        return f"CPU work in {func}"
    return text[:40] or short_where(where) or "one long step"


def plural(n: int, word: str) -> str:
    """``1 block``, ``2 blocks``: the one place counts are written with their noun."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ----------------------------------------------------------------------------- verdicts
RUNNING_VERDICT, TOO_FAST, OK = "running", "too-fast", "ok"


def speedup_verdict(stats: dict) -> tuple[str, str, str]:
    """(value, note, flag) for the speed-up of a run: the one rule the stats panel and the
    CLI's summary share. A run still in progress gets no verdict (its wall time so far says
    nothing against the whole run's ideal); a finished run faster than its ideal overlapped
    time allows is flagged: its work did not run."""
    speed = stats.get("speedup")
    seq, ovl = stats.get("ideal_sequential_s"), stats.get("ideal_overlapped_s")
    if stats.get("open"):
        return "", "", ""  # an open system has no ideal run time (see report.open_figures)
    if not stats.get("final", True):
        return "—", ("mid-run (paused view)" if "at_s" in stats else "running"), RUNNING_VERDICT
    if speed is None:
        return "", "", ""
    best = (seq / ovl) if ovl else None
    if best and speed > best * 1.5:
        return f"{speed:.0f}x", "too fast: work skipped?", TOO_FAST
    return f"{speed:.2f}x", (f"of {best:.2f}x possible" if best else ""), OK


# ----------------------------------------------------------------------------- caption
def _units(tl: Timeline, params: dict) -> tuple[int, str]:
    """How many units of work and what to call them."""
    n = params.get("customers")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        return n, "coffee"
    leaves = tl.figures()[2][0]  # (kept by the Timeline: not a walk over every task)
    if tl.jobs and len(tl.jobs) >= leaves:
        return len(tl.jobs), "job"
    return leaves, "task"


def _block_cause(tl: Timeline, blocks: list[dict]) -> tuple[str, str]:
    """(culprit, where) of the place that held the loop longest, summed over blocks."""
    by_where: Counter = Counter()
    for b in blocks:
        by_where[b["where"]] += b["end_ns"] - b["start_ns"]
    if not by_where:
        return "", ""
    where = by_where.most_common(1)[0][0]
    func = ""
    for t, w, fn, _seq in reversed(tl.samples):
        if w == where:
            func = fn
            break
    return culprit(where, func), where


def _top_lock_wait(tl: Timeline) -> tuple[str, float] | None:
    """(reason, seconds) of the lock, semaphore, event, condition or queue the tasks spent
    the most time waiting on (``Timeline.wait_reason``), or None."""
    tot: Counter = Counter()
    for seq in tl.tasks:
        for state, s, e in tl.task_segments(seq):
            if state == WAITING:
                r = tl.wait_reason(seq, s)
                if r is not None and CATEGORY.get(r[0]) == "sync":
                    tot[r[1]] += e - s
    if not tot:
        return None
    text, ns = tot.most_common(1)[0]
    return text, ns / 1e9


def gil_phrase(tl: Timeline, gil_blocks: list[dict]) -> str:
    """'the loop waited 0.9 s for the GIL while crunch held it in 4 threads (the loop got it
    21% of the time)', or "" (no GIL-starved step; never on a free-threaded build, where
    nothing is probed). The one wording every caption uses."""
    if not gil_blocks:
        return ""
    waited = sum(b["end_ns"] - b["start_ns"] for b in gil_blocks) / 1e9
    holders, n_threads, share = tl.gil_holders(gil_blocks)
    who = ", ".join(name for name, _ in holders[:2]) or "other threads"
    return (f"the loop waited {fmt_s(waited)} for the GIL while {who} held it in "
            f"{plural(n_threads, 'thread')} (the loop got it {share:.0%} of the time)")


def _pools(tl: Timeline) -> list[str]:
    """'pool of 4 workers: 10 jobs ran in 3 waves' for each pool that ran jobs."""
    pools: dict[str, dict[str, int]] = {}
    for j in tl.jobs:
        pools.setdefault(j.pool, Counter())[j.thread] += 1
    out = []
    for pool, per_thread in pools.items():
        workers = len(per_thread)
        jobs = sum(per_thread.values())
        waves = max(per_thread.values())
        kind = "processes" if "process" in pool else "workers"
        count = f"{workers} {kind}" if workers != 1 else f"1 {kind[:-1] if kind == 'workers' else 'process'}"
        if len(pools) == 1:  # "pool of 3 workers: 4 jobs ran in 2 waves"
            what = f"pool of {count}" if workers != 1 else count
            out.append(f"{what}: {plural(jobs, 'job')} ran in {plural(waves, 'wave')}")
        else:  # several, named (shorter: a caption of two pools fits 80 columns)
            out.append(f"{pool}: {plural(jobs, 'job')} in {plural(waves, 'wave')} ({count})")
    return out


def _held_at_end(tl: Timeline) -> tuple[str, str, float]:
    """(where, func, seconds) of a step still holding the loop when the recording ended."""
    if not tl.samples or tl.end_ns is None:
        return "", "", 0.0
    t, where, func, _seq = tl.samples[-1]
    last_end = max(tl.steps[1::3]) if len(tl.steps) else tl.origin
    if t <= last_end:
        return "", "", 0.0
    return where, func, (tl.end_ns - last_end) / 1e9


def blocked_now(cause: str, where: str, held_s: float) -> str:
    """The caption of a moment when one step holds the loop (live, or a paused view)."""
    return (f"blocked right now: {cause} ({short_where(where)}) has held the loop for "
            f"{fmt_s(held_s)}; every other task waits")


def so_far(done: int, tasks: int, wall: float, blocked: float, cause: str, pool: str = "",
           gil: str = "") -> str:
    """The caption of a run in progress (live, or a paused view of any run)."""
    parts = [f"so far: {done} of {plural(tasks, 'task')} finished in {fmt_s(wall)}"]
    if blocked:
        parts.append(f"loop blocked {fmt_s(blocked)} by {cause}")
    if pool:
        parts.append(pool)
    if gil:
        parts.append(gil)
    return "; ".join(parts)


def open_caption(o: dict, wall: float, blocked: float = 0.0, cause: str = "") -> str:
    """An open system (customers keep arriving): is the shop keeping up?"""
    lam, x = o["arrival_rate"], o["throughput"]
    if o["served"] and x >= 0.9 * lam:
        verdict = "keeping up"
    elif o["in_system_now"] > max(2.0, 1.5 * o["mean_in_system"]):
        verdict = "falling behind: the queue grows"
    else:
        verdict = "not keeping up yet" if not o["served"] else "falling behind"
    text = (f"open shop, {verdict}: {o['arrived']} arrived ({lam:.1f}/s), {o['served']} served "
            f"({x:.1f}/s) in {fmt_s(wall)}; {o['in_system_now']} in the shop now, "
            f"{fmt_s(o['time_in_system_s'])} in the shop on average")
    if blocked:
        text += f"; loop blocked {fmt_s(blocked)} by {cause}"
    return text


def caption(tl: Timeline, summary: dict, params: dict | None = None, status: str | None = None) -> str:
    """One sentence saying what the measurement shows. ``summary`` is report.summary(tl);
    ``status`` the run's status (``stopped`` runs are described as cut short)."""
    params = params or {}
    live = tl.end_ns is None
    wall = summary.get("wall_s") or 0.0
    if tl.start_ns is None and not tl.tasks:
        return "starting..." if live and not tl.error else (tl.error or "nothing was recorded")

    never = [w for w in tl.warnings if w.kind == NEVER_AWAITED]
    if never:
        names = Counter()
        for w in never:
            m = _NAME_IN_QUOTES.search(w.message)
            names[m.group(1) if m else "coroutine"] += 1
        what = ", ".join(f"{k}" for k in names)
        place = short_where(never[0].where)
        return (f"forgotten await: {plural(len(never), 'coroutine')} never ran ({what}"
                f"{' created at ' + place if place else ''}); Python only warned, and the run "
                f"took {fmt_s(wall)}")

    if tl.error and not live:
        return f"failed after {fmt_s(wall)}: {tl.error}"

    blocks = tl.blocks()
    gil_blocks = [b for b in blocks if b.get("gil")]
    gil = gil_phrase(tl, gil_blocks)
    # the whole run's blocks and tasks (a long run's trims keep their counts: Timeline.gone);
    # GIL waits are not blocks of the line the loop waited on
    n_blocks, blocked_ns, gil_n, gil_ns = tl.block_totals()
    n_blocks, blocked = n_blocks - gil_n, (blocked_ns - gil_ns) / 1e9
    n_tasks, done = tl.task_counts()
    if gil_blocks:
        blocks = [b for b in blocks if not b.get("gil")]
    cause, where = _block_cause(tl, blocks)  # (the kept blocks: where the loop was held)
    n, unit_word = _units(tl, params)
    brew = params.get("brew_s")
    brew = float(brew) if isinstance(brew, (int, float)) and not isinstance(brew, bool) and brew > 0 else None
    pools = _pools(tl)

    if summary.get("open"):
        held = tl.holding() if live else None
        if held is not None and (tl.now_ns - held[1]) >= tl.block_ns:
            func = next((fn for t, w, fn, _s in reversed(tl.samples) if w == held[2]), "")
            return blocked_now(culprit(held[2], func), held[2], (tl.now_ns - held[1]) / 1e9)
        return open_caption(summary["open"], wall, blocked, cause)

    if status == "stopped":
        parts = [f"stopped after {fmt_s(wall)}: {done} of {plural(n_tasks, 'task')} finished"]
        h_where, h_func, h_s = _held_at_end(tl)
        if h_where and h_s * 1e9 >= tl.block_ns:
            parts.append(f"{culprit(h_where, h_func)} ({short_where(h_where)}) was holding the loop "
                         f"for {fmt_s(h_s)}")
        elif blocked:
            parts.append(f"loop blocked {fmt_s(blocked)} by {cause}")
        if pools:
            parts.append(pools[0])
        if gil:
            parts.append(gil)
        return "; ".join(parts)

    if live:
        held = tl.holding()
        if held is not None and (tl.now_ns - held[1]) >= tl.block_ns:
            func = next((fn for t, w, fn, _s in reversed(tl.samples) if w == held[2]), "")
            return blocked_now(culprit(held[2], func), held[2], (tl.now_ns - held[1]) / 1e9)
        return so_far(done, n_tasks, wall, blocked, cause, pools[0] if pools else "", gil)

    share = blocked / wall if wall > 0 else 0.0
    if blocks and share >= 0.5:
        if brew and n > 1 and wall >= 0.8 * n * brew:
            return (f"serialized: {plural(n, unit_word)} took {fmt_s(wall)} = {n} x brew because "
                    f"{cause} held the loop for {fmt_s(blocked)}")
        return (f"blocked: {cause} ({short_where(where)}) held the loop {share:.0%} of the run "
                f"({fmt_s(blocked)} in {plural(n_blocks, 'block')}); nothing else could run")

    if pools:
        free = "the loop stayed free" if not n_blocks else f"the loop was still blocked {fmt_s(blocked)}"
        if gil and not n_blocks:
            free = gil
        elif gil:
            free += f" and {gil.removeprefix('the loop ')}"  # (one subject: shorter at 80 columns)
        return f"{'; '.join(pools)}; {fmt_s(wall)} in all, {free}"

    if brew and n > 1:
        k = wall / brew
        if k < 1.5:
            return (f"overlapped: {plural(n, unit_word)} in {fmt_s(wall)} (one brew is {fmt_s(brew)}): "
                    f"the waits ran together, the loop was busy only {fmt_s(summary.get('busy_s') or 0)}")
        waves = round(k)
        if waves < n:
            line = _top_lock_wait(tl)
            return (f"in waves: {plural(n, unit_word)} took {fmt_s(wall)} = {waves} x brew; "
                    f"at most about {-(-n // waves)} brewed at once"
                    + (f"; together they waited {fmt_s(line[1])} on {line[0]}" if line else ""))
        return f"one by one: {plural(n, unit_word)} took {fmt_s(wall)} = {waves} x brew"

    if blocks:
        return (f"{cause} ({short_where(where)}) blocked the loop {fmt_s(blocked)} in "
                f"{plural(n_blocks, 'block')}; worst lag {fmt_s(summary.get('max_lag_s') or 0)}")
    return (f"{plural(n_tasks, 'task')} in {fmt_s(wall)}; loop busy {fmt_s(summary.get('busy_s') or 0)},"
            f" worst lag {fmt_s(summary.get('max_lag_s') or 0)}")


# ----------------------------------------------------------------------------- series
def series(snapshot, bins: int = 40, memo: dict | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Loop lag (s) and runnable-but-starved task count, sampled at ``bins`` points.

    Lag at time t = how long the longest-waiting ready task has been ready by t. Computed
    from the snapshot's task lanes (``starved`` segments).

    ``memo``: a dict kept between calls on snapshots of the same run (a producer's), so each
    lane's segments are looked through once: a lane only grows, and keeps the segment
    objects it had before its newest ones.
    """
    t_end = getattr(snapshot, "t_end", 0.0) or 0.0
    if t_end <= 0 or bins <= 0:
        return (), ()
    width = t_end / bins
    lag = [0.0] * bins
    ready = [0.0] * bins
    seen = {}
    # the lanes as built: a waiting task's lane is the same object as in the last call (its
    # open end reaches t_end: Lane.open), so it is not looked through again
    for lane in getattr(snapshot, "raw_lanes", snapshot.lanes):
        if lane.kind != "task":
            continue
        found = seen[lane.key] = _starved(lane.segments, memo.get(lane.key) if memo is not None else None)
        open_i = len(lane.segments) - 1 if getattr(lane, "open", False) else -1
        for j, seg in found[1]:
            end = t_end if j == open_i else seg.end
            first = max(0, int(seg.start / width))
            last = min(bins - 1, int(end / width))
            for i in range(first, last + 1):
                t = min(end, (i + 1) * width)
                a = max(seg.start, i * width)
                if t <= a:
                    continue
                ready[i] += (t - a) / width  # average count over the bin
                if t - seg.start > lag[i]:
                    lag[i] = t - seg.start
    if memo is not None:
        memo.clear()
        memo.update(seen)
    return tuple(lag), tuple(round(r, 3) for r in ready)


def _starved(segs: tuple, old: tuple | None) -> tuple:
    """``(segs, [(index, segment), ...])``: the starved segments (of some length) of a lane's
    ``segs``. ``old``: what this gave for an earlier version of the lane; the segments both
    share (the same objects, from the start) are not looked at again."""
    if old is not None and old[0] is segs:
        return old
    j = 0
    found: list = []
    if old is not None:
        prev, found = old
        j = min(len(prev), len(segs))
        while j and prev[j - 1] is not segs[j - 1]:
            j -= 1
        if j and prev[0] is not segs[0]:  # not a grown version of the same lane
            j = 0
        found = [x for x in found if x[0] < j]
    for i in range(j, len(segs)):
        seg = segs[i]
        if seg.state == "starved" and seg.end > seg.start:
            found.append((i, seg))
    return segs, found


# ----------------------------------------------------------------------------- open systems
def open_figures_of(spans, wall: float, served_before: tuple[int, float] = (0, 0.0)) -> dict:
    """An open system's figures from its customers' ``(arrival_s, departure_s or None)``
    over ``[0, wall]``: arrivals and throughput per second, mean time in the system (W, of
    those served), mean number in the system (L, time-averaged) and now, and Little's law
    L = λ·W checked (within 20%: it holds for a steady system). ``served_before``: more
    customers, all served before ``wall``, as (how many, their time in the system summed)
    (those a trim dropped)."""
    spans = [(a, d if d is not None and d <= wall else None) for a, d in spans if a <= wall]
    served = [(a, d) for a, d in spans if d is not None]
    events = sorted([(a, 1) for a, _ in spans] + [(d, -1) for _, d in served])
    area = 0.0
    n = 0
    last = 0.0
    for t, step in events:
        area += n * (t - last)
        n += step
        last = t
    area += n * (wall - last)
    k, k_s = served_before
    return open_figures_from(len(spans) + k, len(served) + k, sum(d - a for a, d in served) + k_s,
                             area + k_s, wall)


def open_figures_from(arrived: int, served: int, served_time: float, area: float, wall: float) -> dict:
    """:func:`open_figures_of` from its sums: customers arrived and served, the time in the
    system of those served (s) and of all of them up to ``wall`` (s: the number in the system
    integrated over time). What ``Timeline.open_counts`` keeps as a run grows."""
    lam = arrived / wall if wall > 0 else 0.0
    w = served_time / served if served else 0.0
    mean_n = area / wall if wall > 0 else 0.0
    little = lam * w
    return {
        "arrived": arrived,
        "served": served,
        "arrival_rate": round(lam, 3),
        "throughput": round(served / wall, 3) if wall > 0 else 0.0,
        "time_in_system_s": round(w, 6),
        "in_system_now": arrived - served,
        "mean_in_system": round(mean_n, 3),
        "little_l": round(little, 3),
        "little_ok": bool(served) and abs(mean_n - little) <= 0.2 * max(mean_n, little, 1e-9),
    }


# ----------------------------------------------------------------------------- a moment
_RUN_STATES = {"running": "running", "blocked": "running", "waiting": "waiting", "lock": "waiting",
               "io": "waiting", "thread": "waiting", "queued": "waiting", "starved": "starved"}
_LOOP_BUSY = frozenset(("running", "blocked", "callback"))


def moment(snapshot, t: float, whole: dict | None = None) -> tuple[dict, str]:
    """(stats, caption) of the run as it was at time ``t`` (seconds): the recording clipped
    at ``t``, for a paused or scrubbed view. ``stats`` has the keys of
    ``report.summary`` (``final`` False, ``at_s`` = t); the ideal times come from ``whole``
    (the run's own summary: a model of the whole run, not of a moment). The caption uses
    the same rules as a live run's (:func:`blocked_now`, :func:`so_far`). After a trim the
    lanes start at the cut: the whole run up to it (``snapshot.before``) is added, so the
    figures are the whole run's up to ``t``; a moment before the cut is shown as the cut."""
    t_end = getattr(snapshot, "t_end", 0.0) or 0.0
    before = getattr(snapshot, "before", None) or {}
    t = max(before.get("from_s", 0.0), min(t, t_end))
    states = dict(before.get("states_s") or {"running": 0.0, "waiting": 0.0, "starved": 0.0})
    tasks = done = before.get("tasks", 0)
    worst, busy = before.get("max_lag_s", 0.0), before.get("busy_s", 0.0)
    starved_at_cut = before.get("starved_s", {})
    # every lane built: also the task lanes not drawn (Snapshot.hidden: a long run's older tasks)
    lanes = getattr(snapshot, "all_lanes", None) or snapshot.lanes
    for lane in lanes:
        segs = lane.segments
        if lane.kind == "loop":
            for seg in segs:
                if seg.start >= t:
                    break
                if seg.state in _LOOP_BUSY:
                    busy += min(seg.end, t) - seg.start
            continue
        if lane.kind != "task" or not segs or segs[0].start > t:
            continue
        tasks += 1
        if segs[-1].end <= t < t_end:
            done += 1
        for seg in segs:
            if seg.start >= t:
                break
            d = min(seg.end, t) - seg.start
            key = _RUN_STATES.get(seg.state)
            if key:
                states[key] += d
            if seg.state == "starved":
                if seg is segs[0] and lane.task in starved_at_cut:  # ready since before the cut
                    d = min(seg.end, t) - starved_at_cut[lane.task]
                if d > worst:
                    worst = d
    blocked = before.get("blocked_s", 0.0)
    by_where: Counter = Counter()
    holding = None
    n_blocks = before.get("blocks", 0)
    for b in snapshot.blocks:
        if b["start_s"] >= t:
            continue
        n_blocks += 1
        d = min(b["end_s"], t) - b["start_s"]
        blocked += d
        by_where[b["where"]] += d
        if b["end_s"] > t:
            holding = b
    whole = whole or {}
    if whole.get("open"):
        parents = {lane.parent for lane in lanes if lane.kind == "task"} | before.get("parents", set())
        made = before.get("created_s", {})  # (a lane after a trim starts at the cut, not when it came)
        spans = [(made.get(lane.task, lane.segments[0].start),
                  lane.segments[-1].end if lane.segments[-1].end < t_end else None)
                 for lane in lanes
                 if lane.kind == "task" and lane.segments and lane.task not in parents]
        gone = before.get("leaves", 0), before.get("served_s", 0.0)
        stats_open = {"open": open_figures_of(spans, t, gone)}
    else:
        stats_open = {}
    stats = {
        **stats_open,
        "final": False,
        "at_s": round(t, 6),
        "wall_s": round(t, 6),
        "ideal_sequential_s": whole.get("ideal_sequential_s"),
        "ideal_overlapped_s": whole.get("ideal_overlapped_s"),
        "speedup": None,
        "busy_s": round(busy, 6),
        "blocked_s": round(blocked, 6),
        "max_lag_s": round(worst, 6),
        "blocks": n_blocks,
        "tasks": tasks,
        "states_s": {k: round(v, 6) for k, v in states.items()},
    }
    where = by_where.most_common(1)[0][0] if by_where else ""
    cause = f"{culprit(where)} ({short_where(where)})" if where else ""
    if holding is not None:
        text = blocked_now(culprit(holding["where"]), holding["where"], t - holding["start_s"])
    elif stats_open:
        text = open_caption(stats_open["open"], t, blocked, cause)
    else:
        text = so_far(done, tasks, t, blocked, cause)
    return stats, f"at {fmt_s(t)}, {text}"
