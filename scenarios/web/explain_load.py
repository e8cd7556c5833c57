"""Plain-language captions for a live load test, computed from what was measured.

Nothing here knows what an endpoint's code looks like: the caption is derived from the
measurement (loop blocks and the line that held the loop, worker-thread jobs and the pool's
size, how long requests waited for a thread, latencies compared with the requested delay,
errors by kind). The endpoint's path is only the sentence's subject, so the same rules
explain a user's own app (``--app module:attr``).

* :class:`LoadStats`   -- the numbers (one immutable object per update)
* :func:`caption`      -- one or two sentences, e.g. "`/sync` is not blocking the loop:
  FastAPI runs `def` endpoints in a pool of 40 threads; 41 requests ran in 2 waves"
* :func:`littles_law`  -- "10 in flight ≈ 9.9 req/s × 1.01 s" (L = λ·W)
* :func:`text_summary` -- the headless summary (``coffeeshop-tui load``)

This module must not import textual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from coffeeshop_tui.scenarios.explain import fmt_s, plural, short_where

ANYIO_POOL = "anyio"
#: What FastAPI hands to the thread pool for a plain `def` endpoint (by FastAPI version).
SYNC_ENDPOINT_LABELS = frozenset({"_run_sync_endpoint", "run_endpoint_function"})
EXECUTOR_POOL = "default executor"


@dataclass(frozen=True)
class LoadStats:
    """What a load test measured, over a recent window (``window_s``) and cumulatively.

    Latencies are seconds to each request's last byte, from when it was sent (closed
    model) or from its intended start (open model, so client-side queueing cannot hide:
    :func:`~.loadgen.latency_start_ns`). Percentiles are of successes (None: there were
    none). ``w_`` fields cover the window: live, the last ``window_s`` seconds; in a
    report, the first request's start to the last answer. Cumulative counts add up:
    ``issued == ok + error_total + unfinished + dropped + in_flight``.
    """

    endpoint: str = ""
    url: str = ""
    model: str = "closed"
    delay_s: float | None = None  # the ?delay= asked of the endpoint (None: unknown)
    concurrency: int = 0  # closed model: virtual users
    rate: float = 0.0  # open model: arrivals per second
    elapsed_s: float = 0.0
    running: bool = False
    live: bool = False  # a live window (the last window_s seconds), not a final report's
    # cumulative (the whole run)
    issued: int = 0
    done: int = 0
    ok: int = 0
    error_total: int = 0  # failed answers (not the unfinished ones)
    errors: dict = field(default_factory=dict)  # kind -> count (only kinds that happened)
    unfinished: int = 0  # still in flight when a generator stopped (cancelled): not failures
    dropped: int = 0  # open model: arrivals the generator could not send on time (never sent)
    in_flight: int = 0  # client side, now (of this endpoint: since the last switch)
    earlier_in_flight: int = 0  # ... sent before the last switch (an earlier endpoint's), still out
    # the window
    window_s: float = 0.0
    w_done: int = 0
    w_ok: int = 0
    w_errors: dict = field(default_factory=dict)
    w_unfinished: int = 0
    w_rps: float = 0.0  # answers (successes and failures) per second: lambda in Little's law
    w_ok_rps: float = 0.0  # the throughput: successful answers per second
    w_avg_in_flight: float = 0.0  # time-average number in flight (L in Little's law)
    w_mean_s: float = 0.0  # mean latency of every request done in the window (W)
    p50_s: float | None = None  # OK requests only; None: no success in the window
    p95_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None
    service_max_s: float = 0.0  # sent -> done, OK requests
    burst: bool = False  # every request of the window started together (one batch)
    batch_span_s: float = 0.0  # burst: first start -> last done
    waves: int | None = None  # slowest request / delay, rounded (None without a delay)
    w_hist: tuple = ()  # successes per latency bucket (load_stats.HIST_EDGES_NS, log scale)
    w_error_series: dict = field(default_factory=dict)  # kind -> counts per slice of the window
    # the server (None / 0 when it is not ours to measure)
    recorded: bool = False  # the server's loop is recorded
    server_state: str = ""  # "up" | "down" | "starting" | "restarting" | "failed" | "stopped" | "external"
    server_pid: int | None = None
    server_in_flight: int | None = None
    pool_total: int | None = None  # anyio tokens (def endpoints, run_in_threadpool)
    pool_borrowed: int | None = None  # now
    pool_max_borrowed: int = 0  # the window
    executor_workers: int | None = None  # asyncio.to_thread's default executor
    w_blocks: int = 0
    w_blocked_s: float = 0.0
    w_busy_share: float = 0.0  # the loop held by any step (not idle), share of the window
    block_where: str = ""  # file:line that held the loop longest in the window
    block_culprit: str = ""  # the call on that line, e.g. "time.sleep"
    blocked_now_s: float = 0.0  # a step holding the loop right now, for this long
    blocked_now_earlier: bool = False  # ... that began before the last switch (not this endpoint's)
    blocked_now_kind: str = ""  # ... "after": a request's work after its response; "outlived": see block_kind
    # long steps in which the loop thread waited for the GIL (never counted as blocked)
    w_gil_s: float = 0.0
    gil_holder: str = ""  # the job label that burnt the most CPU meanwhile
    gil_threads: int = 0  # how many threads burnt CPU then (the most in one step)
    gil_loop_share: float = 0.0  # the share of that time the loop thread ran
    w_jobs: dict = field(default_factory=dict)  # pool -> jobs finished in the window
    w_threads: dict = field(default_factory=dict)  # pool -> distinct threads used in the window
    w_job_labels: dict = field(default_factory=dict)  # what ran in threads -> jobs (top 5)
    w_queue_max_s: float = 0.0  # longest wait for a worker thread (job submitted -> started)
    w_queued: int = 0  # jobs that waited for a thread longer than max(5 ms, delay / 4)
    # blocks of the endpoint's requests after their response (BackgroundTasks) and of tasks they
    # spawned that outlived them (load_match.block_phase): named as such, not as the handling
    w_after_s: float = 0.0
    after_requests: int = 0
    after_where: str = ""
    after_culprit: str = ""
    after_per_request_s: float = 0.0  # whole blocks of the requests whose such work began in the window
    w_outlived_s: float = 0.0
    outlived_requests: int = 0
    outlived_per_request_s: float = 0.0
    outlived_where: str = ""
    outlived_culprit: str = ""
    block_kind: str = ""  # "after" / "outlived": the block_where line was such work ("": handling)
    # a report's loop blocks outside its window (never in the endpoint's share)
    pre_blocked_s: float = 0.0  # before the first request (start-up, a lifespan)
    pre_block_culprit: str = ""
    post_blocked_s: float = 0.0  # after the last answer (background work)
    post_block_culprit: str = ""
    post_outlived_s: float = 0.0  # of post_blocked_s: tasks spawned by requests that had ended
    post_requests: int = 0  # the requests whose work (after the response, or outlived) that was
    post_block_where: str = ""
    timeout_s: float | None = None
    max_in_flight: int | None = None  # the server's 503 limit, if any

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- helpers
def fmt_latency(seconds: float | None) -> str:
    """A percentile: '—' when there was no successful answer to take it from."""
    return "—" if seconds is None else fmt_s(seconds)


def in_window(s: LoadStats) -> str:
    """' in the last 5 s' for a live window's counts ('' in a final report)."""
    return f" in the last {s.window_s:.0f} s" if s.live and s.window_s > 0 else ""


