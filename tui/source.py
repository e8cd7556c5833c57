"""Where the app's runs come from: a small source protocol and its two implementations.

A **source** runs (or replays) one scenario and yields immutable :class:`RunUpdate`
objects. The app never touches a ``Timeline`` itself::

    source = source_factory(request)     # a RunRequest: scenario, params, block_ms, run id
    source.start()                       # UI thread; must not block
    for update in source.updates():      # a producer thread; blocks; <= 20 updates a second;
        post(update)                     #   the last one has update.final == True
    source.stop()                        # any thread, any time, idempotent: ends the run now,
                                         #   updates() then yields a final update and returns
    source.set_knob(name, value) -> bool # change a knob of the running run live; False if it
                                         #   cannot (the app then reruns with the new value)
    source.chrome_trace() -> dict|None   # the run so far as Chrome trace JSON (export)

* :class:`RunnerSource` (the default) runs the scenario in a child process through
  :class:`coffeeshop_tui.scenarios.runner.ScenarioRun`.
* :class:`CaptureSource` replays a recorded capture (the child's protocol messages,
  ``coffeeshop_tui.scenarios.protocol``) through the
  same Timeline -> Snapshot path: deterministic, for tests and for looking at a run again.

Both build updates with :class:`UpdateBuilder`: snapshot (every update), stats, caption
and sparkline series (at most a few times a second, and always in the final update).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from coffeeshop_tui.scenarios import protocol
from coffeeshop_tui.scenarios.api import Scenario
from coffeeshop_tui.scenarios.explain import caption, series
from coffeeshop_tui.scenarios.report import summary, to_chrome_trace
from coffeeshop_tui.scenarios.runner import DONE, FAILED, RUNNING, STARTING, STOPPED, ScenarioRun
from coffeeshop_tui.scenarios.snapshot import Snapshot, SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline

MAX_HZ = 20.0
#: the slowest a live run is updated when its cells are wide (see RunnerSource.pace_for)
MIN_HZ = 4.0
#: updates per column of the timeline: a third of a cell is the finest change a cell shows
#: (partial glyphs), so more updates than this redraw the same picture
UPDATES_PER_CELL = 3.0
STATS_HZ = 5.0
#: points of the lag and runnable sparklines (explain.series) over the whole run
SERIES_BINS = 40
FINISHED = (DONE, FAILED, STOPPED)


@dataclass(frozen=True)
class RunRequest:
    """What to run. ``params`` are validated values (``Scenario.resolve``)."""

    run_id: int
    scenario: Scenario
    params: dict
    scenario_file: str | None = None
    block_ms: float = 25.0

    @property
    def name(self) -> str:
        return self.scenario.name


@dataclass(frozen=True)
class RunUpdate:
    """One immutable view of a run, ready to draw."""

    run_id: int
    scenario: str
    params: dict
    status: str
    snapshot: Snapshot
    final: bool = False
    error: str | None = None
    error_where: str = ""
    stats: dict | None = None
    caption: str = ""
    lag: tuple = ()
    runnable: tuple = ()
    knob_error: str | None = None
    live_knobs: bool = False
    marks: tuple = ()  # (t_s, knob, value) changed while it ran

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class Source(Protocol):
    def start(self) -> None: ...
    def updates(self) -> Iterator[RunUpdate]: ...
    def stop(self) -> None: ...
    def set_knob(self, name: str, value: Any) -> bool: ...
    def chrome_trace(self) -> dict | None: ...


SourceFactory = Callable[[RunRequest], Source]


def empty_snapshot() -> Snapshot:
    return Snapshot(version=0, live=False, t_end=0.0, lanes=())


class UpdateBuilder:
    """Turns a Timeline (read under its lock) into RunUpdates, throttling the costly parts."""

    def __init__(self, request: RunRequest, timeline: Timeline, stats_hz: float = STATS_HZ) -> None:
        self.request = request
        self.timeline = timeline
        self.stats_period = 1.0 / stats_hz  # 0 (stats_hz=inf): in every update
        self._snap = SnapshotBuilder(timeline)
        self._next_stats = 0.0
        self._stats: dict | None = None
        self._caption = ""
        self._lag: tuple = ()
        self._runnable: tuple = ()
        self._next_series = 0.0
        self._series_memo: dict = {}  # series(): each lane's starved segments, looked for once

    def build(self, status: str, *, params: dict | None = None, final: bool = False,
              error: str | None = None, error_where: str = "", knob_error: str | None = None,
              live_knobs: bool = False, ideal: tuple | None = None) -> RunUpdate:
        """``ideal``: what the run's child computed with the scenario's ``ideal()`` (the
        parent never calls a user file's code)."""
        req = self.request
        tl = self.timeline
        params = dict(params or req.params)
        snap = self._snap.build({"scenario": req.name, "run_id": req.run_id})
        now = time.monotonic()
        if final or self._stats is None or now >= self._next_stats:
            t0 = time.perf_counter()
            self._stats = summary(tl, tuple(ideal) if ideal else None, req.scenario.open_system)
            try:
                self._caption = caption(tl, self._stats, params, status)
            except Exception as exc:  # never let a caption rule break the run's display
                self._caption = f"(no caption: {type(exc).__name__}: {exc})"
            if final or self.stats_period <= 0 or now >= self._next_series:
                # the sparklines change a bin at a time (a bin is t_end / SERIES_BINS): a few
                # times a bin, like the timeline's cells (a long run's bins are wide)
                self._lag, self._runnable = series(snap, SERIES_BINS, memo=self._series_memo)
                self._next_series = now + snap.t_end / SERIES_BINS / UPDATES_PER_CELL
            cost = time.perf_counter() - t0
            if self.stats_period > 0:  # adaptive: never spend more than a fifth of the time here
                self._next_stats = now + max(self.stats_period, 4 * cost)
        origin = tl.origin
        marks = tuple(((t - origin) / 1e9, k, v) for t, k, v in getattr(tl, "marks", ()))
        return RunUpdate(
            run_id=req.run_id, scenario=req.name, params=params, status=status, snapshot=snap,
            final=final, error=error or tl.error, error_where=error_where, stats=self._stats,
            caption=self._caption, lag=self._lag, runnable=self._runnable, knob_error=knob_error,
            live_knobs=live_knobs, marks=marks,
        )


# --------------------------------------------------------------------------- the runner
class RunnerSource:
    """Runs the scenario for real, in a child process (``coffeeshop_tui.scenarios.runner``)."""

    def __init__(self, request: RunRequest, max_hz: float = MAX_HZ) -> None:
        self.request = request
        self.max_hz = max_hz
        self._wake = threading.Event()
        self._start_error: str | None = None
        self.run = ScenarioRun(request.name, request.params, request.scenario_file,
                               block_ms=request.block_ms, on_update=lambda _run: self._wake.set())

    def pace_for(self, seconds_per_cell: float) -> None:
        """Update as often as the timeline shown can change: ``UPDATES_PER_CELL`` per column
        of ``seconds_per_cell`` seconds, within ``MIN_HZ`` .. ``MAX_HZ``. Drawing then costs
        what is visible: a long run seen whole (wide cells) is rebuilt a few times a second,
        a live edge zoomed in twenty. Any thread (a float, read once per update)."""
        if seconds_per_cell > 0:
            self.max_hz = min(MAX_HZ, max(MIN_HZ, UPDATES_PER_CELL / seconds_per_cell))

    def start(self) -> None:
        try:
            self.run.start()
        except Exception as exc:  # e.g. cannot start a process: shown as the run's error
            self._start_error = f"could not start the scenario: {type(exc).__name__}: {exc}"
            self._wake.set()

    def stop(self) -> None:
        if self._start_error is None:
            self.run.stop()
        self._wake.set()

    def set_knob(self, name: str, value: Any) -> bool:
        run = self.run
        if not self.request.scenario.live or run.finished or run.status not in (STARTING, RUNNING):
            return False
        setter = getattr(run, "set_knob", None)
        if setter is None:
            return False
        setter(name, value)
        return True

    def chrome_trace(self) -> dict | None:
        with self.run.lock:
            if self.run.timeline.start_ns is None:
                return None
            return to_chrome_trace(self.run.timeline, self.request.name)

    def updates(self) -> Iterator[RunUpdate]:
        run = self.run
        builder = UpdateBuilder(self.request, run.timeline)
        if self._start_error is not None:
            yield builder.build(FAILED, final=True, error=self._start_error)
            return
        while True:
            self._wake.wait(0.25)
            self._wake.clear()
            finished = run.finished  # read first: the final build then sees everything
            t0 = time.perf_counter()
            with run.lock:
                update = builder.build(
                    run.status, params=run.resolved_params or self.request.params, final=finished,
                    error=run.error, error_where=run.error_where,
                    knob_error=getattr(run, "knob_error", None),
                    live_knobs=self.request.scenario.live and not finished,
                    ideal=run.ideal,
                )
            yield update
            if finished:
                return
            spent = time.perf_counter() - t0
            # at most max_hz (pace_for), and never more than half of the time spent building
            time.sleep(max(1.0 / self.max_hz - spent, spent))


def runner_source(request: RunRequest) -> RunnerSource:
    """The default source factory."""
    return RunnerSource(request)


# --------------------------------------------------------------------------- captures
def load_capture(path: str) -> list[dict]:
    """A capture file: the child's protocol messages (start, batch..., end), one a line."""
    return protocol.load(path)


@dataclass
class _CaptureState:
    status: str = STARTING
    error: str | None = None
    error_where: str = ""
    params: dict = field(default_factory=dict)
    knob_error: str | None = None
    ideal: tuple | None = None


class CaptureSource:
    """Replays a recorded capture through Timeline -> Snapshot, like a live run.

    ``pace``: seconds between messages (0 = as fast as possible). ``hold``: replay all
    but the final ``end`` message, then stay "running" until :meth:`stop` (as a run that
    never ends would). ``knobs`` records every ``set_knob`` call.
    """

    def __init__(self, request: RunRequest, messages: list[dict], *, pace: float = 0.0,
                 hold: bool = False) -> None:
        self.request = request
        self.messages = list(messages)
        self.pace = pace
        self.hold = hold
        self.timeline = Timeline(block_ms=request.block_ms)
        self.lock = threading.RLock()
        self.knobs: list[tuple[str, Any]] = []
        self.started = False
        self.reached_end = threading.Event()  # every message shown (a held run waits here)
        self._stop = threading.Event()
        self._state = _CaptureState(params=dict(request.params))

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def set_knob(self, name: str, value: Any) -> bool:
        if not self.request.scenario.live or self._state.status in FINISHED:
            return False
        self.knobs.append((name, value))
        with self.lock:
            self._state.params = {**self._state.params, name: value}
            self._set_ideal({})
        return True

    def chrome_trace(self) -> dict | None:
        with self.lock:
            if self.timeline.start_ns is None:
                return None
            return to_chrome_trace(self.timeline, self.request.name)

    def _apply(self, msg: dict) -> None:
        tl, st = self.timeline, self._state
        kind = msg.get("type")
        if kind == "batch":
            tl.ingest(msg)
        elif kind == "start":
            tl.start(msg["t"])
            st.params = msg.get("params") or st.params
            st.status = RUNNING
            self._set_ideal(msg)
        elif kind == "end":
            tl.finish(msg["t"])
            err = msg.get("error")
            if err:
                st.status, st.error, st.error_where = FAILED, err["message"], err.get("where", "")
                tl.error = st.error
            else:
                st.status = DONE
        elif kind == "error":
            st.status, st.error = FAILED, msg["message"]
        elif kind == "knob":
            if hasattr(tl, "marks"):
                tl.marks.append((msg["t"], msg["name"], msg["value"]))
            st.params = {**st.params, msg["name"]: msg["value"]}
            self._set_ideal(msg)
        elif kind == "knob-error":
            st.knob_error = msg["message"]

    def _set_ideal(self, msg: dict) -> None:
        st = self._state
        if "ideal" in msg:  # what the child computed
            st.ideal = tuple(msg["ideal"]) if msg["ideal"] else None
        else:  # a capture recorded before children reported it: a built-in scenario's ideal()
            st.ideal = self.request.scenario.ideal_or_none(st.params)

    def _build(self, builder: UpdateBuilder, final: bool) -> RunUpdate:
        st = self._state
        with self.lock:
            return builder.build(st.status, params=st.params, final=final, error=st.error,
                                 error_where=st.error_where, knob_error=st.knob_error,
                                 live_knobs=self.request.scenario.live and not final,
                                 ideal=st.ideal)

    def updates(self) -> Iterator[RunUpdate]:
        # stats in every update: a replay is deterministic (and captures are small)
        builder = UpdateBuilder(self.request, self.timeline, stats_hz=math.inf)
        for msg in self.messages:
            if self._stop.is_set():
                break
            if self.hold and msg.get("type") == "end":
                self.reached_end.set()
                self._stop.wait()
                break
            with self.lock:
                self._apply(msg)
            if self._state.status in FINISHED:
                break
            yield self._build(builder, final=False)
            if self.pace:
                self._stop.wait(self.pace)
        with self.lock:
            if self._state.status not in FINISHED:
                self._state.status = STOPPED if self._stop.is_set() or self.hold else DONE
                if self.timeline.end_ns is None:
                    self.timeline.finish(self.timeline.last_ns)
        self.reached_end.set()
        yield self._build(builder, final=True)
