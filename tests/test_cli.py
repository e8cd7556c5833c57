"""The headless command line: list, run, --json, --trace, and one-line errors."""

import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from conftest import DATA, ROOT

CMD = [sys.executable, "-m", "coffeeshop_tui.tui.cli"]


def cli(*args, timeout=60):
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_list_names_every_scenario_with_its_lesson():
    out = cli("list")
    assert out.returncode == 0
    for name in ("sync-barista", "async-barista", "blocking-barista", "forgotten-await",
                 "threadpool-barista", "cpu-barista", "limited-baristas", "open-shop"):
        assert name in out.stdout
    assert "gather" in out.stdout


@pytest.mark.slow
def test_run_prints_a_readable_summary():
    out = cli("run", "blocking-barista", "--set", "customers=2", "--set", "brew_s=0.05")
    assert out.returncode == 0, out.stderr
    assert "wall" in out.stdout and "blocked" in out.stdout
    assert "blocking_barista.py:" in out.stdout
    # the app's caption, word for word (one rule: explain.caption)
    assert "caption    serialized: 2 coffees took" in out.stdout


@pytest.mark.slow
def test_run_open_shop_reports_open_system_figures_not_an_ideal():
    out = cli("run", "open-shop", "--set", "rate=40", "--set", "brew_s=0.02", "--set", "duration_s=0.3")
    assert out.returncode == 0, out.stderr
    assert "caption    open shop, keeping up:" in out.stdout
    assert "arrivals" in out.stdout and "little     L = " in out.stdout
    assert "ideal" not in out.stdout and "speed-up" not in out.stdout


@pytest.mark.slow
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


@pytest.mark.slow
def test_forgotten_await_json_has_the_warning():
    doc = json.loads(cli("run", "forgotten-await", "--set", "brew_s=0.01", "--json").stdout)
    assert doc["caption"].startswith("forgotten await: 3 coroutines never ran")
    [w, *_] = doc["warnings"]
    assert w["kind"] == "never-awaited" and w["where"].endswith(".py:" + w["where"].split(":")[-1])
    assert "forgotten_await.py" in w["where"]


@pytest.mark.slow
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
    # numbers that make no sense, refused before any work
    (["run", "sync-barista", "--timeout", "inf"], "finite number > 0"),
    (["run", "sync-barista", "--timeout", "nan"], "finite number > 0"),
    (["run", "sync-barista", "--timeout", "0"], "finite number > 0"),
    (["run", "sync-barista", "--timeout", "-1"], "finite number > 0"),
    (["--block-ms", "nan", "run", "sync-barista"], "finite number > 0"),
    (["--block-ms", "inf", "run", "sync-barista"], "finite number > 0"),
    (["--block-ms", "0", "run", "sync-barista"], "finite number > 0"),
    (["--block-ms", "-5", "run", "sync-barista"], "finite number > 0"),
    # a trace that cannot be written fails BEFORE the run, not after it
    (["run", "sync-barista", "--trace", "/tmp"], "is a folder"),
    (["run", "sync-barista", "--trace", "/proc/coffeeshop-trace.json"], "cannot write"),
    # names are unique: within a file, and a file's names against the built-ins
    (["--scenario-file", os.path.join(DATA, "duplicate_names.py"), "list"],
     "two scenarios named 'twin'"),
    (["--scenario-file", os.path.join(DATA, "duplicate_names.py"), "run", "twin"],
     "two scenarios named 'twin'"),
    (["--scenario-file", os.path.join(DATA, "builtin_name.py"), "list"],
     "'sync-barista' has the name of a built-in scenario"),
    # a file that ends its process at import: the CLI says so (the file ran in a child)
    (["--scenario-file", os.path.join(DATA, "exits_at_import.py"), "list"],
     "exited with status 3 while loading"),
    (["--scenario-file", os.path.join(DATA, "exits_at_import.py"), "run", "x"],
     "exited with status 3 while loading"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, capsys):
    # in-process (fast tier): the same main() the command runs; a scenario file is still
    # only imported in a child
    from coffeeshop_tui.tui.cli import main

    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("coffeeshop-tui: error: ")
    assert "running" not in err  # nothing ran


