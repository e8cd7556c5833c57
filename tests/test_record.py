"""`coffeeshop-tui record -- PROGRAM`: a user's own asyncio program, recorded in a real child
process (slow tier), and its bad-input cases (fast tier, in-process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, line_of

from coffeeshop_tui.scenarios.recording_file import read
from coffeeshop_tui.tui.cli import main
from coffeeshop_tui.tui.recording_app import document

CLI = [sys.executable, "-m", "coffeeshop_tui.tui.cli"]


def _write(folder, name: str, code: str) -> str:
    path = os.path.join(str(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(textwrap.dedent(code))
    return path


def record(*args: str, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "record", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or ROOT)


PLAIN = """\
    import asyncio, sys, time

    async def brew(i):
        await asyncio.sleep(0.05)
        return i

    async def main():
        print("argv", sys.argv, "path0", sys.path[0], "name", __name__)
        await asyncio.gather(*(brew(i) for i in range(3)))
        time.sleep(0.12)  # the blocking line

    asyncio.run(main())
"""


@pytest.mark.slow
def test_a_plain_script_is_recorded_and_its_blocking_line_blamed(tmp_path, no_leftover_children):
    script = _write(tmp_path / "prog", "plain.py", PLAIN)
    out = record("--json", "--", script, "one", "two")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # with --json the program's stdout goes to stderr
    assert f"argv ['{script}', 'one', 'two'] path0 {os.path.dirname(script)} name __main__" in out.stderr
    assert doc["scenario"] == "plain.py" and doc["params"] == {"argv": ["one", "two"]}
    assert doc["status"] == "done"
    coros = [t["coro"] for t in doc["tasks"]]
    assert coros.count("brew") == 3 and "main" in coros
    blocks = doc["loop"]["blocks"]
    assert len(blocks) == 1 and blocks[0]["duration_s"] >= 0.1
    assert blocks[0]["where"].endswith(f"plain.py:{line_of(script, 'the blocking line')}")


@pytest.mark.slow
def test_the_programs_stdout_comes_through_and_the_summary_follows(tmp_path):
    script = _write(tmp_path, "plain.py", PLAIN)
    out = record("--", script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("argv ")
    assert "scenario   plain.py" in out.stdout and "block    task 1" in out.stdout


@pytest.mark.slow
def test_a_module_with_dash_m(tmp_path):
    _write(tmp_path, "pkg/__init__.py", "")
    _write(tmp_path, "pkg/mod.py", """\
        import asyncio, sys
        print("argv", sys.argv[1:], __name__)
        asyncio.run(asyncio.sleep(0.01))
    """)
    out = record("--json", "--", "-m", "pkg.mod", "x", cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "argv ['x'] __main__" in out.stderr
    doc = json.loads(out.stdout)
    assert doc["scenario"] == "-m pkg.mod" and any(t["coro"] == "sleep" for t in doc["tasks"])


@pytest.mark.slow
def test_several_loops_and_a_loop_in_a_thread_are_labelled(tmp_path):
    script = _write(tmp_path, "loops.py", """\
        import asyncio, threading

        async def job(tag):
            await asyncio.sleep(0.01)

        asyncio.run(job("first"))
        loop = asyncio.new_event_loop()
        loop.run_until_complete(job("second"))
        loop.close()
        th = threading.Thread(target=asyncio.run, args=(job("threaded"),), name="worker")
        th.start()
        th.join()
    """)
    out = record("--json", "--", script)
    assert out.returncode == 0, out.stderr
    jobs = [t for t in json.loads(out.stdout)["tasks"] if t["coro"] == "job"]
    assert [t["name"] for t in jobs] == ["Task-1", "loop 2 · Task-4", "loop 3 (worker) · Task-5"]
    assert len({t["id"] for t in jobs}) == 3


@pytest.mark.slow
def test_a_non_zero_exit_is_records_status_and_the_recording_is_printed(tmp_path):
    script = _write(tmp_path, "exit3.py", """\
        import asyncio, sys
        asyncio.run(asyncio.sleep(0.01))
        sys.exit(3)
    """)
    out = record("--", script)
    assert out.returncode == 3
    assert "scenario   exit3.py" in out.stdout and "the program exited with status 3" in out.stdout


@pytest.mark.slow
def test_an_exception_is_printed_as_python_prints_it(tmp_path):
    script = _write(tmp_path, "boom.py", """\
        import asyncio

        async def main():
            await asyncio.sleep(0.01)
            raise ValueError("spilled")

        asyncio.run(main())
    """)
    out = record("--json", "--", script)
    assert out.returncode == 1
    tb = out.stderr.strip().splitlines()
    assert tb[0] == "Traceback (most recent call last):"
    assert tb[1] == f'  File "{script}", line 7, in <module>'  # the program's frames first, as python's
    assert tb[-1] == "ValueError: spilled"
    assert "runpy" not in out.stderr and "record_child" not in out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "failed" and doc["error"] == "ValueError: spilled"


@pytest.mark.slow
def test_save_then_open_gives_the_same_document(tmp_path):
    script = _write(tmp_path, "plain.py", PLAIN)
    saved = str(tmp_path / "plain.rec")
    out = record("--json", "--save", saved, "--", script)
    assert out.returncode == 0, out.stderr
    rec = read(saved)
    assert rec.kind == "record" and rec.header["params"] == {"argv": []}
    assert document(rec) == json.loads(out.stdout)


@pytest.mark.slow
def test_run_save_then_open_gives_the_same_document(tmp_path):
    saved = str(tmp_path / "run.rec")
    out = subprocess.run([*CLI, "run", "blocking-barista", "--set", "customers=2", "--json", "--save", saved],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    opened = subprocess.run([*CLI, "open", saved, "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout) == json.loads(out.stdout)


@pytest.mark.slow
def test_timeout_stops_the_program_and_its_group(tmp_path):
    marker = f"record-test-{os.getpid()}-{id(tmp_path)}"
    script = _write(tmp_path, "forever.py", f"""\
        import asyncio, subprocess, sys
        async def main():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}"])
            print("started", flush=True)
            while True:
                await asyncio.sleep(0.05)
        asyncio.run(main())
    """)
    out = record("--timeout", "1", "--json", "--", script)
    assert out.returncode == 0, out.stderr
    assert "started" in out.stderr and "timeout" in out.stderr
    assert json.loads(out.stdout)["status"] == "stopped"
    assert not _processes_with(marker), "the program's child outlived record"


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


# ------------------------------------------------------------------ bad input (fast, in-process)
@pytest.mark.parametrize("argv, message", [
    (["record", "--", "/no/such/script.py"], "no such script: /no/such/script.py"),
    (["record", "script.py"], "put the program after --"),
    (["record"], "put the program after --"),
    (["record", "--"], "nothing to run after --"),
    (["record", "--", "-m"], "-m needs a module name"),
    (["record", "--", "-m", "no_such_module_here.sub"], "no module named 'no_such_module_here.sub'"),
    (["record", "--", "--verbose"], "expected a script or -m MODULE"),
    (["record", "--loop", "trio", "--", "x.py"], "invalid choice: 'trio'"),
    (["record", "--save", "/no/such/folder/x.rec", "--", __file__], "--save: folder does not exist"),
    (["run", "sync-barista", "--save", "/no/such/folder/x.rec"], "--save: folder does not exist"),
    (["load", "--save", "/no/such/folder/x.rec"], "--save: folder does not exist"),
    (["load", "--tui", "--save", "x.rec"], "--save and --tui exclude each other"),
])
def test_bad_input_is_a_one_line_error(capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coffeeshop-tui: error: ") and message in err[0], err


UVLOOP_PROGRAM = """\
    import asyncio, uvloop

    async def main():
        await asyncio.sleep(0.02)
        print("loop", type(asyncio.get_running_loop()).__module__)

    {start}
