"""record_all_loops: every event loop of the process is recorded, one at a time."""

import asyncio
import os
import threading

import pytest

from coffeeshop_tui.scenarios import autorecord
from coffeeshop_tui.scenarios.recorder import active


@pytest.fixture
def sink():
    s = autorecord.keep_last(1000)
    autorecord.record_all_loops(s)
    try:
        yield s
    finally:
        autorecord.stop_recording()
    assert active() is None


def _task_names(sink, recording=None):
    autorecord.flush()  # a run's last batch is sent from the recorder's thread
    return {name for rid, b in sink.batches if recording in (None, rid) for _, name in b["names"]}


def test_asyncio_run_is_recorded_from_its_first_task(sink):
    async def child():
        await asyncio.sleep(0.01)

    async def main():
        await asyncio.create_task(child(), name="barista")
        return "ok"

    assert asyncio.run(main()) == "ok"
    assert active() is None  # asyncio.run closed the loop: its recording ended
    autorecord.flush()  # (its last batch is sent from the recorder's thread)
    tasks = [t for _, b in sink.batches for t in b["tasks"]]
    assert {t[3] for t in tasks} >= {"test_asyncio_run_is_recorded_from_its_first_task.<locals>.main",
                                      "test_asyncio_run_is_recorded_from_its_first_task.<locals>.child"}
    assert "barista" in _task_names(sink)
    assert sum(len(b["steps"]) for _, b in sink.batches) > 0


def test_each_loop_gets_a_recording_of_its_own(sink):
    for _ in range(3):
        asyncio.run(asyncio.sleep(0))
    autorecord.flush()
    assert len({rid for rid, _ in sink.batches}) == 3


def test_a_loop_running_in_another_thread_is_left_alone(sink):
    started, release = threading.Event(), threading.Event()

    async def main():
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.005)

    th = threading.Thread(target=asyncio.run, args=(main(),))
    th.start()
    try:
        assert started.wait(10)
        first = active()
        assert first is not None
        assert asyncio.run(asyncio.sleep(0, result="second")) == "second"  # not recorded
        assert active() is first
    finally:
        release.set()
        th.join()


def test_stop_recording_restores_asyncio():
    base = asyncio.BaseEventLoop
    before = (base.run_forever, base.close, asyncio.selector_events.BaseSelectorEventLoop.__init__)
    autorecord.record_all_loops()
    autorecord.stop_recording()
    assert (base.run_forever, base.close, asyncio.selector_events.BaseSelectorEventLoop.__init__) == before


@pytest.mark.slow
def test_peer_suite_script_compares_recorder_on_and_off():
    """tools/peer_suites.py on one small test_asyncio module of this interpreter."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "peer_suites.py"), "--suite", "asyncio",
                          "-j", "1", "--only", "test_asyncio.test_context"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert "recorder off: 0 failed of" in out.stdout, out.stdout + out.stderr
    assert "processes recorded" in out.stdout
    assert "failures only with the recorder: 0" in out.stdout
    assert out.returncode == 0


@pytest.mark.slow
def test_peer_suite_script_usage_error_is_one_line():
    import os
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "peer_suites.py"), "--python", "/nonexistent"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["coffeeshop-tui: error: --python: not an executable file: /nonexistent"]


def test_a_forked_child_follows_no_loops(sink):
    import os
    import warnings

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    orig_run_forever = autorecord._state["orig"][asyncio.BaseEventLoop, "run_forever"]
    loop = asyncio.new_event_loop()
    try:
        assert active() is not None
        r, w = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:
            ok = active() is None and asyncio.BaseEventLoop.run_forever is orig_run_forever
            other = asyncio.new_event_loop()
            ok = ok and active() is None
            other.close()
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
        os.close(w)
        got = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        assert got == b"1"
        assert active() is not None
    finally:
        loop.close()


def test_an_interrupt_traceback_shows_no_recorder_frames(sink):
    import traceback

    from coffeeshop_tui.scenarios.recorder_hooks import OWN_FILES

    def interrupt():
        raise KeyboardInterrupt

    async def main():
        asyncio.get_running_loop().call_soon(interrupt)
        await asyncio.sleep(1)

    with pytest.raises(KeyboardInterrupt) as info:
        asyncio.run(main())
    files = [fs.filename for fs in traceback.extract_tb(info.value.__traceback__)]
    assert files[-1] == __file__  # the callback's own frame is there ...
    assert not set(files) & set(OWN_FILES)  # ... and none of the recorder's


@pytest.fixture
def quiet_sink(monkeypatch):
    """No periodic drains: a run's last records wait for the next drain, the close or a flush."""
    s = autorecord.keep_last(1000)
    autorecord.record_all_loops(s, drain_s=30.0)
    try:
        yield s
    finally:
        autorecord.stop_recording()
    assert active() is None


