"""The recorder's two hot paths: the compiled accelerator (``scenarios/_fastpath.c``, built at
install time where a C compiler exists) and the pure-Python fallback. Same recording from
both; the fallback is chosen cleanly when the accelerator is missing or switched off; the app
says which one is active."""

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import traceback
from asyncio import events

import pytest

from coffeeshop_tui.scenarios import protocol
from coffeeshop_tui.scenarios import recorder_hooks as h
from coffeeshop_tui.scenarios.recorder import Recorder, record
from coffeeshop_tui.scenarios.report import to_json

EXE = os.path.join(os.path.dirname(sys.executable), "coffeeshop-tui")


def _can_compile() -> bool:
    inc = sysconfig.get_paths().get("include") or ""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return os.path.exists(os.path.join(inc, "Python.h")) and shutil.which(cc) is not None


@pytest.fixture
def restore_impl():
    before = h.recorder_impl()
    yield
    h.use_recorder(before)


def test_the_accelerator_is_built_and_used_where_a_compiler_exists(restore_impl):
    if not _can_compile():
        pytest.skip("no C compiler or Python headers here: the pure-Python recorder is the one")
    from coffeeshop_tui.scenarios import _fastpath  # built by the install (setup.py)

    assert h.use_recorder("auto") == "c"
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    try:
        assert events.Handle._run is _fastpath.handle_run
        assert events.TimerHandle._run is _fastpath.timer_run
        assert type(rec._steps) is _fastpath.Steps
        loop.run_until_complete(asyncio.sleep(0.001))
        assert len(rec._steps) >= 3  # the compiled hook wrote the steps
    finally:
        rec.uninstall()
        loop.close()
    assert events.Handle._run is h.ORIG_RUN and "_run" not in events.TimerHandle.__dict__


def test_a_missing_accelerator_falls_back_to_the_python_recorder(tmp_path):
    code = (
        "import sys, asyncio\n"
        "sys.modules['coffeeshop_tui.scenarios._fastpath'] = None  # as if it was never built\n"
        "from coffeeshop_tui.scenarios import recorder_hooks as h\n"
        "from coffeeshop_tui.scenarios.recorder import record\n"
        "async def main():\n"
        "    await asyncio.gather(*(asyncio.sleep(0.001) for _ in range(3)))\n"
        "tl = record(main)\n"
        "print(h.recorder_impl(), len(tl.tasks), '|', h.describe_recorder())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    impl, n, _bar, why = out.stdout.strip().split(" ", 3)
    assert impl == "python" and int(n) == 4
    assert "not built" in why


def test_python_is_forced_by_the_environment_and_version_says_which(restore_impl):
    forced = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, h.ENV: "python"})
    assert forced.returncode == 0, forced.stderr
    assert "recorder: pure Python (COFFEESHOP_RECORDER=python)" in forced.stdout
    default = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != h.ENV})
    assert default.returncode == 0 and default.stdout.startswith("coffeeshop-tui ")
    expect = "compiled (C accelerator)" if h.use_recorder("auto") == "c" else "pure Python"
    assert f"recorder: {expect}" in default.stdout


def test_the_json_document_says_which_recorder_recorded(recorder_impl):
    async def main():
        await asyncio.sleep(0)

    doc = to_json(record(main), "t", {})
    assert doc["recorder"] == recorder_impl