"""


@pytest.mark.slow
@pytest.mark.parametrize("start", ["uvloop.install()\nasyncio.run(main())", "uvloop.run(main())",
                                   "asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())\nasyncio.run(main())"])
def test_uvloop_is_told_plainly_and_loop_asyncio_records_it(tmp_path, start):
    pytest.importorskip("uvloop")
    code = UVLOOP_PROGRAM.replace("{start}", start.replace("\n", "\n    "))
    script = _write(tmp_path, "uv.py", code)
    out = record("--json", "--", script)
    assert out.returncode == 0, out.stderr
    assert "loop uvloop" in out.stderr
    assert "coffeeshop-tui: note: the program imported uvloop" in out.stderr and "--loop asyncio" in out.stderr
    assert json.loads(out.stdout)["tasks"] == []
    out = record("--json", "--loop", "asyncio", "--", script)
    assert out.returncode == 0, out.stderr
    assert "loop asyncio" in out.stderr and "note" not in out.stderr
    assert any(t["coro"] == "main" for t in json.loads(out.stdout)["tasks"])


@pytest.mark.slow
def test_a_program_with_no_event_loop_is_told_so(tmp_path):
    script = _write(tmp_path, "sync.py", "print('no asyncio here')\n")
    out = record("--", script)
    assert out.returncode == 0, out.stderr
    assert "no event loop ran: nothing was recorded" in out.stderr


@pytest.mark.slow
def test_record_without_flags_shows_the_program_live_in_the_app(tmp_path, no_leftover_children):
    from functools import partial

    import time

    from test_app_fakes import run

    from coffeeshop_tui.scenarios.record_run import RecordRun
    from coffeeshop_tui.tui.recording_app import ProgramApp
    from coffeeshop_tui.tui.timeline_view import TimelineView

    script = _write(tmp_path, "plain.py", PLAIN)

    async def body():
        app = ProgramApp("plain.py", partial(RecordRun, script, None, ["x"], capture_output=True), script)
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 60
            while not (app.latest is not None and app.latest.final) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.pause()
            assert app.selected.name == "record: plain.py"
            assert app.latest.final and app.latest.status == "done", app.latest.error
            labels = [lane.label for lane in app.query_one(TimelineView).snapshot.lanes]
            assert labels[0] == "event loop" and sum("brew" in lb for lb in labels) == 3
            assert app.latest.snapshot.blocks  # the time.sleep line held the loop
            assert any(line.startswith("argv ") for _t, line in app.latest.snapshot.output)
        last = app.last_run
        assert last.returncode == 0 and last.output_tail.lines()[0].startswith("argv ")
    run(body)


@pytest.mark.slow
def test_load_save_then_open_gives_the_same_report(tmp_path):
    saved = str(tmp_path / "load.rec")
    out = subprocess.run([*CLI, "load", "--endpoint", "/async", "--concurrency", "3", "--delay", "0.2",
                          "--json", "--save", saved], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rec = read(saved)
    assert rec.kind == "load" and any(m["type"] == "load-update" for m in rec.messages)
    opened = subprocess.run([*CLI, "open", saved, "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout) == json.loads(out.stdout)


@pytest.mark.slow
def test_ctrl_c_reaches_the_program_and_the_recording_is_printed(tmp_path):
    import signal

    script = _write(tmp_path, "ctrlc.py", """\
        import asyncio

        async def main():
            print("ready", flush=True)
            try:
                await asyncio.sleep(60)
            finally:
                print("cleaned up", flush=True)

        asyncio.run(main())
    """)
    proc = subprocess.Popen([*CLI, "record", "--json", "--", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stderr.readline().strip() == "ready"  # with --json its stdout is on stderr
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "cleaned up" in err and err.rstrip().endswith("KeyboardInterrupt")
    doc = json.loads(out)
    assert doc["status"] == "failed" and any(t["coro"] == "main" for t in doc["tasks"])


@pytest.mark.slow
def test_a_hard_exit_keeps_its_status_and_says_the_recording_is_cut(tmp_path):
    script = _write(tmp_path, "hard.py", """\
        import asyncio, os

        async def main():
            await asyncio.sleep(0.01)
            os._exit(4)

        asyncio.run(main())
    """)
    out = record("--", script)
    assert out.returncode == 4
    assert "the program exited with status 4 before its recording was complete" in out.stderr
    assert "scenario   hard.py" in out.stdout


HARD_AFTER_RUN = """\
    import asyncio, os, time

    async def brew(i):
        await asyncio.sleep(0.02 * (i + 1))
        return i

    async def main():
        await asyncio.gather(*(brew(i) for i in range(3)))
        time.sleep(0.06)  # the blocking line
        await asyncio.gather(*(brew(i) for i in range(2)))

    asyncio.run(main())
    os._exit(3)  # no atexit: the recorder's os._exit ends the recording first
