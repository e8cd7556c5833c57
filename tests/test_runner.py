"""The runner: a child process per scenario, stoppable at any moment, never an orphan."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from coffeeshop_tui.scenarios.runner import DONE, FAILED, STOPPED, ScenarioRun
from coffeeshop_tui.scenarios.web.server import pid_alive as _alive

from conftest import DATA, ROOT, line_of, wait_until

pytestmark = pytest.mark.slow  # starts real scenario children

STUCK = os.path.join(DATA, "stuck_scenario.py")


def _wait_until(pred, timeout=15.0, step=0.02):
    return wait_until(pred, timeout, step)


def test_stuck_scenario_is_seen_live_and_stopped():
    run = ScenarioRun("stuck", scenario_file=STUCK).start()
    try:
        # while it is stuck, the live timeline already shows who holds the loop, and where
        assert _wait_until(lambda: run.timeline.holding() is not None
                           and run.timeline.now_ns - run.timeline.holding()[1] > 0.1e9)
        with run.lock:
            seq, _since, where = run.timeline.holding()
            assert where == f"{STUCK}:{line_of(STUCK, '# stuck here')}"
            assert run.timeline.tasks[seq].coro == "main"
            assert run.timeline.blocks()[-1].get("ongoing")
        assert run.status == "running"
    finally:
        run.stop()
    assert run.status == STOPPED
    assert not _alive(run.pid)


def test_child_dies_with_a_sigkilled_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from coffeeshop_tui.scenarios.runner import ScenarioRun
        run = ScenarioRun("stuck", scenario_file={STUCK!r}).start()
        while run.status != "running":
            time.sleep(0.01)
        print(run.pid, flush=True)
        time.sleep(600)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_until(lambda: not _alive(child), timeout=10)
    finally:
        parent.kill()
        parent.wait()
        if child and _alive(child):
            os.killpg(child, signal.SIGKILL)


def test_a_finished_run_has_its_timeline_and_no_process():
    run = ScenarioRun("async-barista", {"customers": 2, "brew_s": 0.05}).start()
    assert run.wait(30)
    run.stop()
    assert run.status == DONE
    assert run.resolved_params == {"customers": 2, "brew_s": 0.05}
    assert {t.coro for t in run.timeline.tasks.values()} >= {"main", "make_coffee"}
    assert [line for _t, line in run.timeline.output] == ["coffee 1 is ready", "coffee 2 is ready"]
    assert not _alive(run.pid)


def test_scenario_error_is_reported_not_raised(tmp_path):
    f = tmp_path / "boom.py"
    f.write_text(textwrap.dedent("""
        import asyncio
        from coffeeshop_tui.scenarios.api import scenario

        @scenario("boom", lesson="fails")
        async def main():
            await asyncio.sleep(0)
            raise ValueError("the milk is sour")
    """))
    run = ScenarioRun("boom", scenario_file=str(f)).start()
    assert run.wait(30)
    run.stop()
    assert run.status == FAILED
    assert run.error == "ValueError: the milk is sour"
    assert run.error_where == f"{f}:8"


def test_open_shop_knobs_change_while_it_runs():
    run = ScenarioRun("open-shop", {"rate": 20.0, "brew_s": 0.05, "baristas": 1}).start()
    try:
        assert _wait_until(lambda: len(run.timeline.tasks) > 5)
        run.set_knob("baristas", 4)
        run.set_knob("rate", "fast")  # a bad value is refused, the run goes on
        assert _wait_until(lambda: run.timeline.marks and run.knob_error)
        assert run.timeline.marks[-1][1:] == ("baristas", 4)
        assert "rate" in run.knob_error
        n = len(run.timeline.tasks)
        assert _wait_until(lambda: len(run.timeline.tasks) > n + 3)
        assert run.status == "running"
    finally:
        run.stop()
    assert not _alive(run.pid)


def test_a_file_still_loading_after_the_load_timeout_fails_the_run():
    run = ScenarioRun("slow-to-load", scenario_file=os.path.join(DATA, "slow_import.py"),
                      load_timeout=0.5).start()
    try:
        assert run.wait(30)
        assert run.status == FAILED
        assert "did not start within 0.5 s" in run.error
        assert run.timeline.start_ns is None and run.timeline.end_ns is None  # no wall time
    finally:
        run.stop()
    assert not _alive(run.pid)