def errors_text(errors: dict) -> str:
    """{'timeout': 3, '503': 2} -> 'timeout 3, 503 2'."""
    return ", ".join(f"{k} {v}" for k, v in sorted(errors.items(), key=lambda kv: -kv[1]) if v)


def littles_law(s: LoadStats) -> str:
    """L = λ × W, both sides measured over the window."""
    if s.w_done == 0 or s.window_s <= 0:
        return f"{s.in_flight} in flight"
    lw = s.w_rps * s.w_mean_s
    steady = abs(lw - s.w_avg_in_flight) <= max(1.0, 0.25 * s.w_avg_in_flight)
    note = "" if steady else ": not steady yet (the load or the server changed in this window)"
    return (f"{s.w_avg_in_flight:.1f} in flight ≈ {s.w_rps:.1f} req/s × {fmt_s(s.w_mean_s)} "
            f"= {lw:.1f}  (Little's law{note})")


def _error_sentence(s: LoadStats) -> str:
    if not s.w_errors:
        return ""
    n_err = sum(s.w_errors.values())
    parts = [f"{n_err} of {s.w_done} requests failed{in_window(s)} ({errors_text(s.w_errors)})"]
    why = []
    if s.w_errors.get("timeout"):
        t = f" of {fmt_s(s.timeout_s)}" if s.timeout_s else ""
        why.append(f"timeouts: the answer took longer than the client's timeout{t}")
    if s.w_errors.get("503"):
        lim = f" of {s.max_in_flight}" if s.max_in_flight else ""
        why.append(f"503: the server's concurrency limit{lim} turned requests away")
    if s.w_errors.get("connect") or s.w_errors.get("disconnect"):
        why.append("refused / reset: the server is not answering" if s.server_state != "up"
                   else "refused / reset connections")
    if s.w_errors.get("4xx"):
        why.append("4xx: the server rejected the request (wrong path or parameter?)")
    if why:
        parts.append("; ".join(why))
    return ": ".join(parts)