@pytest.mark.slow
@pytest.mark.parametrize("command", [["list"], ["run", "never-loaded"]])
def test_a_file_that_hangs_at_import_is_an_error_in_bounded_time(command):
    from coffeeshop_tui.scenarios.catalog import DESCRIBE_TIMEOUT_S

    t0 = time.monotonic()
    out = cli("--scenario-file", os.path.join(DATA, "hangs_at_import.py"), *command)
    took = time.monotonic() - t0
    assert out.returncode == 2
    assert "still loading after 10 s" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert DESCRIBE_TIMEOUT_S <= took < DESCRIBE_TIMEOUT_S + 30


@pytest.mark.slow
def test_a_trace_is_not_left_behind_by_a_run_that_never_started(tmp_path):
    trace = tmp_path / "t.json"
    out = cli("run", "sync-barista", "--set", "customers=0", "--trace", str(trace))
    assert out.returncode == 2 and not trace.exists()


@pytest.mark.slow
def test_a_run_stopped_before_it_started_has_no_wall_time():
    # the file loads in 2 s (in the describe child, then again in the run child): a 0.5 s
    # timeout stops the run child before its start message
    out = cli("--scenario-file", os.path.join(DATA, "slow_import.py"), "run", "slow-to-load",
              "--timeout", "0.5")
    assert out.returncode == 1, out.stderr
    assert "before the scenario started" in out.stderr
    assert "wall" not in out.stdout and out.stdout == ""


@pytest.mark.slow
def test_user_scenario_file_is_not_imported_by_the_parent():
    from coffeeshop_tui.scenarios.catalog import all_scenarios, find

    path = os.path.join(DATA, "user_scenarios.py")
    before = set(sys.modules)
    sc = find("two-waiters", path)
    names = [s.name for s in all_scenarios(path)]
    assert "two-waiters" in names and "sync-barista" in names
    assert sc.main is None and sc.source_file == path
    assert [p.name for p in sc.params] == ["wait_s"] and sc.params[0].default == 0.05
    assert sc.params[0].max == 5.0 and sc.lesson == "Two waiters overlap their waits."
    assert not [m for m in set(sys.modules) - before if getattr(sys.modules[m], "__file__", "") == path]


@pytest.mark.slow
def test_ideal_times_come_from_the_child():
    # user_scenarios.py's ideal() is a lambda in the file: only the child can call it
    out = cli("--scenario-file", os.path.join(DATA, "user_scenarios.py"), "run", "two-waiters",
              "--set", "wait_s=0.02", "--json")
    summ = json.loads(out.stdout)["summary"]
    assert summ["ideal_sequential_s"] == pytest.approx(2.0)
    assert summ["ideal_overlapped_s"] == pytest.approx(0.02)


@pytest.mark.parametrize("argv", [[], ["--block-ms", "5"], ["--block-ms=7.5", "--scenario-file", "x.py"],
                                  ["--scenario-file", "list"], ["--b", "3"]])
def test_a_plain_app_launch_is_read_without_the_subcommands(argv):
    """`coffeeshop-tui [options]` skips building every subcommand's parser (launch time) and
    reads the same arguments as the full parser."""
    from coffeeshop_tui.tui.cli import build_parser, parse_app_launch

    assert parse_app_launch(argv) == build_parser().parse_args(argv)


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["--version"], ["--ver"], ["list"], ["run", "x"],
                                  ["--block-ms", "abc"], ["--block-ms"], ["--block-ms", "5", "run", "x"],
                                  ["--frobnicate"]])
def test_anything_but_a_plain_launch_goes_to_the_full_parser(argv):
    from coffeeshop_tui.tui.cli import parse_app_launch

    assert parse_app_launch(argv) is None
