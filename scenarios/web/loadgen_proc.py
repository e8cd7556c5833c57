"""The load generator in a child process, streaming every finished request to the parent.

    lg = ProcessLoadGenerator(url, concurrency=1000, duration=None, ...)  # LoadGenerator's arguments
    fut = lg.start_in_thread()          # spawns the child; resolves to the final ClientSnapshot
    lg.records_since(cursor)            # the same reading interface as LoadGenerator
    lg.set_concurrency(n) / set_rate / set_target / stop()

Why: a live screen at 1,000 users spends most of its process's time in the generator (aiohttp
on its own event loop) and, worse, its allocations (every in-flight request's objects live
~1 s, long enough to be promoted) make CPython's full garbage collections run every ~1.5 s,
each holding the GIL 100-300 ms over the whole heap of the UI: the keys wait. In a child, the
generator has its own GIL and its own heap; the parent only decodes its stream.

The child (``python -m coffeeshop_tui.scenarios.web.loadgen_proc SPEC``, started with
:func:`~coffeeshop_tui.scenarios.procs.spawn`) runs a real :class:`~.loadgen.LoadGenerator`
and, every ``PERIOD_S``, writes one ``client`` message on stdout (the child-stream protocol,
:mod:`coffeeshop_tui.scenarios.protocol`): the records finished since the last one (the
record ring's columns, packed), the requests in flight (packed), the counters of its
:class:`~.loadgen_records.ClientSnapshot`, intervals closed since, and the cumulative HDR
histogram when it changed. Its last message is ``end`` (the same, final). Knobs go the
other way as ``knob`` messages on its stdin; EOF on stdin stops it (the parent died).
"""

from __future__ import annotations

import base64
import concurrent.futures
import sys
import threading
from array import array
from collections import deque
from dataclasses import fields
from types import MappingProxyType

from coffeeshop_tui.scenarios import protocol
from coffeeshop_tui.scenarios.web.loadgen_records import (
    ClientSnapshot,
    InFlight,
    IntervalStats,
    LatencySummary,
    RecordBatch,
    _new_hist,
    _Ring,
)

PERIOD_S = 0.05  # a client message at most this often (the screen updates at <= 20 Hz)
_COL_TYPES = tuple(getattr(_Ring(1), name).typecode for name in _Ring.COLUMNS)  # as _Ring.copy() gives them
_FLIGHT_COLS = (("rid", "q"), ("user", "i"), ("intended", "q"), ("sent", "q"), ("target", "i"))  # of each _Req
_SUMMARIES = ("latency", "service")


# ------------------------------------------------------------------------------ wire format
def _packed(data: str, typecode: str) -> array:
    out = array(typecode)
    out.frombytes(base64.b64decode(data))
    return out


def _interval_dict(iv: IntervalStats) -> dict:
    d = {f.name: getattr(iv, f.name) for f in fields(IntervalStats)}
    d["errors"] = dict(iv.errors)
    d["latency"] = _summary_dict(iv.latency)
    d["service"] = _summary_dict(iv.service)
    return d


def _interval(d: dict) -> IntervalStats:
    return IntervalStats(**{**d, "errors": MappingProxyType(d["errors"]), "latency": LatencySummary(**d["latency"]),
                            "service": LatencySummary(**d["service"])})


def _summary_dict(s: LatencySummary) -> dict:
    return {f.name: getattr(s, f.name) for f in fields(LatencySummary)}


def snapshot_state(sn: ClientSnapshot) -> dict:
    """A snapshot's fields without its intervals (those travel once each)."""
    d = {f.name: getattr(sn, f.name) for f in fields(ClientSnapshot) if f.name not in ("last_interval", "intervals")}
    d["errors"] = dict(sn.errors)
    d["targets"] = list(sn.targets)
    for name in _SUMMARIES:
        d[name] = _summary_dict(getattr(sn, name))
    return d