async def _program(other_loop):
    """Every path of the hook: task steps, plain callbacks, a callback that raises, a late
    timer, a cancelled task, a task subclass, a handle of another loop."""
    loop = asyncio.get_running_loop()

    class MyTask(asyncio.Task):
        pass

    async def child(i):
        for _ in range(3):
            await asyncio.sleep(0)
        if i == 2:
            raise ValueError("x")
        return i

    ts = [asyncio.create_task(child(i), name=f"c{i}") for i in range(4)]
    sub = MyTask(child(0), loop=loop, name="sub")
    loop.call_soon(lambda: 1 / 0)  # reported by the exception handler
    slow = asyncio.create_task(asyncio.sleep(10), name="slow")
    nap = asyncio.create_task(asyncio.sleep(0.001), name="nap")  # its timer comes due late
    await asyncio.sleep(0)
    slow.cancel()
    import time

    time.sleep(0.005)  # the timer above is now late
    other_loop.call_soon(lambda: None)
    import threading

    th = threading.Thread(target=lambda: other_loop.run_until_complete(asyncio.sleep(0.001)))
    th.start()  # another loop, in another thread: its handles are not recorded
    th.join()
    await asyncio.gather(*ts, sub, slow, nap, return_exceptions=True)
    lock = asyncio.Lock()

    async def nested_nap():
        async with lock:
            await asyncio.sleep(0.001)  # a sleep two coroutines deep (the compiled fast path)

    naps = [asyncio.create_task(nested_nap(), name=f"n{i}") for i in range(2)]  # one waits on the lock
    await asyncio.gather(*naps)
    # a late timer that wakes three tasks awaiting one future (its first callback, then a list)
    shared = loop.create_future()

    async def waiter():
        await shared

    ws = [asyncio.create_task(waiter(), name=f"w{i}") for i in range(3)]
    await asyncio.sleep(0)
    loop.call_later(0.001, asyncio.futures._set_result_unless_cancelled, shared, None)
    time.sleep(0.005)
    await asyncio.gather(*ws)
    await asyncio.sleep(0.002)


def _recording(impl: str):
    assert h.use_recorder(impl) == impl
    errors = []
    other = asyncio.new_event_loop()
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    rec = Recorder()
    try:
        rec.install(loop)
        loop.run_until_complete(_program(other))
        rec.uninstall()
        batch = rec.drain()
    finally:
        rec.uninstall()
        loop.close()
        other.close()
    return batch, errors


def test_both_hot_paths_record_the_same_steps(restore_impl):
    if h.use_recorder("c") != "c":
        pytest.skip("the compiled accelerator is not built here")
    got = {impl: _recording(impl) for impl in ("c", "python")}
    (bc, ec), (bp, ep) = got["c"], got["python"]
    # the same steps, owned by the same tasks, in the same order
    assert bc["steps"][2::3] == bp["steps"][2::3]
    assert len(bc["steps"]) == len(bp["steps"]) > 30
    assert [t[3] for t in bc["tasks"]] == [t[3] for t in bp["tasks"]]
    assert sorted(d[0::2] for d in bc["done"]) == sorted(d[0::2] for d in bp["done"])
    assert {o for _s, _t, o in bc["done"]} == {"ok", "error", "cancelled"}
    # the late timer's task (nap, made 5 ms late on purpose) is noted by both; on a busy machine
    # another timer may also run late in one of the two runs, so compare the deliberate one only
    def late(batch):
        names = {t[0]: t[3] for t in batch["tasks"]}
        return [names.get(i) for i in batch["ready"][0::2]]
    waiter = "_program.<locals>.waiter"  # the three tasks one late timer woke (through a future)
    for batch in (bc, bp):
        assert "sleep" in late(batch) and late(batch).count(waiter) == 3, late(batch)
    may = {"sleep", "_program", "_program.<locals>.nested_nap", waiter}  # (their timers, late when busy)
    assert set(late(bc)) <= may and set(late(bp)) <= may
    # the same wait reasons (sleeps noted in C by the compiled hook, the rest by classify)
    assert [w[2:] for w in bc["waits"]] == [w[2:] for w in bp["waits"]]
    # the same timers (loop_queue's call_at: compiled, or Python), by the same tasks
    assert [t[2:] for t in bc["loop"]["timers"]] == [t[2:] for t in bp["loop"]["timers"]]
    assert {t[4] for t in bc["loop"]["timers"]} >= {"_set_result_unless_cancelled"}
    # the same cancelled timers (slow's sleep: loop_queue's _timer_handle_cancelled, compiled or Python)
    assert bc["loop"]["cancels"][1::2] == bp["loop"]["cancels"][1::2] != []
    kinds = [w[2] for w in bc["waits"]]
    assert kinds.count("sleep") >= 4 and "lock" in kinds, kinds
    # the callback's exception went to the handler, with the same traceback (no frame of ours)
    assert len(ec) == len(ep) == 1
    for ctx in (ec[0], ep[0]):
        assert isinstance(ctx["exception"], ZeroDivisionError) and ctx["message"].startswith("Exception in callback")
        frames = traceback.extract_tb(ctx["exception"].__traceback__)
        assert [f.name for f in frames] == ["<lambda>"]


