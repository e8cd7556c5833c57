"""Run a scenario in a child process and stream its recording into a Timeline.

The scenario's event loop is never the caller's: it runs in a child process (its own
session, so its whole process group can be killed), which streams recorder batches as
JSON lines. ``stop()`` ends it at any moment, also when it is stuck in ``time.sleep``
inside ``async def``; the child exits by itself when its parent dies (even by SIGKILL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Callable

from .procs import kill_group, safe_python
from .timeline import Timeline

STARTING, RUNNING, DONE, FAILED, STOPPED = "starting", "running", "done", "failed", "stopped"
KEEP_S = 300.0  # seconds of recording a run keeps (older data is dropped, and counted)


class ScenarioRun:
    """One run of one scenario. Thread-safe: read ``timeline`` while holding ``lock``."""

    def __init__(
        self,
        scenario: str,
        params: dict | None = None,
        scenario_file: str | None = None,
        block_ms: float = 25.0,
        on_update: Callable[["ScenarioRun"], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.params = dict(params or {})
        self.scenario_file = os.path.abspath(scenario_file) if scenario_file else None
        self.block_ms = block_ms
        self.on_update = on_update
        # a live scenario (open-shop) can run for hours: keep its newest 5 minutes
        self.timeline = Timeline(block_ms=block_ms, max_age_s=KEEP_S)
        self.lock = threading.RLock()
        self.status = STARTING
        self.error: str | None = None
        self.error_where: str = ""
        self.traceback: str = ""
        self.resolved_params: dict = {}
        self.knob_error: str | None = None
        self.pid: int | None = None
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._finished = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self) -> "ScenarioRun":
        spec = {
            "scenario": self.scenario,
            "params": self.params,
            "scenario_file": self.scenario_file,
            "block_ms": self.block_ms,
            "parent": os.getpid(),
        }
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(
            [*safe_python(), "-m", "coffeeshop_tui.scenarios.child", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
        self.pid = self._proc.pid
        self._reader = threading.Thread(target=self._read, name=f"run-{self.scenario}", daemon=True)
        self._reader.start()
        threading.Thread(target=self._read_stderr, name="run-stderr", daemon=True).start()
        return self

    def set_knob(self, name: str, value) -> None:
        """Change a parameter of the running scenario now (scenarios that read ``knobs``).

        The child validates it; a bad value comes back as ``knob_error``. Applied changes
        are kept in ``timeline.marks`` as (t_ns, name, value).
        """
        proc = self._proc
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return
        line = json.dumps({"type": "knob", "name": name, "value": value}) + "\n"
        try:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def stop(self) -> None:
        """Stop the child (and anything it started) now. Safe to call at any time."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            kill_group(proc.pid)
            proc.wait()
            with self.lock:
                if self.status in (STARTING, RUNNING):
                    self.status = STOPPED
                    self.timeline.finish(time.monotonic_ns())
        elif proc is not None:
            kill_group(proc.pid)  # the child is gone; its pool workers (same group) may not be
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self._finished.set()
        self._notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run ends; True if it did."""
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def __enter__(self) -> "ScenarioRun":
        if self._proc is None:
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

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        ended = False
        for raw in self._proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            kind = msg.get("type")
            with self.lock:
                if kind == "batch":
                    self.timeline.ingest(msg)
                elif kind == "start":
                    self.timeline.start(msg["t"])
                    self.resolved_params = msg.get("params", {})
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
                    self.knob_error = None
                elif kind == "knob-error":
                    self.knob_error = msg["message"]
                elif kind == "error":
                    self.status = FAILED
                    self.error = msg["message"]
                    ended = True
            self._notify()
        code = self._proc.wait()
        with self.lock:
            if not ended and self.status in (STARTING, RUNNING):
                self.status = FAILED
                tail = [ln for ln in self._stderr_tail if ln.strip()]
                self.error = self.error or (
                    f"the scenario process exited with status {code}"
                    + (f": {tail[-1]}" if tail else "")
                )
                if self.timeline.start_ns is not None and self.timeline.end_ns is None:
                    self.timeline.finish(time.monotonic_ns())
        kill_group(self._proc.pid)  # the child may have left pool workers in its group
        self._finished.set()
        self._notify()

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr_tail)


def run_scenario(scenario: str, params: dict | None = None, scenario_file: str | None = None,
                 block_ms: float = 25.0, timeout: float | None = None) -> ScenarioRun:
    """Run to the end (or ``timeout``) and return the finished run."""
    run = ScenarioRun(scenario, params, scenario_file, block_ms)
    with run:
        if not run.wait(timeout):
            run.stop()
    return run
