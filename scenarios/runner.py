"""Run a scenario in a child process and stream its recording into a Timeline.

The scenario's event loop is never the caller's: it runs in a child process (its own
session, so its whole process group can be killed), which streams recorder batches as
JSON lines. ``stop()`` ends it at any moment, also when it is stuck in ``time.sleep``
inside ``async def``; the child exits by itself when its parent dies (even by SIGKILL).
"""

from __future__ import annotations

import os
import threading
import time
from typing import IO, Callable

from .catalog import DESCRIBE_TIMEOUT_S
from .procs import Child, Tail, spawn
from .protocol import Writer, read_messages, spec_arg
from .timeline import Timeline

STARTING, RUNNING, DONE, FAILED, STOPPED = "starting", "running", "done", "failed", "stopped"
#: seconds of recording a live run keeps (older data is dropped, and counted; the status line
#: says from when the recording is kept). Its lanes cost the app ~6 KB per task: an open shop at
#: 4 customers/s stays within 1.2x of its first minute's memory (bench/app_memory.py, issue 10.8)
KEEP_S = 120.0
LOAD_TIMEOUT_S = DESCRIBE_TIMEOUT_S  # from start() to the child's start message (the file loads)
END_GRACE_S = 2.0  # after the end message, the child has this long to exit by itself


def exit_reason(code: int | None, what: str = "the scenario's process") -> str:
    """Why a run ended without its ``end`` message: the child's exit status said plainly."""
    if code is not None and code < 0:
        return f"{what} was killed by signal {-code} before it finished"
    return f"{what} exited with status {code} (os._exit?) before it finished"


