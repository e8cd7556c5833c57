"""What the load generator records and reports: error kinds, request records, the record ring,
HDR-histogram statistics and the immutable :class:`ClientSnapshot` of a run.

Plain values and storage, no event loop and no HTTP client: :mod:`.loadgen` produces them,
the load-test session, statistics and tests read them.
"""

from __future__ import annotations

import asyncio
import errno
from array import array
from dataclasses import dataclass
from typing import Mapping

import aiohttp
import httpx
from hdrh.histogram import HdrHistogram

# ---- error kinds ------------------------------------------------------------------------------
OK = 0
TIMEOUT = 1  # no full answer within `timeout`
CONNECT = 2  # connection refused / could not connect
DISCONNECT = 3  # server closed or reset the connection mid-request
HTTP_503 = 4  # 503 Service Unavailable (e.g. the concurrency limit)
HTTP_5XX = 5  # any other 5xx
HTTP_4XX = 6  # 4xx (e.g. 422 for a bad query parameter)
OTHER = 7  # any other exception
CANCELLED = 8  # still in flight when the run ended and drain_timeout passed
KIND_NAMES: tuple[str, ...] = ("ok", "timeout", "connect", "disconnect", "503", "5xx", "4xx",
                               "other", "cancelled")
_HIST_MAX_US = 3_600_000_000  # 1 hour, in microseconds






def latency_start_ns(intended_ns: int, sent_ns: int, user: int) -> int:
    """Where a request's latency starts: THE rule (records, histograms, window statistics).

    Closed model (``user >= 0``): when it was sent, so the generator's own start-up (creating
    1,000 users, opening their connections) is never counted as the server's latency. Open
    model (``user == -1``): its INTENDED start on the arrival schedule, so client-side
    queueing is counted (no coordinated omission)."""
    return sent_ns if user >= 0 and sent_ns else intended_ns


def format_request_id(rid: int) -> str:
    return f"r{rid:06d}"


def classify_status(status: int) -> int:
    if status < 400:
        return OK
    if status == 503:
        return HTTP_503
    if status >= 500:
        return HTTP_5XX
    return HTTP_4XX


def classify_exception(exc: BaseException) -> int:
    """Map a client exception to an error kind, looking at the innermost cause first.

    (httpx_aiohttp maps every aiohttp.ClientConnectionError, including "server disconnected",
    to httpx.ConnectTimeout, so the original aiohttp exception in __cause__ is what tells.)
    """
    if isinstance(exc, asyncio.CancelledError):
        return CANCELLED
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__
    for e in reversed(chain):
        kind = _classify_one(e)
        if kind is not None:
            return kind
    return OTHER


def _classify_one(e: BaseException) -> int | None:
    # (a CancelledError inside the chain is how aiohttp implements its timeout: skip it)
    if isinstance(e, (TimeoutError, httpx.TimeoutException)):
        return TIMEOUT
    if isinstance(e, (aiohttp.ClientConnectorError, ConnectionRefusedError, httpx.ConnectError)):
        return CONNECT
    if isinstance(e, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                      ConnectionResetError, BrokenPipeError, httpx.RemoteProtocolError,
                      httpx.ReadError, httpx.WriteError)):
        return DISCONNECT
    if isinstance(e, OSError) and e.errno is not None:
        if e.errno == errno.ECONNREFUSED:
            return CONNECT
        if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            return DISCONNECT
    return None


# ---- immutable views --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished request. Times are time.monotonic_ns(); 0 means "did not happen"."""

    seq: int  # completion order, 0-based (the cursor position)
    rid: int  # request number; the header value is request_id
    user: int  # virtual-user lane (closed model), -1 in the open model
    intended_ns: int  # when it should have started (open: schedule; closed: user's turn)
    sent_ns: int  # got its connection, about to be written (httpx clients: handed to the client)
    first_byte_ns: int  # response headers received (0 if none)
    done_ns: int  # body read, or the error happened
    status: int  # HTTP status, 0 if no response
    kind: int  # OK, TIMEOUT, CONNECT, ... (see KIND_NAMES)
    echoed: bool  # the response carried our x-request-id back
    target: int = 0  # index into LoadGenerator.targets (changes with set_target)

    @property
    def request_id(self) -> str:
        return format_request_id(self.rid)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    @property
    def ok(self) -> bool:
        return self.kind == OK

    @property
    def latency_ns(self) -> int:
        """Done minus :func:`latency_start_ns` (open model: from the intended start, what a
        user of an open system experiences; closed model: from sent)."""
        return self.done_ns - latency_start_ns(self.intended_ns, self.sent_ns, self.user)

    @property
    def service_ns(self) -> int:
        """From sent to done."""
        return self.done_ns - self.sent_ns

    @property
    def wait_ns(self) -> int:
        """Client-side queueing: intended -> sent."""
        return self.sent_ns - self.intended_ns


@dataclass(frozen=True, slots=True)
class InFlight:
    rid: int
    user: int
    intended_ns: int
    sent_ns: int  # 0 while still queued in the client
    target: int = -1  # index into LoadGenerator.targets (-1: its send has not begun)

    @property
    def request_id(self) -> str:
        return format_request_id(self.rid)


