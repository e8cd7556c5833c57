"""A live load test: a recorded server, a load generator, and one time axis for both.

    lt = LoadTest("/sync", concurrency=41, delay=1.0, requests=41).start()
    lt.wait()                         # bounded runs; live ones run until stop()
    lt.stop(graceful=True)            # graceful: the server flushes its recording
    print(lt.report()["caption"])     # "`/sync` is not blocking the loop: ... 2 waves"

``LoadTest`` starts the demo app (or the user's ``--app module:attr``) in a uvicorn child
process whose event loop is recorded (:class:`coffeeshop_tui.scenarios.web.server.WebServer` with
``record=True``), and a :class:`coffeeshop_tui.scenarios.web.loadgen.LoadGenerator` in a thread. Client and
server stamp events with ``time.monotonic_ns()`` (CLOCK_MONOTONIC, shared by every process
on the machine), so a request's client lane and its server handler lane share one axis.

Live knobs (any thread): :meth:`LoadTest.set_concurrency`, :meth:`set_rate`,
:meth:`set_delay`, :meth:`set_endpoint` (new requests use the new URL), :meth:`set_model`
(a new generator), :meth:`set_pool_size` (the server's anyio thread limiter, live),
:meth:`set_max_in_flight` (503 limit), :meth:`pause` / :meth:`resume`.

Failures never raise out of :meth:`update`: a server that dies mid-test is reported
(``status == "server down"``, :attr:`error`) and :meth:`restart` brings it back on the same
port while the generator keeps going (its requests fail as ``connect`` errors meanwhile).
:meth:`start` raises :class:`ServerError` (port in use, app failed to import...) with a clear
message and leaves nothing running. :meth:`stop` stops everything and is idempotent.

:meth:`update` (any one thread at a time, e.g. a UI producer at <= 20 Hz) returns a
:class:`LoadUpdate`: an immutable :class:`coffeeshop_tui.scenarios.snapshot.Snapshot` (lanes: the server's
event loop, its worker threads, and per request a ``client`` lane and its server ``task``
lane), :class:`coffeeshop_tui.scenarios.web.explain_load.LoadStats` and a caption. Memory is bounded: the
lanes of the most recent ``max_lanes`` requests, ``history_s`` seconds of loop and thread
segments, and the server's own Timeline trims itself.

Client lane states (from ``snapshot.STATES``, so the timeline colours them): ``queued``
(intended start -> sent: waiting in the client for its turn or a connection), ``waiting``
(sent -> first byte: the server is working on it), ``running`` (first byte -> done: reading
the answer), ``blocked`` (sent -> done of a request that FAILED: timeout, 503, refused...;
the segment's info names the error).

This module does not import textual.
"""

from __future__ import annotations

import atexit
import bisect
import json
import math
import threading
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from coffeeshop_tui.scenarios.explain import culprit, short_where
from coffeeshop_tui.scenarios.snapshot import QUEUED, Lane, Segment, Snapshot, _split_waiting
from coffeeshop_tui.scenarios.timeline import (
    BLOCKED,
    CALLBACK,
    RUNNING,
    STARVED,
    THREAD,
    WAITING,
    Timeline,
)
from coffeeshop_tui.scenarios.web.explain_load import ANYIO_POOL, EXECUTOR_POOL, LoadStats
from coffeeshop_tui.scenarios.web.explain_load import caption as make_caption
from coffeeshop_tui.scenarios.web.loadgen import (
    KIND_NAMES,
    OK,
    LoadGenerator,
    check_target,
    format_request_id,
)
from coffeeshop_tui.scenarios.web.server import DEFAULT_APP, ServerError, WebServer

now_ns = time.monotonic_ns

#: The demo app's endpoints, with what each one does (the picker shows this).
DEMO_ENDPOINTS: dict[str, str] = {
    "/sync": "def + time.sleep: a worker thread waits",
    "/async": "async def + await asyncio.sleep",
    "/bad": "async def + time.sleep: blocks the loop",
    "/good": "/bad fixed: await asyncio.sleep",
    "/safe": "await run_in_threadpool(blocking)",
    "/to_thread": "await asyncio.to_thread(time.sleep)",
    "/cpu": "pure-Python work in async def",
}
NO_DELAY_ENDPOINTS = ("/cpu", "/health")
RUN_ASGI = "RequestResponseCycle.run_asgi"
MAX_DELAY_S = 60.0  # the demo app's limit for ?delay=
MAX_POOL = 10_000

# statuses
STARTING, RUNNING_, PAUSED, FINISHED = "starting", "running", "paused", "finished"
DOWN, RESTARTING, FAILED, STOPPED = "server down", "restarting", "failed", "stopped"

LANE_MODES = ("requests", "users")
USER_GROUP = "users, one lane each (their requests one after another), then the server tasks"
LOOP_GROUP = "server: its event loop"
REQUEST_GROUP = "requests, newest first: client lane, then the server task that handled it"
THREAD_GROUP = "server: worker threads"
_MATCH_SLACK_NS = 2_000_000  # a handler task is created after its client sent the request
_BUSY_BUCKET_NS = 100_000_000
STATS_INTERVAL_NS = 250_000_000  # statistics and caption: at most 4 times a second
MAX_LANE_SEGMENTS = 3_000  # per user / thread lane, whatever the history (bounded memory)
MAX_LOOP_SEGMENTS = 30_000


class LoadTestError(ValueError):
    """Bad settings for a load test (one line, fit for a CLI error)."""


@dataclass(frozen=True)
class LoadUpdate:
    """One immutable view of a load test, ready to draw."""

    version: int
    status: str
    snapshot: Snapshot
    stats: LoadStats
    caption: str
    error: str | None = None
    knobs: dict = field(default_factory=dict)
    notes: tuple = ()  # (t_s, text): what changed while it ran (knobs, crash, restart)


_LIVE: weakref.WeakSet[LoadTest] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # the last line of defence; WebServer has its own, too
    for lt in list(_LIVE):
        try:
            lt.stop()
        except Exception:
            pass


def _pct(sorted_vals: list[int], p: float) -> int:
    """Nearest-rank percentile of a sorted list (0 when empty)."""
    if not sorted_vals:
        return 0
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def endpoint_url(base: str, endpoint: str, delay: float | None) -> str:
    """base + endpoint, with ``delay=`` added to its query when delay is not None."""
    url = base.rstrip("/") + endpoint
    if delay is None:
        return url
    sep = "&" if "?" in endpoint else "?"
    return f"{url}{sep}delay={delay:g}"


def endpoint_path(url: str) -> str:
    return urlsplit(url).path or "/"


class _Epoch:
    """What was read so far from one server Timeline (a new one at each server start)."""

    def __init__(self, tl: Timeline, index: int) -> None:
        self.tl = tl
        self.index = index
        self.steps = None
        self.step_pos = 0
        self.last_step_end = 0
        self.jobs = None
        self.job_n = 0
        self.last_job = None
        self.last_job_end = 0
        self.max_seq = 0
        self.untagged: dict[int, int] = {}  # handler tasks whose tag has not arrived yet
        self.by_tag: dict[str, list[tuple[int, int]]] = {}  # request id -> [(created_ns, seq)]
        self.jobs_by_task: dict[int, list] = {}
        self.threads: dict[str, str] = {}  # raw thread key -> lane name
        self.per_pool: Counter = Counter()
        self.gauge_t = 0


