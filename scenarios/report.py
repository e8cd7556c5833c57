"""What a run measured, as a summary, a JSON document, Chrome trace events and text."""

from __future__ import annotations

import os

from .explain import open_figures_from, plural, speedup_verdict
from .timeline import RUNNING, STARVED, WAITING, Timeline


def _s(ns: int, origin: int) -> float:
    return round((ns - origin) / 1e9, 6)


def _short(where: str) -> str:
    if not where:
        return ""
    path, _, line = where.rpartition(":")
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            path = rel
    except ValueError:
        pass
    return f"{path}:{line}"


def summary(tl: Timeline, ideal: tuple[float, float] | None = None, open_system: bool = False) -> dict:
    """Wall, ideal sequential / overlapped times, speed-up, loop busy / blocked, worst lag.
    ``open_system``: the run has no ideal time (customers keep arriving); ``open`` holds
    :func:`open_figures` instead and ``speedup`` is None."""
    origin = tl.origin
    wall = (tl.now_ns - origin) / 1e9
    # the states' totals, the worst lag and the leaves' work, kept by the Timeline as
    # segments close (a call costs the tasks that changed, not every task)
    sums, worst, (leaves, work_sum, work_max) = tl.figures()
    if ideal is None:
        # Without a model from the scenario: each leaf task's own work (running + waiting),
        # done one after another, or all at once.
        ideal = (work_sum / 1e9, work_max / 1e9) if leaves else (wall, wall)
    # (the whole run's: a long live run's trims drop old blocks and tasks, not their counts)
    n_blocks, blocked_ns, _gil_n, gil_ns = tl.block_totals()
    extra = {"open": open_figures(tl)} if open_system else {}
    return {
        **extra,
        "final": tl.end_ns is not None,
        "wall_s": round(wall, 6),
        "ideal_sequential_s": round(ideal[0], 6),
        "ideal_overlapped_s": round(ideal[1], 6),
        "speedup": round(ideal[0] / wall, 3) if wall > 0 and not open_system else None,
        "busy_s": round(tl.busy_ns() / 1e9, 6),
        "blocked_s": round(blocked_ns / 1e9, 6),
        "max_lag_s": round(worst / 1e9, 6),
        "blocks": n_blocks,
        "gil_s": round(gil_ns / 1e9, 6),
        "tasks": tl.task_counts()[0],
        "states_s": {state: round(sums[state] / 1e9, 6) for state in (RUNNING, WAITING, STARVED)},
    }


def _wait_fields(tl: Timeline, seq: int, state: str, start: int) -> dict:
    """A waiting segment's ``reason`` (what it awaits: "semaphore `counter` (shop.py:12)",
    "sleep", "task #3 ...", None when unknown), ``wait_kind`` (its kind, the reason's
    first words: see scenarios/wait_reasons.py) and ``wait_where`` (the line: where the
    lock was made, or where the program awaits; when known)."""
    if state != WAITING:
        return {}
    return wait_fields(tl.wait_reason(seq, start))


def wait_fields(r: tuple | None) -> dict:
    """A wait reason (``Timeline.wait_reason``'s (kind, text, where), or None / () when not
    known) as ``--json`` fields: ``reason``, ``wait_kind`` and ``wait_where`` (when known).
    The scenario reports and the load test's report both use it."""
    if not r:
        return {"reason": None, "wait_kind": None}
    return {"reason": r[1], "wait_kind": r[0], **({"wait_where": _short(r[2])} if r[2] else {})}


def _gil_fields(b: dict) -> dict:
    """A block's GIL verdict for ``--json``: ``gil`` (the loop thread mostly waited for the
    GIL, not for its line) and the share of the time it ran, when it was measured."""
    if "loop_cpu_share" not in b:
        return {}
    return {"gil": bool(b.get("gil")), "loop_cpu_share": b["loop_cpu_share"]}


def open_figures(tl: Timeline) -> dict:
    """An open system's figures (each leaf task is one customer): ``explain.open_figures``
    of the tasks' (arrival, departure) times."""
    arrived, served, served_ns, area_ns = tl.open_counts()
    return open_figures_from(arrived, served, served_ns / 1e9, area_ns / 1e9, (tl.now_ns - tl.origin) / 1e9)


