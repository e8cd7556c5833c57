"""An asyncio HTTP load generator that records every request.

    lg = LoadGenerator("http://127.0.0.1:8000/async?delay=0.1", concurrency=10, duration=5)
    final = asyncio.run(lg.run())                  # or: fut = lg.start_in_thread()
    print(final.rps, final.latency.p99_ms, dict(final.errors))

Models
  * closed (default): ``concurrency`` virtual users, each sends a request, waits for the answer,
    sends the next. ``set_concurrency(n)`` adds or retires users live (a retired user finishes
    its current request first).
  * open: ``rate`` arrivals per second on a fixed schedule, whatever the server does;
    ``set_rate(r)`` changes it live. Latency is measured from each request's INTENDED start
    time, so a slow server cannot hide its queueing (no coordinated omission).

A run ends after ``requests`` requests, after ``duration`` seconds, or on ``stop()``; requests
still in flight then get ``drain_timeout`` seconds to finish and are cancelled after that.

Every request is recorded with ``time.monotonic_ns()`` timestamps (CLOCK_MONOTONIC, the same
clock as the server child, so they compare across processes): intended, sent, first byte
(response headers), done, plus status, error kind, and its id ``rNNNNNN`` sent in the
``x-request-id`` header. Records live in a bounded ring (``record_capacity``); consumers read
them incrementally with :meth:`LoadGenerator.records_since`. Statistics (HDR histograms, per
interval and cumulative; requests/s over time; errors by kind) come from
:meth:`LoadGenerator.snapshot`. Both are safe to call from another thread.

Backends (``client=``): ``"aiohttp"`` (default: the fastest, ~wrk speed), ``"httpx-aiohttp"``
(the httpx API over httpx_aiohttp.AiohttpTransport) and ``"httpx"`` (plain httpx; slow).

Only loopback targets are allowed unless ``allow_remote=True``.

What it records and reports (error kinds, request records, the record ring, statistics and
the immutable :class:`~.loadgen_records.ClientSnapshot`) lives in :mod:`.loadgen_records`.
Why this module is still ~820 lines: it is one object (the generator) whose load models,
HTTP clients and accounting share its private state under one lock and one event loop;
split further, they would have to expose that state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
import time
from collections import deque
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import urlsplit

import aiohttp
import httpx
from hdrh.histogram import HdrHistogram

from coffeeshop_tui.scenarios.web.loadgen_records import (
    CANCELLED,
    CONNECT,
    ClientSnapshot,
    DISCONNECT,
    InFlight,
    IntervalStats,
    KIND_NAMES,
    LatencySummary,
    OK,
    RecordBatch,
    _Ring,
    _hist_value,
    _new_hist,
    classify_exception,
    classify_status,
    latency_start_ns,
)
from coffeeshop_tui.scenarios.web.server import is_loopback_host

monotonic_ns = time.monotonic_ns

CLIENTS = ("aiohttp", "httpx-aiohttp", "httpx")

_BURST = 32  # open model: sends in a row before the arrival loop yields to the event loop

class RemoteTargetError(ValueError):
    """The target is not a loopback address and allow_remote was not set."""

def check_target(url: str, allow_remote: bool = False) -> str:
    """Validate the URL; only loopback hosts unless allow_remote. Returns the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"target must be an http(s) URL with a host, got {url!r}")
    if not allow_remote and not is_loopback_host(parts.hostname):
        raise RemoteTargetError(
            f"refusing to load-test {parts.hostname!r}: only loopback targets (127.0.0.1, ::1, "
            f"localhost) are allowed unless allow_remote=True"
        )
    return url

class _Req:
    __slots__ = ("rid", "user", "intended", "sent", "target")

    def __init__(self, rid: int, user: int, intended: int) -> None:
        self.rid = rid
        self.user = user
        self.intended = intended
        self.sent = 0
        self.target = -1  # index into the targets once its send began (-1: not yet)

class _User:
    __slots__ = ("uid", "task", "retired")

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.task: asyncio.Task | None = None
        self.retired = False


