"""Window statistics of a load test: ONE function for the live window and the final report.

Pure functions of plain data (no server, no threads), so they are tested without a server:

* :class:`ServerData` -- what the server's recording said, as plain rows (blocks, thread-pool
  jobs, gauges, loop-busy buckets, the step holding the loop now); the live feed keeps a
  bounded one, the report builds one from the whole recording (:mod:`.load_feed`);
* :func:`server_window` -- the server's numbers over ``[w0, now]``: only blocks, jobs and busy
  time at or after ``w0`` count (a block during the server's start-up, before the first
  request, is not in a report's window), a block straddling ``w0`` counts from ``w0``;
* :func:`window_stats` -- the :class:`~.explain_load.LoadStats` of a window: client rows
  (requests done in ``[w0, now]``), requests in flight, and :func:`server_window`;
* blocks a request's work did after its response (``BackgroundTasks``) or that a task it
  spawned did after the request ended are counted as blocked time (the loop was blocked)
  and named apart (``w_after_s``, ``w_outlived_s``), never as the endpoint's own handling;
* :func:`outside_window` -- the loop blocks BEFORE a report's window (start-up, a lifespan)
  and AFTER it (background work after the last answer): reported on their own, never in
  the endpoint's share.

Every share is of the window it names and never exceeds 100%: blocked time is the length
of the UNION of the blocks (clipped to the window), so overlapping or nested blocks are
not counted twice.

This module does not import textual.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field, replace

from coffeeshop_tui.scenarios.web.explain_load import LoadStats
from coffeeshop_tui.scenarios.web.loadgen_records import CANCELLED, KIND_NAMES, OK, latency_start_ns

BUSY_BUCKET_NS = 100_000_000  # loop busy time is kept per 0.1 s
MAX_PERCENTILE_SAMPLE = 50_000


@dataclass
class ServerData:
    """The server side of a load test as plain rows (times: CLOCK_MONOTONIC ns).

    blocks: dicts with ``start_ns``, ``end_ns``, ``where``, ``culprit`` (and ``request_id``);
    jobs: ``(end_ns, pool, thread_key, queue_ns, label)``; gauges: ``(t_ns, borrowed, total,
    in_flight)``; busy: ``[bucket, busy_ns]`` with bucket = ns // BUSY_BUCKET_NS, ascending;
    held: ``(since_ns, now_ns, where, culprit)`` of a block going on now, or None; a fifth item,
    if there, says whose work it is: ``"after"`` (a request's, after its response) or
    ``"outlived"`` (a task spawned by a request that has ended); a sixth, the request id of
    the task holding the loop; a seventh, True: that request is an earlier endpoint's
    (:func:`without_requests`).
    """

    blocks: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    gauges: list = field(default_factory=list)
    busy: list = field(default_factory=list)
    held: tuple | None = None


#: The latency histogram's log buckets: upper edges in ns (1-2-5 per decade, 1 ms .. 30 s, then
#: everything slower). THE bucket rule of the live window, the report and the HDR summary.
HIST_EDGES_NS = tuple(int(m * 1e6) for m in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000,
                                              5_000, 10_000, 30_000)) + (1 << 62,)
ERROR_BINS = 10  # error kinds over time: the window in this many bins


def log_buckets(sorted_ns: list[int]) -> tuple[int, ...]:
    """Counts per :data:`HIST_EDGES_NS` bucket of ascending latencies (ns)."""
    out, lo = [], 0
    for edge in HIST_EDGES_NS:
        hi = bisect.bisect_right(sorted_ns, edge, lo)
        out.append(hi - lo)
        lo = hi
    return tuple(out)


def hdr_log_buckets(hist) -> tuple[int, ...]:
    """The same buckets from an HDR histogram of microseconds (the generator's whole-run
    summary, where per-request values are no longer kept)."""
    out = [0] * len(HIST_EDGES_NS)
    if hist is None or hist.get_total_count() == 0:
        return tuple(out)
    for item in hist.get_recorded_iterator():
        v_ns = item.value_iterated_to * 1000
        out[bisect.bisect_left(HIST_EDGES_NS, v_ns)] += item.count_at_value_iterated_to
    return tuple(out)


def error_series(rows: list, w0: int, now: int, bins: int = ERROR_BINS) -> dict:
    """Error kinds over the window: kind name -> counts per bin (``bins`` equal slices of
    [w0, now], by when the request ended); only kinds that happened."""
    span = max(1, now - w0)
    out: dict[str, list[int]] = {}
    for d, _i, _s, k, _u in rows:
        if k == OK or k == CANCELLED:
            continue
        b = min(bins - 1, max(0, (d - w0) * bins // span))
        out.setdefault(KIND_NAMES[k], [0] * bins)[b] += 1
    return {k: tuple(v) for k, v in out.items()}


def pct(sorted_vals: list[int], p: float) -> int:
    """Nearest-rank percentile of a sorted list (0 when empty)."""
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def add_busy(busy, s: int, e: int) -> None:
    """Add a loop step [s, e] to ascending ``[bucket, ns]`` buckets (by its end)."""
    b = e // BUSY_BUCKET_NS
    if busy and busy[-1][0] == b:
        busy[-1][1] += e - s
    else:
        busy.append([b, e - s])


def queue_threshold_ns(delay_s: float | None) -> int:
    """A job 'waited for a thread' when it queued longer than this."""
    return max(5_000_000, int((delay_s or 0) * 1e9) // 4)


def union_ns(spans) -> int:
    """Total length of the union of ``(start, end)`` spans (overlaps counted once)."""
    total = 0
    cur_s = cur_e = None
    for s, e in sorted(spans):
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def _blocks_in(blocks, lo: int, hi: int) -> tuple[int, int, Counter, dict]:
    """(count, union ns, ns by where, culprit by where) of the blocks clipped to [lo, hi]."""
    by_where: Counter = Counter()
    cul: dict[str, str] = {}
    spans = []
    for b in blocks:
        if b["end_ns"] < lo or b["start_ns"] > hi or b.get("gil"):  # GIL waits: _gil_in
            continue
        s, e = max(b["start_ns"], lo), min(b["end_ns"], hi)
        if e <= s:
            continue
        spans.append((s, e))
        by_where[b["where"]] += e - s
        cul[b["where"]] = b.get("culprit", "")
    return len(spans), union_ns(spans), by_where, cul


def _gil_in(blocks, lo: int, hi: int) -> dict:
    """LoadStats' GIL fields over [lo, hi]: how long the loop waited for the GIL in long
    steps, who held it (the job with the most CPU), in how many threads (the most in one
    step), and the share of that time the loop got it."""
    total = 0
    share_ns = 0.0
    threads = 0
    cpu: Counter = Counter()
    for b in blocks:
        if not b.get("gil") or b["end_ns"] < lo or b["start_ns"] > hi:
            continue
        s, e = max(b["start_ns"], lo), min(b["end_ns"], hi)
        if e <= s:
            continue
        total += e - s
        share_ns += (e - s) * b.get("loop_cpu_share", 0.0)
        threads = max(threads, b.get("gil_threads", 0))
        for label, c in b.get("gil_holders", ()):
            cpu[label] += c
    if not total:
        return {}
    return {"w_gil_s": total / 1e9, "gil_holder": cpu.most_common(1)[0][0] if cpu else "",
            "gil_threads": threads, "gil_loop_share": share_ns / total}


def _later_work_in(blocks, lo: int, hi: int) -> dict:
    """LoadStats' fields on a request's work done after its response (``after_``:
    ``BackgroundTasks``) and by tasks it spawned after it ended (``outlived_``): the blocked
    time (union) in [lo, hi], how many requests it came from, the line that held the loop
    longest (see :func:`~.load_match.block_phase`)."""
    out: dict = {}
    for kind, flag in (("after", "after_response"), ("outlived", "outlived")):
        mine = [b for b in blocks if b.get(flag)]
        if not mine:
            continue
        n, tot, by_where, cul = _blocks_in(mine, lo, hi)
        if not n:
            continue
        where = by_where.most_common(1)[0][0]
        # per request: whole blocks of the requests whose such work began in the window
        began = [b for b in mine if not b.get("gil") and lo <= b["start_ns"] <= hi]
        rids = {b.get("request_id") for b in began}
        per = union_ns((b["start_ns"], b["end_ns"]) for b in began) / len(rids) if rids else 0
        out.update({f"w_{kind}_s": tot / 1e9, f"{kind}_requests": len(rids),
                    f"{kind}_per_request_s": per / 1e9, f"{kind}_where": where,
                    f"{kind}_culprit": cul.get(where, "")})
    return out


def outside_window(data: ServerData | None, w0: int, end: int) -> dict:
    """The blocks of a report's recording outside its window [w0, end]: ``before_first_request``
    (the server's start-up, a lifespan...) and ``after_last_answer`` (background work),
    each ``{"blocks", "blocked_s", "where", "culprit"}``; {} without data."""
    if data is None:
        return {}
    out = {}
    for name, lo, hi in (("before_first_request", -(1 << 62), w0), ("after_last_answer", end, 1 << 62)):
        n, tot, by_where, cul = _blocks_in(data.blocks, lo, hi)
        where = by_where.most_common(1)[0][0] if by_where else ""
        out[name] = {"blocks": n, "blocked_s": round(tot / 1e9, 6), "where": where,
                     "culprit": cul.get(where, "")}
        if name == "after_last_answer":  # of which: tasks spawned by requests that had ended,
            # and requests' work after their response (how many requests)
            _n, spawned, _w, _c = _blocks_in([b for b in data.blocks if b.get("outlived")], lo, hi)
            out[name]["outlived_s"] = round(spawned / 1e9, 6)
            rids = {b.get("request_id") for b in data.blocks
                    if (b.get("after_response") or b.get("outlived")) and not b.get("gil")
                    and b["end_ns"] >= lo and b["start_ns"] <= hi}
            out[name]["requests"] = len(rids)
    return out


def request_number(request_id: str) -> int | None:
    """``"r000042"`` -> 42 (the load generator's ids, ``format_request_id``); None otherwise."""
    if request_id and request_id[0] == "r" and request_id[1:].isdigit():
        return int(request_id[1:])
    return None


def without_requests(data: ServerData, last_rid: int) -> ServerData:
    """``data`` without the blocks of requests ``r000001`` .. ``last_rid`` (an earlier
    endpoint's, still finishing after a switch); a block going on now of one of them is marked
    as such (``blocked_now_earlier``)."""
    def earlier(request_id) -> bool:
        n = request_number(request_id or "")
        return n is not None and n <= last_rid

    blocks = [b for b in data.blocks if not earlier(b.get("request_id"))]
    held = data.held
    if held is not None and len(held) > 5 and earlier(held[5]):
        held = (*held[:6], True)
    return replace(data, blocks=blocks, held=held)


def server_window(data: ServerData | None, w0: int, now: int, delay_s: float | None,
                  fresh_ns: int = 0) -> dict:
    """LoadStats' server fields over [w0, now] (see the module docstring); {} without data.
    ``fresh_ns``: the last switch (endpoint, model, delay); a block going on now that began
    before it is an earlier endpoint's (``blocked_now_earlier``)."""
    if data is None:
        return {}
    n_blocks, total, by_where, cul = _blocks_in(data.blocks, w0, now)
    where = by_where.most_common(1)[0][0] if by_where else ""
    later = _later_work_in(data.blocks, w0, now)
    b0, b1 = w0 // BUSY_BUCKET_NS, now // BUSY_BUCKET_NS
    busy = 0.0
    for b, d in data.busy:  # edge buckets pro rata (a 6 ms window is not a whole 100 ms bucket)
        if b0 <= b <= b1:
            lo, hi = max(w0, b * BUSY_BUCKET_NS), min(now, (b + 1) * BUSY_BUCKET_NS)
            busy += d * max(0, hi - lo) / BUSY_BUCKET_NS
    jobs: Counter = Counter()
    labels: Counter = Counter()
    threads: dict[str, set] = {}
    qmax = queued = 0
    threshold = queue_threshold_ns(delay_s)
    for end, pool, thread, q, label in data.jobs:
        if end < w0 or end > now:
            continue
        jobs[pool] += 1
        labels[label] += 1
        threads.setdefault(pool, set()).add(thread)
        qmax = max(qmax, q)
        if q > threshold:
            queued += 1
    gmax = 0
    last = None
    for g in data.gauges:
        if g[0] > now:
            continue
        last = g
        if g[0] >= w0:
            gmax = max(gmax, g[1])
    blocked_now = 0.0
    earlier = False
    held_kind = ""
    if data.held is not None:
        since, t_now, h_where, h_cul, *kind = data.held
        held_kind = kind[0] if kind else ""
        blocked_now = (t_now - since) / 1e9
        earlier = since < fresh_ns or (len(kind) > 2 and kind[2] is True)
        where = h_where or where
        if where and where not in cul:
            cul[where] = h_cul
    span = max(1, now - w0)
    total = min(total, span)
    out = dict(
        w_blocks=n_blocks, w_blocked_s=total / 1e9, block_where=where,
        block_culprit=cul.get(where, ""), w_busy_share=min(1.0, busy / span),
        w_jobs=dict(jobs), w_threads={p: len(s) for p, s in threads.items()},
        w_job_labels=dict(labels.most_common(5)),
        w_queue_max_s=qmax / 1e9, w_queued=queued, pool_max_borrowed=gmax,
        blocked_now_s=blocked_now, blocked_now_earlier=earlier, blocked_now_kind=held_kind,
        **_gil_in(data.blocks, w0, now), **later,
    )
    for kind in ("after", "outlived"):  # the line that held the loop longest: whose work it was
        if later.get(f"{kind}_where") == where and where:
            out["block_kind"] = kind
    if last is not None:
        out.update(pool_borrowed=last[1], pool_total=last[2] or None, server_in_flight=last[3])
    return out


def window_stats(rows: list, inflight: list, w0: int, now: int, server: dict, *,
                 delay_s: float | None, model: str, fresh_ns: int = 0, **context) -> LoadStats:
    """The statistics of the window [w0, now].

    rows: ``(done, intended, sent, kind, user)`` of finished requests (those done before
    ``w0`` are left out); inflight: ``(intended, sent)`` of requests not done at ``now``
    (``(intended, sent, user)`` also works); fresh_ns: requests started before it belong to
    an earlier endpoint / model (a switch starts a fresh window) and are left out; server:
    :func:`server_window`'s dict; context: the other LoadStats fields (endpoint, totals,
    knobs, server state...), passed through.

    Latency starts at :func:`~.loadgen.latency_start_ns` (closed: sent; open: intended);
    percentiles and the maximum are of successes only (None when there are none);
    ``w_ok_rps`` is the throughput (successes per second); requests cancelled when a
    generator stopped are ``w_unfinished``, not errors."""
    rows = [r for r in rows if w0 <= r[0] <= now and r[1] >= fresh_ns]
    inflight = [f for f in inflight if f[0] >= fresh_ns]
    span = max(1, now - w0)
    lat = [(d - latency_start_ns(i, s, u), k) for d, i, s, k, u in rows]
    lat_ok = sorted(x for x, k in lat if k == OK)
    n_ok = len(lat_ok)
    all_lat = [x for x, k in lat if k != CANCELLED]
    svc_ok = [d - s for d, _i, s, k, _u in rows if k == OK]
    hist = log_buckets(lat_ok)
    if len(lat_ok) > MAX_PERCENTILE_SAMPLE:  # percentiles of a sample: bounded work per update
        lat_ok = lat_ok[:: len(lat_ok) // (MAX_PERCENTILE_SAMPLE // 2)]
    w_err: Counter = Counter(KIND_NAMES[k] for _d, _i, _s, k, _u in rows if k not in (OK, CANCELLED))
    unfinished = sum(1 for r in rows if r[3] == CANCELLED)
    occupied = 0
    for d, i, s, _k, u in rows:
        a = max(latency_start_ns(i, s, u), w0)
        if d > a:
            occupied += d - a
    for f in inflight:
        i, s = f[0], f[1]
        u = f[2] if len(f) > 2 else -1
        a = max(latency_start_ns(i, s, u) if s else i, w0)
        if now > a:
            occupied += now - a
    done = len(rows) - unfinished
    burst = False
    batch_span = 0.0
    if rows and not inflight:
        # one batch: every user sent one request (closed), or all started together (open)
        starts = [r[1] for r in rows]
        users = [r[4] for r in rows]
        tol = max(50_000_000, int((delay_s or 0) * 0.25e9))
        if (model == "closed" and len(set(users)) == len(users) and len(rows) > 1) or (
                max(starts) - min(starts) <= tol):
            burst = True
            batch_span = (max(r[0] for r in rows) - min(starts)) / 1e9
    waves = None
    if delay_s and delay_s >= 0.005 and lat_ok:
        waves = max(1, round(max(lat_ok) / 1e9 / delay_s))
    return LoadStats(
        model=model,
        delay_s=delay_s,
        window_s=span / 1e9,
        w_done=done,
        w_ok=n_ok,
        w_errors=dict(w_err),
        w_unfinished=unfinished,
        w_rps=done / (span / 1e9),
        w_ok_rps=n_ok / (span / 1e9),
        w_avg_in_flight=occupied / span,
        w_mean_s=(sum(all_lat) / len(all_lat) / 1e9) if all_lat else 0.0,
        p50_s=pct(lat_ok, 50) / 1e9 if lat_ok else None,
        p95_s=pct(lat_ok, 95) / 1e9 if lat_ok else None,
        p99_s=pct(lat_ok, 99) / 1e9 if lat_ok else None,
        max_s=(lat_ok[-1] / 1e9) if lat_ok else None,
        service_max_s=(max(svc_ok) / 1e9) if svc_ok else 0.0,
        burst=burst,
        batch_span_s=batch_span,
        waves=waves,
        w_hist=hist,
        w_error_series=error_series(rows, w0, now),
        **server,
        **context,
    )
