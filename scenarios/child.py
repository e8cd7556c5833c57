"""The child process that runs one scenario on its own, recorded, event loop.

Started by :mod:`coffeeshop_tui.scenarios.runner` (through ``procs.spawn``) as
``python -P -m coffeeshop_tui.scenarios.child SPEC_JSON``. It writes protocol messages
(``scenarios/protocol.py``) to its stdout (the scenario's own ``print`` output is captured,
clipped and sent in batches), reads knob changes on its stdin, and dies with its parent.

With ``"mode": "describe"`` in the spec it only imports the scenario file and answers with one
``describe`` message (or ``error``): the parent never imports a user's file itself.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import traceback

from .procs import child_setup
from .protocol import MAX_OUTPUT_CHARS, Writer, clipped, decode, read_spec, widen_pipe
from .recorder import Recorder, now_ns

FLUSH_S = 0.05
MAX_PENDING_CHARS = 1 << 20  # printed between two flushes; more lines are dropped (counted)


class _Output(io.TextIOBase):
    """Captures what the scenario prints, line by line, with a timestamp; bounded in size."""

    def __init__(self) -> None:
        self.lines: list = []
        self._lock = threading.Lock()
        self._part: list[str] = []
        self._part_len = 0
        self._cut = 0
        self._pending = 0
        self._dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        t = now_ns()
        with self._lock:
            start = 0
            while True:
                nl = text.find("\n", start)
                self._add(text[start:nl] if nl >= 0 else text[start:])
                if nl < 0:
                    break
                self._end_line(t)
                start = nl + 1
        return len(text)

    def _add(self, piece: str) -> None:
        room = MAX_OUTPUT_CHARS - self._part_len
        if room > 0 and piece:
            keep = piece[:room]
            self._part.append(keep)
            self._part_len += len(keep)
        self._cut += max(0, len(piece) - max(room, 0))

    def _end_line(self, t: int) -> None:
        line = clipped("".join(self._part), self._cut)
        self._part, self._part_len, self._cut = [], 0, 0
        if self._pending + len(line) > MAX_PENDING_CHARS:
            self._dropped += 1
            return
        self.lines.append([t, line])
        self._pending += len(line)

    def take(self) -> list:
        with self._lock:
            out, self.lines, self._pending = self.lines, [], 0
            if self._dropped:
                out.append([now_ns(), f"[{self._dropped} printed lines dropped: too much output]"])
                self._dropped = 0
        return out


class Channel:
    """Protocol messages to the parent; a parent that stopped listening ends us."""

    def __init__(self, fd: int) -> None:
        widen_pipe(fd)
        self._w = Writer(os.fdopen(fd, "wb", buffering=1 << 16))

    def send(self, msg: dict) -> None:
        try:
            self._w.send(msg)
        except (BrokenPipeError, ValueError, OSError):
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


def _describe(spec: dict, chan: Channel) -> int:
    """Import the scenario file and say what it declares (names, params, groups, lessons)."""
    from .api import ScenarioError
    from .catalog import import_user_file

    try:
        found = import_user_file(spec["scenario_file"])
    except ScenarioError as exc:
        chan.send({"type": "error", "message": str(exc)})
        return 2
    chan.send({"type": "describe", "scenarios": [s.description() for s in found]})
    return 0


def main() -> int:
    spec = read_spec(sys.argv[1])
    parent = child_setup(spec.get("parent"))
    # Our protocol owns the real stdout; fd 1 becomes stderr for stray C-level writes.
    chan = Channel(os.dup(1))
    os.dup2(2, 1)
    # The control channel owns the real stdin. The scenario gets /dev/null: a process pool
    # forked while our reader waits on sys.stdin would deadlock closing it.
    ctl = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(os.devnull, encoding="utf-8")
    output = _Output()
    sys.stdout = output
    if spec.get("mode") == "describe":
        return _describe(spec, chan)

    from .api import ScenarioError, knobs
    from .catalog import find_in_child

    try:
        sc = find_in_child(spec["scenario"], spec.get("scenario_file"))
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
            if os.getppid() != parent:
                os._exit(1)  # orphaned: never outlive the parent
            flush()

    knobs._set_all(params)

    def control() -> None:
        """Knob changes from the parent, one message a line; EOF means the parent is gone."""
        for line in ctl:
            msg = decode(line)
            try:
                if msg is None:
                    raise ValueError(line)
                if msg["type"] == "knob":
                    p = sc.param(msg["name"])
                    value = p.parse(msg["value"]) if isinstance(msg["value"], str) and p.kind is not str \
                        else p.check(msg["value"])
                    knobs._set(p.name, value)
                    chan.send({"type": "knob", "t": now_ns(), "name": p.name, "value": value,
                               "ideal": sc.ideal_or_none(knobs._values)})
            except ScenarioError as exc:
                chan.send({"type": "knob-error", "message": str(exc)})
            except (ValueError, KeyError, TypeError):
                text = line.decode("utf-8", "replace").strip()[:80]
                chan.send({"type": "knob-error", "message": f"bad control message: {text}"})
        os._exit(1)  # stdin closed: the parent went away

    threading.Thread(target=control, name="coffeeshop-control", daemon=True).start()
    t0 = now_ns()
    chan.send({"type": "start", "t": t0, "pid": os.getpid(), "scenario": sc.name, "params": params,
               "ideal": sc.ideal_or_none(params)})
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
