"""The parts of a load test's final report (``coffeeshop-tui load --json``) that are not statistics.

* :func:`request_items` -- one item per request: client timings and, matched by the same
  :func:`~.load_match.match_handler` the live lanes use, its server handler's totals per state
  (up to the end of its first task; ``outlived_ms``: what tasks it spawned ran after that);
* :func:`server_section` -- the server: blocks in the window, thread-pool use, restarts;
* :func:`whole_run_stats` -- the window's statistics with what the server's recording let
  go of (a long run keeps its newest part, ``load_feed.Trimmed``) added back, so the report's
  figures are the whole run's while its block list says which part it lists.

The statistics themselves come from :func:`~.load_stats.window_stats` (the live window's
function) over the whole run. This module does not import textual.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from coffeeshop_tui.scenarios.report import wait_fields
from coffeeshop_tui.scenarios.snapshot import QUEUED, WAIT_STATES
from coffeeshop_tui.scenarios.timeline import BLOCKED, GIL, RUNNING, STARVED, THREAD, WAITING
from coffeeshop_tui.scenarios.web.load_match import (after_response_ns, match_handler, request_states,
                                                      request_tasks, response_sent_ns, split_at)
from coffeeshop_tui.scenarios.web.load_settings import endpoint_path
from coffeeshop_tui.scenarios.web.load_stats import _blocks_in as blocks_in

#: how many places (lines) the report's summary of blocks not listed names
TOP_PLACES = 10

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
    out = {
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
        "blocks_listed": len(blocks),
        "blocks_in_window": stats.w_blocks,
    }
    t = getattr(data, "trimmed", None)
    if t:  # a long run: its recording let go of old blocks; say which part is listed
        places = sorted(t.by_where.items(), key=lambda x: -x[1][1])[:TOP_PLACES]
        out["not_listed"] = {
            "blocks": t.blocks, "blocked_s": round(t.blocked_ns / 1e9, 6),
            "gil_blocks": t.gil_blocks, "gil_s": round(t.gil_ns / 1e9, 6),
            "from_s": round(sec(t.from_ns), 6) if t.to_ns else None,
            "to_s": round(sec(t.to_ns), 6) if t.to_ns else None,
            "listed_from_s": round(sec(t.listed_from_ns), 6) if t.listed_from_ns else None,
            "busy_s": round(t.busy_ns / 1e9, 6),
            "jobs": {pool: n for pool, (n, _q) in t.jobs.items()},
            "by_place": [{"where": w, "culprit": c, "blocks": n, "blocked_s": round(ns / 1e9, 6)}
                         for w, (n, ns, c) in places],
        }
        out["blocks_note"] = listed_note(len(blocks), stats.w_blocks, t, sec)
    return out


def listed_note(listed: int, total: int, t, sec) -> str:
    """``"120 blocks listed (the run's first ones, then from 540.2 s on), 4,310 in the window:
    the others are summed per line (not_listed)"``: what a long run's block list covers."""
    since = f"from {sec(t.listed_from_ns):.1f} s on" if t.listed_from_ns else "the newest"
    return (f"{listed:,} block{'s' if listed != 1 else ''} listed (the run's first ones, then {since}), "
            f"{total:,} in the window: the others are summed per line (not_listed)")


def whole_run_stats(stats, data, w0: int, end: int):
    """``stats`` (:func:`~.load_stats.window_stats` over ``data``'s rows in [w0, end]) with what
    the recording let go of (``data.trimmed``, :class:`~.load_feed.Trimmed`) added: blocks,
    the line that held the loop longest, GIL waits, busy time, jobs, threads, the longest wait
    for a thread, pool tokens. What went is the oldest part of the run after its first blocks
    (a server's start-up stays listed): it counts in the window unless it all ended before
    ``w0``. Not added back (not kept per job): ``w_queued``."""
    t = getattr(data, "trimmed", None)
    if not t:
        return stats
    span_s = max(1e-9, stats.window_s)
    n, rows_ns, by_where, cul = blocks_in(data.blocks, w0, end)
    by_where = Counter(by_where)
    gone_n = gone_ns = gil_ns = 0
    if t.to_ns >= w0:  # (all of it before the first request: the server's start-up, not the window's)
        gone_n, gone_ns, gil_ns = t.blocks, t.blocked_ns, t.gil_ns
        for where, (_n, ns, c) in t.by_where.items():
            by_where[where] += ns
            cul.setdefault(where, c)
    where = by_where.most_common(1)[0][0] if by_where else ""
    threads: dict[str, set] = {pool: set(ts) for pool, ts in t.job_threads.items()}
    labels: Counter = Counter(t.job_labels)
    jobs: Counter = Counter({pool: n_ for pool, (n_, _q) in t.jobs.items()})
    for j_end, pool, thread, _q, label in data.jobs:
        if w0 <= j_end <= end:
            threads.setdefault(pool, set()).add(thread)
            labels[label] += 1
    jobs.update(stats.w_jobs)
    changes = dict(
        w_blocks=n + gone_n, w_blocked_s=min(span_s, (rows_ns + gone_ns) / 1e9),
        w_gil_s=min(span_s, stats.w_gil_s + gil_ns / 1e9),
        w_busy_share=min(1.0, stats.w_busy_share + t.busy_in(w0, end) / 1e9 / span_s),
        w_jobs=dict(jobs), w_threads={p: len(ts) for p, ts in threads.items()},
        w_job_labels=dict(labels.most_common(5)),
        w_queue_max_s=max([stats.w_queue_max_s, *(q / 1e9 for _n, q in t.jobs.values())]),
        pool_max_borrowed=max(stats.pool_max_borrowed, t.pool_max_borrowed),
    )
    if where and where != stats.block_where:
        changes.update(block_where=where, block_culprit=cul.get(where, ""), block_kind="")
    return replace(stats, **changes)
