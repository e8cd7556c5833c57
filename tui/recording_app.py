"""Saved recordings in the app (``coffeeshop-tui open FILE``) and replayed headless.

A saved scenario or program recording (``scenarios/recording_file.py``) is replayed by the
app's own :class:`~coffeeshop_tui.tui.source.CaptureSource`, so every view works on it
(scrub, zoom, hover, compare, export). :class:`RecordingApp` is the app with the recording
as the first entry of its menu (group "Saved recordings"), started at launch; the other
scenarios still run live.

:func:`replay` plays a recording to its end without a screen (``open --json``): the same
Timeline, hence the same ``to_json`` document as the run that saved it.
"""

from __future__ import annotations

import os

from coffeeshop_tui.scenarios.api import Scenario
from coffeeshop_tui.scenarios.recording_file import Recording
from coffeeshop_tui.scenarios.report import to_json

from .app import CoffeeShopApp
from .source import CaptureSource, RunRequest, RunUpdate, runner_source

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


def document(rec: Recording) -> dict:
    """The ``--json`` document of the run the recording saved."""
    source, final = replay(rec)
    params = final.params if final.params else rec.header.get("params") or {}
    with source.lock:
        doc = to_json(source.timeline, rec.name, params, ideal_of(rec))
    doc["status"] = final.status
    return doc


class RecordingApp(CoffeeShopApp):
    """The app, opened on a saved recording (replayed at launch)."""

    CSS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.tcss")

    def __init__(self, recording: Recording, **kwargs) -> None:
        self.recording = recording
        sc = scenario_for(recording)
        self.recording_name = sc.name

        def factory(req: RunRequest):
            if req.name == sc.name:
                return CaptureSource(req, recording.messages)
            return runner_source(req)

        kwargs.setdefault("source_factory", factory)
        super().__init__(**kwargs)
        self.scenarios.insert(0, sc)
        self.by_name[sc.name] = sc
        self.values[sc.name] = {}
        self.knob_index[sc.name] = 0
        self.selected = sc

    def on_mount(self) -> None:  # Textual calls the base class's on_mount too (after this one)
        self.call_after_refresh(self.start_run, self.recording_name)
