"""The load-test session: lifecycle (start / stop / restart / kill) and live knobs.

:class:`LoadSession` owns the server child (:class:`~.server.WebServer`, recorded), the load
generators (:class:`~.loadgen.LoadGenerator`, one per model switch / resume) and the knob
values, validated by :mod:`.load_settings`. Every method may be called from any thread: each
takes the short ``_lock`` (state and knobs only), never one held while an update is built,
so a UI's knob change never waits behind a producer. Reading what was measured is
:class:`~.loadtest.LoadTest`'s job (it extends this class).

:meth:`start` raises ServerError (port in use, app failed to import...) or LoadTestError (no
such route, not an ASGI app) with a clear message and leaves nothing running. A server that
dies mid-test is noticed by :meth:`check_server` (``status == "server down"``, :attr:`error`)
and :meth:`restart` brings it back on the same port.
:meth:`stop` stops everything and is idempotent. While the server is down or restarting
the load is paused (a dead port only burns CPU; load would starve the new server's
readiness check); a successful restart resumes it with a fresh generator.

This module (~690 lines: lifecycle and knobs share the session's state and its one short
lock) does not import textual.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
import weakref

import httpx

from coffeeshop_tui.scenarios.web.load_feed import ServerFeed
from coffeeshop_tui.scenarios.web.load_lanes import ViewOptions
from coffeeshop_tui.scenarios.web.load_settings import (
    DEMO_ENDPOINTS,
    KNOBS,
    NO_DELAY_ENDPOINTS,
    LoadTestError,
    check_endpoint,
    endpoint_path,
    endpoint_url,
)
from coffeeshop_tui.scenarios.web.loadgen import LoadGenerator, check_target
from coffeeshop_tui.scenarios.web.loadgen_proc import ProcessLoadGenerator
from coffeeshop_tui.scenarios.web.server import DEFAULT_APP, ServerError, WebServer

now_ns = time.monotonic_ns

# statuses
STARTING, RUNNING_, PAUSED, FINISHED = "starting", "running", "paused", "finished"
DOWN, RESTARTING, FAILED, STOPPED = "server down", "restarting", "failed", "stopped"

LIVE_RECORDS = 50_000
REPORT_RECORDS = 200_000
KEEP_INTERVALS = 120  # the generator's per-second summaries kept (nothing here reads older ones)

_MIDDLEWARE_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "middleware.py")


_LIVE: weakref.WeakSet[LoadSession] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # the last line of defence; WebServer has its own, too
    for lt in list(_LIVE):
        try:
            lt.stop()
        except Exception:
            pass


def asgi_call_error(log: str) -> str | None:
    """The TypeError of calling a served object that is not an ASGI app, from the server's log
    (uvicorn's traceback ends in LabMiddleware's call of the app, not inside the app); None if
    the log shows no such error."""
    tail = log.split("Exception in ASGI application")
    if len(tail) < 2:
        return None
    lines = [ln for ln in tail[-1].strip().splitlines() if ln.strip()]
    frames = [ln.strip() for ln in lines if ln.strip().startswith('File "')]
    last = lines[-1].strip() if lines else ""
    if frames and frames[-1].startswith(f'File "{_MIDDLEWARE_PY}"') and last.startswith("TypeError"):
        return last
    return None


class LoadSession:
    """A server under the recorder + a load generator, live (see the module docstring).

    Args:
        endpoint: path on the server (``/sync``; may carry a query, e.g. ``/cpu?work=1000``).
        app: ``module:attr`` of the ASGI app to serve (default: the demo app).
        url: load-test an already running server at this base URL instead (no server
            instruments then; loopback only unless allow_remote).
        model, concurrency, rate, delay, requests, duration, timeout, pool_size,
        max_in_flight, port: the knobs (limits: :data:`.load_settings.KNOBS`). delay None:
            do not send ``?delay=`` (the demo's /cpu and /health never get it); requests /
            duration None: until stop().
        max_lanes: request lanes kept (the most recent ones).
        history_s: seconds of loop / thread segments and of statistics kept.
        window_s: statistics window (s) for the live numbers (widened to 3 x latency).
        server_lanes, lane_mode: the default :class:`ViewOptions` (update(view=...) overrides).
        lanes: build lanes at all (False for headless runs: statistics only).
        loop_queue: keep what the server's loop held (``loop_moment.loop_at``: the ``w`` panel)
            in its recording (only with lanes).
        defer_server: read the server's recording only once it has stopped (headless runs
            whose report is made at the end: ``WebServer``'s ``defer_events``); the live
            statistics then have no server side. Not with lanes.
        loadgen_process: run each generator in a child process that streams its requests
            (:class:`~.loadgen_proc.ProcessLoadGenerator`): a live screen's process then
            shares its GIL and its garbage collector with no HTTP client (keys stay quick
            under 1,000 users). Otherwise in a thread of this process.
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
        loop_queue: bool = False,
        defer_server: bool = False,
        loadgen_process: bool = False,
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
        self.endpoint = check_endpoint(endpoint, self.demo)
        self.model = KNOBS["model"].check(model)
        self.concurrency = KNOBS["concurrency"].check(concurrency)
        self.rate = KNOBS["rate"].check(rate)
        self.delay = KNOBS["delay"].check(delay)
        self.requests = KNOBS["requests"].check(requests)
        self.duration = KNOBS["duration"].check(duration)
        self.timeout = KNOBS["timeout"].check(timeout)
        self.pool_size = KNOBS["pool_size"].check(pool_size)
        self.max_in_flight = KNOBS["max_in_flight"].check(max_in_flight) or None
        self.port = KNOBS["port"].check(port or None)
        if not (isinstance(block_ms, (int, float)) and math.isfinite(block_ms) and block_ms > 0):
            raise LoadTestError("block threshold must be > 0 ms")
        self.view = ViewOptions(handlers=server_lanes, threads=True, lane_mode=lane_mode)
        self.cwd = cwd
        self.block_ms = block_ms
        self.max_lanes = max(1, max_lanes)
        self.history_ns = int(history_s * 1e9) if math.isfinite(history_s) else 1 << 62
        self.window_ns = int(window_s * 1e9)
        self.lanes = lanes
        self.loop_queue = loop_queue and lanes
        self.defer_server = defer_server and not lanes
        self.drain_timeout = drain_timeout
        self.client = client
        self.loadgen_process = loadgen_process
        self.max_thread_lanes = max_thread_lanes
        # per-request records kept by each generator (54 bytes each): a live screen reads
        # them as they come (a few seconds' worth is plenty); a headless run's report
        # (--json) lists every request
        self.record_capacity = LIVE_RECORDS if lanes else REPORT_RECORDS

        self.server: WebServer | None = None
        self.feed: ServerFeed | None = None
        self.server_pid: int | None = None
        self.pool_total: int | None = pool_size
        self.executor_workers: int | None = None
        self.routes: tuple[str, ...] = tuple(DEMO_ENDPOINTS) if self.demo else ()
        self.error: str | None = None
        self.origin_ns = now_ns()
        self._lock = threading.RLock()  # short: state and knobs, never held for a whole update
        self._reader = threading.Lock()  # one reader (update / report / poll) at a time
        self._state = "new"  # new | starting | up | down | restarting | failed | stopped | external
        self._load = "idle"  # idle | running | paused | finished
        self._stopped = False
        self._version = 0
        self._notes: list[tuple[int, str]] = []
        self._fresh_ns = 0  # the live window starts here at the earliest (the last switch / restart)
        self._resume_after_start = False  # the load was paused for a restart / a dead server
        # the generators (one per model switch / resume), newest last: [gen, lg, future]
        self._gen = 0
        self._lg: LoadGenerator | None = None
        self._lg_future = None
        self._gens: list[list] = []
        _LIVE.add(self)

    # ------------------------------------------------------------------ properties
    def _delay_for(self, endpoint: str, delay: float | None) -> float | None:
        if delay is None or (self.demo and endpoint_path(endpoint) in NO_DELAY_ENDPOINTS):
            return None
        return delay

    @property
    def base_url(self) -> str:
        if self.external:
            return self._base
        if self.server is None or self.server.port is None:
            raise ServerError("server not started")
        return self.server.url

    @property
    def target_url(self) -> str:
        return endpoint_url(self.base_url, self.endpoint, self._delay_for(self.endpoint, self.delay))

    @property
    def recorded(self) -> bool:
        return self.server is not None

    @property
    def lane_mode(self) -> str:
        return self.view.lane_mode

    @property
    def status(self) -> str:
        with self._lock:
            return self._status()

    def _status(self) -> str:
        if self._stopped:
            return STOPPED
        return {"failed": FAILED, "new": STARTING, "starting": STARTING, "restarting": RESTARTING,
                "down": DOWN}.get(self._state) or {"paused": PAUSED, "finished": FINISHED}.get(
                    self._load, RUNNING_)

    def knobs(self) -> dict:
        with self._lock:
            return {"endpoint": self.endpoint, "model": self.model, "concurrency": self.concurrency,
                    "rate": self.rate, "delay": self.delay, "pool_size": self.pool_total,
                    "max_in_flight": self.max_in_flight}

    def _note(self, text: str) -> None:
        self._notes.append((now_ns(), text))
        del self._notes[:-50]

    def _set_origin(self, t: int) -> None:
        self.origin_ns = t
        if self.feed is not None:
            self.feed.origin_ns = t

    def _sec(self, ns: int) -> float:
        return (ns - self.origin_ns) / 1e9

    def _fresh_window(self) -> None:
        """A switch (endpoint, delay, model) or a server restart starts a fresh live window
        now (under self._lock): what came before is not the current endpoint's / server's."""
        self._fresh_ns = now_ns()

    # ------------------------------------------------------------------ lifecycle
    def start(self, load: bool = True) -> LoadSession:
        """Start the server (unless ``url`` was given) and the load (``load=False``: only
        the server; :meth:`resume` starts the load). Raises ServerError (port in use, app
        failed...) or LoadTestError (no such route); nothing is left running then."""
        with self._lock:
            if self._state != "new":
                return self
            self._state = "starting"
            self._set_origin(now_ns())
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
                        block_ms=self.block_ms, loop_queue=self.loop_queue, defer_events=self.defer_server)
        self.server = srv
        self.feed = ServerFeed(srv, self.origin_ns, self.history_ns, self.lanes, self.max_thread_lanes)
        srv.start()  # ServerError: port in use, import failed, not ready...
        self.server_pid = srv.pid
        if not self.demo:
            self._check_asgi()
        self._read_pool()
        if not self.demo:
            self._read_routes()

    def _check_asgi(self) -> None:
        """A served object that is not an ASGI app (``--app os:getcwd``) answers every request
        with 500: say so before any load is sent."""
        try:
            httpx.get(f"{self.base_url}/health", timeout=5)
        except httpx.HTTPError:
            return
        why = asgi_call_error(self.server.log_tail(4000))
        if why:
            raise LoadTestError(f"{self.app!r} is not an ASGI app (an async callable taking scope, "
                                f"receive, send): calling it failed with {why}")

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
            self._set_origin(now_ns())  # time 0 of every lane: the first request
        self._gen += 1
        drain = self.drain_timeout
        if drain is None:
            if self.duration:  # ends on time: requests still out then are "unfinished"
                drain = min(self.timeout + 1.0, max(0.05, 0.05 * self.duration))
            else:
                drain = self.timeout + 1.0 if self.requests else 1.0
        lg = (ProcessLoadGenerator if self.loadgen_process else LoadGenerator)(
            self.target_url, model=self.model, concurrency=self.concurrency, rate=self.rate,
            requests=self.requests, duration=self.duration, timeout=self.timeout,
            client=self.client, error_backoff=0.05, drain_timeout=drain,
            allow_remote=self.allow_remote, record_capacity=self.record_capacity,
            keep_intervals=KEEP_INTERVALS,
        )
        fut = lg.start_in_thread(name=f"loadgen-{self._gen}")
        self._lg, self._lg_future = lg, fut
        self._gens.append([self._gen, lg, fut])
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
            gens = list(self._gens)
        if graceful:
            for _g, lg, fut in gens:
                lg.stop()
                try:
                    fut.result(timeout=self.timeout + 2.0)
                except Exception:
                    pass
            self.settle()
        self._shutdown(fast=not graceful)

    def settle(self, timeout: float = 2.0) -> bool:
        """Wait until the server's recording covers the last answer by two drains (~0.1 s),
        so handler tasks are closed in it. True if it caught up."""
        srv = self.server
        if srv is None or not srv.alive():
            return False
        target = now_ns() + 150_000_000  # the load has stopped: every answer is older
        if srv.defer_events:  # nothing is read before the end: give it the same two drains
            time.sleep(0.15)
            return srv.alive()
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
        with self._lock:
            gens = list(self._gens)
        for _g, lg, _f in gens:
            lg.stop()
        srv = self.server
        if srv is not None:
            if fast:
                srv.kill()  # in-flight requests end at once (disconnect)
            srv.stop(timeout=3.0)
        for _g, lg, fut in gens:
            try:
                fut.result(timeout=5.0)
            except Exception:
                pass
            kill = getattr(lg, "kill", None)  # a generator's child process: never left running
            if kill is not None:
                kill()
        _LIVE.discard(self)

    def __enter__(self) -> LoadSession:
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
                self._pause_for_server("the server is down")
            return self._status()

    def kill_server(self) -> None:
        """SIGKILL the server (what a crash looks like)."""
        if self.server is not None:
            self.server.kill()
        self.check_server()

    def _pause_for_server(self, why: str) -> None:
        """Pause the load while the server is down or restarting (under self._lock): a dead
        port only burns CPU with connect errors, and load would starve the new server's
        readiness check. The next successful (re)start resumes it."""
        if self._lg is not None and self._load == "running":
            self._lg.stop()
            self._load = "paused"
            self._resume_after_start = True
            self._note(f"load paused: {why}")

    def _wait_generators(self, timeout: float) -> None:
        """Wait (bounded) until the stopped generators are done, before a new server listens
        on the port: aiohttp retries a request whose kept-alive connection died once, and
        those retries (41 x /bad) would otherwise land on the new server and starve its
        start-up; with the port closed they are refused at once."""
        with self._lock:
            futs = [f for _g, _lg, f in self._gens]
        deadline = time.monotonic() + timeout
        for f in futs:
            try:
                f.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:
                pass

    def restart(self) -> None:
        """(Re)start the server on the same port. The load pauses meanwhile (nothing starves
        the new server's start) and resumes, with a fresh generator, once it is up. Raises
        ServerError if it cannot start (the state is then "failed", retry later)."""
        if self.external:
            return
        with self._lock:
            if self._stopped:
                return
            first = self._gen == 0
            self._state = "restarting"
            self.error = None
            self._pause_for_server("the server is restarting")
        try:
            if self.server is None:
                self._start_server()
            else:
                self.server.kill()  # the old one may be blocked (/bad): never wait for it
                with self._lock:  # what the old server did (its blocks, busy time, pool) is over
                    self._fresh_window()
                self._wait_generators(3.0)
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
            # the window starts with the new server's load: not the old server's last blocks,
            # busy time or requests, nor the new one's start-up (before its first request)
            self._fresh_window()
            self._note("server restarted" if not first else "server started")
            if self._gen == 0:
                self._start_load()
            elif self._resume_after_start and self._load == "paused" and not self._stopped:
                self._start_load()
                self._note("load resumed")
            self._resume_after_start = False

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
        n = KNOBS["concurrency"].check(n)
        with self._lock:
            self.concurrency = n
            if self._lg is not None and self.model == "closed":
                self._lg.set_concurrency(n)
            self._note(f"concurrency {n}")

    def set_rate(self, rate: float) -> None:
        rate = KNOBS["rate"].check(rate)
        with self._lock:
            self.rate = rate
            if self._lg is not None and self.model == "open":
                self._lg.set_rate(rate)
            self._note(f"rate {rate:g}/s")

    def _retarget(self) -> None:
        if self._lg is not None and (self.external or self.server is not None):
            self._lg.set_target(self.target_url)

    def set_delay(self, delay: float) -> None:
        delay = KNOBS["delay"].check(delay)
        with self._lock:
            self.delay = delay
            self._fresh_window()
            self._retarget()
            self._note(f"delay {delay:g} s" if delay is not None else "delay off")

    def set_endpoint(self, endpoint: str) -> None:
        check_endpoint(endpoint, self.demo)
        with self._lock:
            self.endpoint = endpoint
            self._fresh_window()
            self._retarget()
            self._note(f"endpoint {endpoint}")

    def set_model(self, model: str) -> None:
        """Switch between "closed" and "open": a new generator (ids restart, lanes keep)."""
        model = KNOBS["model"].check(model)
        with self._lock:
            if model == self.model:
                return
            self.model = model
            self._fresh_window()
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
        """Set the server's anyio thread limiter (what `def` endpoints use), live (blocks on
        an HTTP call: not from a UI thread)."""
        size = KNOBS["pool_size"].check(size)
        if size is None:
            raise LoadTestError(f"pool size must be {KNOBS['pool_size'].rule()}, got None")
        info = self._admin("pool", size=size)
        with self._lock:
            self.pool_total = int(info["total"])
            self.pool_size = self.pool_total
            if self.server is not None:
                self.server.pool_size = self.pool_total
            self._note(f"pool {self.pool_total} threads")
        return info

    def set_max_in_flight(self, n: int) -> dict:
        """The server's 503 limit (0 = none), live (an HTTP call: not from a UI thread)."""
        n = KNOBS["max_in_flight"].check(n) or 0
        info = self._admin("limit", max_in_flight=n)
        with self._lock:
            self.max_in_flight = n or None
            if self.server is not None:
                self.server.max_in_flight = self.max_in_flight
            self._note(f"503 limit {n or 'off'}")
        return info

    # ------------------------------------------------------------------ reading: client
    def in_flight(self) -> int:
        with self._lock:
            gens = list(self._gens)
        return sum(len(lg.in_flight_requests()) for _g, lg, _f in gens)

    def loadgen_snapshot(self):
        lg = self._lg
        return lg.snapshot() if lg is not None else None

    def _generators(self) -> list[tuple[int, LoadGenerator]]:
        with self._lock:
            return [(g, lg) for g, lg, _f in self._gens]

