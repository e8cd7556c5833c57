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

from .timeline import Timeline

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


def _plural(n: int, word: str) -> str:
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
    if not stats.get("final", True):
        return "—", "running", RUNNING_VERDICT
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
    parents = {t.parent for t in tl.tasks.values()}
    leaves = [s for s in tl.tasks if s not in parents]
    if tl.jobs and len(tl.jobs) >= len(leaves):
        return len(tl.jobs), "job"
    return len(leaves), "task"


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
            f"{_plural(n_threads, 'thread')} (the loop got it {share:.0%} of the time)")


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
        what = f"pool of {workers} {kind}" if workers != 1 else f"1 {kind[:-1] if kind == 'workers' else 'process'}"
        name = "" if len(pools) == 1 else f"{pool}: "
        out.append(f"{name}{what}: {_plural(jobs, 'job')} ran in {_plural(waves, 'wave')}")
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
        return (f"forgotten await: {_plural(len(never), 'coroutine')} never ran ({what}"
                f"{' created at ' + place if place else ''}); Python only warned, and the run "
                f"took {fmt_s(wall)}")

    if tl.error and not live:
        return f"failed after {fmt_s(wall)}: {tl.error}"

    blocks = tl.blocks()
    gil_blocks = [b for b in blocks if b.get("gil")]
    gil = gil_phrase(tl, gil_blocks)
    if gil_blocks:  # GIL waits are not blocks of the line the loop waited on
        blocks = [b for b in blocks if not b.get("gil")]
        blocked = sum(b["end_ns"] - b["start_ns"] for b in blocks) / 1e9
    else:
        blocked = summary.get("blocked_s") or 0.0
    cause, where = _block_cause(tl, blocks)
    n, unit_word = _units(tl, params)
    brew = params.get("brew_s")
    brew = float(brew) if isinstance(brew, (int, float)) and not isinstance(brew, bool) and brew > 0 else None
    pools = _pools(tl)

    if status == "stopped":
        done = sum(1 for t in tl.tasks.values() if t.done_ns is not None)
        parts = [f"stopped after {fmt_s(wall)}: {done} of {_plural(len(tl.tasks), 'task')} finished"]
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
            return (f"blocked right now: {culprit(held[2], func)} ({short_where(held[2])}) has held "
                    f"the loop for {fmt_s((tl.now_ns - held[1]) / 1e9)}; every other task waits")
        done = sum(1 for t in tl.tasks.values() if t.done_ns is not None)
        parts = [f"so far: {done} of {_plural(len(tl.tasks), 'task')} finished in {fmt_s(wall)}"]
        if blocked:
            parts.append(f"loop blocked {fmt_s(blocked)} by {cause}")
        if pools:
            parts.append(pools[0])
        if gil:
            parts.append(gil)
        return "; ".join(parts)

    share = blocked / wall if wall > 0 else 0.0
    if blocks and share >= 0.5:
        if brew and n > 1 and wall >= 0.8 * n * brew:
            return (f"serialized: {_plural(n, unit_word)} took {fmt_s(wall)} = {n} x brew because "
                    f"{cause} held the loop for {fmt_s(blocked)}")
        return (f"blocked: {cause} ({short_where(where)}) held the loop {share:.0%} of the run "
                f"({fmt_s(blocked)} in {_plural(len(blocks), 'block')}); nothing else could run")

    if pools:
        free = "the loop stayed free" if not blocks else f"the loop was still blocked {fmt_s(blocked)}"
        if gil and not blocks:
            free = gil
        elif gil:
            free += f"; {gil}"
        return f"{'; '.join(pools)}; {fmt_s(wall)} in all, {free}"

    if brew and n > 1:
        k = wall / brew
        if k < 1.5:
            return (f"overlapped: {_plural(n, unit_word)} in {fmt_s(wall)} (one brew is {fmt_s(brew)}): "
                    f"the waits ran together, the loop was busy only {fmt_s(summary.get('busy_s') or 0)}")
        waves = round(k)
        if waves < n:
            return (f"in waves: {_plural(n, unit_word)} took {fmt_s(wall)} = {waves} x brew; "
                    f"at most about {-(-n // waves)} brewed at once")
        return f"one by one: {_plural(n, unit_word)} took {fmt_s(wall)} = {waves} x brew"

    if blocks:
        return (f"{cause} ({short_where(where)}) blocked the loop {fmt_s(blocked)} in "
                f"{_plural(len(blocks), 'block')}; worst lag {fmt_s(summary.get('max_lag_s') or 0)}")
    return (f"{_plural(len(tl.tasks), 'task')} in {fmt_s(wall)}; loop busy {fmt_s(summary.get('busy_s') or 0)},"
            f" worst lag {fmt_s(summary.get('max_lag_s') or 0)}")


# ----------------------------------------------------------------------------- series
def series(snapshot, bins: int = 40) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Loop lag (s) and runnable-but-starved task count, sampled at ``bins`` points.

    Lag at time t = how long the longest-waiting ready task has been ready by t. Computed
    from the snapshot's task lanes (``starved`` segments).
    """
    t_end = getattr(snapshot, "t_end", 0.0) or 0.0
    if t_end <= 0 or bins <= 0:
        return (), ()
    width = t_end / bins
    lag = [0.0] * bins
    ready = [0.0] * bins
    for lane in snapshot.lanes:
        if lane.kind != "task":
            continue
        for seg in lane.segments:
            if seg.state != "starved" or seg.end <= seg.start:
                continue
            first = max(0, int(seg.start / width))
            last = min(bins - 1, int(seg.end / width))
            for i in range(first, last + 1):
                t = min(seg.end, (i + 1) * width)
                a = max(seg.start, i * width)
                if t <= a:
                    continue
                ready[i] += (t - a) / width  # average count over the bin
                if t - seg.start > lag[i]:
                    lag[i] = t - seg.start
    return tuple(lag), tuple(round(r, 3) for r in ready)
