"""Every load-test knob, defined and validated once: the CLI, the screen and the controller use these.

Each :class:`Knob` is built on the scenario API's :class:`coffeeshop_tui.scenarios.api.Param`
(its kind, range and help), plus what a load test needs on top: a label for the screen, the
CLI flag, whether ``None`` is allowed ("off" / "the server's default"), and a ladder of
round values for the screen's ``<`` / ``>`` keys. One knob gives

* :meth:`Knob.check` -- the controller's validation (:class:`LoadTestError`, one line);
* :meth:`Knob.argtype` -- the CLI's argparse type (the same rule, as argparse's error);
* :meth:`Knob.parse` -- a typed value (the screen's ``i``);
* :meth:`Knob.nudge` -- one ladder step, clamped to the Param's range (the screen's ``< >``).

So a limit (e.g. :data:`MAX_CONCURRENCY`) is written here and nowhere else; the README
documents the caps. :data:`ENDPOINTS` is the one table of the demo app's endpoints (the CLI's
help, the screen's picker, the main menu and the controller's route check).

This module does not import textual.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from coffeeshop_tui.scenarios.api import Param, ScenarioError, param


class LoadTestError(ValueError):
    """Bad settings for a load test (one line, fit for a CLI error)."""


# ----------------------------------------------------------------------------- the caps
MAX_CONCURRENCY = 10_000  # closed model: virtual users (one asyncio task each, in this process)
MIN_RATE = 0.1  # open model: arrivals per second
MAX_RATE = 10_000.0  # more than one client process can send on this kind of machine
MAX_DELAY_S = 60.0  # the demo app's limit for ?delay= (scenarios/web/app.py: Query(le=60))
MAX_POOL = 10_000  # the server's anyio tokens (scenarios/web/middleware.py enforces it as MAX_POOL_SIZE)
MAX_IN_FLIGHT = 1_000_000
MAX_REQUESTS = 1_000_000_000
MAX_DURATION_S = 86_400.0
MAX_TIMEOUT_S = 3_600.0
MODELS = ("closed", "open")
LANE_MODES = ("requests", "users")


# ----------------------------------------------------------------------------- endpoints
@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the demo app (scenarios/web/app.py)."""

    path: str
    what: str  # what it does (the CLI's help, the controller's notes)
    short: str  # the screen's picker (narrow)
    lesson: str  # the main menu's lesson
    delay: bool = True  # takes ?delay=


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/sync", "def + time.sleep: a worker thread waits", "def + time.sleep",
             "def + time.sleep: FastAPI runs it in a pool of 40 threads, so it does not block the "
             "loop; request 41 waits for a thread."),
    Endpoint("/async", "async def + await asyncio.sleep", "await sleep()",
             "async def + await asyncio.sleep: the loop serves every request while they wait."),
    Endpoint("/bad", "async def + time.sleep: blocks the loop", "sleep in async",
             "async def + time.sleep: the loop is blocked, requests are served one at a time."),
    Endpoint("/good", "/bad fixed: await asyncio.sleep", "/bad, fixed",
             "the fixed /bad: await asyncio.sleep instead of time.sleep."),
    Endpoint("/safe", "await run_in_threadpool(blocking)", "run_in_threadpool",
             "async def awaiting run_in_threadpool(blocking): the blocking call goes to the pool."),
    Endpoint("/to_thread", "await asyncio.to_thread(time.sleep)", "asyncio.to_thread",
             "asyncio.to_thread: asyncio's default executor, min(32, CPUs + 4) threads."),
    Endpoint("/cpu", "pure-Python work in async def", "CPU in async def",
             "pure-Python CPU work inside async def: it holds the loop like time.sleep does.",
             delay=False),
)
#: path -> what it does
DEMO_ENDPOINTS: dict[str, str] = {e.path: e.what for e in ENDPOINTS}
#: demo paths that never get ?delay= (/health is served but not offered)
NO_DELAY_ENDPOINTS = tuple(e.path for e in ENDPOINTS if not e.delay) + ("/health",)