"""


@pytest.mark.slow
def test_os_exit_right_after_asyncio_run_keeps_the_whole_run(tmp_path):
    # a run's last batch is sent from the recorder's thread (os._exit kills it): os._exit
    # sends it first, so the end of the run is not lost
    script = _write(tmp_path, "hard3.py", HARD_AFTER_RUN)
    for _ in range(3):  # it was lost most times, not always
        out = record("--json", "--", script)
        assert out.returncode == 3, out.stderr
        doc = json.loads(out.stdout)
        tasks = {t["id"]: t for t in doc["tasks"]}
        ended = sorted((t["coro"], str(t["outcome"])) for t in tasks.values() if t["coro"] in ("brew", "main"))
        assert ended == [("brew", "ok")] * 5 + [("main", "ok")], doc["tasks"]
        blocks = doc["loop"]["blocks"]
        assert len(blocks) == 1 and blocks[0]["where"].endswith(f"hard3.py:{line_of(script, 'the blocking line')}")
        # asyncio.run's shutdown ran too, and is in the same recording
        assert {"BaseEventLoop.shutdown_asyncgens", "BaseEventLoop.shutdown_default_executor"} <= {
            t["coro"] for t in tasks.values()}


@pytest.mark.slow
def test_block_ms_decides_what_is_a_block(tmp_path):
    script = _write(tmp_path, "plain.py", PLAIN)
    out = record("--json", "--block-ms", "500", "--", script)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["loop"]["blocks"] == [] and doc["loop"]["block_threshold_s"] == 0.5


@pytest.mark.slow
def test_a_loop_missed_while_another_is_recorded_is_told(tmp_path):
    script = _write(tmp_path, "two.py", """\
        import asyncio, threading

        async def side():
            await asyncio.sleep(0.05)

        async def main():
            th = threading.Thread(target=asyncio.run, args=(side(),), name="side")
            th.start()
            await asyncio.sleep(0.1)
            th.join()

        asyncio.run(main())
    """)
    out = record("--json", "--", script)
    assert out.returncode == 0, out.stderr
    assert "coffeeshop-tui: note: 1 event loop(s) ran while another loop was being recorded" in out.stderr
    coros = [t["coro"] for t in json.loads(out.stdout)["tasks"]]
    assert "main" in coros and "side" not in coros