def test_the_compiled_hook_adds_no_frame_to_what_a_callback_sees(restore_impl):
    if h.use_recorder("c") != "c":
        pytest.skip("the compiled accelerator is not built here")
    seen = []
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    try:
        loop.call_soon(lambda: seen.append(traceback.extract_stack()))
        loop.run_until_complete(asyncio.sleep(0.001))
    finally:
        rec.uninstall()
        loop.close()
    assert seen and not [f for f in seen[0] if f.filename in h.OWN_FILES]


def test_raw_batches_are_resolved_by_the_reader(recorder_impl):
    """A child ships raw batches (drain_raw): the protocol reader resolves them into the same
    batches an in-process drain gives."""
    async def main():
        async def job(i):
            await asyncio.sleep(0.001 * i)
            return i
        await asyncio.gather(*(asyncio.create_task(job(i), name=f"job{i}") for i in range(5)))

    loop = asyncio.new_event_loop()
    rec = Recorder(raw=True)
    buf = io.BytesIO()
    try:
        rec.install(loop)
        loop.run_until_complete(main())
        buf.write(protocol.encode({"type": "raw", **rec.drain_raw()}))
        loop.run_until_complete(asyncio.sleep(0))
        rec.uninstall()
        buf.write(protocol.encode({"type": "raw", **rec.drain_raw()}))
    finally:
        rec.uninstall()
        loop.close()
    wire = buf.getvalue()
    assert b'"steps":"' in wire  # the step buffer travels packed (base64), not as a JSON list
    msgs = list(protocol.read_messages(io.BytesIO(wire)))
    assert [m["type"] for m in msgs] == ["batch", "batch"]
    first = msgs[0]
    names = dict(first["names"])
    assert sorted(n for n in names.values() if n.startswith("job")) == [f"job{i}" for i in range(5)]
    assert {o for _s, _t, o in first["done"]} == {"ok"} and len(first["done"]) == 6
    seqs = set(first["steps"][2::3])
    assert {t[0] for t in first["tasks"]} <= seqs | {0}
    json.dumps(msgs)  # JSON-ready