def holder_name(label: str, subject: str) -> str:
    """The job that held the GIL, as a caption names it (FastAPI's wrapper: the endpoint's)."""
    if label in SYNC_ENDPOINT_LABELS:
        return f"{subject}'s `def` function"
    return f"`{label}`" if label else "worker threads"


def gil_sentence(s: LoadStats, subject: str) -> str:
    """'the loop waited 1.5 s for the GIL (31% of the time) while `report` held it in 10
    threads: the loop got it 8% of that time', or "" (none; never on a free-threaded build)."""
    if not s.recorded or s.w_gil_s <= 0 or s.window_s <= 0:
        return ""
    share = min(1.0, s.w_gil_s / s.window_s)
    if share < 0.05:
        return ""
    who = holder_name(s.gil_holder, subject)
    n = f" in {plural(s.gil_threads, 'thread')}" if s.gil_threads else ""
    return (f"the loop waited {fmt_s(s.w_gil_s)} for the GIL ({share:.0%} of the time){in_window(s)} "
            f"while {who} held it{n}: the loop got it {s.gil_loop_share:.0%} of that time "
            f"(CPU work in threads, not a blocking line)")


def _pool_sentence(s: LoadStats) -> str:
    pools = [p for p, n in s.w_jobs.items() if n]
    out = []
    if ANYIO_POOL in pools:
        size = s.pool_total if s.pool_total else "?"
        others = [k for k in s.w_job_labels if k not in SYNC_ENDPOINT_LABELS]
        if s.w_job_labels and not others:
            out.append(f"FastAPI runs `def` endpoints in a pool of {size} threads")
        else:
            what = f"`{others[0]}`" if others else "blocking calls"
            out.append(f"run_in_threadpool runs {what} in anyio's pool of {size} threads "
                       f"(the pool `def` endpoints use)")
    if EXECUTOR_POOL in pools:
        w = s.executor_workers or s.w_threads.get(EXECUTOR_POOL) or "?"
        extra = f", not anyio's {s.pool_total}" if s.pool_total else ""
        out.append(f"asyncio.to_thread runs in the loop's default executor of {w} threads{extra}")
    for p in pools:
        if p not in (ANYIO_POOL, EXECUTOR_POOL):
            out.append(f"jobs run in a {p} pool ({plural(s.w_threads.get(p, 0), 'thread')})")
    return "; ".join(out)


