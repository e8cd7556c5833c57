"""The `load` and `bench` subcommands (coffeeshop_tui.tui.cli_load): one-line errors, summaries, JSON, Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from coffeeshop_tui.scenarios.web.server import pid_alive
from coffeeshop_tui.tui import cli as main_cli
from coffeeshop_tui.tui.cli_load import add_load_commands, commands, main


pytestmark = pytest.mark.usefixtures("no_leftover_children")  # from conftest


def serve_children_of(parent: int) -> list[int]:
    """Live server children started by process ``parent`` (also after it was reparented)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"coffeeshop_tui.scenarios.web.serve_child" in cmd and b"--parent-pid" in cmd:
            if cmd[cmd.index(b"--parent-pid") + 1] == str(parent).encode() and pid_alive(int(name)):
                out.append(int(name))
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("argv, needle", [
    (["load", "--endpoint", "/nope"], "no endpoint '/nope' in the demo app"),
    (["load", "--concurrency", "0"], "--concurrency: must be a whole number in 1..10000, got '0'"),
    (["load", "--concurrency", "x"], "--concurrency: must be a whole number"),
    (["load", "--concurrency", "100000000"], "--concurrency: must be a whole number in 1..10000"),
    (["load", "--rate", "-1"], "--rate: must be a number in 0.1..10000"),
    (["load", "--rate", "1e6"], "--rate: must be a number in 0.1..10000 requests per second, got '1e6'"),
    (["load", "--rate", "nan"], "--rate: must be a number"),
    (["load", "--concurrency", "2", "--rate", "5"], "not allowed with argument"),
    (["load", "--requests", "2", "--duration", "1"], "not allowed with argument"),
    (["load", "--delay", "100"], "--delay: must be a number in 0..60 seconds"),
    (["load", "--delay", "nan"], "--delay: must be a number in 0..60 seconds, got 'nan'"),
    (["load", "--delay", "inf"], "--delay: must be a number in 0..60 seconds, got 'inf'"),
    (["load", "--delay=-inf"], "--delay: must be a number in 0..60 seconds"),
    (["load", "--endpoint", "/sync#x"], "endpoint must not contain a fragment"),
    (["load", "--endpoint", "/sync?delay=5"], "endpoint must not set delay= in its query"),
    (["load", "--tui", "--json"], "argument --json: not allowed with argument --tui"),
    (["load", "--url", "http://10.1.2.3:8000", "--endpoint", "/x"], "unless --allow-remote is given"),
    (["load", "--url", "http://127.0.0.1:9", "--app", "m:a", "--endpoint", "/x"], "exclude each other"),
    (["load", "--url", "http://127.0.0.1:9"], "--endpoint is required"),
    (["load", "--app", "nomodule"], "expected module:attribute"),
    (["load", "--port", "70000"], "--port: must be a whole number in 1..65535"),
    (["load", "--port", "0"], "--port: must be a whole number in 1..65535"),
    (["load", "--port", "-5"], "--port: must be a whole number in 1..65535"),
    (["bench", "--n", "0"], "--n: must be a whole number in 1..10000"),
    (["--block-ms", "0", "load"], "argument --block-ms: expected a finite number > 0"),
    (["load", "--tui", "--endpoint", "/nope"], "no endpoint '/nope'"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    out, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not out


@pytest.mark.slow
@pytest.mark.parametrize("argv, needle", [
    (["load", "--app", "no_such_module_xyz:app", "--endpoint", "/x"], "cannot import ASGI app"),
    (["load", "--app", "os:getcwd", "--endpoint", "/x"], "'os:getcwd' is not an ASGI app"),
    (["load", "--app", "os:sep", "--endpoint", "/x"], "'os:sep' is not an ASGI app"),
])
def test_bad_app_is_one_line_exit_2_and_sends_no_load(capsys, argv, needle):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not out
    assert "loading" not in err  # it failed before any load was sent


@pytest.mark.slow
def test_port_in_use_is_one_line_exit_2(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, out, err = run_cli(capsys, "load", "--endpoint", "/async", "--port", str(port))
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert len(err.strip().splitlines()) == 1 and not out


@pytest.mark.slow
def test_no_traceback_from_the_command_line():
    p = subprocess.run([sys.executable, "-m", "coffeeshop_tui.tui.cli_load", "load", "--endpoint", "/nope"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.startswith("coffeeshop-tui: error: no endpoint '/nope'")
    assert "Traceback" not in p.stderr


# ----------------------------------------------------------------------------- runs
@pytest.mark.slow
def test_load_summary_for_sync(capsys):
    code, out, err = run_cli(capsys, "load", "--endpoint", "/sync", "--concurrency", "4", "--delay", "0.2")
    assert code == 0, err
    assert "requests   4 issued: 4 ok, 0 failed, 0 unfinished, 0 dropped, 0 in flight" in out
    assert "latency    p50" in out and "p95" in out and "p99" in out
    assert "Little's law" in out
    assert "pool       anyio 4/40 threads busy at most" in out
    assert "`/sync` is not blocking the loop" in out and "4 requests ran in 1 wave" in out


@pytest.mark.slow
def test_load_json_for_bad(capsys):
    code, out, err = run_cli(capsys, "load", "--endpoint", "/bad", "--concurrency", "3", "--delay", "0.15",
                             "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["endpoint"] == "/bad" and doc["model"] == "closed"
    assert len(doc["requests"]) == 3
    for r in doc["requests"]:
        assert r["status"] == 200 and r["kind"] == "ok"
        assert r["intended_s"] <= r["sent_s"] <= r["first_byte_s"] <= r["done_s"]
        assert r["server"]["start_s"] >= r["sent_s"] - 0.002
    blocks = doc["server"]["blocks"]
    assert len(blocks) >= 3 and all(b["where"].split(":")[0].endswith("app.py") for b in blocks)
    assert doc["server"]["blocked_s"] >= 3 * 0.15 * 0.9
    assert set(doc["percentiles_ms"]) == {"p50", "p95", "p99", "max"}
    assert doc["percentiles_ms"]["max"] >= 3 * 150 * 0.9
    assert doc["errors"] == {}
    assert doc["server"]["pool"]["anyio_tokens"] == 40
    assert "blocks the event loop" in doc["caption"]


@pytest.mark.slow
def test_load_open_model_with_errors_json(capsys):
    code, out, err = run_cli(capsys, "load", "--endpoint", "/async", "--rate", "20", "--duration", "1",
                             "--delay", "0.5", "--timeout", "0.2", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"] == "open"
    assert doc["errors"].get("timeout", 0) >= 10
    # a duration run ends on time: requests still out then are "unfinished", not failures
    assert doc["stats"]["error_total"] + doc["stats"]["unfinished"] == len(doc["requests"])
    c = doc["counts"]
    assert c["issued"] == c["ok"] + c["failed"] + c["unfinished"] + c["dropped"] + c["in_flight"]
    assert doc["percentiles_ms"]["p50"] is None  # no success: no percentile


@pytest.mark.slow
def test_bench_small(capsys):
    code, out, err = run_cli(capsys, "bench", "--delay", "0.1", "--n", "3", "--n-pool", "41")
    assert code == 0, err
    assert "popular claim: sync ≈ N x 0.1 s, async ≈ 0.1 s" in out
    for ep, n in (("/sync", 3), ("/async", 3), ("/bad", 3), ("/to_thread", 3), ("/sync", 41)):
        assert f"{ep:<11} N={n:<4} measured" in out
    lines = [ln.strip() for ln in out.splitlines()]
    assert sum(ln.startswith("why:") for ln in lines) == 5
    assert sum(ln.startswith("claim:") for ln in lines) == 5


@pytest.mark.slow
def test_bench_json(capsys):
    code, out, err = run_cli(capsys, "bench", "--delay", "0.1", "--n", "2", "--n-pool", "3", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["endpoint"] for r in rows] == ["/sync", "/async", "/bad", "/to_thread", "/sync"]
    bad = rows[2]
    assert bad["total_s"] >= 2 * 0.1 * 0.95 and bad["claim_s"] == pytest.approx(0.1)


# ----------------------------------------------------------------------------- wiring, Ctrl-C
def test_wires_into_the_main_parser(capsys):
    p = main_cli.build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    if "load" not in sub.choices:  # (until tui/cli.py wires it in itself)
        add_load_commands(sub)
    args = p.parse_args(["load", "--endpoint", "/nope"])
    assert commands()[args.command](args) == 2
    assert "no endpoint '/nope'" in capsys.readouterr().err
    args = p.parse_args(["bench", "--delay", "0.5"])
    assert args.delay == 0.5 and args.n == 10 and args.n_pool == 41


@pytest.mark.slow
def test_ctrl_c_stops_the_server_and_prints_what_ran():
    p = subprocess.Popen(
        [sys.executable, "-m", "coffeeshop_tui.tui.cli_load", "load", "--endpoint", "/async", "--concurrency", "2",
         "--duration", "60", "--delay", "0.05"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = p.stderr.readline()  # "loading http://127.0.0.1:PORT/async?delay=0.05 ..."
        assert line.startswith("loading http://127.0.0.1:"), line
        assert len(serve_children_of(p.pid)) == 1
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "requests " in out and "ok" in out
    deadline = time.monotonic() + 5
    while serve_children_of(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not serve_children_of(p.pid), "the server outlived Ctrl-C"


def test_a_server_that_crashed_shows_the_telling_line_and_its_log_tail(capsys):
    from coffeeshop_tui.tui.cli_load import _fail

    message = ("server child for 'shop:app' exited with code 3 before it was ready; its output ends with:\n"
               "INFO:     Waiting for application startup.\n"
               "ERROR:    Traceback (most recent call last):\n"
               '  File "/home/me/shop.py", line 5, in boom\n'
               '    raise RuntimeError("database is down")\n'
               "RuntimeError: database is down\n"
               "ERROR:    Application startup failed. Exiting.\n")
    assert _fail(message) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("coffeeshop-tui: error: server child for 'shop:app' exited with code 3 before it was "
                      "ready: RuntimeError: database is down")
    assert err[1] == "the server's log ends with:" and any("shop.py\", line 5" in ln for ln in err[2:])
    # no traceback in the log: one line
    assert _fail("port 8000 on 127.0.0.1 is already in use") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
