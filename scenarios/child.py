"""The child process that runs one scenario on its own, recorded, event loop.

Started by :mod:`coffeeshop_tui.scenarios.runner` as ``python -m coffeeshop_tui.scenarios.child SPEC_JSON``. It writes
newline-delimited JSON messages to its stdout (the scenario's own ``print`` output is
captured and sent as events), and exits when its parent goes away.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import threading
import traceback

from .procs import set_pdeathsig
from .recorder import Recorder, now_ns

FLUSH_S = 0.05


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL us when the parent thread dies; also checked by polling."""
    set_pdeathsig()
    if os.getppid() != parent:
        os._exit(1)


class _Output(io.TextIOBase):
    """Captures what the scenario prints, line by line, with a timestamp."""

    def __init__(self) -> None:
        self.lines: list = []
        self._part = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = self._part + text
        *full, self._part = data.split("\n")
        t = now_ns()
        for line in full:
            self.lines.append([t, line])
        return len(text)

    def take(self) -> list:
        n = len(self.lines)
        out = self.lines[:n]
        del self.lines[:n]
        return out


class Channel:
    def __init__(self, fd: int) -> None:
        self._f = os.fdopen(fd, "w", encoding="utf-8", buffering=1 << 16)
        self._lock = threading.Lock()

    def send(self, msg: dict) -> None:
        line = json.dumps(msg, separators=(",", ":"))
        with self._lock:
            try:
                self._f.write(line + "\n")
                self._f.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # the parent stopped listening


def _where(exc: BaseException, files: set[str]) -> str:
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if fn in files or not where:
            where = f"{fn}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def main() -> int:
    spec = json.loads(sys.argv[1])
    die_with_parent(spec["parent"])
    # Our protocol owns the real stdout; fd 1 becomes stderr for stray C-level writes.
    chan = Channel(os.dup(1))
    os.dup2(2, 1)
    # The control channel owns the real stdin. The scenario gets /dev/null: a process pool
    # forked while our reader waits on sys.stdin would deadlock closing it.
    ctl = os.fdopen(os.dup(0), "r", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")
    output = _Output()
    sys.stdout = output

    from .api import ScenarioError, knobs
    from .catalog import find

    try:
        sc = find(spec["scenario"], spec.get("scenario_file"))
        params = sc.resolve(spec.get("params") or {})
    except ScenarioError as exc:
        chan.send({"type": "error", "message": str(exc)})
        return 2

    try:  # load anyio's asyncio backend now, not in the scenario's first step
        import anyio._backends._asyncio  # noqa: F401
    except Exception:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    rec = Recorder(block_ms=spec.get("block_ms", 25.0))
    rec.install(loop)
    stop = threading.Event()

    def flush() -> None:
        batch = rec.drain()
        batch["output"] = output.take()
        chan.send({"type": "batch", **batch})

    def streamer() -> None:
        while not stop.wait(FLUSH_S):
            if os.getppid() != spec["parent"]:
                os._exit(1)  # orphaned: never outlive the parent
            flush()

    knobs._set_all(params)

    def control() -> None:
        """Knob changes from the parent, one JSON line each; EOF means the parent is gone."""
        for line in ctl:
            try:
                msg = json.loads(line)
                if msg.get("type") == "knob":
                    p = sc.param(msg["name"])
                    value = p.parse(msg["value"]) if isinstance(msg["value"], str) and p.kind is not str \
                        else p.check(msg["value"])
                    knobs._set(p.name, value)
                    chan.send({"type": "knob", "t": now_ns(), "name": p.name, "value": value})
            except ScenarioError as exc:
                chan.send({"type": "knob-error", "message": str(exc)})
            except (ValueError, KeyError, TypeError):
                chan.send({"type": "knob-error", "message": f"bad control message: {line.strip()[:80]}"})
        os._exit(1)  # stdin closed: the parent went away

    threading.Thread(target=control, name="coffeeshop-control", daemon=True).start()
    t0 = now_ns()
    chan.send({"type": "start", "t": t0, "pid": os.getpid(), "scenario": sc.name, "params": params})
    th = threading.Thread(target=streamer, name="coffeeshop-stream", daemon=True)
    th.start()
    error = None
    try:
        loop.run_until_complete(sc.main(**params))
    except BaseException as exc:  # the scenario's own failure is reported, not fatal here
        error = {
            "message": f"{type(exc).__name__}: {exc}",
            "where": _where(exc, {sc.source_file}),
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
        }
    t_end = now_ns()
    stop.set()
    th.join()
    rec.uninstall()
    flush()
    chan.send({"type": "end", "t": t_end, "error": error})
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    except BaseException:
        pass
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush() if hasattr(sys.stdout, "flush") else None
    os._exit(code)