def endpoint_path(url: str) -> str:
    return urlsplit(url).path or "/"


def endpoint_problem(endpoint: Any, demo: bool = True) -> str | None:
    """Why ``endpoint`` cannot be loaded (None if it can). A query is kept (``/cpu?work=10``);
    a fragment is refused (nothing after ``#`` reaches a server, so ``?delay=`` would be
    dropped silently), and so is a ``delay=`` in the query (the delay is its own knob)."""
    if not isinstance(endpoint, str) or not endpoint.startswith("/"):
        return f"must be a path starting with '/', got {endpoint!r}"
    if any(c.isspace() or ord(c) < 32 for c in endpoint):
        return f"must not contain spaces or control characters, got {endpoint!r}"
    if "#" in endpoint:
        return (f"must not contain a fragment ('#...': it never reaches the server, and the "
                f"delay would be lost), got {endpoint!r}")
    if "delay" in parse_qs(urlsplit(endpoint).query, keep_blank_values=True):
        return f"must not set delay= in its query (the delay is its own knob), got {endpoint!r}"
    if demo:
        path = endpoint_path(endpoint)
        if path not in DEMO_ENDPOINTS and path != "/health":
            return f"no endpoint {path!r} in the demo app; choose one of " + ", ".join(DEMO_ENDPOINTS)
    return None


def check_endpoint(endpoint: Any, demo: bool = True) -> str:
    problem = endpoint_problem(endpoint, demo)
    if problem is None:
        return endpoint
    if problem.startswith("no endpoint"):
        raise LoadTestError(problem)
    raise LoadTestError(f"endpoint {problem}")


def endpoint_url(base: str, endpoint: str, delay: float | None) -> str:
    """base + endpoint, with ``delay=`` added to its query when delay is not None."""
    url = base.rstrip("/") + endpoint
    if delay is None:
        return url
    sep = "&" if "?" in endpoint else "?"
    return f"{url}{sep}delay={delay:g}"