class _StampingConnector(aiohttp.TCPConnector):
    """A TCPConnector that stamps ``sent`` when a request gets its connection.

    That moment is right before the request is written, so time spent queued for a pooled
    connection (open model, ``connections`` limit) shows up as intended -> sent. Much cheaper
    than an aiohttp TraceConfig. The request is found through its x-request-id header.
    """

    def __init__(self, inflight: dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lg_inflight = inflight

    async def connect(self, req, traces, timeout):  # type: ignore[override]
        conn = await super().connect(req, traces, timeout)
        rid = req.headers.get("x-request-id")
        if rid:
            try:
                r = self._lg_inflight.get(int(rid[1:]))
            except ValueError:
                r = None
            if r is not None:
                r.sent = monotonic_ns()
        return conn


# ---- the generator ----------------------------------------------------------------------------
class LoadGenerator:
    """Closed- or open-model HTTP load with per-request records. See the module docstring.

    Args:
        url: target URL (GET). Loopback only unless allow_remote.
        model: "closed" (users) or "open" (arrival rate).
        concurrency: closed model: number of virtual users at start.
        rate: open model: arrivals per second at start.
        requests: stop issuing after this many requests (None = no limit).
        duration: stop issuing after this many seconds (None = no limit).
        timeout: per-request timeout, seconds (aiohttp: total; httpx: each phase).
        client: "aiohttp" | "httpx-aiohttp" | "httpx".
        connections: max TCP connections (default: unlimited for closed, 100 for open).
        think_time: closed model: pause of each user between requests, seconds.
        error_backoff: closed model: pause after a connect/disconnect error, seconds.
        drain_timeout: seconds in-flight requests may still finish after the run ends (with
            ``duration``: after the deadline, however late the loop noticed it); those still
            out then are cancelled (kind "cancelled").
        max_outstanding: open model: cap on requests in flight (arrivals beyond are counted
            in dropped_arrivals, not sent) -- keeps memory bounded against a dead server.
        max_lag: open model: an arrival the generator could not send within this many
            seconds of its due time is dropped (counted in dropped_arrivals), not sent late.
        interval: length of a statistics interval, seconds.
        keep_intervals: how many past intervals a snapshot carries.
        record_capacity: ring size for per-request records.
        precise_sent: aiohttp: take sent_ns when the request gets its pooled connection
            (right before it is written), so client-side queueing shows up as intended -> sent.
            Otherwise sent_ns is when the request is handed to the client.
        headers: extra request headers.
        full_headers: aiohttp: also send aiohttp's default User-Agent, Accept and
            Accept-Encoding headers (by default only Host and x-request-id, like wrk).
        allow_remote: allow non-loopback targets.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str = "closed",
        concurrency: int = 1,
        rate: float = 10.0,
        requests: int | None = None,
        duration: float | None = None,
        timeout: float = 30.0,
        client: str = "aiohttp",
        connections: int | None = None,
        think_time: float = 0.0,
        error_backoff: float = 0.0,
        drain_timeout: float = 5.0,
        max_outstanding: int = 10_000,
        max_lag: float = 0.5,
        interval: float = 1.0,
        keep_intervals: int = 3600,
        record_capacity: int = 200_000,
        precise_sent: bool = True,
        headers: Mapping[str, str] | None = None,
        full_headers: bool = False,
        allow_remote: bool = False,
    ) -> None:
        if model not in ("closed", "open"):
            raise ValueError(f"model must be 'closed' or 'open', got {model!r}")
        if client not in CLIENTS:
            raise ValueError(f"client must be one of {CLIENTS}, got {client!r}")
        if concurrency < 0 or rate < 0:
            raise ValueError("concurrency and rate must be >= 0")
        if requests is not None and requests < 0:
            raise ValueError("requests must be >= 0")
        if interval <= 0 or record_capacity <= 0:
            raise ValueError("interval and record_capacity must be > 0")
        self.allow_remote = allow_remote
        self._url = check_target(url, allow_remote)
        self._targets: list[str] = [self._url]
        self.model = model
        self.client = client
        self.timeout = timeout
        self.requests = requests
        self.duration = duration
        self.connections = connections
        self.think_time = think_time
        self.error_backoff = error_backoff
        self.drain_timeout = drain_timeout
        self.max_outstanding = max_outstanding
        self.max_lag = max_lag
        self._deadline_ns = 0
        self.interval = interval
        self.precise_sent = precise_sent
        self.extra_headers = dict(headers or {})
        self.full_headers = full_headers

        self._target_users = int(concurrency)
        self._rate = float(rate)
        self._rate_changed = False

        self._lock = threading.Lock()
        self._ring = _Ring(record_capacity)
        self._intervals: deque[IntervalStats] = deque(maxlen=keep_intervals)
        self._lat_i = _new_hist()
        self._svc_i = _new_hist()
        self._lat_c = _new_hist()
        self._svc_c = _new_hist()
        self._lat_summary = LatencySummary()
        self._svc_summary = LatencySummary()
        self._lat_sum_i = self._svc_sum_i = 0  # exact sums (ns) for the means
        self._lat_sum_c = self._svc_sum_c = 0

        self._issued = 0
        self._done = 0
        self._ok = 0
        self._errors = [0] * len(KIND_NAMES)
        self._echo_bad = 0
        self._dropped_arrivals = 0
        self._i_done = 0
        self._i_ok = 0
        self._i_errors = [0] * len(KIND_NAMES)
        self._i_index = 0
        self._i_start_ns = 0

        self._inflight: dict[int, _Req] = {}
        self._users: list[_User] = []
        self._outstanding: set[asyncio.Task] = set()

        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._started_ns = 0
        self._ended_ns = 0
        self._running = False
        self._finished = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._rate_event: asyncio.Event | None = None
        self._send: Callable[[_Req], Awaitable[int]] | None = None

    # ---- public control (thread-safe) ---------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def targets(self) -> tuple[str, ...]:
        """Every URL used so far; RequestRecord.target indexes this."""
        return tuple(self._targets)

    def set_concurrency(self, n: int) -> None:
        """Closed model: change the number of virtual users, live."""
        if n < 0:
            raise ValueError("concurrency must be >= 0")
        self._call(self._apply_concurrency, int(n))

    def set_rate(self, rate: float) -> None:
        """Open model: change the arrival rate (requests/s), live. 0 pauses arrivals."""
        if rate < 0 or not math.isfinite(rate):
            raise ValueError("rate must be a finite number >= 0")
        self._call(self._apply_rate, float(rate))

    def set_target(self, url: str) -> None:
        """Send the next requests to another URL (same loopback rule)."""
        check_target(url, self.allow_remote)
        self._call(self._apply_target, url)

    def stop(self) -> None:
        """Stop issuing; in-flight requests get drain_timeout to finish. run() then returns."""
        self._call(self._begin_stop)

    # ---- public reading (thread-safe) ---------------------------------------------------------
    def records_since(self, cursor: int = 0, limit: int | None = None) -> RecordBatch:
        """Finished requests from `cursor` on (completion order). Use batch.cursor next time."""
        return self._ring.since(self._lock, cursor, limit)

    def latency_histogram(self) -> HdrHistogram:
        """A copy of the cumulative HDR histogram of successful latencies (microseconds, from
        :func:`latency_start_ns`), as of the last closed interval (exact once finished)."""
        out = _new_hist()
        with self._lock:
            src = self._lat_c
        out.add(src)
        return out

    def in_flight_requests(self) -> tuple[InFlight, ...]:
        """Requests sent (or queued in the client) and not finished yet."""
        with self._lock:
            reqs = list(self._inflight.values())
        return tuple(InFlight(r.rid, r.user, r.intended, r.sent, r.target) for r in reqs)

    def snapshot(self) -> ClientSnapshot:
        with self._lock:
            now = self._ended_ns or monotonic_ns()
            elapsed = (now - self._started_ns) / 1e9 if self._started_ns else 0.0
            errors = {KIND_NAMES[k]: self._errors[k] for k in range(1, len(KIND_NAMES))}
            intervals = tuple(self._intervals)
            return ClientSnapshot(
                model=self.model,
                url=self._url,
                targets=tuple(self._targets),
                client=self.client,
                running=self._running,
                finished=self._finished,
                started_ns=self._started_ns,
                elapsed_s=elapsed,
                concurrency=self._target_users,
                active_users=len(self._users),
                rate=self._rate,
                issued=self._issued,
                done=self._done,
                in_flight=len(self._inflight),
                ok=self._ok,
                errors=MappingProxyType(errors),
                error_total=self._done - self._ok,
                echo_mismatches=self._echo_bad,
                dropped_arrivals=self._dropped_arrivals,
                records_overwritten=max(0, self._ring.count - self._ring.cap),
                rps=self._done / elapsed if elapsed > 0 else 0.0,
                latency=self._lat_summary,
                service=self._svc_summary,
                last_interval=intervals[-1] if intervals else None,
                intervals=intervals,
            )

    # ---- running ------------------------------------------------------------------------------
    def start_in_thread(self, name: str = "loadgen") -> "concurrent.futures.Future[ClientSnapshot]":
        """Run on a new event loop in a daemon thread; the future resolves to the final ClientSnapshot."""
        fut: concurrent.futures.Future[ClientSnapshot] = concurrent.futures.Future()

        def target() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(asyncio.run(self.run()))
            except BaseException as exc:  # noqa: BLE001 - hand everything to the future
                fut.set_exception(exc)

        threading.Thread(target=target, name=name, daemon=True).start()
        return fut

    async def run(self) -> ClientSnapshot:
        """Generate load until the request budget, the duration, or stop(). Returns the final snapshot."""
        if self._loop is not None:
            raise RuntimeError("a LoadGenerator runs once; create a new one")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._rate_event = asyncio.Event()
        closer = await self._open_client()
        ticker: asyncio.Task | None = None
        arrivals: asyncio.Task | None = None
        deadline: asyncio.TimerHandle | None = None
        try:
            with self._lock:
                self._started_ns = monotonic_ns()
                self._i_start_ns = self._started_ns
                self._running = True
                if self.duration is not None:
                    self._deadline_ns = self._started_ns + int(max(0.0, self.duration) * 1e9)
            ticker = loop.create_task(self._tick())
            if self.duration is not None:
                deadline = loop.call_later(max(0.0, self.duration), self._begin_stop)
            if self.model == "closed":
                self._apply_concurrency(self._target_users)
            else:
                arrivals = loop.create_task(self._arrivals())
            if self.requests == 0:
                self._begin_stop()
            while not self._stopping:
                await self._wake.wait()
                self._wake.clear()
                if self._budget_left() == 0 and not self._inflight and not self._outstanding:
                    self._stopping = True
            await self._drain(arrivals)
        finally:
            if deadline is not None:
                deadline.cancel()
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            self._stopping = True
            await self._drain(arrivals, timeout=0)
            with self._lock:
                self._ended_ns = monotonic_ns()
                self._running = False
            self._rotate(final=True)
            with self._lock:
                self._finished = True
            await closer()
        return self.snapshot()

    # ---- internals: control -------------------------------------------------------------------
    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or self._loop_thread == threading.get_ident() or loop.is_closed():
            fn(*args)
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile: the run is over
            fn(*args)

    def _begin_stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._rate_event is not None:
            self._rate_event.set()

    def _apply_target(self, url: str) -> None:
        if url not in self._targets:
            if len(self._targets) >= 65535:
                raise ValueError("too many distinct targets")
            self._targets.append(url)
        self._target_idx = self._targets.index(url)
        self._url = url
        self._yurl = _yarl_url(url)

    def _apply_rate(self, rate: float) -> None:
        with self._lock:
            self._rate = rate
        self._rate_changed = True
        if self._rate_event is not None:
            self._rate_event.set()

    def _apply_concurrency(self, n: int) -> None:
        with self._lock:
            self._target_users = n
        if not self._running or self._stopping or self.model != "closed":
            return
        active = [u for u in self._users if not u.retired]
        if len(active) < n:
            used = {u.uid for u in self._users}
            uid = 0
            for _ in range(n - len(active)):
                while uid in used:
                    uid += 1
                used.add(uid)
                user = _User(uid)
                user.task = self._loop.create_task(self._user_loop(user))
                with self._lock:
                    self._users.append(user)
        else:
            for user in active[n:]:
                user.retired = True

    def _budget_left(self) -> int | None:
        if self.requests is None:
            return None
        return self.requests - self._issued

    def _issue(self, user: int, intended: int) -> _Req | None:
        """The next request, counted as issued AND in flight in one step under the lock, so
        a snapshot always sees ``issued == done + dropped + in_flight``; None when the run
        stops issuing (stop(), the request budget, the duration)."""
        if self._stopping:
            return None
        if self._deadline_ns and monotonic_ns() >= self._deadline_ns:
            self._begin_stop()  # on time even if the loop was too busy for its timer
            return None
        if self.requests is not None and self._issued >= self.requests:
            if self._wake is not None:
                self._wake.set()
            return None
        with self._lock:
            self._issued += 1
            req = _Req(self._issued, user, intended)
            self._inflight[req.rid] = req
            return req

    def _drop(self, n: int) -> int:
        """Count up to ``n`` arrivals as issued and dropped (not sent: the generator could not
        send them on time, or max_outstanding was reached). Returns how many."""
        if self.requests is not None:
            n = min(n, self.requests - self._issued)
        if n <= 0:
            return 0
        with self._lock:
            self._issued += n
            self._dropped_arrivals += n
        return n

    # ---- internals: load models ---------------------------------------------------------------
    async def _user_loop(self, user: _User) -> None:
        send = self._send
        try:
            while not user.retired:
                req = self._issue(user.uid, monotonic_ns())
                if req is None:
                    break
                kind = await send(req)
                if user.retired or self._stopping:
                    break
                if kind in (CONNECT, DISCONNECT) and self.error_backoff > 0:
                    await asyncio.sleep(self.error_backoff)
                elif self.think_time > 0:
                    await asyncio.sleep(self.think_time)
        finally:
            with self._lock:
                try:
                    self._users.remove(user)
                except ValueError:
                    pass
            self._wake.set()

    async def _arrivals(self) -> None:
        """Arrival k is due at base + k / rate. Due arrivals are sent stamped with their
        INTENDED time; the loop yields every ``_BURST`` sends (so its own timers, the
        responses and stop() get their turn: the generator never starves its own loop), and
        arrivals it could not send within ``max_lag`` of their due time are counted as
        dropped, not sent late forever (at 20,000/s a Python client falls behind)."""
        loop = self._loop
        send = self._send
        base = monotonic_ns()  # schedule: arrival k is due at base + k / rate
        k = 0
        rate = self._rate
        max_lag = int(self.max_lag * 1e9)
        burst = 0
        while not self._stopping:
            if self._rate_changed:
                self._rate_changed = False
                if rate > 0 and k > 0:  # continue from the last arrival, at the new rate
                    base += int((k - 1) * 1e9 / rate)
                    k = 1
                else:
                    base, k = monotonic_ns(), 0
                rate = self._rate
            if rate <= 0:
                self._rate_event.clear()
                if not self._rate_changed and not self._stopping:
                    await self._rate_event.wait()
                continue
            intended = base + int(k * 1e9 / rate)
            now = monotonic_ns()
            if intended > now:
                burst = 0
                # short sleeps, so a rate change or stop() is seen within 0.1 s
                await asyncio.sleep(min((intended - now) / 1e9, 0.1))
                continue
            if self._deadline_ns and intended >= self._deadline_ns:
                self._begin_stop()
                break
            if now - intended > max_lag:  # too late to send on time: dropped, in one step
                k_ok = math.ceil((now - max_lag - base) * rate / 1e9)
                if self._deadline_ns:  # never past the end of the run
                    k_ok = min(k_ok, math.ceil((self._deadline_ns - base) * rate / 1e9))
                n = self._drop(max(1, k_ok - k))
                if n == 0:  # the request budget is spent
                    self._begin_stop()
                    break
                k += n
                continue
            if len(self._outstanding) >= self.max_outstanding:
                if not self._drop(1):
                    self._begin_stop()
                    break
                k += 1
                continue
            # due (or a little overdue, if the loop lagged): send it, stamped with its INTENDED time
            req = self._issue(-1, intended)
            if req is None:
                break
            k += 1
            task = loop.create_task(send(req))
            self._outstanding.add(task)
            task.add_done_callback(self._task_done)
            burst += 1
            if burst >= _BURST:
                burst = 0
                await asyncio.sleep(0)

    def _task_done(self, task: asyncio.Task) -> None:
        self._outstanding.discard(task)
        if not self._outstanding:
            self._wake.set()

    async def _drain(self, arrivals: asyncio.Task | None, timeout: float | None = None) -> None:
        if arrivals is not None and not arrivals.done():
            arrivals.cancel()
            await asyncio.gather(arrivals, return_exceptions=True)
        tasks = [u.task for u in list(self._users) if u.task is not None] + list(self._outstanding)
        if not tasks:
            self._forget_unsent()
            return
        wait_s = self.drain_timeout if timeout is None else timeout
        if timeout is None and self._deadline_ns and self.requests is None:
            # a duration run ends on time: the drain ends drain_timeout after the deadline,
            # also when a saturated loop noticed the deadline late
            wait_s = max(0.0, min(wait_s, (self._deadline_ns - monotonic_ns()) / 1e9 + wait_s))
        if wait_s > 0:
            _, pending = await asyncio.wait(tasks, timeout=wait_s)
        else:
            pending = [t for t in tasks if not t.done()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._forget_unsent()

    def _forget_unsent(self) -> None:
        """Requests issued whose task was cancelled before it ran: recorded as cancelled."""
        with self._lock:
            left = list(self._inflight.values())
        for req in left:
            self._record(req, 0, 0, CANCELLED, False)

    # ---- internals: HTTP clients --------------------------------------------------------------
    async def _open_client(self) -> Callable[[], Awaitable[None]]:
        limit = self.connections
        if limit is None:
            limit = 0 if self.model == "closed" else 100
        self._yurl = _yarl_url(self._url)
        self._target_idx = self._targets.index(self._url)
        if self.client == "aiohttp":
            if self.precise_sent:
                connector = _StampingConnector(self._inflight, limit=limit, ttl_dns_cache=300)
            else:
                connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                auto_decompress=False,
                # send a minimal request, like wrk: Host + x-request-id (less to parse for h11)
                skip_auto_headers=() if self.full_headers else ("User-Agent", "Accept", "Accept-Encoding"),
            )
            self._send = self._make_aiohttp_send(session)
            return session.close
        limits = httpx.Limits(max_connections=limit or None, max_keepalive_connections=limit or None)
        if self.client == "httpx-aiohttp":
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits)
            client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(self.timeout))
        else:
            client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(self.timeout))
        self._send = self._make_httpx_send(client)
        return client.aclose

    def _make_aiohttp_send(self, session: aiohttp.ClientSession) -> Callable[[_Req], Awaitable[int]]:
        extra = self.extra_headers
        precise = self.precise_sent
        record = self._record

        async def send(req: _Req) -> int:
            rid_s = f"r{req.rid:06d}"
            headers = {**extra, "x-request-id": rid_s} if extra else {"x-request-id": rid_s}
            status = first = 0
            echoed = False
            kind = OK
            if not precise:
                req.sent = monotonic_ns()
            req.target = self._target_idx
            try:
                async with session.get(self._yurl, headers=headers) as resp:
                    first = monotonic_ns()
                    await resp.read()
                    status = resp.status
                    echoed = resp.headers.get("x-request-id") == rid_s
                kind = classify_status(status)
            except asyncio.CancelledError:
                kind = CANCELLED
                record(req, first, status, kind, echoed)
                raise
            except BaseException as exc:  # noqa: BLE001 - a load run never crashes on a request
                kind = classify_exception(exc)
            record(req, first, status, kind, echoed)
            return kind

        return send

    def _make_httpx_send(self, client: httpx.AsyncClient) -> Callable[[_Req], Awaitable[int]]:
        extra = self.extra_headers
        record = self._record

        async def send(req: _Req) -> int:
            rid_s = f"r{req.rid:06d}"
            headers = {**extra, "x-request-id": rid_s} if extra else {"x-request-id": rid_s}
            status = first = 0
            echoed = False
            req.sent = monotonic_ns()
            req.target = self._target_idx
            try:
                async with client.stream("GET", self._url, headers=headers) as resp:
                    first = monotonic_ns()
                    await resp.aread()
                    status = resp.status_code
                    echoed = resp.headers.get("x-request-id") == rid_s
                kind = classify_status(status)
            except asyncio.CancelledError:
                record(req, first, status, CANCELLED, echoed)
                raise
            except BaseException as exc:  # noqa: BLE001
                kind = classify_exception(exc)
            record(req, first, status, kind, echoed)
            return kind

        return send

    # ---- internals: recording -----------------------------------------------------------------
    def _record(self, req: _Req, first: int, status: int, kind: int, echoed: bool) -> None:
        done = monotonic_ns()
        sent = req.sent or done  # never reached the wire (e.g. refused): sent == done
        if kind == OK:
            lat = done - latency_start_ns(req.intended, sent, req.user)
            svc = done - sent
            self._lat_i.record_value(_hist_value(lat))
            self._svc_i.record_value(_hist_value(svc))
            self._lat_sum_i += lat
            self._svc_sum_i += svc
        with self._lock:
            self._inflight.pop(req.rid, None)
            self._ring.append(req.rid, req.user, req.intended, sent, first, done, status, kind,
                              echoed, max(0, req.target))
            self._done += 1
            self._i_done += 1
            if kind == OK:
                self._ok += 1
                self._i_ok += 1
                if not echoed:
                    self._echo_bad += 1
            else:
                self._errors[kind] += 1
                self._i_errors[kind] += 1
        if self._stopping or (self.requests is not None and self._issued >= self.requests):
            self._wake.set()

    async def _tick(self) -> None:
        while True:
            next_ns = self._started_ns + int((self._i_index + 1) * self.interval * 1e9)
            delay = (next_ns - monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            self._rotate()

    def _rotate(self, final: bool = False) -> None:
        """Close the current interval (runs on the loop thread)."""
        if final:
            end_ns = self._ended_ns
        else:
            end_ns = self._started_ns + int((self._i_index + 1) * self.interval * 1e9)
        # the final, partial interval is kept unless it is empty and a run already has intervals
        if not (final and self._i_done == 0 and self._intervals):
            lat = LatencySummary.from_hist(self._lat_i, self._lat_sum_i)
            svc = LatencySummary.from_hist(self._svc_i, self._svc_sum_i)
            length = max(1e-9, (end_ns - self._i_start_ns) / 1e9)
            with self._lock:
                stats = IntervalStats(
                    index=self._i_index,
                    start_s=(self._i_start_ns - self._started_ns) / 1e9,
                    end_s=(end_ns - self._started_ns) / 1e9,
                    done=self._i_done,
                    ok=self._i_ok,
                    errors=MappingProxyType({KIND_NAMES[k]: c for k, c in enumerate(self._i_errors)
                                             if k != OK and c}),
                    rps=self._i_done / length,
                    latency=lat,
                    service=svc,
                    in_flight=len(self._inflight),
                    concurrency=self._target_users,
                    rate=self._rate,
                )
                self._intervals.append(stats)
                self._i_index += 1
                self._i_start_ns = end_ns
                self._i_done = self._i_ok = 0
                self._i_errors = [0] * len(KIND_NAMES)
        if self._lat_i.get_total_count():
            self._lat_c.add(self._lat_i)
            self._svc_c.add(self._svc_i)
            self._lat_sum_c += self._lat_sum_i
            self._svc_sum_c += self._svc_sum_i
            self._lat_i, self._svc_i = _new_hist(), _new_hist()  # (reset() is a slow Python loop)
        self._lat_sum_i = self._svc_sum_i = 0
        lat_c = LatencySummary.from_hist(self._lat_c, self._lat_sum_c)
        svc_c = LatencySummary.from_hist(self._svc_c, self._svc_sum_c)
        with self._lock:
            self._lat_summary = lat_c
            self._svc_summary = svc_c


def _yarl_url(url: str):
    from yarl import URL

    return URL(url, encoded=False)