@dataclass(frozen=True, slots=True)
class RecordBatch:
    records: tuple[RequestRecord, ...]
    cursor: int  # pass this to the next records_since() call
    dropped: int  # records overwritten in the ring before this consumer read them


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency percentiles in milliseconds (HDR histogram, 3 significant digits)."""

    count: int = 0
    min_ms: float = 0.0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0

    @classmethod
    def from_hist(cls, h: HdrHistogram, total_ns: int) -> "LatencySummary":
        """Summary of an HDR histogram in microseconds; the mean comes from the exact sum
        (hdrh's get_mean_value walks every bucket in Python: far too slow)."""
        n = h.get_total_count()
        if n == 0:
            return cls()
        p = h.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
        return cls(
            count=n,
            min_ms=h.get_min_value() / 1000.0,
            mean_ms=total_ns / n / 1e6,
            p50_ms=p[50.0] / 1000.0,
            p90_ms=p[90.0] / 1000.0,
            p99_ms=p[99.0] / 1000.0,
            p999_ms=p[99.9] / 1000.0,
            max_ms=h.get_max_value() / 1000.0,
        )


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """Requests that COMPLETED in [start_s, end_s) (seconds since the run started)."""

    index: int
    start_s: float
    end_s: float
    done: int
    ok: int
    errors: Mapping[str, int]  # kind name -> count (error kinds only)
    rps: float  # done / (end_s - start_s)
    latency: LatencySummary  # from intended start
    service: LatencySummary  # from sent
    in_flight: int  # at the end of the interval
    concurrency: int  # target users at the end of the interval (closed model)
    rate: float  # target arrivals/s at the end of the interval (open model)


@dataclass(frozen=True, slots=True)
class ClientSnapshot:
    model: str  # "closed" | "open"
    url: str  # the current target
    targets: tuple[str, ...]  # all targets so far (RequestRecord.target indexes this)
    client: str
    running: bool
    finished: bool
    started_ns: int  # monotonic_ns at run start (0 before)
    elapsed_s: float
    concurrency: int  # target number of users (closed)
    active_users: int  # user tasks alive (including retiring ones)
    rate: float  # target arrivals/s (open)
    issued: int
    done: int
    in_flight: int
    ok: int
    errors: Mapping[str, int]  # every error kind name -> count
    error_total: int
    echo_mismatches: int  # OK responses without our x-request-id
    dropped_arrivals: int  # open model: arrivals not sent (too late to send on time, or
    #   max_outstanding reached); issued == done + dropped_arrivals + in_flight, always
    records_overwritten: int  # records that fell out of the ring (oldest first)
    rps: float  # done / elapsed
    latency: LatencySummary  # cumulative, as of the last closed interval (exact once finished)
    service: LatencySummary
    last_interval: IntervalStats | None
    intervals: tuple[IntervalStats, ...]  # the most recent ones (keep_intervals)


# ---- storage ----------------------------------------------------------------------------------
class _Ring:
    """Column-wise ring buffer of request records (54 bytes per record), grown as records
    come (a generator that ran briefly holds only what it recorded), never past capacity."""

    COLUMNS = ("rid", "user", "intended", "sent", "first", "done", "status", "kind", "echoed", "target")

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.rid = array("q")
        self.user = array("i")
        self.intended = array("q")
        self.sent = array("q")
        self.first = array("q")
        self.done = array("q")
        self.status = array("H")
        self.kind = array("B")
        self.echoed = array("B")
        self.target = array("H")
        self.count = 0

    def append(self, rid, user, intended, sent, first, done, status, kind, echoed, target) -> None:
        if self.count < self.cap:
            self.rid.append(rid)
            self.user.append(user)
            self.intended.append(intended)
            self.sent.append(sent)
            self.first.append(first)
            self.done.append(done)
            self.status.append(status)
            self.kind.append(kind)
            self.echoed.append(echoed)
            self.target.append(target)
            self.count += 1
            return
        i = self.count % self.cap
        self.rid[i] = rid
        self.user[i] = user
        self.intended[i] = intended
        self.sent[i] = sent
        self.first[i] = first
        self.done[i] = done
        self.status[i] = status
        self.kind[i] = kind
        self.echoed[i] = echoed
        self.target[i] = target
        self.count += 1

    def copy(self, cursor: int, limit: int | None) -> tuple[int, int, int, list]:
        """Under the caller's lock: (start, end, dropped, column slices) -- C-speed copies."""
        start = max(cursor, self.count - self.cap, 0)
        dropped = start - cursor if cursor < start else 0
        end = self.count if limit is None else max(start, min(self.count, start + limit))
        cols = [getattr(self, name) for name in self.COLUMNS]
        if end <= start:
            return start, start, dropped, []
        i, j = start % self.cap, end % self.cap
        if i < j:
            return start, end, dropped, [c[i:j] for c in cols]
        return start, end, dropped, [c[i:] + c[:j] for c in cols]

    def since(self, lock, cursor: int, limit: int | None) -> RecordBatch:
        """``records_since`` of either generator: copied under ``lock``, built outside it."""
        if cursor < 0:
            raise ValueError("cursor must be >= 0")
        with lock:
            copied = self.copy(cursor, limit)
        return _Ring.build(*copied)

    @staticmethod
    def build(start: int, end: int, dropped: int, cols: list) -> RecordBatch:
        """Outside the lock: turn the copied columns into RequestRecord objects."""
        if not cols:
            return RecordBatch((), end, dropped)
        rid, user, intended, sent, first, done, status, kind, echoed, target = cols
        out = tuple(
            RequestRecord(start + k, rid[k], user[k], intended[k], sent[k], first[k], done[k],
                          status[k], kind[k], bool(echoed[k]), target[k])
            for k in range(end - start)
        )
        return RecordBatch(out, end, dropped)






def _new_hist() -> HdrHistogram:
    return HdrHistogram(1, _HIST_MAX_US, 3)


def _hist_value(ns: int) -> int:
    us = ns // 1000
    return 1 if us < 1 else (_HIST_MAX_US if us > _HIST_MAX_US else us)