# ------------------------------------------------------------------------------ child side
def _child_main(spec_arg: str) -> int:
    from coffeeshop_tui.scenarios.procs import child_setup

    child_setup()
    import asyncio

    from coffeeshop_tui.scenarios.web.loadgen import LoadGenerator

    spec = protocol.read_spec(spec_arg)
    out = protocol.Writer(sys.stdout.buffer)
    lg = LoadGenerator(**spec)
    state = {"cursor": 0, "intervals": 0, "hist": -1}
    done = threading.Event()

    def message(kind: str) -> dict:
        sn = lg.snapshot()
        with lg._lock:  # the columns, copied at C speed under the generator's own lock
            start, end, dropped, cols = lg._ring.copy(state["cursor"], None)
            flight = list(lg._inflight.values())
        state["cursor"] = end
        msg = {"type": kind, "start": start, "end": end, "dropped": dropped,
               "cols": [memoryview(c) for c in cols], "snap": snapshot_state(sn),
               "flight": [memoryview(array(t, [getattr(r, n) for r in flight])) for n, t in _FLIGHT_COLS]}
        n_iv = sn.intervals[-1].index + 1 if sn.intervals else 0
        if n_iv != state["intervals"]:
            new = [iv for iv in sn.intervals if iv.index >= state["intervals"]]
            state["intervals"] = n_iv
            msg["intervals"] = [_interval_dict(iv) for iv in new]
        if sn.latency.count != state["hist"] or kind == "end":
            state["hist"] = sn.latency.count
            msg["hist"] = lg.latency_histogram().encode().decode("ascii")
        return msg

    def sender() -> None:
        while not done.wait(PERIOD_S):
            try:
                out.send(message("client"))
            except (OSError, ValueError):
                lg.stop()  # the parent is gone
                return

    knobs = {"concurrency": lg.set_concurrency, "rate": lg.set_rate, "target": lg.set_target,
             "stop": lambda _value: lg.stop()}

    def control() -> None:
        try:
            for msg in protocol.read_messages(sys.stdin.buffer):
                apply = knobs.get(msg.get("name")) if msg["type"] == "knob" else None
                if apply is not None:
                    apply(msg.get("value"))
        except (OSError, ValueError):
            pass
        lg.stop()  # EOF: the parent closed the pipe (or died)

    threading.Thread(target=control, name="loadgen-control", daemon=True).start()
    tx = threading.Thread(target=sender, name="loadgen-sender", daemon=True)
    tx.start()
    error = None
    try:
        asyncio.run(lg.run())
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        error = f"{type(exc).__name__}: {exc}"
    done.set()
    tx.join()
    try:
        final = message("end")
        final["error"] = error
        out.send(final)
    except (OSError, ValueError):
        pass
    return 0


