"""``--loop-at S`` with ``run --json`` / ``record --json`` / ``open FILE --json``: the document's
``loop_at`` is what the loop held S seconds into the run, from ``loop_moment.loop_at`` (the one
answer the app's ``w`` panel shows); a time outside the run is a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from test_app_fakes import load

from coffeeshop_tui.scenarios import recording_file
from coffeeshop_tui.scenarios.loop_moment import loop_at
from coffeeshop_tui.scenarios.report import loop_moment_doc
from coffeeshop_tui.tui.cli import main
from coffeeshop_tui.tui.recording_app import replay

CMD = [sys.executable, "-m", "coffeeshop_tui.tui.cli"]


def _save(tmp_path, stem="async-barista-loopq"):
    """A recording of async-barista (3 customers, brew 0.05 s: three sleeps at once)."""
    path = str(tmp_path / f"{stem}.rec")
    msgs = load(stem)
    recording_file.save(path, recording_file.header("scenario", "async-barista", msgs[0].get("params"), 25.0),
                        msgs)
    return path


def _one_line_error(capsys, args) -> str:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("coffeeshop-tui: error: ")
    return err


def test_open_json_loop_at_is_the_loop_at_that_moment(tmp_path, capsys):
    path = _save(tmp_path)
    assert main(["open", path, "--json", "--loop-at", "0.025"]) == 0
    doc = json.loads(capsys.readouterr().out)
    m = doc["loop_at"]
    # mid-brew: the loop sleeps in select until the first of the three sleeps is due
    assert m["t_s"] == 0.025 and m["recorded"] and m["state"] == "select"
    assert m["n_timers"] == 3 and [x["what"] for x in m["timers"]] == ["sleep"] * 3
    assert all(x["task_label"].endswith("(make_coffee)") and 0 < x["in_s"] < 0.05 for x in m["timers"])
    sel = m["select"]
    assert sel["start_s"] <= 0.025 <= sel["end_s"]
    assert sel["timeout_s"] == pytest.approx(m["timers"][0]["due_s"] - sel["start_s"], abs=0.002)
    assert m["ready"] == [] and m["running"] is None
    # the same answer as loop_at over the replayed recording (one function, no second reading)
    source, _final = replay(recording_file.read(path))
    tl = source.timeline
    direct = loop_at(tl, tl.origin + 25_000_000)
    assert [round((x.due_ns - tl.origin) / 1e9, 6) for x in direct.timers] == [x["due_s"] for x in m["timers"]]
    assert m == loop_moment_doc(tl, 0.025)


def test_loop_at_a_step_names_the_running_task_and_what_is_ready(tmp_path, capsys):
    path = _save(tmp_path)
    source, _final = replay(recording_file.read(path))
    tl = source.timeline
    st = tl.steps
    # the start of the run: main's first step (it creates the three make_coffee tasks)
    s, e = st[0], st[1]
    t_s = round((s + (e - s) // 2 - tl.origin) / 1e9, 9)
    assert main(["open", path, "--json", "--loop-at", repr(t_s)]) == 0
    m = json.loads(capsys.readouterr().out)["loop_at"]
    assert m["state"] == "running" and m["running"]["task"] == st[2]
    assert m["running"]["runs_s"] <= t_s <= m["running"]["ends_s"]


@pytest.mark.parametrize("args, needle", [
    (["--json", "--loop-at", "5"], "--loop-at 5: outside the run (0 to 0."),
    (["--loop-at", "0.01"], "--loop-at goes with --json"),
    (["--json", "--loop-at", "-1"], "finite number >= 0"),
    (["--json", "--loop-at", "nan"], "finite number >= 0"),
    (["--json", "--loop-at", "soon"], "expected seconds into the run"),
])
def test_bad_loop_at_is_a_one_line_error(tmp_path, capsys, args, needle):
    path = _save(tmp_path)
    err = _one_line_error(capsys, ["open", path, *args])
    assert needle in err
    assert capsys.readouterr().out == ""


def test_a_saved_load_test_has_no_loop_at(tmp_path, capsys):
    from coffeeshop_tui.scenarios.web.load_replay import load as load_updates, update_to_dict

    path = str(tmp_path / "load.rec")
    ups = load_updates(os.path.join(ROOT, "tests", "app_captures", "load-sync-users.jsonl"))
    recording_file.save(path, recording_file.header("load", "/sync", {}, 25.0),
                        [{"type": "load-update", "update": update_to_dict(u)} for u in ups])
    err = _one_line_error(capsys, ["open", path, "--json", "--loop-at", "0.1"])
    assert "--loop-at: a saved load test" in err


@pytest.mark.slow
def test_run_and_record_json_loop_at(tmp_path):
    out = subprocess.run([*CMD, "run", "async-barista", "--set", "customers=2", "--set", "brew_s=0.2",
                          "--json", "--loop-at", "0.1"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["loop_at"]
    assert m["state"] == "select" and [x["what"] for x in m["timers"]] == ["sleep", "sleep"]
    # each 0.2 s sleep began between the run's start and 0.1 s (how late depends on the
    # machine's load), so it is due 0 to 0.2 s after the moment asked for
    assert all(0 < x["in_s"] <= 0.2 + 1e-6 for x in m["timers"]), m["timers"]
    assert all(abs(x["due_s"] - 0.1 - x["in_s"]) < 1e-3 for x in m["timers"]), m["timers"]

    prog = tmp_path / "prog.py"
    prog.write_text("import asyncio\n\nasync def main():\n    await asyncio.sleep(0.2)\n\nasyncio.run(main())\n")
    out = subprocess.run([*CMD, "record", "--json", "--loop-at", "0.1", "--", str(prog)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["loop_at"]
    assert m["state"] == "select" and [x["what"] for x in m["timers"]] == ["sleep"]
    assert m["timers"][0]["task_label"].startswith("Task-1 (main)")

    out = subprocess.run([*CMD, "record", "--json", "--loop-at", "30", "--", str(prog)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().endswith("s)") and "--loop-at 30: outside the run" in out.stderr
