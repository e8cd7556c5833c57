"""Saved recordings (--save / open): the file format, its errors, replay and the app (fast tier:
recordings are written by the tests from the app's recorded captures)."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from test_app_fakes import load, run, settle

from coffeeshop_tui.scenarios import recording_file
from coffeeshop_tui.scenarios.record_child import Renumber, loop_label
from coffeeshop_tui.scenarios.report import to_json
from coffeeshop_tui.scenarios.timeline import Timeline
from coffeeshop_tui.tui.cli import main
from coffeeshop_tui.tui.recording_app import RecordingApp, document
from coffeeshop_tui.tui.timeline_view import TimelineView


def _save(tmp_path, stem="blocking-barista", kind="scenario", name="blocking-barista"):
    path = str(tmp_path / f"{stem}.rec")
    msgs = load(stem)
    recording_file.save(path, recording_file.header(kind, name, msgs[0].get("params"), 25.0), msgs)
    return path, msgs


def _direct_doc(msgs, name):
    """The document `run --json` makes: the messages fed to a Timeline as the runner does."""
    tl = Timeline(block_ms=25.0)
    params, ideal = {}, None
    for m in msgs:
        if m["type"] == "start":
            tl.start(m["t"])
            params, ideal = m.get("params") or {}, m.get("ideal")
        elif m["type"] == "batch":
            tl.ingest(m)
        elif m["type"] == "end":
            tl.finish(m["t"])
            if m.get("error"):
                tl.error = m["error"]["message"]
    return to_json(tl, name, params, tuple(ideal) if ideal else None)


def test_round_trip_gives_the_same_document(tmp_path):
    path, msgs = _save(tmp_path)
    rec = recording_file.read(path)
    assert rec.kind == "scenario" and rec.messages == msgs
    doc = document(rec)
    assert doc.pop("status") == "done"
    assert doc == _direct_doc(msgs, "blocking-barista")
    assert doc["loop"]["blocks"]  # not an empty replay


def test_open_json_prints_the_document(tmp_path, capsys):
    path, msgs = _save(tmp_path)
    assert main(["open", path, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "done"
    assert doc["tasks"] == _direct_doc(msgs, "blocking-barista")["tasks"]


def test_a_saved_file_is_gzip_with_a_versioned_header(tmp_path):
    path, _ = _save(tmp_path)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        head = json.loads(f.readline())
    assert head["format"] == "coffeeshop-recording" and head["version"] == 1 and head["kind"] == "scenario"


def _open_error(capsys, path) -> str:
    assert main(["open", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coffeeshop-tui: error: ")
    return err[0]


def test_unknown_version_is_a_one_line_error(tmp_path, capsys):
    path = str(tmp_path / "future.rec")
    with gzip.open(path, "wb") as f:
        f.write(json.dumps({"format": "coffeeshop-recording", "version": 99, "kind": "record"}).encode() + b"\n")
    assert "version 99 is not supported" in _open_error(capsys, path)


@pytest.mark.parametrize("damage", ["not gzip", "truncated", "bad line", "not ours", "empty", "folder"])
def test_a_corrupt_file_is_a_one_line_error(tmp_path, capsys, damage):
    good, _ = _save(tmp_path)
    path = str(tmp_path / "bad.rec")
    data = open(good, "rb").read()
    if damage == "not gzip":
        open(path, "wb").write(b"{not a recording}\n")
    elif damage == "truncated":
        open(path, "wb").write(data[: len(data) // 2])
    elif damage == "bad line":
        with gzip.open(path, "wb") as f:
            f.write(gzip.decompress(data) + b"this is not json\n")
    elif damage == "not ours":
        with gzip.open(path, "wb") as f:
            f.write(b'{"format": "something else", "version": 1}\n')
    elif damage == "empty":
        open(path, "wb").close()
    else:
        path = str(tmp_path)
    _open_error(capsys, path)


def test_open_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert "no such file" in _open_error(capsys, str(tmp_path / "nope.rec"))


def test_loops_are_renumbered_and_labelled():
    threads = {1: "MainThread", 2: "MainThread", 3: "worker"}
    ren = Renumber(threads.get)
    b1 = ren(1, {"tasks": [[1, 10, "Task-1", "main", "", 0, False], [2, 11, "", "c", "", 1, False]],
                 "steps": [10, 20, 1, 21, 22, 0], "ready": [2, 12], "done": [[2, 30, "ok"]],
                 "names": [[1, "Task-1"]], "samples": [[15, "f.py:1", "f", 1]],
                 "jobs": [["pool", "t", 1, 2, 3, 2, "job"]]})
    b2 = ren(2, {"tasks": [[1, 40, "Task-3", "main", "", 0, False]], "steps": [40, 41, 1]})
    b3 = ren(3, {"tasks": [[1, 50, "Task-4", "job", "", 0, False]], "names": [[1, "Task-4"]]})
    assert [t[0] for t in b1["tasks"]] == [1, 2] and b1["tasks"][1][5] == 1
    assert b1["steps"] == [10, 20, 1, 21, 22, 0] and b1["jobs"][0][5] == 2
    assert b2["tasks"][0][0] == 3 and b2["steps"][2] == 3 and b2["tasks"][0][2] == "loop 2 · Task-3"
    assert b3["tasks"][0][0] == 4 and b3["tasks"][0][2] == "loop 3 (worker) · Task-4"
    assert b3["names"] == [[4, "loop 3 (worker) · Task-4"]]
    assert loop_label(1, None) == "" and loop_label(1, "worker") == "loop 1 (worker)"


def test_open_shows_the_recording_in_the_app(tmp_path):
    path, _ = _save(tmp_path)
    rec = recording_file.read(path)

    async def body():
        app = RecordingApp(rec)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.selected.name == "saved: blocking-barista"
            assert app.latest.final and app.latest.status == "done"
            labels = [lane.label for lane in app.query_one(TimelineView).snapshot.lanes]
            assert labels[0] == "event loop"
            assert sum("make_coffee" in lb for lb in labels) == 3
    run(body)


def _load_recording(tmp_path, with_report: bool):
    from coffeeshop_tui.scenarios.web.load_replay import load as load_updates
    from coffeeshop_tui.scenarios.web.load_replay import update_to_dict
    from conftest import ROOT

    ups = load_updates(f"{ROOT}/tests/app_captures/load-sync-users.jsonl")
    msgs = [{"type": "load-update", "update": update_to_dict(u)} for u in ups]
    if with_report:
        msgs.append({"type": "load-report", "report": {"endpoint": "/sync", "stats": {"ok": ups[-1].stats.ok}}})
    path = str(tmp_path / "load.rec")
    recording_file.save(path, recording_file.header("load", "/sync", {"endpoint": "/sync"}), msgs)
    return path, ups


def test_a_saved_load_test_opens_in_the_load_screen(tmp_path):
    from coffeeshop_tui.tui.recording_app import load_parts, load_replay_app

    path, ups = _load_recording(tmp_path, with_report=False)
    updates, reports = load_parts(recording_file.read(path))
    assert len(updates) == len(ups) and reports == []

    async def body():
        app = load_replay_app(updates)
        async with app.run_test(size=(120, 40)) as pilot:
            replay = app.load_screen.lt
            for _ in range(200):
                if replay.finished and app.load_screen.latest is not None:
                    break
                await pilot.pause(0.05)
            kinds = {ln.kind for ln in app.load_screen.query_one("#lt-timeline", TimelineView).snapshot.lanes}
            assert {"loop", "client"} <= kinds
    run(body)


def test_open_json_of_a_load_test_prints_its_report_or_says_it_has_none(tmp_path, capsys):
    path, ups = _load_recording(tmp_path, with_report=True)
    assert main(["open", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["ok"] == ups[-1].stats.ok
    path, _ = _load_recording(tmp_path, with_report=False)
    assert main(["open", path, "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the saved load test has no report" in err[0]


def test_an_opened_recording_exports_its_trace(tmp_path):
    path, _ = _save(tmp_path)
    rec = recording_file.read(path)

    async def body():
        app = RecordingApp(rec)
        app.export_dir = str(tmp_path / "out")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("e")
            await pilot.pause()
        traces = [f for f in os.listdir(app.export_dir) if f.endswith(".trace.json")]
        assert len(traces) == 1
        with open(os.path.join(app.export_dir, traces[0]), encoding="utf-8") as fh:
            names = {e["args"]["name"] for e in json.load(fh)["traceEvents"] if e.get("name") == "thread_name"}
        assert sum("make_coffee" in n for n in names) == 3
    run(body)