def test_both_buffers_find_the_same_long_steps(restore_impl):
    """The watchdog's scan for long steps (gil_probe.Ticks), in the compiled buffer and in the array."""
    if h.use_recorder("c") != "c":
        pytest.skip("the compiled accelerator is not built here")
    for impl in ("c", "python"):
        h.use_recorder(impl)
        loop = asyncio.new_event_loop()
        rec = Recorder(watch="running")  # no watchdog: the buffer is only ours to read
        try:
            rec.install(loop)
            for pause in (0, 0.03, 0, 0.03, 0):
                loop.call_soon(time.sleep, pause)
            loop.run_until_complete(asyncio.sleep(0))
            steps = rec._steps
            n = len(steps)
            rows = [(steps[i], steps[i + 1]) for i in range(0, n, 3)]

            def expect(start, stop, min_ns):  # the rule, one row at a time (a busy machine may
                return [r for r in rows[start // 3:stop // 3] if r[1] - r[0] >= min_ns]  # make more)

            longs = h.long_rows(steps, 0, n, 20_000_000)
            assert rows[1] in longs and rows[3] in longs and longs == expect(0, n, 20_000_000), impl
            assert h.long_rows(steps, 6, n, 20_000_000) == expect(6, n, 20_000_000)
            assert h.long_rows(steps, 0, 6, 20_000_000) == expect(0, 6, 20_000_000)
            assert h.long_rows(steps, 3, n, 0) == rows[1:]
            assert h.long_rows(steps, n, n + 30, 1) == []
        finally:
            rec.uninstall()
            loop.close()


def _fast():
    fp = getattr(h, "_fast", None)
    if fp is None or not hasattr(fp, "step_clock"):
        pytest.skip("the compiled accelerator is not built here")
    return fp


def test_the_steps_clock_is_time_monotonic_ns():
    # Where the kernel's clocksource is the TSC the steps read it and map it onto
    # CLOCK_MONOTONIC; either way a reading falls between two time.monotonic_ns() around it
    # (a few microseconds of slack for the mapping), also after sleeps and busy stretches.
    fp = _fast()
    worst = 0
    for i in range(3000):
        a = time.monotonic_ns()
        _name, t = fp.step_clock()
        b = time.monotonic_ns()
        worst = max(worst, a - t, t - b)
        if i % 300 == 0:
            time.sleep(0.011)
        elif i % 300 == 150:
            end = time.monotonic() + 0.015
            while time.monotonic() < end:
                pass
    assert worst < 20_000, f"the steps' clock strays {worst} ns from CLOCK_MONOTONIC"


def test_the_tsc_clock_is_switched_off_by_the_environment():
    fp = _fast()
    code = "from coffeeshop_tui.scenarios import _fastpath as f; print(f.step_clock()[0])"
    env = dict(os.environ, COFFEESHOP_RECORDER_TSC="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "clock_gettime"
    assert fp.step_clock()[0] in ("tsc", "clock_gettime")


def _select_recording(impl: str) -> dict:
    import socket

    h.use_recorder(impl)
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, b.send, b"x")
        assert await loop.sock_recv(a, 1) == b"x"  # one select with an event on a's fd
        await asyncio.sleep(0.01)  # one with a timeout, none
        return a.fileno()

    loop = asyncio.new_event_loop()
    rec = Recorder(watch="running").install(loop)
    try:
        fd = loop.run_until_complete(main())
        batch = rec.drain()
    finally:
        rec.uninstall()
        loop.close()
        a.close()
        b.close()
    return fd, batch


def test_both_hot_paths_note_the_same_selects(restore_impl):
    # the compiled SelectCall does what SelectorProbe.select and QueueSelector.select do in
    # Python: each select's (start, end), timeout, ready handles before it, events, and fds
    if h.use_recorder("c") != "c":
        pytest.skip("the compiled accelerator is not built here")
    for impl in ("c", "python"):
        fd, batch = _select_recording(impl)
        sel = batch["loop"]["selects"]
        rows = [sel[i:i + 4] for i in range(0, len(sel), 4)]
        assert len(batch["iters"]) == 2 * len(rows) >= 6, impl
        assert all(s <= e for s, e in zip(batch["iters"][0::2], batch["iters"][1::2]))
        assert any(tmo > 5_000_000 for _t, tmo, _r, _n in rows), (impl, rows)  # waited for a timer
        assert sum(n for *_x, n in rows) == len(batch["loop"]["io"]) >= 1, (impl, rows)
        assert fd in batch["loop"]["io"][0][1][0::2], (impl, batch["loop"]["io"])


def test_a_selects_exception_passes_through_the_compiled_select_as_it_is(restore_impl):
    if h.use_recorder("c") != "c":
        pytest.skip("the compiled accelerator is not built here")
    boom = OSError(9, "closed")

    def failing(timeout=None):
        raise boom

    flag, iters, selects, io = bytearray(1), h._fast.Steps(2), h._fast.Steps(4), []
    select = h._fast.SelectCall(type("S", (), {"select": staticmethod(failing)})(), flag, iters, selects, io, None)
    with pytest.raises(OSError) as info:
        select(0.5)
    assert info.value is boom
    assert [f.name for f in traceback.extract_tb(info.value.__traceback__)][-1] == "failing"
    assert flag[0] == 0 and len(iters) == 2 and len(selects) == 0 and io == []
    # and a select that works: its timeout and its events (none) noted
    select = h._fast.SelectCall(type("S", (), {"select": staticmethod(lambda timeout=None: [])})(),
                                flag, iters, selects, io, None)
    assert select(timeout=0.25) == []
    assert list(selects)[1:] == [250_000_000, 0, 0] and len(iters) == 4