def _waves_text(s: LoadStats) -> str:
    """'41 requests ran in 2 waves' (one batch) or 'with 41 in flight, 2 waves' (steady load)."""
    if s.waves is None:
        return ""
    if s.burst:
        return f"{plural(s.w_done, 'request')} ran in {plural(s.waves, 'wave')}{in_window(s)}"
    who = f"{s.concurrency} users" if s.model == "closed" else f"{s.rate:g} req/s"
    return (f"with {who}, requests ran in {plural(s.waves, 'wave')}{in_window(s)} "
            f"(slowest {fmt_latency(s.max_s)})")


def thread_wait_text(s: LoadStats) -> str:
    """'all 40 threads were busy: 3 requests waited up to 0.9 s for a free thread' only when
    the borrowed tokens reached the pool's size in the window; otherwise the wait is named
    for what it was: waiting for a thread to start."""
    anyio = ANYIO_POOL in s.w_jobs
    size = s.pool_total if anyio else s.executor_workers
    n = f"{plural(s.w_queued, 'request')} waited{in_window(s)} up to {fmt_s(s.w_queue_max_s)}"
    if anyio and size and s.pool_max_borrowed >= size:
        return f"all {size} threads were busy: {n} for a free thread"
    if not anyio and size and s.w_threads.get(EXECUTOR_POOL, 0) >= size:
        return f"all {size} threads were busy: {n} for a free thread"
    return f"{n} for a thread to start"


def later_work_text(s: LoadStats, subject: str) -> str:
    """The requests' work after their response (``BackgroundTasks``) and that of tasks they
    spawned which outlived them, per request (:func:`~.load_match.block_phase`), named as such."""
    if not s.recorded:
        return ""
    out = []
    for kind, what in (("after", "background work after the response"),
                       ("outlived", f"tasks spawned by {subject} that outlived their requests")):
        per, n = getattr(s, f"{kind}_per_request_s"), getattr(s, f"{kind}_requests")
        if per <= 0 or not n:
            continue
        cul, where = getattr(s, f"{kind}_culprit"), getattr(s, f"{kind}_where")
        at = ", ".join(x for x in (cul, short_where(where) if where else "") if x)
        text = f"{what} blocked the loop {fmt_s(per)} per request{in_window(s)}" + (f" ({at})" if at else "")
        if kind == "outlived":
            text += ": not the requests' own handling"
        out.append(text)
    return "; ".join(out)


def _outside_text(s: LoadStats) -> str:
    """A report's blocks outside its window, named as such (never in the endpoint's share)."""
    out = []
    if s.pre_blocked_s > 0:
        cul = f" ({s.pre_block_culprit})" if s.pre_block_culprit else ""
        out.append(f"before the first request, the server's start-up held the loop for "
                   f"{fmt_s(s.pre_blocked_s)}{cul} (not counted above)")
    if s.post_blocked_s > 0:
        at = ", ".join(x for x in (s.post_block_culprit, short_where(s.post_block_where)
                                   if s.post_block_where else "") if x)
        what = ("tasks the requests spawned, which outlived them," if s.post_outlived_s * 2 > s.post_blocked_s
                else "background work")
        per = (f", {fmt_s(s.post_blocked_s / s.post_requests)} per request of {s.post_requests}"
               if s.post_requests > 1 else "")
        out.append(f"after the last answer, {what} held the loop for "
                   f"{fmt_s(s.post_blocked_s)}{per}" + (f" ({at})" if at else "") + " (not counted above)")
    return "; ".join(out)


