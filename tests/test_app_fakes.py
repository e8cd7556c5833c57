"""Helpers for the app's tests (no tests here): recorded captures and a fake source factory.

A capture is what a scenario's child process wrote (JSON lines: start, batch..., end),
recorded once from a real run and replayed by ``coffeeshop_tui.tui.source.CaptureSource`` through the same
Timeline -> Snapshot path as a live run: deterministic input for Pilot and snapshot tests.
Paths inside captures are stored relative to ``{ROOT}`` so they match any checkout.

Re-record them with::

    uv run python tests/test_app_fakes.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from coffeeshop_tui.scenarios import protocol  # noqa: E402
from coffeeshop_tui.scenarios.procs import spawn  # noqa: E402
from coffeeshop_tui.tui.source import CaptureSource, RunRequest  # noqa: E402

CAPTURES = os.path.join(HERE, "app_captures")
FAILING_FILE = os.path.join(CAPTURES, "failing_scenarios.py")
ROOT_TOKEN = "{ROOT}"

# (file stem, scenario, params, scenario_file)
RECORDINGS = [
    ("sync-barista", "sync-barista", {"customers": 3, "brew_s": 0.1}, None),
    ("async-barista", "async-barista", {"customers": 3, "brew_s": 0.1}, None),
    ("blocking-barista", "blocking-barista", {"customers": 3, "brew_s": 0.1}, None),
    ("blocking-barista-4", "blocking-barista", {"customers": 4, "brew_s": 0.1}, None),
    ("forgotten-await", "forgotten-await", {"customers": 3, "brew_s": 0.1}, None),
    ("threadpool-barista", "threadpool-barista",
     {"customers": 10, "brew_s": 0.1, "via": "to_thread", "executor_workers": 4}, None),
    ("limited-baristas", "limited-baristas", {"customers": 6, "baristas": 2, "brew_s": 0.1}, None),
    # every pool at once (the longest caption: two pools, maybe the GIL): fits 80x24
    ("cpu-barista", "cpu-barista", {"customers": 3, "work": 2000000, "mode": "all"}, None),
    ("open-shop", "open-shop", {"rate": 20.0, "baristas": 2, "brew_s": 0.1, "duration_s": 0.4}, None),
    ("spilled-coffee", "spilled-coffee", {"wait_s": 0.05}, FAILING_FILE),
    # recorded with the loop queue (selects, timers, fds: scenarios/loop_queue.py)
    ("blocking-barista-loopq", "blocking-barista", {"customers": 3, "brew_s": 0.05}, None),
    ("async-barista-loopq", "async-barista", {"customers": 3, "brew_s": 0.05}, None),
]


def record_capture(name: str, params: dict, path: str, scenario_file: str | None = None,
                   block_ms: float = 25.0, timeout: float = 60.0) -> None:
    """Run the scenario's child process for real and save what it wrote."""
    spec = {"scenario": name, "params": params, "scenario_file": scenario_file,
            "block_ms": block_ms, "parent": os.getpid()}
    child = spawn("coffeeshop_tui.scenarios.child", [protocol.spec_arg(spec)], cwd=ROOT)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for msg in protocol.read_messages(child.proc.stdout):
            if msg["type"] == "start":
                msg["pid"] = 0
            lines.append(protocol.encode(msg).decode("utf-8").replace(ROOT, ROOT_TOKEN))
            if msg["type"] in ("end", "error") or time.monotonic() > deadline:
                break
    finally:
        child.stop()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(lines))


def capture_path(stem: str) -> str:
    return os.path.join(CAPTURES, f"{stem}.jsonl")


def load(stem: str) -> list[dict]:
    """A recorded capture with ``{ROOT}`` turned back into this checkout's path."""
    with open(capture_path(stem), encoding="utf-8") as fh:
        text = fh.read().replace(ROOT_TOKEN, ROOT.replace("\\", "\\\\"))
    return protocol.loads(text)


def _stem_for(name: str, params: dict) -> str | None:
    """The recording made with exactly these params, else the scenario's first recording."""
    fallback = None
    for stem, sc, p, _f in RECORDINGS:
        if sc != name:
            continue
        if all(params.get(k) == v for k, v in p.items()):
            return stem
        fallback = fallback or stem
    return fallback


class FakeFactory:
    """A ``source_factory`` that replays captures. ``hold=True``: runs stay "running" until
    stopped (the final ``end`` is held back). Keeps every request and source it made."""

    def __init__(self, hold: bool = False, pace: float = 0.0, hold_names: tuple = ()) -> None:
        self.hold = hold
        self.pace = pace
        self.hold_names = hold_names
        self.requests: list[RunRequest] = []
        self.sources: list[CaptureSource] = []

    def __call__(self, request: RunRequest) -> CaptureSource:
        stem = _stem_for(request.name, request.params)
        messages = load(stem) if stem else [{"type": "error", "message": f"no capture for {request.name}"}]
        hold = self.hold or request.name in self.hold_names
        src = CaptureSource(request, messages, pace=self.pace, hold=hold)
        self.requests.append(request)
        self.sources.append(src)
        return src


class FakeClock:
    """The app's replay clock, moved by the test: replay and pause tests never race real time."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def fake_app(hold: bool = False, scenario_file: str | None = None, clock=None, **kwargs):
    from coffeeshop_tui.tui.app import create_app

    factory = FakeFactory(hold=hold, **kwargs)
    app = create_app(scenario_file=scenario_file, source_factory=factory, clock=clock)
    app.knob_debounce = 0  # apply knob changes at once in tests
    # start every knob at the values its scenario's (first) capture was recorded with
    for stem, name, params, _f in reversed(RECORDINGS):
        if name in app.values:
            app.values[name].update(params)
    return app, factory


async def settle(pilot, timeout: float = 10.0) -> None:
    """Wait until the current run has shown its final update, or (held) its last one."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        upd, src = app.latest, app._source
        if upd is not None and upd.final:
            break
        if src is not None and src.reached_end.is_set() and upd is not None:
            await pilot.pause(0.05)  # let the last posted update be handled
            break
    else:
        raise AssertionError("the run did not settle")
    await pilot.pause()


def text_of(widget) -> str:
    """The plain text a Static shows."""
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def run(coro_fn, *args, **kwargs):
    """Run an async test body (pytest-asyncio is not installed)."""
    return asyncio.run(coro_fn(*args, **kwargs))


if __name__ == "__main__":
    os.makedirs(CAPTURES, exist_ok=True)
    only = sys.argv[1:]  # stems to re-record (default: all)
    for stem, name, params, sfile in RECORDINGS:
        if only and stem not in only:
            continue
        record_capture(name, params, capture_path(stem), sfile)
        print("recorded", stem, os.path.getsize(capture_path(stem)), "bytes")
