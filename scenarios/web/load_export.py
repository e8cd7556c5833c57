"""Export what the load screen shows: Chrome trace JSON (ui.perfetto.dev) and a JSON document.

* :func:`chrome_trace` -- every lane of a :class:`~coffeeshop_tui.scenarios.snapshot.Snapshot`
  (the server's loop, worker threads, one lane per request and its handler) as complete
  ``X`` events on one track each, in the snapshot's own time axis (0 = the first request); a
  handler's wait is named by what it awaited, with ``reason`` / ``wait_kind`` / ``where`` args
  (as ``report.to_chrome_trace`` names a scenario task's);
* :func:`export_doc` -- a :class:`~.loadtest.LoadUpdate` as plain JSON: status, knobs, the
  window's statistics (with the latency histogram and error kinds over time), the caption,
  the notes, and the server's newest blocks (the screen keeps a bounded number), with which
  part of the run they and the statistics cover (``window``, ``blocks_note``).

Pure functions of the immutable update (the screen calls them on what it shows, so an
export is exactly the frozen / live picture). This module does not import textual.
"""

from __future__ import annotations

from coffeeshop_tui.scenarios.snapshot import WAIT_STATES
from coffeeshop_tui.scenarios.web.load_stats import HIST_EDGES_NS


def chrome_trace(snapshot, title: str = "coffeeshop-tui load test") -> dict:
    """Chrome Trace Event JSON of the snapshot's lanes (one track per lane, in order)."""
    pid = 1
    ev: list[dict] = [{"ph": "M", "pid": pid, "name": "process_name", "args": {"name": title}}]
    for tid, lane in enumerate(snapshot.lanes):
        name = lane.label.strip().lstrip("└ ").strip() or lane.key
        if lane.group:
            name = f"{lane.group}: {name}"
        ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
        ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
        for seg in lane.segments:
            if seg.end <= seg.start:
                continue
            e = {"ph": "X", "pid": pid, "tid": tid, "name": seg.state, "cat": seg.state,
                 "ts": round(seg.start * 1e6, 3), "dur": round((seg.end - seg.start) * 1e6, 3)}
            if seg.info or seg.task:
                e["args"] = {"info": seg.info, "task": seg.task}
            wait = getattr(seg, "wait", ())
            if wait and seg.state in WAIT_STATES:  # what it awaited: as the scenario trace says it
                e["name"] = f"waiting: {wait[1]}"
                e.setdefault("args", {}).update({"reason": wait[1], "wait_kind": wait[0],
                                                 **({"where": wait[2]} if wait[2] else {})})
            ev.append(e)
    return {"traceEvents": ev, "displayTimeUnit": "ms"}


def histogram_rows(counts) -> list[dict]:
    """The log buckets as ``{"le_ms", "count"}`` rows (``le_ms`` None: slower than the last edge)."""
    out = []
    for edge, n in zip(HIST_EDGES_NS, counts):
        out.append({"le_ms": None if edge == HIST_EDGES_NS[-1] else edge / 1e6, "count": n})
    return out


def export_doc(update) -> dict:
    """The update as JSON-ready data (see the module docstring)."""
    s = update.stats
    stats = s.to_dict()
    stats["w_hist"] = histogram_rows(s.w_hist)
    stats["w_error_series"] = {k: list(v) for k, v in s.w_error_series.items()}
    return {
        "kind": "load",
        "status": update.status,
        "error": update.error,
        "caption": update.caption,
        "knobs": dict(update.knobs),
        "stats": stats,
        "notes": [{"t_s": round(t, 6), "note": text} for t, text in update.notes],
        "blocks": [{k: v for k, v in b.items() if not k.endswith("_ns")} for b in update.snapshot.blocks],
        "t_end_s": update.snapshot.t_end,
        **covered(update),
    }


def covered(update) -> dict:
    """Which part of the run the export speaks for: ``window`` (the statistics' ``from_s`` ..
    ``to_s``) and ``blocks_note``, e.g. ``"the newest 200 blocks listed (from 540.0 s on),
    950 in the window (540.0 s to 600.0 s)"`` (the window's count: ``stats.w_blocks``)."""
    s, snap = update.stats, update.snapshot
    lo, hi = max(0.0, snap.t_end - s.window_s), snap.t_end
    span = f"{lo:.1f} s to {hi:.1f} s"
    listed = [b for b in snap.blocks if b["end_s"] >= lo and b["start_s"] <= hi and not b.get("gil")]
    n = len(snap.blocks)
    if len(listed) >= s.w_blocks:
        note = f"{n:,} block{'s' if n != 1 else ''} listed: every one in the window ({span})"
    else:
        first = min(b["start_s"] for b in snap.blocks) if snap.blocks else hi
        note = (f"the newest {n:,} block{'s' if n != 1 else ''} listed (from {first:.1f} s on), "
                f"{s.w_blocks:,} in the window ({span})")
    return {"window": {"from_s": round(lo, 6), "to_s": round(hi, 6), "live": s.live}, "blocks_note": note}
