"""What the loop held at a moment (scenarios/loop_queue.py): recorded, then rebuilt by loop_at.

Each test runs a small program whose queue we know under the real recorder, and asks
``loop_at`` about moments the program noted itself (no timed assertions: the moments are
read from the recording, the bounds follow from how asyncio's ``_run_once`` works).
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback

import pytest

from coffeeshop_tui.scenarios import loop_moment, loop_queue
from coffeeshop_tui.scenarios.loop_moment import LoopLog, loop_at
from coffeeshop_tui.scenarios.recorder import Recorder, record
from coffeeshop_tui.scenarios.timeline import Timeline


def seq_of(tl, name: str) -> int:
    return next(q for q, t in tl.tasks.items() if t.name == name)


def longest_select_after(tl, t: int) -> int:
    """The middle of the longest time the loop sat in select after ``t`` (from the recording)."""
    it = tl.iters
    s, e = max(((it[i], it[i + 1]) for i in range(0, len(it), 2) if it[i] >= t), key=lambda p: p[1] - p[0])
    return (s + e) // 2


def test_three_ready_at_once_one_blocks_the_other_two_wait_in_the_ready_queue():
    marks = {}

    async def worker(ev, name):
        await ev.wait()
        if name == "A":
            marks["b0"] = time.monotonic_ns()
            time.sleep(0.05)  # holds the loop: B and C are ready, not running
            marks["b1"] = time.monotonic_ns()

    async def main():
        asyncio.current_task().set_name("main")
        ev = asyncio.Event()
        ts = [asyncio.create_task(worker(ev, n), name=n) for n in "ABC"]
        await asyncio.sleep(0.005)
        marks["set"] = time.monotonic_ns()
        ev.set()  # wakes all three in one go
        await asyncio.gather(*ts)

    tl = record(main)
    m = loop_at(tl, (marks["b0"] + marks["b1"]) // 2)
    assert m.recorded and m.state == "running"
    assert m.running.task == seq_of(tl, "A")
    ready = [r.task for r in m.ready]
    assert ready[:2] == [seq_of(tl, "B"), seq_of(tl, "C")]
    assert all(r.how == "call_soon" for r in m.ready[:2])
    # only main ran in the iteration before (it set the event): it call_soon'd them
    assert [r.by for r in m.ready[:2]] == [seq_of(tl, "main")] * 2
    assert all(r.runs_ns >= marks["b1"] for r in m.ready)  # they ran after the block
    # their first steps: new tasks, call_soon'd by main's create_task
    first = loop_at(tl, tl.tasks[seq_of(tl, "A")].steps[0] + 1)
    assert first.running.task == seq_of(tl, "A") and first.running.what == loop_moment.NEW_TASK
    assert [(r.task, r.by, r.what) for r in first.ready[:2]] == [
        (seq_of(tl, n), seq_of(tl, "main"), loop_moment.NEW_TASK) for n in "BC"]
    created_b = tl.tasks[seq_of(tl, "B")].created_ns
    while_creating = loop_at(tl, created_b + 1)  # inside main's step: A and B exist, C not yet
    assert [r.task for r in while_creating.later if r.what == loop_moment.NEW_TASK] == [
        seq_of(tl, "A"), seq_of(tl, "B")]
    # just before the event was set, they were not in the queue yet (waiting on it)
    early = loop_at(tl, marks["set"])
    assert early.running.task == seq_of(tl, "main")
    assert seq_of(tl, "B") not in [r.task for r in early.ready]
    # (it is listed among the handles call_soon'd during main's iteration: when is not recorded)
    assert [r.certain for r in early.later if r.task == seq_of(tl, "B")] == [False]


def test_a_sleeping_task_is_a_timer_due_when_it_asked():
    marks = {}

    async def sleeper():
        loop = asyncio.get_running_loop()
        marks["t0"], marks["due0"] = time.monotonic_ns(), loop.time() + 0.2
        await asyncio.sleep(0.2)

    async def main():
        t = asyncio.create_task(sleeper(), name="sleeper")
        await asyncio.sleep(0.05)
        marks["mid"] = time.monotonic_ns()
        await t

    tl = record(main)
    m = loop_at(tl, marks["mid"])
    timers = [x for x in m.timers if x.task == seq_of(tl, "sleeper")]
    assert len(timers) == 1
    timer = timers[0]
    assert timer.what == "sleep" and not timer.overdue
    due0 = int(marks["due0"] * 1e9)  # asked just before the sleep: the timer is due a bit later
    assert due0 <= timer.due_ns <= due0 + (timer.created_ns - marks["t0"]) + 1000
    # once it fired, it is no longer pending
    after = loop_at(tl, tl.tasks[seq_of(tl, "sleeper")].done_ns + 1)
    assert all(x.task != seq_of(tl, "sleeper") or x.what != "sleep" for x in after.timers)


def test_an_idle_loop_waits_in_select_with_the_next_timer_as_timeout():
    marks = {}

    async def main():
        await asyncio.sleep(0.001)
        marks["t"] = time.monotonic_ns()
        await asyncio.sleep(0.1)

    tl = record(main)
    t = longest_select_after(tl, marks["t"])
    m = loop_at(tl, t)
    assert m.state == "select"
    assert m.timers and m.timers[0].what == "sleep"
    due = m.timers[0].due_ns
    assert m.timeout_ns is not None and m.timeout_ns > 0
    # asyncio computed the timeout as (next due - now) just before select began
    assert m.iteration_start_ns - 1000 <= due - m.timeout_ns <= m.select_start_ns + 1000
    assert m.select_start_ns <= t <= m.select_end_ns
    assert any("self-pipe" in w.what for w in m.waiting_on)
    assert not m.ready


def test_a_cancelled_timer_leaves_the_list_when_cancelled():
    marks = {}

    async def quick():
        await asyncio.sleep(0.02)

    async def main():
        await asyncio.wait_for(quick(), timeout=5)  # its 5 s timer is cancelled when quick ends
        marks["done"] = time.monotonic_ns()
        await asyncio.sleep(0.01)

    tl = record(main)
    assert tl.loopq.cancelled  # the recording saw the cancellation
    long = [k for k in range(len(tl.loopq.twhen)) if tl.loopq.twhen[k] - tl.loopq.tcreated[k] > 4e9]
    assert len(long) == 1
    k = long[0]
    during = loop_at(tl, tl.loopq.tcreated[k] + 5_000_000)
    assert any(x.due_ns == tl.loopq.twhen[k] for x in during.timers)
    after = loop_at(tl, marks["done"] + 1_000_000)
    assert not any(x.due_ns == tl.loopq.twhen[k] for x in after.timers)


def test_sockets_show_what_select_waits_for_and_io_callbacks_say_which_fd():
    marks = {}

    async def main():
        got = asyncio.Event()

        async def handle(reader, writer):
            await reader.read(10)
            got.set()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.02)
        marks["idle"] = time.monotonic_ns()
        await asyncio.sleep(0.05)  # the server's handler waits for data meanwhile
        writer.write(b"hello")
        await got.wait()
        writer.close()
        server.close()
        await server.wait_closed()
        marks["port"] = port

    tl = record(main)
    m = loop_at(tl, longest_select_after(tl, marks["idle"]))
    assert m.state == "select"
    words = [w.what for w in m.waiting_on if w.mode in ("read", "read+write")]
    assert any(f"127.0.0.1:{marks['port']} (accept)" in w for w in words)
    assert sum(f"127.0.0.1:{marks['port']}" in w and "→" in w for w in words) >= 1
    # some step of the run became ready because its socket was readable
    log = tl.loopq
    io_steps = [r for i in range(len(log.sel_ends)) for r in loop_moment._iteration(log, log.view(), i)
                if r.how == "io"]
    assert any("readable" in r.what and "127.0.0.1" in r.what for r in io_steps)


def test_batches_stay_json_and_a_recording_without_loop_data_says_so():
    loop = asyncio.new_event_loop()
    rec = Recorder()
    batches = []
    try:
        rec.install(loop)

        async def main():
            await asyncio.sleep(0.01)

        loop.run_until_complete(main())
    finally:
        rec.uninstall()
        batches.append(rec.drain())
        loop.close()
    batch = json.loads(json.dumps(batches[0]))
    assert batch["loop"]["selects"] and batch["loop"]["timers"]
    tl = Timeline()
    tl.ingest(batch)
    assert loop_at(tl, batch["loop"]["selects"][0]).recorded
    off = Timeline(loop_queue=False)  # a timeline whose views never ask (the load test's server)
    off.ingest(batch)
    assert off.loopq is None and not loop_at(off, batch["t"]).recorded
    old = {k: v for k, v in batch.items() if k != "loop"}
    tl_old = Timeline()
    tl_old.ingest(old)
    assert not loop_at(tl_old, batch["t"]).recorded


def test_uninstall_restores_the_loop_and_timers_show_no_recorder_frames():
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    sel, call_at = loop._selector, loop.call_at
    rec = Recorder(block_ms=10_000).install(loop)
    try:
        assert loop._selector is not sel and "call_at" in loop.__dict__

        async def main():
            lp = asyncio.get_running_loop()
            h = lp.call_later(10, print)
            frames = [fs.filename for fs in h._source_traceback]
            h.cancel()
            try:
                lp.call_at(None, print)
            except TypeError as exc:
                tb_files = [fs.filename for fs in traceback.extract_tb(exc.__traceback__)]
            return frames, tb_files

        frames, tb_files = loop.run_until_complete(main())
    finally:
        rec.uninstall()
    try:
        assert loop_queue.__file__ not in frames and frames[-1] == __file__
        assert loop_queue.__file__ not in tb_files
        assert loop._selector is sel
        assert "call_at" not in loop.__dict__ and "_timer_handle_cancelled" not in loop.__dict__
        assert loop.call_at == call_at
    finally:
        loop.close()


def test_uninstall_leaves_a_wrapper_the_program_put_on_top():
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    mine = lambda *a, **k: None  # noqa: E731
    loop.call_at = mine
    rec.uninstall()
    try:
        assert loop.call_at is mine
    finally:
        loop.close()


def test_trim_keeps_answers_after_the_cut():
    async def main():
        for _ in range(5):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)

    tl = record(main)
    log = tl.loopq
    ends = list(log.sel_ends)
    cut = ends[len(ends) // 2]
    t = ends[-2] - 1000
    before = loop_at(tl, t)
    view = log.view()
    log.trim(cut)
    after = loop_at(tl, t)
    assert (after.state, after.timers[:1], after.waiting_on) == (before.state, before.timers[:1], before.waiting_on)
    assert loop_at(view, t) == before  # an older view still answers as before
    assert isinstance(log, LoopLog)


@pytest.mark.parametrize("n", [0, 1])
def test_no_recording_no_answer(n):
    tl = Timeline()
    assert loop_at(tl, n).state == "none"


def test_several_loops_keep_the_queue_of_one_thread_renumbered():
    from coffeeshop_tui.scenarios.record_child import Renumber

    threads = {1: "MainThread", 2: "worker", 3: "MainThread"}
    ren = Renumber(threads.get)
    lq = {"selects": [5, -1, 0, 0], "io": [], "timers": [[1, 9, 1, 1, "x"]], "cancels": [],
          "regs": [[1, 4, 1, "self-pipe", 0, "", 0]]}
    b1 = ren(1, {"tasks": [[1, 1, "Task-1", "main", "", 0, False]], "loop": lq})
    b2 = ren(2, {"tasks": [[1, 2, "Task-2", "main", "", 0, False]], "loop": lq})
    b3 = ren(3, {"tasks": [[1, 3, "Task-3", "main", "", 0, False]], "loop": lq})
    assert b1["loop"]["timers"][0][3] == 1
    assert b2["loop"] is None  # a loop running in another thread at the same time
    assert b3["loop"]["timers"][0][3] == 3  # a later loop of the main thread, renumbered
    tl = Timeline()
    tl.ingest({**b2, "steps": [1, 2, 2]})
    assert not tl.loopq.recorded and not tl.loopq.steps


def test_timers_by_due_time_grow_with_the_recording():
    log = LoopLog()
    log.twhen.extend([50, 10, 40])
    assert loop_moment._by_when(log, 3) == [1, 2, 0]
    log.twhen.extend([5, 45])
    assert loop_moment._by_when(log, 5) == [3, 1, 2, 4, 0]
    assert loop_moment._by_when(log, 3) == [1, 2, 0]  # an older view's prefix


def test_selector_errors_reach_the_program_without_recorder_frames():
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    try:
        with pytest.raises(OSError) as info:
            loop.add_reader(99_999, print)  # no such fd: the selector's register refuses it
        files = [fs.filename for fs in traceback.extract_tb(info.value.__traceback__)]
        assert loop_queue.__file__ not in files
    finally:
        rec.uninstall()
        loop.close()


def test_timers_set_before_install_are_known_and_a_stray_cancel_is_forgotten():
    loop = asyncio.new_event_loop()
    early = loop.call_later(0.05, print)
    stray = loop.call_later(60, print)
    rec = Recorder(block_ms=10_000).install(loop)
    try:
        stray.cancel()  # set before install too, cancelled after
        loop.run_until_complete(asyncio.sleep(0.01))
        b1 = rec.drain()
        b2 = rec.drain()
        # a cancel of a timer never noted waits one drain for it, then is forgotten
        buf = rec._lq.cancels
        if hasattr(buf, "push"):  # the compiled hook's buffer
            buf.push(1, 12345, 1_000_000_000)
        else:
            buf.extend((1, 12345, 1_000_000_000))
        rec.drain()
        waited = len(rec._resolver._timers._unmatched)
        rec.drain()
        forgotten = rec._resolver._timers._unmatched == []
    finally:
        rec.uninstall()
        loop.close()
    whens = [w for _c, w, _no, _seq, _l in b1["loop"]["timers"]]
    assert int(early.when() * 1e9) in whens and int(stray.when() * 1e9) in whens
    assert len(b1["loop"]["cancels"]) == 2  # the stray's cancel matched the timer noted at install
    assert b2["loop"]["cancels"] == []
    assert waited == 1 and forgotten


def test_trim_by_bisection_answers_every_later_moment_as_before():
    """trim cuts the time-ordered buffers at a bisection and scans only the timers made
    before the cut: every moment after the cut is answered exactly as without trimming
    (timers made before the cut and due after it, cancelled ones, a task's later steps)."""
    async def quick(i):
        await asyncio.sleep(0.002 * i)

    async def main():
        long = asyncio.ensure_future(asyncio.sleep(0.08))  # made before any cut, due after it
        for i in range(6):
            await asyncio.gather(*(quick(k) for k in range(3)))
            try:
                await asyncio.wait_for(asyncio.sleep(1), 0.003)  # a timer cancelled early
            except asyncio.TimeoutError:
                pass
        await long

    tl = record(main)
    log = tl.loopq
    ends = list(log.sel_ends)
    for cut in (ends[len(ends) // 3], ends[len(ends) // 2] + 1):
        times = sorted({t + d for t in ends if t > cut for d in (-1500, 0, 700)} | {tl.now_ns - 1})
        before = [loop_at(log.view(), t) for t in times]
        log.trim(cut)
        after = [loop_at(log.view(), t) for t in times]
        # a moment whose iteration, and the one before it (what call_soon'd its handles), began
        # after the cut
        after_cut = [e for e in ends if e >= cut]
        checked = 0
        for t, b, a in zip(times, before, after):
            if len(after_cut) > 2 and b.iteration_start_ns >= after_cut[2]:
                assert a == b, (t - cut, b, a)
                checked += 1
        assert checked > 10
        assert len(log.steps) % 3 == 0 and len(log.selects) == 4 * len(log.sel_ends)
def test_a_stand_in_selector_keeps_its_own_methods():
    """asyncio's own tests give a loop a Mock selector and inspect its calls
    (``loop._selector.register.called``): under the recorder they see the same."""
    from unittest import mock

    class RigLoop(asyncio.selector_events.BaseSelectorEventLoop):
        def _make_self_pipe(self):
            self._ssock, self._csock = mock.Mock(), mock.Mock()
            self._internal_fds += 1

        def _close_self_pipe(self):
            pass

    selector = mock.Mock()
    selector.select.return_value = []
    loop = RigLoop(selector)
    rec = Recorder(block_ms=10_000).install(loop)
    try:
        selector.get_key.side_effect = KeyError  # fd 1 not registered (3.11, 3.12)
        selector.get_map.return_value = {}  # (3.13)
        loop.add_reader(1, print)
        assert loop._selector.register.called  # the Mock's own attribute
        fd, mask, (r, w) = loop._selector.register.call_args[0]
        assert (fd, r._callback, w) == (1, print, None)
        loop.call_later(0.01, print)
        loop.run_until_complete(asyncio.sleep(0.02))  # runs: select answers []
        batch = rec.drain()
    finally:
        rec.uninstall()
        loop.close()
    assert batch["loop"]["regs"] == []  # its registrations are not noted
    assert any(label == "print" for *_x, label in batch["loop"]["timers"])  # its timers are