def to_json(tl: Timeline, scenario: str, params: dict, ideal=None, open_system: bool = False,
            status: str | None = None) -> dict:
    origin = tl.origin
    summ = summary(tl, ideal, open_system)
    tasks = []
    for seq, t in sorted(tl.tasks.items()):
        tasks.append({
            "id": seq,
            "name": t.name or f"Task-{seq}",
            "coro": t.coro,
            "parent": t.parent or None,
            "created_s": _s(t.created_ns, origin),
            "done_s": _s(t.done_ns, origin) if t.done_ns is not None else None,
            "outcome": t.outcome,
            "segments": [
                {"state": st, "start_s": _s(s, origin), "end_s": _s(e, origin), **_wait_fields(tl, seq, st, s)}
                for st, s, e in tl.task_segments(seq)
            ],
        })
    summ["waits_s"] = {k: round(v, 6) for k, v in wait_totals(tasks)}
    threads = []
    for name, jobs in tl.thread_lanes().items():
        threads.append({
            "name": name,
            "pool": jobs[0].pool,
            "segments": [
                {"state": "thread", "start_s": _s(j.start_ns, origin), "end_s": _s(j.end_ns, origin),
                 "queued_s": _s(j.submit_ns, origin), "task": j.task or None, "job": j.label}
                for j in jobs
            ],
        })
    return {
        "scenario": scenario,
        "params": params,
        "caption": _caption(tl, summ, params, status),
        "wall_s": summ["wall_s"],
        "summary": summ,
        "tasks": tasks,
        "loop": {
            "busy_s": summ["busy_s"],
            "blocked_s": summ["blocked_s"],
            "max_lag_s": summ["max_lag_s"],
            "block_threshold_s": tl.block_ns / 1e9,
            "blocks": [
                {"task": b["task"] or None, "start_s": _s(b["start_ns"], origin),
                 "duration_s": round((b["end_ns"] - b["start_ns"]) / 1e9, 6), "where": _short(b["where"]),
                 **_gil_fields(b)}
                for b in tl.blocks()
            ],
        },
        "threads": threads,
        "warnings": [
            {"kind": w.kind, "message": w.message, "where": _short(w.where), "t_s": _s(w.t_ns, origin)}
            for w in tl.warnings
        ],
        "output": [{"t_s": _s(t, origin), "line": line} for t, line in tl.output],
        "error": tl.error,
        "dropped": tl.dropped,
        "recorder": _recorder_impl(),  # "c" (the compiled accelerator) or "python"
    }


def _caption(tl: Timeline, summ: dict, params: dict, status: str | None) -> str:
    """The app's caption of the run (one rule: ``explain.caption``), for the CLI and JSON."""
    from .explain import caption

    try:
        return caption(tl, summ, params, status)
    except Exception as exc:  # never let a caption rule break a report
        return f"(no caption: {type(exc).__name__}: {exc})"