class ScenarioRun:
    """One run of one scenario. Thread-safe: read ``timeline`` while holding ``lock``."""

    what = "the scenario's process"  # in error messages

    def __init__(
        self,
        scenario: str,
        params: dict | None = None,
        scenario_file: str | None = None,
        block_ms: float = 25.0,
        on_update: Callable[["ScenarioRun"], None] | None = None,
        load_timeout: float | None = LOAD_TIMEOUT_S,
    ) -> None:
        self.scenario = scenario
        self.params = dict(params or {})
        self.scenario_file = os.path.abspath(scenario_file) if scenario_file else None
        self.block_ms = block_ms
        self.on_update = on_update
        self.load_timeout = load_timeout
        # a live scenario (open-shop) can run for hours: keep its newest KEEP_S seconds
        self.timeline = Timeline(block_ms=block_ms, max_age_s=KEEP_S)
        self.lock = threading.RLock()
        self.status = STARTING
        self.error: str | None = None
        self.error_where: str = ""
        self.traceback: str = ""
        self.resolved_params: dict = {}
        self.knob_error: str | None = None
        #: (total, longest wait) the scenario's ideal() gives for the current params, if any
        self.ideal: tuple[float, float] | None = None
        self.pid: int | None = None
        self._child: Child | None = None
        self._control: Writer | None = None
        self._reader: threading.Thread | None = None
        self._stderr = Tail()
        self._finished = threading.Event()
        self._stopping = False
        self._events = None  # the binary stream of protocol messages from the child
        #: > 0: batches are decoded only at the end (or every that many bytes): for readers
        #: that look once the run has ended (``protocol.Reader``'s ``defer_bytes``)
        self.defer_bytes = 0
        #: the child's exit status, once it has exited (None before, or if it was killed)
        self.returncode: int | None = None
        #: called with every protocol message as it arrives, in order (e.g. saving a recording)
        self.on_message: Callable[[dict], None] | None = None
        #: after the end message, how long the child may take to exit by itself
        self.end_grace = END_GRACE_S

    # ------------------------------------------------------------------ control
    def _launch(self) -> tuple[Child, IO[bytes]]:
        """Start the child; return it and the stream its protocol messages come on."""
        spec = {
            "scenario": self.scenario,
            "params": self.params,
            "scenario_file": self.scenario_file,
            "block_ms": self.block_ms,
            "parent": os.getpid(),
        }
        child = spawn("coffeeshop_tui.scenarios.child", [spec_arg(spec)])
        return child, child.proc.stdout

    def start(self) -> "ScenarioRun":
        self._child, self._events = self._launch()
        if self._child.proc.stdin is not None:
            self._control = Writer(self._child.proc.stdin)
        self.pid = self._child.pid
        self._reader = threading.Thread(target=self._read, name=f"run-{self.scenario}", daemon=True)
        self._reader.start()
        if self._child.proc.stderr is not None:
            threading.Thread(target=self._stderr.read_from, args=(self._child.proc.stderr,),
                             name="run-stderr", daemon=True).start()
        if self.load_timeout is not None:
            threading.Thread(target=self._watch_loading, name="run-load-watch", daemon=True).start()
        return self

    def _watch_loading(self) -> None:
        """A scenario file that is still importing after ``load_timeout`` is stopped."""
        deadline = time.monotonic() + self.load_timeout
        while True:
            if self._finished.wait(0.05):
                return
            with self.lock:
                if self.status != STARTING:
                    return
                if time.monotonic() >= deadline:
                    self.status = FAILED
                    self.error = (f"the scenario did not start within {self.load_timeout:g} s "
                                  f"(does its file run something at import time?)")
                    break
        self.stop()

    def set_knob(self, name: str, value) -> None:
        """Change a parameter of the running scenario now (scenarios that read ``knobs``).

        The child validates it; a bad value comes back as ``knob_error``. Applied changes
        are kept in ``timeline.marks`` as (t_ns, name, value).
        """
        child, control = self._child, self._control
        if child is None or control is None or not child.alive():
            return
        try:
            control.send({"type": "knob", "name": name, "value": value})
        except (BrokenPipeError, OSError, ValueError):
            pass

    def stop(self) -> None:
        """Stop the child (and anything it started) now. Safe to call at any time."""
        child = self._child
        if child is not None:
            self._stopping = True  # the reader then sees EOF as a stop, not as a crash
            was_running = child.alive()
            child.stop()  # SIGKILL the whole group (pool workers, grandchildren), reap
            with self.lock:
                if was_running and self.status in (STARTING, RUNNING):
                    self.status = STOPPED
                    if self.timeline.start_ns is not None and self.timeline.end_ns is None:
                        self.timeline.finish(time.monotonic_ns())
        if self._reader is not None and self._reader is not threading.current_thread():
            # (a reader that deferred batches decodes them now: up to DEFER_BYTES of them)
            self._reader.join(timeout=60 if self.defer_bytes else 5)
        self._finished.set()
        self._notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run ends; True if it did."""
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def __enter__(self) -> "ScenarioRun":
        if self._child is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ reading
    def _notify(self) -> None:
        if self.on_update is not None:
            try:
                self.on_update(self)
            except Exception:  # a consumer's bug must not kill the reader
                pass

    def _read(self) -> None:
        child, events = self._child, self._events
        assert child is not None and events is not None
        ended = False
        for msg in read_messages(events, defer_bytes=self.defer_bytes):
            kind = msg["type"]
            if self.on_message is not None:
                try:
                    self.on_message(msg)
                except Exception:  # a consumer's bug must not kill the reader
                    pass
            with self.lock:
                if kind == "batch":
                    self.timeline.ingest(msg)
                elif kind == "start":
                    self.timeline.start(msg["t"])
                    self.resolved_params = msg.get("params", {})
                    self.ideal = _ideal(msg.get("ideal"))
                    self.status = RUNNING
                elif kind == "end":
                    self.timeline.finish(msg["t"])
                    err = msg.get("error")
                    if err:
                        self.status = FAILED
                        self.error = err["message"]
                        self.error_where = err.get("where", "")
                        self.traceback = err.get("traceback", "")
                        self.timeline.error = self.error
                    else:
                        self.status = DONE
                    ended = True
                elif kind == "knob":
                    self.timeline.marks.append((msg["t"], msg["name"], msg["value"]))
                    self.resolved_params = {**self.resolved_params, msg["name"]: msg["value"]}
                    self.ideal = _ideal(msg.get("ideal"))
                    self.knob_error = None
                elif kind == "knob-error":
                    self.knob_error = msg["message"]
                elif kind == "error":
                    self.status = FAILED
                    self.error = msg["message"]
                    ended = True
            self._notify()
            if ended:  # never wait for EOF: a grandchild may hold our pipe open
                break
        try:
            code = child.proc.wait(self.end_grace if ended else None)
        except Exception:  # still busy after its end message (asyncgens, executors)
            code = None
        child.stop()  # the whole group: pool workers, forked grandchildren
        if code is None:
            code = child.proc.returncode
        with self.lock:
            self.returncode = code
            if not ended and self.status in (STARTING, RUNNING) and self._stopping:
                self.status = STOPPED
                if self.timeline.start_ns is not None and self.timeline.end_ns is None:
                    self.timeline.finish(time.monotonic_ns())
            elif not ended and self.status in (STARTING, RUNNING):
                self.status = FAILED
                last = self._stderr.last_line()
                self.error = self.error or (exit_reason(code, self.what) + (f": {last}" if last else ""))
                if self.timeline.start_ns is not None and self.timeline.end_ns is None:
                    self.timeline.finish(time.monotonic_ns())
        events.close()
        self._finished.set()
        self._notify()

    def retained_bytes(self) -> int:
        """About how much of the child's output this run keeps in memory (bounded)."""
        with self.lock:
            return self.timeline.output_chars + self._stderr.size

    @property
    def stderr_tail(self) -> list[str]:
        return self._stderr.lines()


def _ideal(value) -> tuple[float, float] | None:
    return (float(value[0]), float(value[1])) if value else None


def run_scenario(scenario: str, params: dict | None = None, scenario_file: str | None = None,
                 block_ms: float = 25.0, timeout: float | None = None) -> ScenarioRun:
    """Run to the end (or ``timeout``) and return the finished run."""
    run = ScenarioRun(scenario, params, scenario_file, block_ms)
    with run:
        if not run.wait(timeout):
            run.stop()
    return run
