"""Child processes: one protocol, one spawner, user files only in children, nothing left behind.

The process tests start real interpreters and check by pid and process group that every
process the app or the CLI started is gone afterwards, on every way out (end, Ctrl-C,
SIGTERM, SIGKILL).
"""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from coffeeshop_tui.scenarios import protocol
from coffeeshop_tui.scenarios.api import ScenarioError
from coffeeshop_tui.scenarios.catalog import describe_file
from coffeeshop_tui.scenarios.procs import group_alive, processes, spawn
from coffeeshop_tui.scenarios.runner import DONE, ScenarioRun
from coffeeshop_tui.scenarios.web.server import pid_alive

from conftest import DATA, ROOT, wait_until

CLI = [sys.executable, "-m", "coffeeshop_tui.tui.cli"]


def _wait_until(pred, timeout=20.0, step=0.05):
    return wait_until(pred, timeout, step)


def _children(pid: int) -> list[int]:
    return [p for p, ppid, _group in processes() if ppid == pid]


def _tree(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (any session or group)."""
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------------------------- protocol
def test_protocol_round_trip_and_bad_lines():
    msgs = [{"type": "start", "t": 1, "params": {"a": 1.5, "b": "x"}}, {"type": "end", "t": 2}]
    data = b"".join(map(protocol.encode, msgs))
    assert data.count(b"\n") == 2
    assert protocol.loads(data.decode()) == msgs
    noisy = b"not json\n" + protocol.encode(msgs[0]) + b"[1, 2]\n\n" + protocol.encode(msgs[1])
    reader = protocol.Reader(io.BytesIO(noisy))
    assert list(reader) == msgs and reader.skipped == 2


def test_protocol_reader_skips_an_overlong_line_in_bounded_memory():
    huge = protocol.encode({"type": "batch", "output": [[0, "x" * 5000]]})
    stream = io.BytesIO(huge + protocol.encode({"type": "end", "t": 3}))
    reader = protocol.Reader(stream, max_line=1000)
    assert list(reader) == [{"type": "end", "t": 3}] and reader.skipped == 1


class _Lines:
    """A stream that counts the lines read so far."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines, self.read = list(lines), 0

    def readline(self, _limit: int = -1) -> bytes:
        if not self.lines:
            return b""
        self.read += 1
        return self.lines.pop(0)


def test_protocol_reader_can_defer_batches_to_the_next_other_message_in_bounded_memory():
    msgs = [{"type": "start", "t": 1}] + [{"type": "batch", "t": i, "steps": [i] * 50} for i in range(5)]
    msgs += [{"type": "end", "t": 9}, {"type": "batch", "t": 10}]
    lines = [protocol.encode(m) for m in msgs]
    assert list(protocol.Reader(_Lines(lines))) == msgs

    stream = _Lines(lines)
    seen = [(m["type"], stream.read) for m in protocol.Reader(stream, defer_bytes=1 << 20)]
    # the same messages in the same order; the batches decoded once "end" was read (or at EOF)
    assert [t for t, _ in seen] == [m["type"] for m in msgs]
    assert seen[0] == ("start", 1) and all(n == 7 for _, n in seen[1:7]) and seen[-1] == ("batch", 8)
    assert [m for m in protocol.Reader(_Lines(lines), defer_bytes=1 << 20)] == msgs

    stream = _Lines(lines)  # no more than about defer_bytes held: decoded two lines at a time
    seen = [(m["t"], stream.read) for m in protocol.Reader(stream, defer_bytes=len(lines[1]) + 1)]
    assert seen[1:5] == [(0, 3), (1, 3), (2, 5), (3, 5)]


def test_clip_keeps_a_note_of_what_was_cut():
    assert protocol.clip("abc", 5) == "abc"
    long = protocol.clip("a" * 100, 30)
    kept, _, note = long.partition("... [")
    assert len(long) <= 30 and set(kept) == {"a"} and note == f"{100 - len(kept)} more characters]"
    assert protocol.clip(long, 30) == long  # never clipped twice
    assert protocol.clipped("a" * 20, 80, 30) == long


# ------------------------------------------------------------------ scenario files in children
@pytest.mark.slow
def test_describe_tells_names_params_groups_lessons_and_source():
    path = os.path.join(DATA, "user_scenarios.py")
    [sc] = describe_file(path)
    assert (sc.name, sc.lesson, sc.group, sc.source_file) == (
        "two-waiters", "Two waiters overlap their waits.", "Barista scenarios", path)
    [p] = sc.params
    assert (p.name, p.default, p.min, p.max, p.help) == ("wait_s", 0.05, 0.0, 5.0, "how long each waits")
    assert sc.resolve({"wait_s": "0.2"}) == {"wait_s": 0.2}
    with pytest.raises(ScenarioError, match="out of range"):
        sc.resolve({"wait_s": "9"})


@pytest.mark.slow
@pytest.mark.parametrize("stem, needle", [
    ("broken_scenarios.py", "NameError"),
    ("exits_at_import.py", "exited with status 3 while loading"),
    ("duplicate_names.py", "two scenarios named 'twin'"),
    ("builtin_name.py", "has the name of a built-in scenario"),
])
def test_describe_reports_a_bad_file_in_one_line(stem, needle, no_leftover_children):
    with pytest.raises(ScenarioError) as err:
        describe_file(os.path.join(DATA, stem))
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_describe_gives_up_on_a_file_that_hangs_and_kills_it(no_leftover_children):
    t0 = time.monotonic()
    with pytest.raises(ScenarioError, match="still loading after 2 s"):
        describe_file(os.path.join(DATA, "hangs_at_import.py"), timeout=2.0)
    assert time.monotonic() - t0 < 15


@pytest.mark.slow
def test_the_app_shows_a_broken_file_as_a_one_line_error():
    for stem in ("exits_at_import.py", "broken_scenarios.py"):
        out = subprocess.run([*CLI, "--scenario-file", os.path.join(DATA, stem)],
                             capture_output=True, text=True, timeout=60, cwd=ROOT,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith("coffeeshop-tui: error: ") and len(out.stderr.splitlines()) == 1


# --------------------------------------------------------------------------------- the spawner
@pytest.mark.slow
def test_spawned_child_leads_its_group_and_its_guardian_kills_the_group(tmp_path):
    """A child that exits leaves nothing behind: its guardian kills its process group."""
    script = textwrap.dedent("""
        import os, sys, time
        from coffeeshop_tui.scenarios.procs import child_setup
        child_setup()
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        print(pid, flush=True)
        os._exit(0)
    """)
    mod = tmp_path / "leaver.py"
    mod.write_text(script)
    child = spawn("leaver", [], env={"PYTHONPATH": str(tmp_path)})
    try:
        grandchild = int(child.proc.stdout.readline())
        assert os.getpgid(child.pid) == child.pid
        child.proc.wait(20)
        assert _wait_until(lambda: not pid_alive(grandchild), 10)
        assert _wait_until(lambda: not group_alive(child.pid), 10)
    finally:
        child.stop()
        child.proc.stdout.close()
        child.proc.stderr.close()


# ------------------------------------------------------------------------------ the runner
@pytest.mark.slow
def test_a_forked_grandchild_holding_the_pipes_does_not_hold_the_run(no_leftover_children):
    run = ScenarioRun("forks-grandchild", scenario_file=os.path.join(DATA, "forks_grandchild.py"))
    run.start()
    try:
        assert run.wait(30), "the run waited for a grandchild that holds its stdout"
        assert run.status == DONE, (run.status, run.error)
        [line] = [ln for _t, ln in run.timeline.output if ln.startswith("grandchild ")]
        grandchild = int(line.split()[1])
        assert _wait_until(lambda: not pid_alive(grandchild), 10)
        assert _wait_until(lambda: not group_alive(run.pid), 10)
    finally:
        run.stop()


@pytest.mark.slow
def test_run_command_does_not_hang_on_a_grandchild():
    out = subprocess.run([*CLI, "--scenario-file", os.path.join(DATA, "forks_grandchild.py"),
                          "run", "forks-grandchild", "--json"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    line = next(o["line"] for o in json.loads(out.stdout)["output"] if o["line"].startswith("grandchild"))
    assert _wait_until(lambda: not pid_alive(int(line.split()[1])), 10)


@pytest.mark.slow
def test_output_of_50_mb_lines_is_kept_bounded_in_bytes(no_leftover_children):
    run = ScenarioRun("huge-output", {"lines": 3}, os.path.join(DATA, "huge_output.py"))
    run.start()
    try:
        assert run.wait(120)
        assert run.status == DONE, (run.status, run.error, run.stderr_tail[-1:])
        out = [ln for _t, ln in run.timeline.output]
        assert out[-1] == "the end" and "line 1999" in out
        assert out[0].startswith("0" * 1900) and out[0].endswith(" more characters]")
        assert len(out[0]) == protocol.MAX_OUTPUT_CHARS
        assert run.retained_bytes() < 1 << 20
        assert run.timeline.output_chars == sum(map(len, out))
        assert max(map(len, run.stderr_tail)) <= 16 << 10
    finally:
        run.stop()


def test_timeline_output_is_bounded_in_characters():
    from coffeeshop_tui.scenarios.timeline import Timeline

    tl = Timeline(max_output_chars=10_000)
    for i in range(100):
        tl.ingest({"output": [[i, "y" * 1000], [i, "z" * 10**6]]})
    assert tl.output_chars <= 10_000 and tl.output_chars == sum(len(ln) for _t, ln in tl.output)
    assert tl.output[-1][1].startswith("z" * 1900) and tl.output[-1][0] == 99
    assert len(tl.output[-1][1]) <= protocol.MAX_OUTPUT_CHARS


# ----------------------------------------------------------------------- nothing outlives us
def _pool_tree(parent: int, workers: int) -> list[int]:
    """Every descendant of ``parent`` once its scenario child has its process-pool workers."""

    def ready() -> bool:
        return any(len(_children(c)) >= workers for c in _children(parent))

    assert _wait_until(ready, 60), f"no process pool under {parent}: {_tree(parent)}"
    time.sleep(0.3)  # the last worker (and the guardian) are surely there by now
    return _tree(parent)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_signalled_run_command_leaves_no_pool_worker(sig):
    cli = subprocess.Popen([*CLI, "run", "cpu-barista", "--set", "mode=processes",
                            "--set", "customers=2", "--set", "work=50000000"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    tree: list[int] = []
    try:
        tree = _pool_tree(cli.pid, 2)
        [group] = _children(cli.pid)  # the scenario child leads the group of all the rest
        assert all(os.getpgid(p) == group for p in tree)
        cli.send_signal(sig)
        cli.wait(30)
        assert _wait_until(lambda: not any(map(pid_alive, tree)), 15), \
            [p for p in tree if pid_alive(p)]
        assert _wait_until(lambda: not group_alive(group), 10)
        if sig != signal.SIGKILL:
            assert cli.returncode in (130, 128 + sig)
    finally:
        cli.kill()
        cli.wait()
        _kill_all(tree)


@pytest.mark.slow
def test_a_sigkilled_app_process_leaves_no_pool_worker(tmp_path):
    """The app's runner-backed source (what the TUI uses), its process SIGKILLed."""
    script = tmp_path / "app_like.py"
    script.write_text(textwrap.dedent("""
        import time
        from coffeeshop_tui.scenarios.catalog import find
        from coffeeshop_tui.tui.source import RunRequest, RunnerSource
        sc = find("cpu-barista")
        params = sc.resolve({"mode": "processes", "customers": 2, "work": 50_000_000})
        src = RunnerSource(RunRequest(1, sc, params))
        src.start()
        time.sleep(600)
    """))
    parent = subprocess.Popen([sys.executable, "-P", str(script)], cwd=ROOT)
    tree: list[int] = []
    try:
        tree = _pool_tree(parent.pid, 2)
        parent.kill()
        parent.wait()
        assert _wait_until(lambda: not any(map(pid_alive, tree)), 15), \
            [p for p in tree if pid_alive(p)]
    finally:
        parent.kill()
        parent.wait()
        _kill_all(tree)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_signalled_load_command_leaves_no_server_and_no_log_file(sig, tmp_path):
    cli = subprocess.Popen([*CLI, "load", "--endpoint", "/async", "--duration", "60",
                            "--concurrency", "2"], env=dict(os.environ, TMPDIR=str(tmp_path)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    tree: list[int] = []
    try:
        def serving() -> bool:
            nonlocal tree
            tree = _tree(cli.pid)
            return any(b"serve_child" in _cmdline(p) for p in tree)

        assert _wait_until(serving, 60), "no server started"
        time.sleep(0.5)
        tree = _tree(cli.pid)
        cli.send_signal(sig)
        cli.wait(30)
        assert _wait_until(lambda: not any(map(pid_alive, tree)), 15), \
            [p for p in tree if pid_alive(p)]
        assert os.listdir(tmp_path) == []  # the server's log file went with it
    finally:
        cli.kill()
        cli.wait()
        _kill_all(tree)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