class LoadTest:
    """A server under the recorder + a load generator, live (see the module docstring).

    Args:
        endpoint: path on the server (``/sync``; may carry a query, e.g. ``/cpu?work=1000``).
        app: ``module:attr`` of the ASGI app to serve (default: the demo app).
        url: load-test an already running server at this base URL instead (no server
            instruments then; loopback only unless allow_remote).
        model: "closed" (``concurrency`` users) or "open" (``rate`` arrivals/s).
        delay: seconds for ``?delay=`` (None: do not send it; the demo's /cpu and /health
            never get it).
        requests / duration: bound the run (None, None: until stop()).
        timeout: per-request timeout (s).
        pool_size: the server's anyio thread tokens at start (default anyio's 40).
        max_in_flight: the server answers 503 beyond this many requests in flight.
        port: server port (None: a free one).
        max_lanes: request lanes kept (the most recent ones).
        history_s: seconds of loop / thread segments and of statistics kept.
        window_s: statistics window (s) for the live numbers (widened to 3 x latency).
        server_lanes: a handler lane under each client lane.
        lanes: build lanes at all (False for headless runs: statistics only).
    """

    def __init__(
        self,
        endpoint: str = "/sync",
        *,
        app: str = DEFAULT_APP,
        url: str | None = None,
        model: str = "closed",
        concurrency: int = 10,
        rate: float = 10.0,
        delay: float | None = 1.0,
        requests: int | None = None,
        duration: float | None = None,
        timeout: float = 30.0,
        pool_size: int | None = None,
        max_in_flight: int | None = None,
        port: int | None = None,
        allow_remote: bool = False,
        cwd: str | None = None,
        block_ms: float = 25.0,
        max_lanes: int = 40,
        history_s: float = 30.0,
        window_s: float = 5.0,
        server_lanes: bool = True,
        lanes: bool = True,
        drain_timeout: float | None = None,
        client: str = "aiohttp",
        max_thread_lanes: int = 64,
        lane_mode: str = "requests",
    ) -> None:
        self.app = app or DEFAULT_APP
        self.demo = self.app == DEFAULT_APP and url is None
        self.external = url is not None
        self.allow_remote = allow_remote
        if self.external:
            try:
                check_target(url, allow_remote)
            except ValueError as exc:
                raise LoadTestError(str(exc)) from None
            self._base = url.rstrip("/")
        else:
            self._base = ""
        self._check_endpoint(endpoint)
        if model not in ("closed", "open"):
            raise LoadTestError(f"model must be 'closed' or 'open', got {model!r}")
        if model == "closed" and (not isinstance(concurrency, int) or concurrency < 1):
            raise LoadTestError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        if model == "open" and not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise LoadTestError(f"rate must be a number > 0 (requests per second), got {rate!r}")
        if delay is not None and not (0 <= delay <= MAX_DELAY_S):
            raise LoadTestError(f"delay must be between 0 and {MAX_DELAY_S:g} seconds, got {delay!r}")
        if requests is not None and requests < 1:
            raise LoadTestError(f"requests must be >= 1, got {requests!r}")
        if duration is not None and not duration > 0:
            raise LoadTestError(f"duration must be > 0 seconds, got {duration!r}")
        if not timeout > 0:
            raise LoadTestError(f"timeout must be > 0 seconds, got {timeout!r}")
        if pool_size is not None and not 1 <= pool_size <= MAX_POOL:
            raise LoadTestError(f"pool size must be 1..{MAX_POOL}, got {pool_size!r}")
        if max_in_flight is not None and max_in_flight < 0:
            raise LoadTestError(f"max in flight must be >= 0 (0 = no limit), got {max_in_flight!r}")
        if port is not None and not 0 <= port <= 65535:
            raise LoadTestError(f"port must be 0..65535, got {port!r}")
        if not block_ms > 0:
            raise LoadTestError("block threshold must be > 0 ms")
        if lane_mode not in LANE_MODES:
            raise LoadTestError(f"lane mode must be one of {LANE_MODES}, got {lane_mode!r}")
        self.endpoint = endpoint
        self.model = model
        self.concurrency = int(concurrency)
        self.rate = float(rate)
        self.delay = delay
        self.requests = requests
        self.duration = duration
        self.timeout = float(timeout)
        self.pool_size = pool_size
        self.max_in_flight = max_in_flight or None
        self.port = port
        self.cwd = cwd
        self.block_ms = block_ms
        self.block_ns = int(block_ms * 1e6)
        self.max_lanes = max(1, max_lanes)
        self.history_ns = int(history_s * 1e9) if math.isfinite(history_s) else 1 << 62
        self.window_ns = int(window_s * 1e9)
        self.server_lanes = server_lanes
        self.thread_lanes = True  # show the worker-thread lanes
        self.lanes = lanes
        self.drain_timeout = drain_timeout
        self.client = client
        self.max_thread_lanes = max_thread_lanes

        self.server: WebServer | None = None
        self.server_pid: int | None = None
        self.pool_total: int | None = pool_size
        self.executor_workers: int | None = None
        self.routes: tuple[str, ...] = tuple(DEMO_ENDPOINTS) if self.demo else ()
        self.error: str | None = None
        self.origin_ns = now_ns()
        self._lock = threading.RLock()
        self._state = "new"  # new | starting | up | down | restarting | failed | stopped | external
        self._load = "idle"  # idle | running | paused | finished
        self._stopped = False
        self._version = 0
        self._notes: list[tuple[int, str]] = []

        # the generators (one per model switch / resume), newest last
        self._gen = 0
        self._lg: LoadGenerator | None = None
        self._lg_future = None
        self._gens: list[list] = []  # [gen, lg, cursor, future]
        self._finished_snaps: list = []  # final snapshots of generators no longer kept
        # finished requests: the newest for lanes, and (done, intended, sent, kind, user) for stats
        self._recent: deque = deque(maxlen=self.max_lanes)  # (gen, RequestRecord)
        self._rows: list[tuple[int, int, int, int, int]] = []
        self._rows_cap = 300_000
        self._first_intended = 0
        # server-side, extracted incrementally (bounded by history_s)
        self._epochs: list[_Epoch] = []
        self._loop: list[Segment] = []
        self._loop_last_end = 0
        self._loop_pending = 0  # steps merged into the last loop segment
        self._threads: dict[str, list[Segment]] = {}
        self._threads_hidden = 0
        self._blocks: deque = deque(maxlen=20_000)
        self._jobs: deque = deque(maxlen=200_000)  # (end_ns, pool, lane, queue_ns)
        self._gauges: deque = deque(maxlen=20_000)  # (t_ns, borrowed, total, in_flight)
        self._busy: deque = deque(maxlen=100_000)  # [bucket, busy_ns]: loop steps per 0.1 s
        self._stats_at = 0
        self._stats_status = ""
        self._last_stats: tuple[LoadStats, str] | None = None
        self.lane_mode = lane_mode
        self._slot_client: dict[int, list[Segment]] = {}  # users mode: finished client segments
        self._slot_server: dict[int, list[Segment]] = {}  # users mode: finished handler segments
        self._slot_pending: dict[int, list] = {}  # users mode: handlers not finished / not seen yet
        self._slot_of: dict[tuple[int, int], int] = {}  # open model: in-flight request -> slot
        self._slot_busy: dict[int, tuple] = {}  # open model: slot -> (request, busy until ns)
        self._slots_hidden = 0
        self._match: dict[tuple[int, int], tuple[_Epoch, int] | None] = {}
        self._handler_cache: dict[tuple[int, int], tuple] = {}
        self._last_prune = 0
        _LIVE.add(self)

    # ------------------------------------------------------------------ validation
    def _check_endpoint(self, endpoint: str) -> None:
        if not isinstance(endpoint, str) or not endpoint.startswith("/"):
            raise LoadTestError(f"endpoint must be a path starting with '/', got {endpoint!r}")
        if self.demo:
            path = endpoint_path(endpoint)
            if path not in DEMO_ENDPOINTS and path != "/health":
                raise LoadTestError(
                    f"no endpoint {path!r} in the demo app; choose one of " + ", ".join(DEMO_ENDPOINTS))

    def _delay_for(self, endpoint: str) -> float | None:
        if self.delay is None:
            return None
        if self.demo and endpoint_path(endpoint) in NO_DELAY_ENDPOINTS:
            return None
        return self.delay

    # ------------------------------------------------------------------ properties
    @property
    def base_url(self) -> str:
        if self.external:
            return self._base
        if self.server is None or self.server.port is None:
            raise ServerError("server not started")
        return self.server.url

    @property
    def target_url(self) -> str:
        return endpoint_url(self.base_url, self.endpoint, self._delay_for(self.endpoint))

    @property
    def recorded(self) -> bool:
        return self.server is not None

    @property
    def status(self) -> str:
        with self._lock:
            return self._status()

    def _status(self) -> str:
        if self._stopped:
            return STOPPED
        if self._state == "failed":
            return FAILED
        if self._state in ("new", "starting"):
            return STARTING
        if self._state == "restarting":
            return RESTARTING
        if self._state == "down":
            return DOWN
        if self._load == "paused":
            return PAUSED
        if self._load == "finished":
            return FINISHED
        return RUNNING_

    def knobs(self) -> dict:
        return {"endpoint": self.endpoint, "model": self.model, "concurrency": self.concurrency,
                "rate": self.rate, "delay": self.delay, "pool_size": self.pool_total,
                "max_in_flight": self.max_in_flight}

    def _note(self, text: str) -> None:
        self._notes.append((now_ns(), text))
        del self._notes[:-50]

    # ------------------------------------------------------------------ lifecycle
    def start(self, load: bool = True) -> LoadTest:
        """Start the server (unless ``url`` was given) and the load (``load=False``: only
        the server; :meth:`resume` starts the load). Raises ServerError (port in use, app
        failed...) or LoadTestError (no such route); nothing is left running then."""
        with self._lock:
            if self._state != "new":
                return self
            self._state = "starting"
            self.origin_ns = now_ns()
        try:
            if not self.external:
                self._start_server()
            if self._stopped:  # stop() came while the server was starting
                self._shutdown(fast=True)
                return self
            with self._lock:
                self._state = "external" if self.external else "up"
                if not self._stopped and load:
                    self._start_load()
                elif not load:
                    self._load = "paused"
        except BaseException as exc:
            with self._lock:
                self._state = "failed"
                self.error = str(exc) if isinstance(exc, (ServerError, LoadTestError)) else (
                    f"{type(exc).__name__}: {exc}")
            self._shutdown(fast=True)
            raise
        return self

    def _start_server(self) -> None:
        srv = WebServer(self.app, port=self.port, pool_size=self.pool_size,
                        max_in_flight=self.max_in_flight, cwd=self.cwd, record=True,
                        block_ms=self.block_ms)
        self.server = srv
        srv.start()  # ServerError: port in use, import failed, not ready...
        self.server_pid = srv.pid
        self._read_pool()
        if not self.demo:
            self._read_routes()

    def _read_pool(self) -> None:
        try:
            info = httpx.get(f"{self.base_url}/_admin/pool", timeout=5).json()
            self.pool_total = int(info["total"])
            self.executor_workers = int(info["default_executor_workers"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass

    def _read_routes(self) -> None:
        """A FastAPI app lists its GET routes in /openapi.json: check the endpoint exists."""
        try:
            r = httpx.get(f"{self.base_url}/openapi.json", timeout=5)
            paths = r.json().get("paths", {}) if r.status_code == 200 else {}
        except (httpx.HTTPError, ValueError, AttributeError):
            return
        routes = tuple(p for p, ops in paths.items() if isinstance(ops, dict) and "get" in ops)
        if not routes:
            return
        self.routes = routes
        path = endpoint_path(self.endpoint)
        if path not in routes and not any("{" in p for p in routes):
            raise LoadTestError(f"no GET route {path!r} in {self.app}; its GET routes: "
                                + ", ".join(routes[:12]) + (" ..." if len(routes) > 12 else ""))

    def _start_load(self) -> None:
        """A new generator with the current knobs (under self._lock)."""
        if self._gen == 0:
            self.origin_ns = now_ns()  # time 0 of every lane: the first request
        self._gen += 1
        drain = self.drain_timeout
        if drain is None:
            drain = self.timeout + 1.0 if (self.requests or self.duration) else 1.0
        lg = LoadGenerator(
            self.target_url, model=self.model, concurrency=self.concurrency, rate=self.rate,
            requests=self.requests, duration=self.duration, timeout=self.timeout,
            client=self.client, error_backoff=0.05, drain_timeout=drain,
            allow_remote=self.allow_remote,
        )
        fut = lg.start_in_thread(name=f"loadgen-{self._gen}")
        self._lg, self._lg_future = lg, fut
        self._gens.append([self._gen, lg, 0, fut])
        self._load = "running"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a bounded run (requests / duration) has finished. True if it has."""
        fut = self._lg_future
        if fut is None:
            return self._state in ("failed",) or self._stopped
        try:
            fut.result(timeout)
        except TimeoutError:
            return False
        except Exception:
            pass
        with self._lock:
            if self._load == "running" and fut is self._lg_future:
                self._load = "finished"
        return True

    def stop(self, graceful: bool = False) -> None:
        """Stop the load and the server (idempotent). ``graceful``: stop the load first and
        give the server's recording time to catch up (so the last requests' handler tasks are
        complete in :meth:`report`), then stop the server with SIGTERM instead of SIGKILL."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._load == "running":
                self._load = "finished"
        if graceful:
            for _g, lg, _c, fut in list(self._gens):
                lg.stop()
                try:
                    fut.result(timeout=self.timeout + 2.0)
                except Exception:
                    pass
            self.settle()
        self._shutdown(fast=not graceful)

    def settle(self, timeout: float = 2.0) -> bool:
        """Wait until the server's recording covers the last answer by two drains (~0.1 s),
        so handler tasks are closed in it. (A SIGTERM'd uvicorn child exits without a last
        drain, so what is not streamed by then is lost.) True if it caught up."""
        srv = self.server
        if srv is None or not srv.alive():
            return False
        target = now_ns() + 150_000_000  # the load has stopped: every answer is older
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with srv.lock:
                tl = srv.timeline
                if tl is not None and tl.last_ns >= target:
                    return True
            if not srv.alive():
                return False
            time.sleep(0.02)
        return False

    def _shutdown(self, fast: bool) -> None:
        gens = list(self._gens)
        for _g, lg, _c, _f in gens:
            lg.stop()
        srv = self.server
        if srv is not None:
            if fast:
                srv.kill()  # in-flight requests end at once (disconnect)
            srv.stop(timeout=3.0)
        for _g, _lg, _c, fut in gens:
            try:
                fut.result(timeout=5.0)
            except Exception:
                pass
        _LIVE.discard(self)

    def __enter__(self) -> LoadTest:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ server failures
    def check_server(self) -> str:
        """Notice a server that died (returns the status). Called by update()."""
        srv = self.server
        with self._lock:
            if srv is not None and self._state == "up" and not self._stopped and not srv.alive():
                rc = srv.returncode
                self._state = "down"
                tail = srv.log_tail(1500).strip()
                how = f"was killed by signal {-rc}" if rc is not None and rc < 0 else f"exited with code {rc}"
                self.error = (f"the server (pid {srv.pid}) {how} in the middle of the test; "
                              f"requests fail until it is restarted"
                              + (f". Its output ends with: {tail.splitlines()[-1]}" if tail else ""))
                self._note(f"server {how}")
            return self._status()

    def kill_server(self) -> None:
        """SIGKILL the server (what a crash looks like)."""
        if self.server is not None:
            self.server.kill()
        self.check_server()

    def restart(self) -> None:
        """(Re)start the server on the same port, keeping the load running. Raises
        ServerError if it cannot start (the state is then "failed", retry later)."""
        if self.external:
            return
        with self._lock:
            if self._stopped:
                return
            first = self._gen == 0
            self._state = "restarting"
            self.error = None
        try:
            if self.server is None:
                self._start_server()
            else:
                self.server.restart()  # same port; pool size / 503 limit as last set
                self.server_pid = self.server.pid
                self._read_pool()
        except (ServerError, LoadTestError) as exc:
            with self._lock:
                self._state = "failed"
                self.error = str(exc)
            raise
        if self._stopped:  # stop() came while the server was (re)starting
            self._shutdown(fast=True)
            return
        _LIVE.add(self)
        with self._lock:
            self._state = "up"
            self._note("server restarted" if not first else "server started")
            if self._gen == 0:
                self._start_load()

    def retry_start(self) -> None:
        """After a failed start (port in use...): try again (raises ServerError)."""
        with self._lock:
            if self._state != "failed":
                return
        if self.server is not None and not self.server.alive():
            self.server.stop()
        self.restart()

    # ------------------------------------------------------------------ knobs
    def set_concurrency(self, n: int) -> None:
        if not isinstance(n, int) or n < 1:
            raise LoadTestError(f"concurrency must be an integer >= 1, got {n!r}")
        with self._lock:
            self.concurrency = n
            if self._lg is not None and self.model == "closed":
                self._lg.set_concurrency(n)
            self._note(f"concurrency {n}")

    def set_rate(self, rate: float) -> None:
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise LoadTestError(f"rate must be a number > 0, got {rate!r}")
        with self._lock:
            self.rate = float(rate)
            if self._lg is not None and self.model == "open":
                self._lg.set_rate(self.rate)
            self._note(f"rate {rate:g}/s")

    def _retarget(self) -> None:
        if self._lg is not None and (self.external or self.server is not None):
            self._lg.set_target(self.target_url)

    def set_delay(self, delay: float) -> None:
        if not (isinstance(delay, (int, float)) and 0 <= delay <= MAX_DELAY_S):
            raise LoadTestError(f"delay must be between 0 and {MAX_DELAY_S:g} seconds, got {delay!r}")
        with self._lock:
            self.delay = float(delay)
            self._retarget()
            self._note(f"delay {delay:g} s")

    def set_endpoint(self, endpoint: str) -> None:
        self._check_endpoint(endpoint)
        with self._lock:
            self.endpoint = endpoint
            self._retarget()
            self._note(f"endpoint {endpoint}")

    def set_model(self, model: str) -> None:
        """Switch between "closed" and "open": a new generator (ids restart, lanes keep)."""
        if model not in ("closed", "open"):
            raise LoadTestError(f"model must be 'closed' or 'open', got {model!r}")
        with self._lock:
            if model == self.model:
                return
            self.model = model
            self._note(f"model {model}")
            if self._lg is not None and self._load == "running":
                self._lg.stop()
                if self._state in ("up", "external", "down"):
                    self._start_load()

    def pause(self) -> None:
        with self._lock:
            if self._lg is not None and self._load == "running":
                self._lg.stop()
                self._load = "paused"
                self._note("load paused")

    def resume(self) -> None:
        with self._lock:
            if self._stopped or self._load == "running" or self._state not in ("up", "external", "down"):
                return
            self._start_load()
            self._note("load resumed")

    def _admin(self, route: str, **params) -> dict:
        if self.external or self.server is None:
            raise LoadTestError("the pool and limit knobs need our own server (not --url)")
        try:
            r = httpx.post(f"{self.base_url}/_admin/{route}", params=params, timeout=5)
        except httpx.HTTPError as exc:
            raise LoadTestError(f"the server did not answer /_admin/{route}: {exc}") from None
        if r.status_code != 200:
            try:
                detail = r.json().get("detail")
            except ValueError:
                detail = r.text[:200]
            raise LoadTestError(f"/_admin/{route}: {detail}")
        return r.json()

    def set_pool_size(self, size: int) -> dict:
        """Set the server's anyio thread limiter (what `def` endpoints use), live."""
        if not isinstance(size, int) or not 1 <= size <= MAX_POOL:
            raise LoadTestError(f"pool size must be 1..{MAX_POOL}, got {size!r}")
        info = self._admin("pool", size=size)
        with self._lock:
            self.pool_total = int(info["total"])
            self.pool_size = self.pool_total
            if self.server is not None:
                self.server.pool_size = self.pool_total
            self._note(f"pool {self.pool_total} threads")
        return info

    def set_max_in_flight(self, n: int) -> dict:
        """The server's 503 limit (0 = none), live."""
        if not isinstance(n, int) or n < 0:
            raise LoadTestError(f"max in flight must be an integer >= 0, got {n!r}")
        info = self._admin("limit", max_in_flight=n)
        with self._lock:
            self.max_in_flight = n or None
            if self.server is not None:
                self.server.max_in_flight = self.max_in_flight
            self._note(f"503 limit {n or 'off'}")
        return info

    # ------------------------------------------------------------------ reading: client
    def in_flight(self) -> int:
        return sum(len(g[1].in_flight_requests()) for g in self._gens)

    def loadgen_snapshot(self):
        return self._lg.snapshot() if self._lg is not None else None

    def _poll_client(self) -> None:
        keep = []
        for entry in self._gens:
            gen, lg, cursor, _fut = entry
            batch = lg.records_since(cursor)
            entry[2] = batch.cursor
            users = self.lanes and self.lane_mode == "users"
            path = endpoint_path(lg.url) if users else ""
            targets = lg.targets if users else ()
            for r in batch.records:
                self._recent.append((gen, r))
                if users:
                    self._slot_record(gen, r, endpoint_path(targets[r.target]) if r.target < len(targets)
                                      else path)
                self._rows.append((r.done_ns, r.intended_ns, r.sent_ns, r.kind, r.user))
                if not self._first_intended or r.intended_ns < self._first_intended:
                    self._first_intended = r.intended_ns
            keep.append(entry)
        while len(keep) > 4 and keep[0][3].done():  # bounded: forget old, finished generators
            self._finished_snaps.append(keep.pop(0)[1].snapshot())
        self._gens = keep
        lg_fut = self._lg_future
        if lg_fut is not None and lg_fut.done() and self._load == "running":
            self._load = "finished"
        rows = self._rows
        if len(rows) > self._rows_cap:
            del rows[: len(rows) // 2]
        horizon = now_ns() - self.history_ns
        if rows and rows[0][0] < horizon - self.history_ns // 4:
            del rows[: bisect.bisect_left(rows, (horizon,))]

    # ------------------------------------------------------------------ reading: server
    def _poll_server(self) -> None:
        srv = self.server
        if srv is None:
            return
        with srv.lock:
            tl = srv.timeline
            if tl is None:
                return
            cur = self._epochs[-1] if self._epochs else None
            if cur is None or cur.tl is not tl:
                if cur is not None:
                    self._scan(cur)  # what the old server said before it stopped
                cur = _Epoch(tl, (cur.index + 1) if cur else 0)
                self._epochs.append(cur)
                del self._epochs[:-3]
                if self.lanes and tl.max_age_ns is None:  # live: the server's model stays bounded too
                    tl.max_age_ns = self.history_ns + 10_000_000_000
            self._scan(cur)

    def _sec(self, ns: int) -> float:
        return (ns - self.origin_ns) / 1e9

    def _scan(self, ep: _Epoch) -> None:
        tl = ep.tl
        self._scan_tasks(ep, tl)
        self._scan_steps(ep, tl)
        self._scan_jobs(ep, tl)
        g = tl.gauges
        if g and g[-1][0] > ep.gauge_t:
            i = bisect.bisect_right(g, ep.gauge_t, key=lambda x: x[0])
            for t, vals in g[i:]:
                self._gauges.append((t, vals.get("pool_borrowed", 0), vals.get("pool_total", 0),
                                     vals.get("in_flight", 0)))
            ep.gauge_t = g[-1][0]

    def _scan_tasks(self, ep: _Epoch, tl: Timeline) -> None:
        tasks = tl.tasks
        new = []
        for seq in reversed(tasks):
            if seq <= ep.max_seq:
                break
            new.append(seq)
        if new:
            ep.max_seq = new[0]
        for seq in reversed(new):
            t = tasks[seq]
            if t.tag:
                ep.by_tag.setdefault(t.tag, []).append((t.created_ns, seq))
            elif t.coro.endswith("run_asgi"):
                ep.untagged[seq] = t.created_ns
        if ep.untagged:
            stale = tl.last_ns - 5_000_000_000
            for seq, created in list(ep.untagged.items()):
                t = tasks.get(seq)
                if t is None or created < stale:
                    del ep.untagged[seq]
                elif t.tag:
                    ep.by_tag.setdefault(t.tag, []).append((t.created_ns, seq))
                    del ep.untagged[seq]

    def _task_info(self, tl: Timeline, seq: int) -> str:
        t = tl.tasks.get(seq)
        if t is None:
            return ""
        return f"request {t.tag}" if t.tag else t.label

    def _scan_steps(self, ep: _Epoch, tl: Timeline) -> None:
        st = tl.steps
        if st is not ep.steps:  # first look, or the timeline trimmed itself (a new array)
            pos = len(st) - len(st) % 3
            while pos >= 3 and st[pos - 2] > ep.last_step_end:
                pos -= 3
            ep.steps, ep.step_pos = st, pos
        n = len(st) - len(st) % 3
        if n <= ep.step_pos:
            return
        chunk = st[ep.step_pos:n]
        ep.step_pos = n
        block_ns = tl.block_ns
        segs = self._loop
        merge_ns = 50_000
        sec = self._sec
        for i in range(0, len(chunk), 3):
            s, e, seq = chunk[i], chunk[i + 1], chunk[i + 2]
            if e > ep.last_step_end:
                ep.last_step_end = e
            b = e // _BUSY_BUCKET_NS
            busy = self._busy
            if busy and busy[-1][0] == b:
                busy[-1][1] += e - s
            else:
                busy.append([b, e - s])
            if e - s >= block_ns:
                where = tl.where_between(s, e)
                func = ""
                if where:
                    for smp in reversed(tl.samples):
                        if smp[1] == where:
                            func = smp[2]
                            break
                elif seq in tl.tasks:
                    where = tl.tasks[seq].where
                t = tl.tasks.get(seq)
                rid = t.tag if t is not None else ""
                cul = culprit(where, func) if where else "a long step"
                self._blocks.append({"task": seq, "start_ns": s, "end_ns": e, "where": where,
                                     "culprit": cul, "request_id": rid})
                if not self.lanes or e <= self.origin_ns:
                    continue
                if s < max(self._loop_last_end, self.origin_ns):
                    s = max(self._loop_last_end, self.origin_ns)
                if e <= s:
                    continue
                info = f"{cul} at {short_where(where)}" if where else cul
                if rid:
                    info += f" (request {rid})"
                segs.append(Segment(sec(s), sec(e), BLOCKED, seq, info))
                self._loop_last_end = e
                self._loop_pending = 1
                continue
            if not self.lanes or e <= self.origin_ns:
                continue
            state = RUNNING if seq else CALLBACK
            if s < max(self._loop_last_end, self.origin_ns):
                s = max(self._loop_last_end, self.origin_ns)
                if e <= s:
                    continue
            last = segs[-1] if segs else None
            if (last is not None and last.state == state and s - self._loop_last_end <= merge_ns):
                self._loop_pending += 1
                segs[-1] = Segment(last.start, sec(e), state, last.task, f"{self._loop_pending} steps")
            else:
                segs.append(Segment(sec(s), sec(e), state, seq, self._task_info(tl, seq)))
                self._loop_pending = 1
            self._loop_last_end = e

    def _thread_lane(self, ep: _Epoch, pool: str, thread: str) -> str:
        key = f"{pool}|{thread}"
        name = ep.threads.get(key)
        if name is None:
            ep.per_pool[pool] += 1
            k = ep.per_pool[pool]
            kind = {ANYIO_POOL: "anyio thread", EXECUTOR_POOL: "to_thread worker"}.get(pool, pool)
            name = ep.threads[key] = f"{kind} {k}"
        return name

    def _scan_jobs(self, ep: _Epoch, tl: Timeline) -> None:
        jobs = tl.jobs
        if jobs is ep.jobs and len(jobs) >= ep.job_n and (ep.job_n == 0 or jobs[ep.job_n - 1] is ep.last_job):
            new = jobs[ep.job_n:]
        elif ep.last_job is None:
            new = list(jobs)
        else:
            i = len(jobs) - 1
            while i >= 0 and jobs[i] is not ep.last_job:
                i -= 1
            new = jobs[i + 1:] if i >= 0 else [j for j in jobs if j.end_ns > ep.last_job_end]
        ep.jobs, ep.job_n = jobs, len(jobs)
        if jobs:
            ep.last_job = jobs[-1]
        sec = self._sec
        for j in new:
            ep.last_job_end = max(ep.last_job_end, j.end_ns)
            if j.task:
                ep.jobs_by_task.setdefault(j.task, []).append(j)
            name = self._thread_lane(ep, j.pool, j.thread)
            self._jobs.append((j.end_ns, j.pool, name, max(0, j.start_ns - j.submit_ns), j.label))
            if not self.lanes or j.end_ns <= self.origin_ns:
                continue
            lane = self._threads.get(name)
            if lane is None:
                if len(self._threads) >= self.max_thread_lanes:
                    self._threads_hidden += 1
                    continue
                lane = self._threads[name] = []
            t = tl.tasks.get(j.task)
            who = f" for {t.tag}" if t is not None and t.tag else ""
            lane.append(Segment(sec(max(j.start_ns, self.origin_ns)), sec(j.end_ns), THREAD, j.task,
                                f"{j.label}{who}"))

    # ------------------------------------------------------------------ matching
    def _find_handler(self, gen: int, rid: int, sent_ns: int, done_ns: int) -> tuple[_Epoch, int] | None:
        key = (gen, rid)
        m = self._match.get(key)
        if m is not None:
            return m
        tag = format_request_id(rid)
        lo = (sent_ns or 0) - _MATCH_SLACK_NS
        hi = (done_ns + _MATCH_SLACK_NS) if done_ns else (1 << 62)
        for ep in reversed(self._epochs):
            for created, seq in reversed(ep.by_tag.get(tag, ())):
                if lo <= created <= hi:
                    self._match[key] = (ep, seq)
                    return ep, seq
        return None

    def _handler_segments(self, ep: _Epoch, seq: int, rid_s: str) -> tuple:
        ck = (ep.index, seq)
        cached = self._handler_cache.get(ck)
        if cached is not None:
            return cached
        tl = ep.tl
        t = tl.tasks.get(seq)
        if t is None:
            return ()
        jobs = sorted(ep.jobs_by_task.get(seq, ()), key=lambda j: j.submit_ns)
        raw = _split_waiting(tl.task_segments(seq), jobs, tl.origin, tl.block_ns)
        sec = self._sec
        segs = tuple(Segment(sec(s), sec(e), st, seq, rid_s) for st, s, e in raw if e > s)
        if t.done_ns is not None:
            self._handler_cache[ck] = segs
        return segs

    # ------------------------------------------------------------------ lanes
    @staticmethod
    def _client_segments(intended: int, sent: int, first: int, done: int, kind: int, status: int,
                         now: int, sec, rid_s: str = "") -> tuple:
        segs = []
        end = done or now
        s_at = sent or end
        who = f"{rid_s} " if rid_s else ""
        if s_at > intended:
            segs.append(Segment(sec(intended), sec(s_at), QUEUED, 0, f"{who}queued in the client"))
        if sent:
            if done and kind != OK:
                what = KIND_NAMES[kind] + (f" (HTTP {status})" if status else "")
                segs.append(Segment(sec(sent), sec(max(done, sent + 1000)), BLOCKED, 0,
                                    f"{who}failed: {what}"))
            else:
                fb = first or end
                if fb > sent:
                    segs.append(Segment(sec(sent), sec(fb), WAITING, 0, f"{who}waiting for the server"))
                if first and done and done > first:
                    segs.append(Segment(sec(first), sec(done), RUNNING, 0, f"{who}reading the answer"))
        return tuple(segs)

    # -- lanes per user (closed model) or per slot (open model): rows that stay put
    def _slot_for(self, gen: int, rid: int, user: int, intended: int, done: int) -> int | None:
        if user >= 0:
            return user if user < self.max_lanes else None
        key = (gen, rid)
        slot = self._slot_of.get(key)
        if slot is not None:
            if done:
                del self._slot_of[key]
                if self._slot_busy.get(slot, (None,))[0] == key:
                    self._slot_busy[slot] = (key, done)
            return slot
        for k in range(self.max_lanes):
            b = self._slot_busy.get(k)
            if b is None or b[1] <= intended:
                self._slot_busy[k] = (key, done or (1 << 62))
                if not done:
                    self._slot_of[key] = k
                return k
        return None

    def _slot_record(self, gen: int, r, path: str) -> None:
        """A finished request goes into its user's (slot's) lane for good."""
        slot = self._slot_for(gen, r.rid, r.user, r.intended_ns, r.done_ns)
        if slot is None:
            self._slots_hidden += 1
            return
        segs = self._client_segments(r.intended_ns, r.sent_ns, r.first_byte_ns, r.done_ns, r.kind,
                                     r.status, 0, self._sec, f"{r.request_id} {path}")
        lane = self._slot_client.setdefault(slot, [])
        if lane and segs and lane[-1].start > segs[0].start:
            for seg in segs:
                bisect.insort(lane, seg, key=lambda x: x.start)
        else:
            lane.extend(segs)
        if self.server is not None and r.sent_ns:
            self._slot_pending.setdefault(slot, []).append((gen, r.rid, r.sent_ns, r.done_ns))

    def _user_lanes(self, now: int) -> list[Lane]:
        sec = self._sec
        live_client: dict[int, list] = {}
        live_server: dict[int, list] = {}
        shown = set()
        server = self.server is not None and self.server_lanes
        for gen, lg, _c, _f in self._gens:
            path = endpoint_path(lg.url)
            for r in lg.in_flight_requests():
                slot = self._slot_for(gen, r.rid, r.user, r.intended_ns, 0)
                if slot is None:
                    continue
                rid_s = format_request_id(r.rid)
                live_client.setdefault(slot, []).extend(self._client_segments(
                    r.intended_ns, r.sent_ns, 0, 0, OK, 0, now, sec, f"{rid_s} {path}"))
                if server and r.sent_ns:
                    shown.add((gen, r.rid))
                    m = self._find_handler(gen, r.rid, r.sent_ns, 0)
                    if m is not None:
                        live_server.setdefault(slot, []).extend(self._handler_segments(m[0], m[1], rid_s))
        for slot, pending in self._slot_pending.items():
            keep = []
            for item in pending:
                gen, rid, sent, done = item
                m = self._find_handler(gen, rid, sent, done)
                if m is None:
                    if now - done < 3_000_000_000:  # its handler's events may still be on the way
                        keep.append(item)
                        shown.add((gen, rid))
                    continue
                ep, seq = m
                t = ep.tl.tasks.get(seq)
                if t is None:
                    continue
                if t.done_ns is None:  # answered, its task ends a moment later: drawn then
                    keep.append(item)
                    shown.add((gen, rid))
                    continue
                segs = self._handler_segments(ep, seq, format_request_id(rid))
                lane = self._slot_server.setdefault(slot, [])
                if lane and segs and lane[-1].start > segs[0].start:
                    for seg in segs:
                        bisect.insort(lane, seg, key=lambda x: x.start)
                else:
                    lane.extend(segs)
                self._handler_cache.pop((ep.index, seq), None)
                self._match.pop((gen, rid), None)
            pending[:] = keep
        word = "user" if self.model == "closed" else "slot"
        lanes = []
        for slot in sorted(set(self._slot_client) | set(live_client)):
            label = f"{word} {slot + 1}"
            lanes.append(Lane(f"user-{slot}", label, "client",
                              tuple(self._slot_client.get(slot, ())) + tuple(live_client.get(slot, ())),
                              0, USER_GROUP))
            if server:
                segs = tuple(self._slot_server.get(slot, ())) + tuple(live_server.get(slot, ()))
                lanes.append(Lane(f"user-{slot}-server", " " * len(label) + " └ server", "task", segs,
                                  segs[-1].task if segs else 0, USER_GROUP))
        if now - self._last_prune > 2_000_000_000:
            self._prune(now, shown)
        return lanes

    def _request_lanes(self, now: int) -> list[Lane]:
        sec = self._sec
        items = []  # (gen, rid, intended, sent, first, done, kind, status, path)
        seen = set()
        for gen, lg, _c, _f in self._gens:
            path = endpoint_path(lg.url)
            for r in lg.in_flight_requests():
                items.append((gen, r.rid, r.intended_ns, r.sent_ns, 0, 0, OK, 0, path))
                seen.add((gen, r.rid))
        targets: dict[int, tuple] = {g[0]: g[1].targets for g in self._gens}
        for gen, r in self._recent:
            if (gen, r.rid) in seen:
                continue
            tg = targets.get(gen)
            path = endpoint_path(tg[r.target]) if tg and r.target < len(tg) else ""
            items.append((gen, r.rid, r.intended_ns, r.sent_ns, r.first_byte_ns, r.done_ns, r.kind,
                          r.status, path))
        items.sort(key=lambda x: (x[0], x[1]), reverse=True)
        items = items[: self.max_lanes]
        lanes = []
        shown = set()
        for gen, rid, intended, sent, first, done, kind, status, path in items:
            shown.add((gen, rid))
            ident = f"#{rid}" if gen == 1 else f"#{gen}:{rid}"
            key = f"{gen}.{rid}"
            lanes.append(Lane(f"client-{key}", f"{ident} {path}", "client",
                              self._client_segments(intended, sent, first, done, kind, status, now, sec,
                                                    format_request_id(rid)),
                              0, REQUEST_GROUP))
            if self.server is not None and self.server_lanes:
                m = self._find_handler(gen, rid, sent, done) if sent else None
                segs: tuple = ()
                seq = 0
                if m is not None:
                    ep, seq = m
                    segs = self._handler_segments(ep, seq, format_request_id(rid))
                lanes.append(Lane(f"server-{key}", " " * len(ident) + " └ server", "task", segs, seq,
                                  REQUEST_GROUP))
        if now - self._last_prune > 2_000_000_000:
            self._prune(now, shown)
        return lanes

    def _prune(self, now: int, shown: set) -> None:
        self._last_prune = now
        for k in [k for k in self._match if k not in shown]:
            del self._match[k]
        keep = {(m[0].index, m[1]) for m in self._match.values() if m is not None}
        for k in [k for k in self._handler_cache if k not in keep]:
            del self._handler_cache[k]
        horizon = now - self.history_ns - 5_000_000_000
        for ep in self._epochs:
            for tag in [t for t, v in ep.by_tag.items() if v[-1][0] < horizon]:
                del ep.by_tag[tag]
            for seq in [s for s, js in ep.jobs_by_task.items() if js[-1].end_ns < horizon]:
                del ep.jobs_by_task[seq]
        cut = self._sec(now - self.history_ns)
        cut_late = self._sec(now - self.history_ns - self.history_ns // 4)
        if self._loop and self._loop[0].end < cut_late:
            i = bisect.bisect_left(self._loop, cut, key=lambda s: s.end)
            del self._loop[:i]
        for lanes in (self._threads, self._slot_client, self._slot_server):
            for lane in lanes.values():
                if lane and lane[0].end < cut_late:
                    del lane[: bisect.bisect_left(lane, cut, key=lambda s: s.end)]
                if len(lane) > MAX_LANE_SEGMENTS:  # a busy lane: keep its newest part
                    del lane[: len(lane) - MAX_LANE_SEGMENTS * 3 // 4]
        if len(self._loop) > MAX_LOOP_SEGMENTS:
            del self._loop[: len(self._loop) - MAX_LOOP_SEGMENTS * 3 // 4]
        for lanes in (self._slot_client, self._slot_server):
            for k in [k for k, v in lanes.items() if not v]:
                del lanes[k]
        for dq, key in ((self._blocks, lambda b: b["end_ns"]), (self._jobs, lambda j: j[0]),
                        (self._gauges, lambda g: g[0]), (self._busy, lambda b: b[0] * _BUSY_BUCKET_NS)):
            h = now - self.history_ns
            while dq and key(dq[0]) < h:
                dq.popleft()

    def _server_lanes(self, now: int) -> tuple[list[Lane], list[Lane], tuple | None]:
        holding = None
        loop = list(self._loop)
        ep = self._epochs[-1] if self._epochs else None
        srv = self.server
        if ep is not None and srv is not None:
            with srv.lock:
                held = ep.tl.holding()
            if held is not None:
                seq, since, where = held
                state = BLOCKED if ep.tl.now_ns - since >= ep.tl.block_ns else RUNNING
                start = max(since, self._loop_last_end)
                if ep.tl.now_ns > start:
                    info = f"holding the loop at {short_where(where)}" if where else "holding the loop"
                    loop.append(Segment(self._sec(start), self._sec(ep.tl.now_ns), state, seq, info))
                holding = (seq, self._sec(since), where)
        loop_lane = Lane("loop", "event loop (server)", "loop", tuple(loop), 0, LOOP_GROUP)
        threads = []
        if self.thread_lanes:
            threads = [Lane(f"thread-{name}", name, "thread", tuple(segs), 0, THREAD_GROUP)
                       for name, segs in self._threads.items()]
        return [loop_lane], threads, holding

    # ------------------------------------------------------------------ statistics
    def _server_window(self, w0: int, now: int) -> dict:
        out: dict = {}
        if self.server is None:
            return out
        blocks = [b for b in self._blocks if b["end_ns"] >= w0]
        by_where: Counter = Counter()
        total = 0
        cul = {}
        for b in blocks:
            d = b["end_ns"] - max(b["start_ns"], w0)
            total += d
            by_where[b["where"]] += d
            cul[b["where"]] = b["culprit"]
        where = by_where.most_common(1)[0][0] if by_where else ""
        busy = 0
        b0 = w0 // _BUSY_BUCKET_NS
        for b, d in reversed(self._busy):
            if b < b0:
                break
            busy += d
        jobs: Counter = Counter()
        threads: dict[str, set] = {}
        qmax = 0
        queued = 0
        d_ns = int((self.delay or 0) * 1e9)
        threshold = max(5_000_000, d_ns // 4)
        labels: Counter = Counter()
        for end, pool, name, q, label in reversed(self._jobs):
            if end < w0:
                break
            jobs[pool] += 1
            labels[label] += 1
            threads.setdefault(pool, set()).add(name)
            qmax = max(qmax, q)
            if q > threshold:
                queued += 1
        gmax = 0
        last = None
        for g in reversed(self._gauges):
            if last is None:
                last = g
            if g[0] < w0:
                break
            gmax = max(gmax, g[1])
        blocked_now = 0.0
        ep = self._epochs[-1] if self._epochs else None
        if ep is not None:
            with self.server.lock:
                held = ep.tl.holding()
                if held is not None and ep.tl.now_ns - held[1] >= ep.tl.block_ns:
                    blocked_now = (ep.tl.now_ns - held[1]) / 1e9
                    where = held[2] or where
                    if where and where not in cul:
                        func = next((s[2] for s in reversed(ep.tl.samples) if s[1] == where), "")
                        cul[where] = culprit(where, func)
        span = max(1, now - w0)
        out.update(
            w_blocks=len(blocks), w_blocked_s=total / 1e9, block_where=where,
            block_culprit=cul.get(where, ""), w_busy_share=min(1.0, busy / span),
            w_jobs=dict(jobs), w_threads={p: len(s) for p, s in threads.items()},
            w_job_labels=dict(labels.most_common(5)),
            w_queue_max_s=qmax / 1e9, w_queued=queued, pool_max_borrowed=gmax,
            blocked_now_s=blocked_now,
        )
        if last is not None:
            out.update(pool_borrowed=last[1], pool_total=last[2] or self.pool_total,
                       server_in_flight=last[3])
        return out

    def _make_stats(self, rows: list, inflight: list, w0: int, now: int, server: dict,
                    whole_run: bool = False) -> LoadStats:
        """rows: (done, intended, sent, kind) of requests done in [w0, now] (any order);
        inflight: (intended, sent) of requests not done at ``now``."""
        span = max(1, now - w0)
        lat_ok = sorted(d - i for d, i, _s, k, _u in rows if k == OK)
        all_lat = [d - i for d, i, _s, _k, _u in rows]
        svc_ok = [d - s for d, _i, s, k, _u in rows if k == OK]
        if len(lat_ok) > 50_000:  # percentiles of a sample: bounded work per update
            step = len(lat_ok) // 25_000
            lat_ok = lat_ok[::step]
        w_err: Counter = Counter(KIND_NAMES[k] for _d, _i, _s, k, _u in rows if k != OK)
        occupied = sum(d - max(i, w0) for d, i, _s, _k, _u in rows if d > max(i, w0))
        occupied += sum(now - max(i, w0) for i, _s in inflight if now > max(i, w0))
        d_s = self._delay_for(self.endpoint)
        burst = False
        batch_span = 0.0
        if rows and not inflight:
            # one batch: every user sent one request (closed), or all started together (open)
            starts = [r[1] for r in rows]
            users = [r[4] for r in rows]
            tol = max(50_000_000, int((d_s or 0) * 0.25e9))
            if (self.model == "closed" and len(set(users)) == len(users) and len(rows) > 1) or (
                    max(starts) - min(starts) <= tol):
                burst = True
                batch_span = (max(r[0] for r in rows) - min(starts)) / 1e9
        waves = None
        if d_s and d_s >= 0.005 and lat_ok:
            waves = max(1, round(max(lat_ok) / 1e9 / d_s))
        lg_snap = self._lg.snapshot() if self._lg is not None else None
        done = ok = issued = 0
        errors: Counter = Counter()
        for sn in [g[1].snapshot() for g in self._gens] + self._finished_snaps:
            done += sn.done
            ok += sn.ok
            issued += sn.issued
            errors.update({k: v for k, v in sn.errors.items() if v})
        srv = dict(server)
        if self._state != "up":  # the last gauges of a dead server are not "now"
            srv.pop("server_in_flight", None)
            srv.pop("pool_borrowed", None)
        return LoadStats(
            endpoint=self.endpoint,
            url=self.target_url if (self.external or self.server is not None and self.server.port) else "",
            model=self.model,
            delay_s=d_s,
            concurrency=self.concurrency,
            rate=self.rate,
            elapsed_s=(now - self.origin_ns) / 1e9,
            running=self._load == "running",
            issued=issued,
            done=done,
            ok=ok,
            error_total=done - ok,
            errors=dict(errors),
            in_flight=len(inflight) if not whole_run else (lg_snap.in_flight if lg_snap else 0),
            window_s=span / 1e9,
            w_done=len(rows),
            w_ok=len(svc_ok),
            w_errors=dict(w_err),
            w_rps=len(rows) / (span / 1e9),
            w_avg_in_flight=occupied / span,
            w_mean_s=(sum(all_lat) / len(all_lat) / 1e9) if all_lat else 0.0,
            p50_s=_pct(lat_ok, 50) / 1e9,
            p95_s=_pct(lat_ok, 95) / 1e9,
            p99_s=_pct(lat_ok, 99) / 1e9,
            max_s=(lat_ok[-1] / 1e9) if lat_ok else 0.0,
            service_max_s=(max(svc_ok) / 1e9) if svc_ok else 0.0,
            burst=burst,
            batch_span_s=batch_span,
            waves=waves,
            recorded=self.server is not None,
            server_state=self._server_state_name(),
            server_pid=self.server_pid,
            server_in_flight=srv.pop("server_in_flight", None),
            pool_total=srv.pop("pool_total", None) or self.pool_total,
            pool_borrowed=srv.pop("pool_borrowed", None),
            executor_workers=self.executor_workers,
            timeout_s=self.timeout,
            max_in_flight=self.max_in_flight,
            **srv,
        )

    def _server_state_name(self) -> str:
        return {"new": "starting", "starting": "starting", "up": "up", "down": "down",
                "restarting": "restarting", "failed": "failed", "external": "external"}.get(
            self._state, self._state) if not self._stopped else "stopped"

    # ------------------------------------------------------------------ the update
    def poll(self) -> None:
        """Read what the generators and the server said since the last poll."""
        with self._lock:
            self._poll_client()
            self._poll_server()

    def update(self) -> LoadUpdate:
        """Everything measured so far, as one immutable view (call from one thread)."""
        self.check_server()
        with self._lock:
            self._poll_client()
            self._poll_server()
            now = now_ns()
            inflight = [(r.intended_ns, r.sent_ns) for g in self._gens for r in g[1].in_flight_requests()]
            mean_prev = 0
            w = self.window_ns
            rows = self._rows
            # widen the window to 3 x the typical latency, so Little's law has room
            if rows:
                tail = rows[-200:]
                mean_prev = sum(d - i for d, i, _s, _k, _u in tail) // len(tail)
                w = max(w, 3 * mean_prev)
            w = min(w, self.history_ns)
            start = self._first_intended or self.origin_ns
            w0 = max(now - w, min(start, now - 1))
            status = self._status()
            last = self._last_stats
            if last is None or now - self._stats_at >= STATS_INTERVAL_NS or status != self._stats_status:
                i0 = bisect.bisect_left(rows, (w0,))
                stats = self._make_stats(rows[i0:], inflight, w0, now, self._server_window(w0, now))
                last = self._last_stats = (stats, make_caption(stats))
                self._stats_at = now
                self._stats_status = status
            stats, cap = last
            if self.lanes:
                loop, threads, holding = self._server_lanes(now) if self.server is not None else ([], [], None)
                clients = self._user_lanes(now) if self.lane_mode == "users" else self._request_lanes(now)
                lanes = tuple(loop + clients + threads)
            else:
                lanes, holding = (), None
            self._version += 1
            blocks = tuple({**b, "start_s": self._sec(b["start_ns"]), "end_s": self._sec(b["end_ns"])}
                           for b in list(self._blocks)[-200:])
            snap = Snapshot(
                version=self._version,
                live=status not in (FINISHED, STOPPED, FAILED),
                t_end=max(0.0, self._sec(now)),
                lanes=lanes,
                blocks=blocks,
                holding=holding,
                extra={"kind": "load", "threads_hidden": self._threads_hidden,
                       "lane_mode": self.lane_mode, "requests_not_shown": self._slots_hidden},
            )
            return LoadUpdate(self._version, status, snap, stats, cap, self.error, self.knobs(),
                              tuple((self._sec(t), text) for t, text in self._notes))

    # ------------------------------------------------------------------ the report
    def report(self) -> dict:
        """The whole run, for `coffeeshop-tui load` (--json): call after wait() / stop()."""
        with self._lock:
            self._poll_client()
            self._poll_server()
            records = []
            for gen, lg, _c, _f in self._gens:
                records += [(gen, r, lg.targets) for r in lg.records_since(0).records]
            rows = [(r.done_ns, r.intended_ns, r.sent_ns, r.kind, r.user) for _g, r, _t in records]
            if rows:
                w0 = min(r[1] for r in rows)
                end = max(d for d, *_ in rows)
            else:
                w0 = end = self.origin_ns
            server = self._server_whole(w0, end)
            stats = self._make_stats(rows, [], w0, max(end, w0 + 1), server.pop("_stats", {}),
                                     whole_run=True)
            per_request = []
            sec = self._sec
            full_index = self._full_index()
            jobs_of: dict[tuple[int, int], list] = {}
            for ep in self._epochs:
                for j in ep.tl.jobs:
                    if j.task:
                        jobs_of.setdefault((ep.index, j.task), []).append(j)
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
                m = self._match_full(full_index, r)
                if m is not None:
                    ep, seq = m
                    t = ep.tl.tasks[seq]
                    jobs = sorted(jobs_of.get((ep.index, seq), ()), key=lambda j: j.submit_ns)
                    segs = _split_waiting(ep.tl.task_segments(seq), jobs, ep.tl.origin, ep.tl.block_ns)
                    tot: Counter = Counter()
                    for st, s, e in segs:
                        tot[st] += e - s
                    item["server"] = {
                        "task": seq, "start_s": round(sec(t.created_ns), 6),
                        "end_s": round(sec(t.done_ns), 6) if t.done_ns else None,
                        **{f"{st}_ms": round(tot[st] / 1e6, 3)
                           for st in (RUNNING, BLOCKED, STARVED, WAITING, QUEUED, THREAD)},
                    }
                per_request.append(item)
            snap = self._lg.snapshot() if self._lg is not None else None
            return {
                "endpoint": self.endpoint,
                "url": self.target_url if (self.external or (self.server and self.server.port)) else "",
                "app": None if self.external else self.app,
                "model": self.model,
                "status": self._status(),
                "client": self.client,
                "caption": make_caption(stats),
                "stats": stats.to_dict(),
                "percentiles_ms": {
                    "p50": round(stats.p50_s * 1e3, 3), "p95": round(stats.p95_s * 1e3, 3),
                    "p99": round(stats.p99_s * 1e3, 3), "max": round(stats.max_s * 1e3, 3),
                },
                "errors": dict(stats.errors),
                "dropped_arrivals": snap.dropped_arrivals if snap else 0,
                "server": server,
                "notes": [{"t_s": round(sec(t), 6), "note": text} for t, text in self._notes],
                "requests": per_request,
            }

    def _full_index(self) -> list[tuple[_Epoch, dict]]:
        out = []
        for ep in self._epochs:
            idx: dict[str, list] = {}
            for seq, t in ep.tl.tasks.items():
                if t.tag:
                    idx.setdefault(t.tag, []).append((t.created_ns, seq))
            out.append((ep, idx))
        return out

    @staticmethod
    def _match_full(index, r) -> tuple[_Epoch, int] | None:
        lo = r.sent_ns - _MATCH_SLACK_NS
        hi = r.done_ns + _MATCH_SLACK_NS
        for ep, idx in reversed(index):
            for created, seq in idx.get(r.request_id, ()):
                if lo <= created <= hi:
                    return ep, seq
        return None

    def _server_whole(self, w0: int, end: int) -> dict:
        """Server facts over the whole run (every recorded epoch)."""
        if self.server is None:
            return {"recorded": False, "error": self.error}
        sec = self._sec
        blocks = []
        jobs: Counter = Counter()
        labels: Counter = Counter()
        threads: dict[str, set] = {}
        qmax = 0
        queued = 0
        busy = 0
        gmax = 0
        last_gauge = None
        d_ns = int((self.delay or 0) * 1e9)
        threshold = max(5_000_000, d_ns // 4)
        for ep in self._epochs:
            tl = ep.tl
            with self.server.lock:
                tasks = tl.tasks
                for b in tl.blocks():
                    t = tasks.get(b["task"])
                    func = next((s[2] for s in reversed(tl.samples) if s[1] == b["where"]), "")
                    blocks.append({"start_s": round(sec(b["start_ns"]), 6), "end_s": round(sec(b["end_ns"]), 6),
                                   "duration_s": round((b["end_ns"] - b["start_ns"]) / 1e9, 6),
                                   "where": b["where"], "culprit": culprit(b["where"], func) if b["where"] else "",
                                   "request_id": t.tag if t is not None else "",
                                   "_s": b["start_ns"], "_e": b["end_ns"]})
                for j in tl.jobs:
                    jobs[j.pool] += 1
                    labels[j.label] += 1
                    threads.setdefault(j.pool, set()).add(f"{ep.index}|{j.thread}")
                    q = max(0, j.start_ns - j.submit_ns)
                    qmax = max(qmax, q)
                    if q > threshold:
                        queued += 1
                busy += tl.busy_ns()
                for _t, g in tl.gauges:
                    gmax = max(gmax, g.get("pool_borrowed", 0))
                    last_gauge = g
        by_where: Counter = Counter()
        cul = {}
        for b in blocks:
            by_where[b["where"]] += b["_e"] - b["_s"]
            cul[b["where"]] = b["culprit"]
        where = by_where.most_common(1)[0][0] if by_where else ""
        wall = max(1, end - w0)
        stats = dict(
            w_blocks=len(blocks), w_blocked_s=sum(b["_e"] - b["_s"] for b in blocks) / 1e9,
            block_where=where, block_culprit=cul.get(where, ""), w_busy_share=min(1.0, busy / wall),
            w_jobs=dict(jobs), w_threads={p: len(s) for p, s in threads.items()},
            w_job_labels=dict(labels.most_common(5)),
            w_queue_max_s=qmax / 1e9, w_queued=queued, pool_max_borrowed=gmax,
        )
        if last_gauge is not None:
            stats.update(pool_total=last_gauge.get("pool_total") or self.pool_total)
        for b in blocks:
            del b["_s"], b["_e"]
        srv = self.server
        return {
            "recorded": True,
            "pid": self.server_pid,
            "port": srv.port,
            "restarts": max(0, len(self._epochs) - 1),
            "crashed": self._state == "down",
            "error": self.error,
            "blocks": blocks,
            "blocked_s": round(stats["w_blocked_s"], 6),
            "loop_busy_s": round(busy / 1e9, 6),
            "pool": {
                "anyio_tokens": stats.get("pool_total") or self.pool_total,
                "max_borrowed": gmax,
                "default_executor_workers": self.executor_workers,
                "jobs": dict(jobs),
                "threads_used": {p: len(s) for p, s in threads.items()},
                "max_wait_for_thread_s": round(qmax / 1e9, 6),
            },
            "_stats": stats,
        }


def run_load(endpoint: str, **kwargs) -> dict:
    """Blocking convenience: a bounded load test, its report (needs requests= or duration=)."""
    if kwargs.get("requests") is None and kwargs.get("duration") is None:
        raise LoadTestError("run_load needs requests= or duration=")
    lt = LoadTest(endpoint, lanes=False, **kwargs)
    try:
        lt.start()
        lt.wait()
    finally:
        lt.stop(graceful=True)
    return lt.report()


def dumps(report: dict) -> str:
    return json.dumps(report, indent=1)
