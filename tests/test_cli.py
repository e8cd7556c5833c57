"""The headless command line: list, run, --json, --trace, and one-line errors."""

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

from conftest import DATA, ROOT

CMD = [sys.executable, "-m", "coffeeshop_tui.tui.cli"]


def cli(*args, timeout=60):
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_list_names_every_scenario_with_its_lesson():
    out = cli("list")
    assert out.returncode == 0
    for name in ("sync-barista", "async-barista", "blocking-barista", "forgotten-await",
                 "threadpool-barista", "cpu-barista", "limited-baristas", "open-shop"):
        assert name in out.stdout
    assert "gather" in out.stdout


def test_run_prints_a_readable_summary():
    out = cli("run", "blocking-barista", "--set", "customers=2", "--set", "brew_s=0.05")
    assert out.returncode == 0, out.stderr
    assert "wall" in out.stdout and "blocked" in out.stdout
    assert "blocking_barista.py:" in out.stdout


def test_run_json_document(tmp_path):
    trace = tmp_path / "trace.json"
    out = cli("run", "threadpool-barista", "--set", "customers=3", "--set", "brew_s=0.05",
              "--set", "via=to_thread", "--json", "--trace", str(trace))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["scenario"] == "threadpool-barista"
    assert doc["params"]["customers"] == 3
    assert doc["wall_s"] > 0.05
    for key in ("busy_s", "blocked_s", "max_lag_s", "blocks"):
        assert key in doc["loop"]
    for t in doc["tasks"]:
        assert {"id", "name", "segments"} <= set(t)
        for seg in t["segments"]:
            assert seg["state"] in ("running", "waiting", "starved")
            assert 0 <= seg["start_s"] <= seg["end_s"]
    assert len(doc["threads"]) >= 1 and doc["threads"][0]["segments"]
    assert isinstance(doc["warnings"], list)

    events = json.loads(trace.read_text())["traceEvents"]
    by_track = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            by_track[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    assert len(by_track) >= 5  # loop, tasks, threads
    for spans in by_track.values():
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert e1 <= s2 + 0.002  # no overlapping events on a track (rounding aside)


def test_forgotten_await_json_has_the_warning():
    doc = json.loads(cli("run", "forgotten-await", "--set", "brew_s=0.01", "--json").stdout)
    [w, *_] = doc["warnings"]
    assert w["kind"] == "never-awaited" and w["where"].endswith(".py:" + w["where"].split(":")[-1])
    assert "forgotten_await.py" in w["where"]


def test_user_scenario_file():
    out = cli("--scenario-file", os.path.join(DATA, "user_scenarios.py"), "run", "two-waiters", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["params"] == {"wait_s": 0.05}
    listing = cli("--scenario-file", os.path.join(DATA, "user_scenarios.py"), "list").stdout
    assert "two-waiters" in listing


@pytest.mark.parametrize("args, needle", [
    (["run", "no-such-barista"], "unknown scenario 'no-such-barista'"),
    (["run", "sync-barista", "--set", "customers=many"], "'many' is not a valid int"),
    (["run", "sync-barista", "--set", "customers=0"], "out of range"),
    (["run", "sync-barista", "--set", "sugar=2"], "has no parameter 'sugar'"),
    (["run", "sync-barista", "--set", "customers"], "KEY=VALUE"),
    (["run", "sync-barista", "--trace", "/no/such/dir/t.json"], "folder does not exist"),
    (["--scenario-file", "/no/such/file.py", "list"], "scenario file not found"),
    (["--scenario-file", os.path.join(DATA, "broken_scenarios.py"), "list"], "NameError"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    out = cli(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