# ------------------------------------------------------------------------------ parent side
class ProcessLoadGenerator:
    """:class:`~.loadgen.LoadGenerator`'s interface (the load-test session's use of it), with
    the generator running in a child process (see the module docstring). The arguments are
    LoadGenerator's, checked by it here (a bad one raises ValueError before any child runs)."""

    def __init__(self, url: str, **kwargs) -> None:
        from coffeeshop_tui.scenarios.web.loadgen import LoadGenerator

        probe = LoadGenerator(url, **kwargs)  # the one place of the arguments' rules
        self.model = probe.model
        self.client = probe.client
        self.drain_timeout = probe.drain_timeout
        self.timeout = probe.timeout
        self._spec = {"url": url, **kwargs}
        self._url = url
        self._targets = [url]
        self._lock = threading.Lock()
        self._ring = _Ring(kwargs.get("record_capacity", 200_000))
        self._intervals: deque = deque(maxlen=kwargs.get("keep_intervals", 3600))
        self._flight: tuple = ()
        self._flight_cols = None
        self._state: dict | None = None
        self._hist_text: str | None = None
        self._child = None
        self._stopped = False
        self._tail = b""

    # ---- reading (any thread) ----------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._url

    @property
    def targets(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._targets)

    def records_since(self, cursor: int = 0, limit: int | None = None) -> RecordBatch:
        return self._ring.since(self._lock, cursor, limit)

    def in_flight_requests(self) -> tuple[InFlight, ...]:
        with self._lock:
            if self._flight_cols is not None:  # built once per message, however often read
                rid, user, intended, sent, target = self._flight_cols
                self._flight = tuple(InFlight(rid[k], user[k], intended[k], sent[k], target[k])
                                     for k in range(len(rid)))
                self._flight_cols = None
            return self._flight

    def latency_histogram(self):
        with self._lock:
            text = self._hist_text
        if text is None:
            return _new_hist()
        from hdrh.histogram import HdrHistogram

        return HdrHistogram.decode(text)

    def snapshot(self) -> ClientSnapshot:
        with self._lock:
            st = self._state
            intervals = tuple(self._intervals)
        if st is None:  # nothing heard yet
            return ClientSnapshot(
                model=self.model, url=self._url, targets=self.targets, client=self.client, running=False,
                finished=False, started_ns=0, elapsed_s=0.0, concurrency=self._spec.get("concurrency", 1),
                active_users=0, rate=self._spec.get("rate", 10.0), issued=0, done=0, in_flight=0, ok=0,
                errors=MappingProxyType({}), error_total=0, echo_mismatches=0, dropped_arrivals=0,
                records_overwritten=0, rps=0.0, latency=LatencySummary(), service=LatencySummary(),
                last_interval=None, intervals=())
        return ClientSnapshot(**{**st, "errors": MappingProxyType(st["errors"]), "targets": tuple(st["targets"]),
                                 "latency": LatencySummary(**st["latency"]),
                                 "service": LatencySummary(**st["service"]),
                                 "last_interval": intervals[-1] if intervals else None, "intervals": intervals})

    # ---- control (any thread) ----------------------------------------------------------------
    def _send(self, name: str, value=None) -> None:
        child = self._child
        if child is None or child.proc.stdin is None:
            return
        try:
            child.proc.stdin.write(protocol.encode({"type": "knob", "name": name, "value": value}))
            child.proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the child is gone: its end is reported by the reader

    def set_concurrency(self, n: int) -> None:
        if n < 0:
            raise ValueError("concurrency must be >= 0")
        self._send("concurrency", int(n))

    def set_rate(self, rate: float) -> None:
        if rate < 0 or rate != rate or rate == float("inf"):
            raise ValueError("rate must be a finite number >= 0")
        self._send("rate", float(rate))

    def set_target(self, url: str) -> None:
        from coffeeshop_tui.scenarios.web.loadgen import check_target

        check_target(url, self._spec.get("allow_remote", False))
        with self._lock:  # the child appends the same way: record target indexes agree
            if url not in self._targets:
                self._targets.append(url)
            self._url = url
        self._send("target", url)

    def stop(self) -> None:
        """Stop issuing (the child drains, sends its last records and exits)."""
        self._stopped = True
        self._send("stop")

    def kill(self) -> None:
        """End the child at once (its requests end with it)."""
        if self._child is not None:
            self._child.stop()

    # ---- running -----------------------------------------------------------------------------
    def start_in_thread(self, name: str = "loadgen") -> concurrent.futures.Future:
        from coffeeshop_tui.scenarios.procs import PIPE, spawn

        fut: concurrent.futures.Future = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        self._child = spawn("coffeeshop_tui.scenarios.web.loadgen_proc", [protocol.spec_arg(self._spec)],
                            stdin=PIPE, stdout=PIPE, stderr=PIPE)
        err = self._child.proc.stderr
        threading.Thread(target=self._read_stderr, args=(err,), name=f"{name}-stderr", daemon=True).start()
        threading.Thread(target=self._read, args=(fut,), name=name, daemon=True).start()
        return fut

    def _read_stderr(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            self._tail = (self._tail + chunk)[-4000:]

    def _read(self, fut: concurrent.futures.Future) -> None:
        child = self._child
        final = None
        try:
            for msg in protocol.read_messages(child.proc.stdout):
                if msg["type"] in ("client", "end"):
                    self._ingest(msg)
                if msg["type"] == "end":
                    final = msg
        except Exception as exc:  # noqa: BLE001 - handed to the future
            fut.set_exception(exc)
            child.stop()
            return
        child.stop(term_s=1.0)  # reaped (it has exited, or is killed now)
        with self._lock:
            self._flight, self._flight_cols = (), None
        if final is None:
            tail = self._tail.decode("utf-8", "replace").strip().splitlines()
            fut.set_exception(RuntimeError("the load generator process ended without its last report"
                                           + (f": {tail[-1]}" if tail else "")))
        elif final.get("error"):
            fut.set_exception(RuntimeError(final["error"]))
        else:
            fut.set_result(self.snapshot())

    def _ingest(self, msg: dict) -> None:
        cols = [_packed(data, t) for t, data in zip(_COL_TYPES, msg["cols"])]
        flight = [_packed(data, t) for (_n, t), data in zip(_FLIGHT_COLS, msg["flight"])]
        intervals = [_interval(d) for d in msg.get("intervals", ())]
        with self._lock:
            ring = self._ring
            if cols:
                for k in range(msg["end"] - msg["start"]):
                    ring.append(*(c[k] for c in cols))
            self._flight_cols = flight
            self._state = msg["snap"]
            self._intervals.extend(intervals)
            if msg.get("hist"):
                self._hist_text = msg["hist"]


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1]))