# ----------------------------------------------------------------------------- caption
def caption(s: LoadStats) -> str:
    """One or two sentences on what the measurement shows (see the module docstring)."""
    subject = f"`{s.endpoint}`" if s.endpoint else "the endpoint"
    if s.server_state == "failed":
        return "the server did not start (see the message); fix it and press r to retry"
    if s.server_state == "down":
        return ("the server is down: the load is paused (every request would fail: connection "
                "refused); press r to restart the server on the same port and resume the load")
    if s.blocked_now_s and s.blocked_now_s >= 0.05:
        where = f" at {short_where(s.block_where)}" if s.block_where else ""
        who = "a request sent before the switch" if s.blocked_now_earlier else {
            "after": f"{subject}'s background work after the response",
            "outlived": f"a task spawned by {subject}, which outlived its request"}.get(s.blocked_now_kind, subject)
        return (f"{who} is blocking the event loop right now: {s.block_culprit or 'one step'}{where} "
                f"has held it for {fmt_s(s.blocked_now_s)}; every other request waits")
    if s.w_done == 0:
        earlier = (f"; {plural(s.earlier_in_flight, 'request')} sent before the switch "
                   f"{'is' if s.earlier_in_flight == 1 else 'are'} still in flight" if s.earlier_in_flight else "")
        if s.in_flight:
            return f"{subject}: {plural(s.in_flight, 'request')} in flight, no answer yet{earlier}"
        if earlier:
            return f"{subject}: no request sent yet{earlier}"
        return "starting..." if s.running or s.server_state in ("starting", "") else "no requests yet"

    sentences: list[str] = []
    d = s.delay_s if s.delay_s and s.delay_s > 0 else None
    waves = _waves_text(s)
    share = min(1.0, s.w_blocked_s / s.window_s) if s.window_s > 0 else 0.0

    if s.recorded and s.w_blocks and (share >= 0.2 or (d and s.w_blocked_s >= 0.5 * d)):
        cul = s.block_culprit or "a long step"
        where = f" ({short_where(s.block_where)})" if s.block_where else ""
        how = {"after": " after answering (work of its requests after their response)",
               "outlived": " through tasks its requests spawned and left behind"}.get(s.block_kind, "")
        head = (f"{subject} blocks the event loop{how}: {cul}{where} held it {share:.0%} of the time"
                f"{in_window(s)}, so requests ran one at a time")
        if s.burst and d:
            head += f": {plural(s.w_done, 'request')} took {fmt_s(s.batch_span_s)} ≈ {s.w_done} × {fmt_s(d)}"
        elif s.waves and d:
            head += f": each waited ≈ {s.waves} × {fmt_s(d)} (p50 {fmt_latency(s.p50_s)})"
        sentences.append(head)
    elif s.recorded and any(s.w_jobs.values()):
        pools = _pool_sentence(s)
        head = f"{subject} is not blocking the loop: {pools}"
        threshold = max(0.005, (d or 0) / 4)
        if s.w_queued and s.w_queue_max_s > threshold:
            head += f"; {thread_wait_text(s)}"
        if waves:
            head += f"; {waves}"
        sentences.append(head)
    elif s.recorded and s.w_busy_share >= 0.8:
        sentences.append(f"{subject}: the event loop is saturated (busy {s.w_busy_share:.0%} of the "
                         f"time{in_window(s)}): {s.w_ok_rps:.0f} req/s is about what one loop can serve here (the client shares "
                         f"this machine's CPUs)")
    elif d and s.w_ok and s.p50_s is not None:
        k = s.p50_s / d
        if k < 1.5:
            loop = "without holding the loop" if s.recorded else "concurrently"
            head = (f"{subject} waits {loop}: {plural(s.w_ok, 'request')} overlapped{in_window(s)}, "
                    f"each took ≈ {fmt_s(s.p50_s)} for a {fmt_s(d)} delay")
            if s.burst and s.waves == 1:
                head += f"; {waves}"
            sentences.append(head)
        elif waves:
            sentences.append(f"{subject}: {waves}, p50 {fmt_latency(s.p50_s)} for a {fmt_s(d)} delay")
    if not sentences and s.w_ok == 0:
        sentences.append(f"{subject}: no successful answer{in_window(s) or ' in the run'}")
    if not sentences:
        sentences.append(f"{subject}: p50 {fmt_latency(s.p50_s)}, p99 {fmt_latency(s.p99_s)} at "
                         f"{s.w_ok_rps:.1f} req/s with {s.in_flight} in flight")
    if not s.recorded:
        sentences[-1] += " (measured from the client only: that server's loop is not recorded)"
    later = later_work_text(s, subject)
    if later:
        sentences.append(later)
    gil = gil_sentence(s, subject)
    if gil:
        sentences.append(gil)
    err = _error_sentence(s)
    if err:
        sentences.append(err)
    if s.dropped:
        sentences.append(f"the load generator could not send {plural(s.dropped, 'request')} on "
                         f"time (dropped, never sent: it fell behind the schedule, or too many "
                         f"requests were already waiting for an answer)")
    outside = _outside_text(s)
    if outside:
        sentences.append(outside)
    return ". ".join(sentences)