def to_chrome_trace(tl: Timeline, scenario: str = "") -> dict:
    """Chrome Trace Event JSON (complete 'X' events, one track per task and thread)."""
    origin = tl.origin
    pid = 1
    ev: list[dict] = [
        {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": f"coffeeshop-tui {scenario}".strip()}},
        {"ph": "M", "pid": pid, "tid": 0, "name": "thread_name", "args": {"name": "event loop"}},
    ]

    def us(ns: int) -> float:
        return round((ns - origin) / 1e3, 3)

    for state, s, e, seq in tl.loop_segments():
        if state == "idle" or e <= s:
            continue
        label = tl.tasks[seq].label if seq in tl.tasks else "callback"
        ev.append({"ph": "X", "pid": pid, "tid": 0, "name": f"{state}: {label}", "cat": state,
                   "ts": us(s), "dur": round((e - s) / 1e3, 3)})
    for seq, t in sorted(tl.tasks.items()):
        tid = 1000 + seq
        ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": t.label}})
        for st, s, e in tl.task_segments(seq):
            if e > s:
                x = {"ph": "X", "pid": pid, "tid": tid, "name": st, "cat": st,
                     "ts": us(s), "dur": round((e - s) / 1e3, 3)}
                why = tl.wait_reason(seq, s) if st == WAITING else None
                if why is not None:
                    x["name"] = f"waiting: {why[1]}"
                    x["args"] = {"reason": why[1], "wait_kind": why[0], **({"where": why[2]} if why[2] else {})}
                ev.append(x)
    for i, (name, jobs) in enumerate(tl.thread_lanes().items()):
        tid = 100_000 + i
        ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        last_end = None
        for j in jobs:
            s = j.start_ns if last_end is None else max(j.start_ns, last_end)
            if j.end_ns > s:
                ev.append({"ph": "X", "pid": pid, "tid": tid, "name": j.label, "cat": "thread",
                           "ts": us(s), "dur": round((j.end_ns - s) / 1e3, 3),
                           "args": {"task": j.task, "pool": j.pool}})
                last_end = j.end_ns
    for w in tl.warnings:
        ev.append({"ph": "i", "pid": pid, "tid": 0, "s": "p", "name": w.message, "ts": us(w.t_ns),
                   "args": {"where": w.where, "kind": w.kind}})
    return {"traceEvents": ev, "displayTimeUnit": "ms"}


def wait_totals(tasks: list[dict]) -> list[tuple[str, float]]:
    """Time spent waiting, summed over ``tasks`` (a ``to_json`` document's), by what was
    awaited (``wait_kind``; "?" unknown), most first."""
    tot: dict[str, float] = {}
    for t in tasks:
        for seg in t["segments"]:
            if seg["state"] == WAITING:
                k = seg.get("wait_kind") or "?"
                tot[k] = tot.get(k, 0.0) + seg["end_s"] - seg["start_s"]
    return sorted(((k, v) for k, v in tot.items() if v > 0), key=lambda kv: -kv[1])


def waits_line(tasks: list[dict]) -> str:
    """The report's "waits" line (empty when nothing was awaited): totals by kind, most first;
    a total that would print as 0.000 s is left out, an unknown kind reads "unknown"."""
    waits = [(k, v) for k, v in wait_totals(tasks) if v >= 0.0005]
    if not waits:
        return ""
    return ("waits      " + ", ".join(f"{'unknown' if k == '?' else k} {v:.3f} s" for k, v in waits[:6])
            + (f", ... {len(waits) - 6} more kinds" if len(waits) > 6 else ""))


def open_lines(o: dict) -> list[str]:
    """An open system's figures as report lines (the CLI; the app's stats panel says the same)."""
    check = "holds" if o["little_ok"] else "does not hold yet (not steady: the queue is still changing)"
    return [
        f"arrivals   {o['arrived']} ({o['arrival_rate']:.2f}/s), served {o['served']} "
        f"({o['throughput']:.2f}/s), in the system now {o['in_system_now']}",
        f"time in    {o['time_in_system_s']:.3f} s on average (W, of those served)",
        f"little     L = {o['mean_in_system']:.2f} in the system on average, λ·W = {o['little_l']:.2f}: {check}",
    ]


def text_summary(doc: dict) -> str:
    """A readable report of a ``to_json`` document."""
    s = doc["summary"]
    value, note, flag = speedup_verdict(s)
    lines = [
        f"scenario   {doc['scenario']}  " + " ".join(f"{k}={v}" for k, v in doc["params"].items()),
    ]
    if doc.get("caption"):
        lines.append(f"caption    {doc['caption']}")
    lines.append(f"wall       {s['wall_s']:.3f} s")
    if s.get("open"):
        lines += open_lines(s["open"])
    else:
        lines.append(
            f"ideal      sequential {s['ideal_sequential_s']:.3f} s, overlapped {s['ideal_overlapped_s']:.3f} s"
            + (f"  (speed-up {value} over sequential{', ' + note if note else ''})" if flag else ""))
    lines += [
        f"loop       busy {s['busy_s']:.3f} s, blocked {s['blocked_s']:.3f} s in {plural(s['blocks'], 'block')},"
        f" worst lag {s['max_lag_s'] * 1000:.1f} ms",
    ]
    if s.get("gil_s"):
        lines[-1] += f"; of that, {s['gil_s']:.3f} s waiting for the GIL (not blocked by a line)"
    for b in doc["loop"]["blocks"][:10]:
        if b.get("gil"):
            lines.append(f"  gil      task {b['task']} at {b['start_s']:.3f} s for {b['duration_s'] * 1000:.1f} ms"
                         f"  waiting for the GIL (the loop ran {b['loop_cpu_share']:.0%} of it), at {b['where']}")
            continue
        lines.append(f"  block    task {b['task']} at {b['start_s']:.3f} s for {b['duration_s'] * 1000:.1f} ms"
                     f"  in {b['where']}")
    if len(doc["loop"]["blocks"]) > 10:
        lines.append(f"  ... {len(doc['loop']['blocks']) - 10} more blocks")
    lines.append(f"tasks      {len(doc['tasks'])}  (running / waiting / starved)")
    for t in doc["tasks"][:20]:
        tot = {"running": 0.0, "waiting": 0.0, "starved": 0.0}
        for seg in t["segments"]:
            tot[seg["state"]] += seg["end_s"] - seg["start_s"]
        label = t["name"] + (f" ({t['coro']})" if t["coro"] and t["coro"] not in t["name"] else "")
        lines.append(f"  {label[:44]:<44} {tot['running']:8.3f} {tot['waiting']:8.3f} {tot['starved']:8.3f}")
    if len(doc["tasks"]) > 20:
        lines.append(f"  ... {len(doc['tasks']) - 20} more tasks")
    waits = waits_line(doc["tasks"])
    if waits:
        lines.append(waits)
    if doc["threads"]:
        lines.append(f"threads    {len(doc['threads'])}")
        for th in doc["threads"][:12]:
            busy = sum(x["end_s"] - x["start_s"] for x in th["segments"])
            lines.append(f"  {th['name'][:30]:<30} {len(th['segments']):4d} job(s), busy {busy:.3f} s  [{th['pool']}]")
    for w in doc["warnings"]:
        lines.append(f"warning    {w['kind']}: {w['message']}  at {w['where']}")
    if doc.get("output"):
        out = doc["output"]
        lines.append(f"output     {plural(len(out), 'line')} printed; last: {out[-1]['line']}")
    if doc.get("error"):
        lines.append(f"error      {doc['error']}")
    if doc.get("dropped"):
        lines.append(f"dropped    {doc['dropped']} step records (buffer limit)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the loop at a moment
def loop_moment_doc(tl: Timeline, t_s: float, max_ready: int = 50, max_timers: int = 8) -> dict:
    """What the loop held ``t_s`` seconds into the run (``--loop-at``), as JSON-ready data:
    ``loop_moment.loop_at`` (the one answer the app's ``w`` panel shows too) with times in the
    run's seconds and tasks as ``{"task", "task_label"}``. ValueError (one line) for a time
    outside the run."""
    from .loop_moment import loop_at

    origin = tl.origin
    wall = _s(tl.now_ns, origin) if tl.now_ns else 0.0
    if not (0.0 <= t_s <= wall):
        raise ValueError(f"--loop-at {t_s:g}: outside the run (0 to {wall:g} s)")
    t_ns = origin + int(round(t_s * 1e9))
    m = loop_at(tl, t_ns, max_timers=max_timers, max_ready=max_ready)

    def task(seq: int) -> dict:
        t = tl.tasks.get(seq)
        return {"task": seq or None, "task_label": t.label if t is not None else None}

    def ready(r) -> dict:
        return {**task(r.task), "how": r.how, "what": r.what, "runs_s": _s(r.runs_ns, origin),
                "ends_s": _s(r.ends_ns, origin), "certain": r.certain,
                **({"by": task(r.by)} if r.by else {})}

    doc = {"t_s": round(t_s, 6), "recorded": m.recorded, "state": m.state,
           "running": ready(m.running) if m.running is not None else None,
           "ready": [ready(r) for r in m.ready], "n_ready": max(m.n_ready, len(m.ready)),
           "later": [ready(r) for r in m.later], "n_later": max(m.n_later, len(m.later)),
           "timers": [{"due_s": _s(x.due_ns, origin), "in_s": round((x.due_ns - t_ns) / 1e9, 6),
                       "what": x.what, **task(x.task), "created_s": _s(x.created_ns, origin),
                       "overdue": x.overdue} for x in m.timers],
           "n_timers": m.n_timers,
           "iteration_start_s": _s(m.iteration_start_ns, origin) if m.iteration_start_ns else None,
           "select": None}
    if m.state == "select":
        doc["select"] = {
            "start_s": _s(m.select_start_ns, origin), "end_s": _s(m.select_end_ns, origin),
            "timeout_s": None if m.timeout_ns is None else round(m.timeout_ns / 1e9, 6),
            "waiting_on": [{"fd": w.fd, "mode": w.mode, "what": w.what, **task(w.task)} for w in m.waiting_on],
        }
    return doc


def _recorder_impl() -> str:
    """The hot path recordings use ("c" or "python"), imported when a report is made: a
    viewer that never records does not load the recorder's hooks at launch."""
    from .recorder_hooks import recorder_impl

    return recorder_impl()