def test_asyncio_runs_shutdown_sends_no_batch_per_run(quiet_sink):
    # asyncio.run runs the loop three times (main, shutdown_asyncgens, shutdown_default_executor):
    # one batch, at the close, carries all three
    async def main():
        await asyncio.create_task(asyncio.sleep(0), name="barista")

    asyncio.run(main())
    autorecord.flush()
    assert len(quiet_sink.batches) == 1
    assert "barista" in _task_names(quiet_sink)


def test_flush_sends_a_stopped_loops_last_batch_now(quiet_sink):
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.sleep(0))
        autorecord.flush()  # does not wait out the grace: the batch is sent at once
        assert len(quiet_sink.batches) == 1
        loop.run_until_complete(asyncio.sleep(0))  # the second run's batch comes after the first
        autorecord.flush()
        assert len(quiet_sink.batches) == 2
    finally:
        loop.close()
    autorecord.flush()
    steps = [len(b["steps"]) for _, b in quiet_sink.batches]
    assert len(steps) == 3 and steps[0] > 0 and steps[1] > 0


def test_a_closed_loop_is_not_kept_alive_by_its_recording(sink):
    # The recorder must be invisible: once a loop is closed and its recording's last batch
    # has gone (from the watchdog thread, which then ends), nothing of the recorder holds the
    # loop. (Test suites create thousands of loops; each one kept alive costs memory, and
    # every gc.collect() time: CPython's test_task_del_collect ran 3-6x slower.) No flush():
    # it would let go of them.
    import gc
    import time
    import weakref

    refs = []
    for _ in range(5):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        refs.append(weakref.ref(loop))
        del loop
    deadline = time.monotonic() + 10  # a bound, not a timing: the watchdog threads end
    while any(r() is not None for r in refs) and time.monotonic() < deadline:
        time.sleep(0.01)
        gc.collect()
    assert [r() for r in refs] == [None] * 5


def test_os_exit_ends_the_recording_first_and_is_put_back():
    # os._exit skips atexit and kills the recorder's thread that sends a run's last batch:
    # while recording, os._exit ends the recording first; stop_recording puts it back
    import posix

    s = autorecord.keep_last(1000)
    autorecord.record_all_loops(s, drain_s=30.0)
    try:
        assert os._exit is not posix._exit and os._exit.__name__ == "_exit"
    finally:
        autorecord.stop_recording()
    assert os._exit is posix._exit


def test_a_closed_loop_is_freed_while_its_last_batch_waits(sink):
    # the recording's last batch waits out a grace in the watchdog's thread (LAST_GRACE_S):
    # meanwhile the closed loop is the program's to free (anyio's own suite checks this)
    import gc
    import weakref

    async def main():
        await asyncio.to_thread(lambda: None)
        return weakref.ref(asyncio.get_running_loop())

    ref = asyncio.run(main())
    gc.collect()
    assert ref() is None


def _settled_thread_count() -> int:
    """The process's thread count once threads ended by earlier tests are gone."""
    import time

    import _thread

    n, since, deadline = _thread._count(), time.monotonic(), time.monotonic() + 5
    while time.monotonic() - since < 0.2 and time.monotonic() < deadline:
        time.sleep(0.02)
        if _thread._count() != n:
            n, since = _thread._count(), time.monotonic()
    return n


def test_the_warm_up_leaves_nothing_behind():
    # record_all_loops runs the recorder once on a loop of its own before the program starts
    # (autorecord._warm_up): no recording reaches the sink, and nothing of it stays patched
    import warnings

    inits = {cls: cls.__dict__.get("__init__") for cls in (asyncio.Lock, asyncio.Event, asyncio.Queue)}
    shown, factory = warnings.showwarning, asyncio.get_event_loop_policy()
    threads = _settled_thread_count()
    s = autorecord.keep_last(10)
    autorecord.record_all_loops(s)
    try:
        assert active() is None
        assert {cls: cls.__dict__.get("__init__") for cls in inits} == inits
        assert warnings.showwarning is shown and asyncio.get_event_loop_policy() is factory
        autorecord.flush()
        assert list(s.batches) == []  # (keep_last: every batch the sink got)
        assert _settled_thread_count() <= threads  # its watchdog's thread has ended
    finally:
        autorecord.stop_recording()


def test_a_block_in_a_recorded_programs_first_step_is_blamed_on_its_line_even_if_the_watchdog_is_late(
        monkeypatch):
    # On a busy machine the watchdog's thread can wait for a CPU while the loop's first step
    # already blocks: the loop now waits for it to watch (Recorder.start_watch)
    import time

    from coffeeshop_tui.scenarios import recorder as _recorder

    s = autorecord.keep_last(100)
    autorecord.record_all_loops(s)
    try:
        monkeypatch.setattr(_recorder, "_before_watch", lambda: time.sleep(0.15))

        async def main():
            time.sleep(0.06)  # blocks at once

        asyncio.run(main())
        autorecord.flush()
    finally:
        autorecord.stop_recording()
    line = next(i for i, text in enumerate(open(__file__), 1) if "time.sleep(0.06)  # blocks at once" in text)
    wheres = {sample[1] for _, b in s.batches for sample in b["samples"]}
    assert f"{__file__}:{line}" in wheres