# ----------------------------------------------------------------------------- headless text
def text_summary(report: dict) -> str:
    """The `coffeeshop-tui load` summary, from LoadTest.report()."""
    s = report["stats"]
    lines = []
    target = report.get("url", "")
    how = (f"{s['concurrency']} concurrent" if s["model"] == "closed" else f"{s['rate']:g} req/s")
    lines.append(f"target     {target}  ({how})")
    lines.append(f"requests   {s['issued']} issued: {s['ok']} ok, {s['error_total']} failed"
                 + (f" ({errors_text(s['errors'])})" if s["errors"] else "")
                 + f", {s['unfinished']} unfinished, {s['dropped']} dropped, {s['in_flight']} in flight")
    lines.append(f"time       {fmt_s(s['window_s'])} from the first request sent to the last answer")
    lines.append(f"latency    p50 {fmt_latency(s['p50_s'])}  p95 {fmt_latency(s['p95_s'])}  "
                 f"p99 {fmt_latency(s['p99_s'])}  max {fmt_latency(s['max_s'])}"
                 + ("" if s["w_ok"] else "  (no successful answer)"))
    errs = sum(s["w_errors"].values())
    lines.append(f"throughput {s['w_ok_rps']:.2f} req/s ok" + (f", errors {errs / s['window_s']:.2f}/s"
                                                               if errs and s["window_s"] else "")
                 + f"; {littles_law(LoadStats(**s))}")
    server = report.get("server") or {}
    if server.get("recorded"):
        pool = server.get("pool") or {}
        lines.append(f"server     loop blocked {fmt_s(s['w_blocked_s'])} in {plural(s['w_blocks'], 'block')}"
                     + (f", mostly at {short_where(s['block_where'])} ({s['block_culprit']})"
                        if s["block_where"] else ""))
        later = later_work_text(LoadStats(**s), "the endpoint")
        if later:
            lines.append(f"server     {later}")
        if s.get("w_gil_s"):
            endpoint = f"`{s['endpoint']}`" if s.get("endpoint") else "the endpoint"
            lines.append(f"server     loop waited {fmt_s(s['w_gil_s'])} for the GIL (got it "
                         f"{s['gil_loop_share']:.0%} of that time) while "
                         f"{holder_name(s['gil_holder'], endpoint)} "
                         f"ran in {plural(s['gil_threads'], 'thread')}")
        lines.append(f"pool       anyio {pool.get('max_borrowed', 0)}/{pool.get('anyio_tokens', '?')} "
                     f"threads busy at most; default executor {pool.get('default_executor_workers', '?')} "
                     f"workers; jobs " + (", ".join(f"{k} {v}" for k, v in (pool.get("jobs") or {}).items())
                                          or "none"))
    if server.get("error"):
        lines.append(f"server     {server['error'].splitlines()[0]}")
    lines.append("")
    lines.append(report.get("caption", ""))
    return "\n".join(lines)
