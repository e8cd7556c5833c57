"""The parts of a load test's final report (``coffeeshop-tui load --json``) that are not statistics.

* :func:`request_items` -- one item per request: client timings and, matched by the same
  :func:`~.load_match.match_handler` the live lanes use, its server handler's totals per state
  (up to the end of its first task; ``outlived_ms``: what tasks it spawned ran after that);
* :func:`server_section` -- the server: blocks in the window, thread-pool use, restarts.

The statistics themselves come from :func:`~.load_stats.window_stats` (the live window's
function) over the whole run. This module does not import textual.
"""

from __future__ import annotations

from collections import Counter

from coffeeshop_tui.scenarios.report import wait_fields
from coffeeshop_tui.scenarios.snapshot import QUEUED, WAIT_STATES
from coffeeshop_tui.scenarios.timeline import BLOCKED, GIL, RUNNING, STARVED, THREAD, WAITING
from coffeeshop_tui.scenarios.web.load_match import (after_response_ns, match_handler, request_states,
                                                      request_tasks, response_sent_ns, split_at)
from coffeeshop_tui.scenarios.web.load_settings import endpoint_path

STATES_MS = (RUNNING, BLOCKED, GIL, STARVED, WAITING, QUEUED, THREAD)


def request_items(records: list, feed, sec) -> list[dict]:
    """records: (generation, RequestRecord, targets) of every request; feed: the ServerFeed
    (None: not recorded)."""
    indexes = feed.full_indexes() if feed is not None else []
    jobs_of: dict[tuple[int, int], list] = {}
    for ep, _index in indexes:
        with feed.server.lock:
            for j in ep.tl.jobs:
                if j.task:
                    jobs_of.setdefault(ep.index, {}).setdefault(j.task, []).append(j)
    index_of = dict(indexes)
    out = []
    for gen, r, targets in sorted(records, key=lambda x: (x[0], x[1].rid)):
        item = {
            "id": r.request_id, "generation": gen, "user": r.user,
            "path": endpoint_path(targets[r.target]) if r.target < len(targets) else "",
            "intended_s": round(sec(r.intended_ns), 6), "sent_s": round(sec(r.sent_ns), 6),
            "first_byte_s": round(sec(r.first_byte_ns), 6) if r.first_byte_ns else None,
            "done_s": round(sec(r.done_ns), 6),
            "latency_ms": round(r.latency_ns / 1e6, 3), "status": r.status, "kind": r.kind_name,
            "server": None,
        }
        m = match_handler(indexes, r.request_id, r.sent_ns, r.done_ns) if r.sent_ns else None
        if m is not None:
            ep, seq = m
            index = index_of[ep]
            with feed.server.lock:
                t = ep.tl.tasks.get(seq)
                seqs = request_tasks(index, t.tag, t.created_ns, t.done_ns or 0) if t else []
                segs = request_states(ep.tl, seqs or [seq], jobs_of.get(ep.index, {})) if t else []
                sent_ns = response_sent_ns(ep.tl, seqs) if t else 0
            if t is not None:
                # the request's own figures end with its first task; what tasks it spawned did
                # later outlived it (load_match.block_phase): shown apart, never in its share
                segs, later = split_at(segs, t.done_ns)
                tot: Counter = Counter()
                waits = []
                for st, s, e, _info, _where, wait in segs:
                    if st in WAIT_STATES:  # a lock / io / plain wait: all of it is waiting_ms
                        tot[WAITING] += e - s
                        waits.append({"start_s": round(sec(s), 6), "end_s": round(sec(e), 6),
                                      **wait_fields(wait)})
                    else:
                        tot[st] += e - s
                item["server"] = {
                    "task": seq, "start_s": round(sec(t.created_ns), 6),
                    "end_s": round(sec(t.done_ns), 6) if t.done_ns else None,
                    **{f"{st}_ms": round(tot[st] / 1e6, 3) for st in STATES_MS},
                    "tasks": len(seqs or [seq]),
                    "response_sent_s": round(sec(sent_ns), 6) if sent_ns else None,
                    "after_response_ms": round(after_response_ns(segs, sent_ns) / 1e6, 3),
                    "outlived_ms": round(sum(x[2] - x[1] for x in later if x[0] in (RUNNING, BLOCKED, GIL))
                                         / 1e6, 3),
                    # the lane's waits (its tasks merged, load_match.merge_states), what each awaited
                    "waits": waits,
                }
        out.append(item)
    return out


def server_section(data, w0: int, end: int, stats, sec, *, pid, port, restarts: int, crashed: bool,
                   error, pool_total, executor_workers) -> dict:
    """The report's "server" part; ``data``: the whole run's ServerData, ``stats``: the
    LoadStats of the window [w0, end] (blocks before w0, e.g. the server's start-up, are left out)."""
    blocks = [{"start_s": round(sec(b["start_ns"]), 6), "end_s": round(sec(b["end_ns"]), 6),
               "duration_s": round((b["end_ns"] - b["start_ns"]) / 1e9, 6),
               "where": b["where"], "culprit": b["culprit"], "request_id": b["request_id"],
               "after_response": b.get("after_response", False), "outlived": b.get("outlived", False),
               **({"gil": True, "loop_cpu_share": round(b["loop_cpu_share"], 3)} if b.get("gil") else {})}
              for b in data.blocks if b["end_ns"] >= w0 and b["start_ns"] <= end]
    return {
        "recorded": True,
        "pid": pid,
        "port": port,
        "restarts": restarts,
        "crashed": crashed,
        "error": error,
        "blocks": blocks,
        "blocked_s": round(stats.w_blocked_s, 6),
        "gil_s": round(stats.w_gil_s, 6),
        "gil_loop_share": round(stats.gil_loop_share, 3),
        "loop_busy_s": round(stats.w_busy_share * stats.window_s, 6),
        "pool": {
            "anyio_tokens": stats.pool_total or pool_total,
            "max_borrowed": stats.pool_max_borrowed,
            "default_executor_workers": executor_workers,
            "jobs": dict(stats.w_jobs),
            "threads_used": dict(stats.w_threads),
            "max_wait_for_thread_s": round(stats.w_queue_max_s, 6),
        },
    }
