"""Saved recordings and recorded programs in the app (``open FILE``, ``record -- PROGRAM``).

A saved scenario or program recording (``scenarios/recording_file.py``) is replayed by the
app's own :class:`~coffeeshop_tui.tui.source.CaptureSource`, so every view works on it
(scrub, zoom, hover, compare, export). :class:`RecordingApp` is the app with the recording
as the first entry of its menu (group "Saved recordings"), started at launch; the other
scenarios still run live.

:func:`replay` plays a recording to its end without a screen (``open --json``): the same
Timeline, hence the same ``to_json`` document as the run that saved it.

:class:`ProgramApp` is the app started on a live recording of a user's program (``record``
without --json/--trace/--save): :class:`RecordSource` is the runner's source around a
:class:`~coffeeshop_tui.scenarios.record_run.RecordRun`.
"""

from __future__ import annotations

import os
from typing import Callable

from coffeeshop_tui.scenarios.api import Scenario
from coffeeshop_tui.scenarios.record_run import RecordRun
from coffeeshop_tui.scenarios.recording_file import Recording
from coffeeshop_tui.scenarios.report import to_json

from .app import CoffeeShopApp
from .source import CaptureSource, RunnerSource, RunRequest, RunUpdate, Source, runner_source

GROUP = "Saved recordings"


def _nothing(**_params) -> None:  # a saved recording runs nothing
    return None


def scenario_for(rec: Recording) -> Scenario:
    """The menu entry standing for a saved recording (it has no knobs: it is replayed)."""
    what = "a recorded program" if rec.kind == "record" else "a saved scenario run"
    head = rec.header
    return Scenario(name=f"saved: {rec.name}", lesson=f"{what}, saved {head.get('created', '')}; "
                    f"replayed as it was measured.", main=_nothing, group=GROUP,
                    source_file=head.get("source_file") or "")


def request_for(rec: Recording, run_id: int = 1) -> RunRequest:
    return RunRequest(run_id, scenario_for(rec), {}, None, rec.block_ms)


def ideal_of(rec: Recording) -> tuple | None:
    """The ideal times the run's child last reported (start / knob messages)."""
    ideal = None
    for msg in rec.messages:
        if msg.get("type") in ("start", "knob") and "ideal" in msg:
            ideal = tuple(msg["ideal"]) if msg["ideal"] else None
    return ideal


def replay(rec: Recording) -> tuple[CaptureSource, RunUpdate]:
    """Play the whole recording; the source (its ``timeline``) and the final update."""
    source = CaptureSource(request_for(rec), rec.messages)
    source.start()
    last = None
    for last in source.updates():
        pass
    return source, last


def document(rec: Recording, played: tuple | None = None) -> dict:
    """The ``--json`` document of the run the recording saved (``played``: :func:`replay`'s
    result, if the caller has it already)."""
    source, final = played or replay(rec)
    params = final.params if final.params else rec.header.get("params") or {}
    with source.lock:
        doc = to_json(source.timeline, rec.name, params, ideal_of(rec))
    doc["status"] = final.status
    return doc


class EntryApp(CoffeeShopApp):
    """The app with one more entry first in its menu (``entry``, whose runs come from
    ``make_source``), started at launch; every other scenario runs as usual."""

    CSS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.tcss")

    def __init__(self, entry: Scenario, make_source: Callable[[RunRequest], Source], **kwargs) -> None:
        self.entry = entry

        def factory(req: RunRequest):
            return make_source(req) if req.name == entry.name else runner_source(req)

        kwargs.setdefault("source_factory", factory)
        super().__init__(**kwargs)
        self.scenarios.insert(0, entry)
        self.by_name[entry.name] = entry
        self.values[entry.name] = {}
        self.knob_index[entry.name] = 0
        self.selected = entry

    def on_mount(self) -> None:  # Textual calls the base class's on_mount too (after this one)
        self.when_panels_mounted(self.start_run, self.entry.name)


def RecordingApp(recording: Recording, **kwargs) -> EntryApp:
    """The app, opened on a saved recording (replayed at launch)."""
    return EntryApp(scenario_for(recording), lambda req: CaptureSource(req, recording.messages), **kwargs)


# ----------------------------------------------------------------------- a program, live
class RecordSource(RunnerSource):
    """A user's program, recorded live (``scenarios/record_run.py``): the runner's source with
    a :class:`RecordRun` (its printed lines go to the timeline's output, not the terminal).
    Rerunning it (r) runs the program again."""

    def __init__(self, request: RunRequest, make_run: Callable[..., RecordRun]) -> None:
        super().__init__(request)
        self.run = make_run(block_ms=request.block_ms, on_update=lambda _run: self._wake.set())


PROGRAMS = "Recorded programs"


def program_entry(name: str, source_file: str = "") -> Scenario:
    return Scenario(name=f"record: {name}", lesson="your program, recorded live: every event loop it "
                    "makes (r runs it again; what it printed is shown when you quit).", main=_nothing,
                    group=PROGRAMS, source_file=source_file)


class ProgramApp(EntryApp):
    """The app, started on a live recording of a program; ``last_run`` is its newest run."""

    def __init__(self, name: str, make_run: Callable[..., RecordRun], source_file: str = "", **kwargs) -> None:
        self.last_run: RecordRun | None = None

        def make_source(req: RunRequest) -> RecordSource:
            src = RecordSource(req, make_run)
            self.last_run = src.run
            return src

        super().__init__(program_entry(name, source_file), make_source, **kwargs)


# ----------------------------------------------------------------------- a saved load test
def load_parts(rec: Recording) -> tuple[list, list[dict]]:
    """A saved load test's updates (LoadUpdate) and reports (dicts); KeyError/TypeError/
    ValueError if an update does not read."""
    from coffeeshop_tui.scenarios.web.load_replay import update_from_dict

    updates = [update_from_dict(m["update"]) for m in rec.messages if m["type"] == "load-update"]
    reports = [m["report"] for m in rec.messages if m["type"] == "load-report"]
    return updates, reports


def load_replay_app(updates: list):
    """The load-test screen replaying saved updates (``scenarios/web/load_replay.py``)."""
    from coffeeshop_tui.scenarios.web.load_replay import ReplayLoad

    from .screens.load import LoadTestApp

    return LoadTestApp(loadtest=ReplayLoad(updates, saved=True))