# ----------------------------------------------------------------------------- knobs
def _g(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Knob:
    """One load-test knob: a :class:`Param` plus what the CLI and the screen need."""

    param: Param
    label: str  # the screen's name for it
    flag: str  # the CLI option
    default: Any = None  # the controller's default (None: off / the server's own)
    optional: bool = False  # None is a valid value
    zero_is_off: bool = False  # 0 means "no limit" (shown "off")
    ladder: tuple = ()  # round values for the screen's < > keys
    unit: str = ""

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def kind(self) -> type:
        return self.param.kind

    def rule(self) -> str:
        """The rule, e.g. 'a whole number in 1..10000' (errors of the CLI and the screen)."""
        p = self.param
        if p.choices:
            return "one of " + ", ".join(map(str, p.choices))
        what = "a whole number" if p.kind is int else "a number" if p.kind is float else "text"
        rng = f" in {_g(p.min)}..{_g(p.max)}" if p.min is not None and p.max is not None else ""
        extra = ", 0 = no limit" if self.zero_is_off else ""  # (no nested brackets in help)
        return f"{what}{rng}{f' {self.unit}' if self.unit else ''}{extra}"

    def _bad(self, value: Any) -> LoadTestError:
        return LoadTestError(f"{self.name.replace('_', ' ')} must be {self.rule()}, got {value!r}")

    def check(self, value: Any) -> Any:
        """The validated value (a float knob takes an int); LoadTestError otherwise."""
        if value is None and self.optional:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            raise self._bad(value)
        try:
            return self.param.check(value)
        except ScenarioError:
            raise self._bad(value) from None

    def parse(self, text: str) -> Any:
        """A value typed as text ('off' for an optional / zero-is-off knob)."""
        t = text.strip()
        if t.lower() in ("off", "none", "-") and (self.optional or self.zero_is_off):
            return 0 if self.zero_is_off else None
        try:
            return self.check(self.param.parse(t))
        except ScenarioError:
            raise self._bad(t) from None

    def argtype(self) -> Callable[[str], Any]:
        """An argparse type: argparse reports 'argument --flag: must be <rule>, got <text>'."""

        def parse(text: str) -> Any:
            try:
                return self.parse(text)
            except LoadTestError:
                raise argparse.ArgumentTypeError(f"must be {self.rule()}, got {text!r}") from None

        parse.__name__ = self.name  # argparse names the type in some messages
        return parse

    def clamp(self, value: Any) -> Any:
        p = self.param
        if p.min is not None:
            value = max(p.min, value)
        if p.max is not None:
            value = min(p.max, value)
        return p.kind(value)

    def nudge(self, value: Any, direction: int) -> Any:
        """One step up (direction > 0) or down: the next ladder value (or the Param's own
        step), clamped to the Param's range."""
        p = self.param
        if p.choices or not self.ladder:
            base = p.default if value is None else value
            return p.nudge(base, direction)
        value = p.default if value is None else value
        if direction > 0:
            new = next((v for v in self.ladder if v > value + 1e-9), None)
            new = p.max if new is None else new
        else:
            new = next((v for v in reversed(self.ladder) if v < value - 1e-9), None)
            new = p.min if new is None else new
        return self.clamp(new)

    def fmt(self, value: Any) -> str:
        if value is None or (self.zero_is_off and not value):
            return "off" if self.zero_is_off else "-"
        return _g(value)

    def help(self) -> str:
        return f"{self.param.help} ({self.rule()})"


def _knob(name, default, lo, hi, label, flag, help, *, param_default=None, choices=None, **kw) -> Knob:
    p = param(name, default if param_default is None else param_default, lo, hi, help=help, choices=choices)
    return Knob(p, label, flag, default, **kw)


KNOBS: dict[str, Knob] = {k.name: k for k in (
    _knob("endpoint", "/sync", None, None, "endpoint", "--endpoint",
          "the path to load (a query is kept; no '#')"),
    _knob("model", "closed", None, None, "model", "--model",
          "closed (users) or open (arrival rate)", choices=MODELS),
    _knob("concurrency", 10, 1, MAX_CONCURRENCY, "users", "--concurrency",
          "closed model: users sending one request after another",
          ladder=(1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 41, 50, 60, 80, 100, 150, 200, 300, 500,
                  1000, 2000, 5000, 10_000)),
    _knob("rate", 10.0, MIN_RATE, MAX_RATE, "rate /s", "--rate", "open model: new requests per second",
          ladder=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
                  10_000.0), unit="requests per second"),
    _knob("delay", 1.0, 0.0, MAX_DELAY_S, "delay s", "--delay",
          "seconds each request asks the endpoint to wait (?delay=)", optional=True,
          ladder=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0), unit="seconds"),
    _knob("pool_size", None, 1, MAX_POOL, "pool threads", "--pool",
          "the server's anyio thread tokens: `def` endpoints' pool (default 40)", param_default=40,
          optional=True, ladder=(1, 2, 3, 4, 6, 8, 10, 20, 30, 40, 41, 60, 80, 100, 200, 500, 1000)),
    _knob("max_in_flight", 0, 0, MAX_IN_FLIGHT, "503 limit", "--max-in-flight",
          "the server answers 503 beyond this many requests in flight", optional=True, zero_is_off=True,
          ladder=(0, 1, 2, 5, 10, 20, 40, 50, 100, 200, 500, 1000)),
    _knob("requests", None, 1, MAX_REQUESTS, "requests", "--requests", "send this many requests in all",
          param_default=100, optional=True),
    _knob("duration", None, 0.01, MAX_DURATION_S, "duration s", "--duration",
          "send requests for this many seconds", param_default=5.0, optional=True, unit="seconds"),
    _knob("timeout", 30.0, 0.01, MAX_TIMEOUT_S, "timeout s", "--timeout", "per-request timeout",
          unit="seconds"),
    _knob("port", None, 1, 65535, "port", "--port", "the server's port (default: a free one)",
          param_default=8000, optional=True),
)}
#: the knobs that can be turned while a test runs (the screen's list, in its order)
LIVE_KNOBS = ("concurrency", "rate", "delay", "pool_size", "max_in_flight", "model")

