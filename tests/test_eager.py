"""Eager tasks (3.12+): the first step runs inside create_task; the recorder keeps up."""

import asyncio
import sys
import time

import pytest

from coffeeshop_tui.scenarios.timeline import RUNNING

needs_312 = pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")


pytestmark = pytest.mark.usefixtures("recorder_impl")  # both hot paths: compiled and Python


@needs_312
def test_eager_task_factory_is_chained_and_recorded():
    async def child():
        time.sleep(0.03)  # runs eagerly, inside the parent's create_task
        await asyncio.sleep(0.01)
        return "done"

    async def main():
        loop = asyncio.get_running_loop()
        assert loop.get_task_factory() is not None  # the recorder's, wrapping ours below
        t = asyncio.create_task(child(), name="eager-child")
        return await t

    def go():
        loop = asyncio.new_event_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        return loop

    from coffeeshop_tui.scenarios.recorder import Recorder
    from coffeeshop_tui.scenarios.timeline import Timeline

    loop = go()
    tl = Timeline()
    rec = Recorder(sink=tl.ingest).install(loop)
    try:
        tl.start(time.monotonic_ns())
        result = loop.run_until_complete(main())
        tl.finish(time.monotonic_ns())
    finally:
        rec.uninstall()
        tl.ingest(rec.drain())
        loop.close()
    assert result == "done"
    info = next(t for t in tl.tasks.values() if t.name == "eager-child")
    running = [(s, e) for st, s, e in tl.task_segments(info.seq) if st == RUNNING]
    assert running and max(e - s for s, e in running) >= 0.029e9


def test_nested_steps_are_flattened_on_the_loop_lane():
    from coffeeshop_tui.scenarios.timeline import Timeline

    tl = Timeline(block_ms=1000)
    tl.start(0)
    tl.ingest({"tasks": [[1, 0, "p", "parent", "", 0, False], [2, 5, "c", "child", "", 1, True]],
               "steps": [10, 100, 1, 20, 40, 2, 200, 210, 0]})
    tl.finish(300)
    segs = [(st, s, e, q) for st, s, e, q in tl.loop_segments()]
    assert segs == [("running", 10, 20, 1), ("running", 20, 40, 2), ("running", 40, 100, 1),
                    ("callback", 200, 210, 0)]


@needs_312
def test_eager_factory_set_after_install_is_recorded_and_kept():
    from coffeeshop_tui.scenarios.recorder import Recorder
    from coffeeshop_tui.scenarios.timeline import Timeline

    async def child():
        time.sleep(0.03)  # runs eagerly, inside create_task
        await asyncio.sleep(0)

    async def main():
        await asyncio.create_task(child(), name="eager-after")

    loop = asyncio.new_event_loop()
    tl = Timeline()
    rec = Recorder(sink=tl.ingest).install(loop)
    try:
        loop.set_task_factory(asyncio.eager_task_factory)  # the program sets it after install
        tl.start(time.monotonic_ns())
        loop.run_until_complete(main())
        tl.finish(time.monotonic_ns())
    finally:
        rec.uninstall()
        tl.ingest(rec.drain())
        assert loop.get_task_factory() is asyncio.eager_task_factory  # not reset by uninstall
        loop.close()
    info = next(t for t in tl.tasks.values() if t.name == "eager-after")
    running = [(s, e) for st, s, e in tl.task_segments(info.seq) if st == RUNNING]
    assert running and max(e - s for s, e in running) >= 0.029e9


@needs_312
def test_eager_first_steps_have_wait_reasons_and_timers():
    """An eager task's first step runs inside create_task: the wait it ends in still gets
    its reason (wait_reasons.py), and the timer it set is in the loop queue (loop_queue.py)."""
    from coffeeshop_tui.scenarios.loop_moment import loop_at
    from coffeeshop_tui.scenarios.recorder import Recorder
    from coffeeshop_tui.scenarios.timeline import WAITING, Timeline

    marks = {}

    async def holder(sem):
        async with sem:
            await asyncio.sleep(0.05)

    async def sleeper():
        await asyncio.sleep(0.2)

    async def main():
        sem = asyncio.Semaphore(1)
        a = asyncio.create_task(holder(sem), name="first")
        b = asyncio.create_task(holder(sem), name="second")  # waits on the semaphore at once
        s = asyncio.create_task(sleeper(), name="sleeper")
        await asyncio.sleep(0.01)
        marks["mid"] = time.monotonic_ns()
        await asyncio.gather(a, b, s)

    loop = asyncio.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)
    tl = Timeline()
    rec = Recorder(sink=tl.ingest).install(loop)
    try:
        tl.start(time.monotonic_ns())
        loop.run_until_complete(main())
        tl.finish(time.monotonic_ns())
    finally:
        rec.uninstall()
        tl.ingest(rec.drain())
        loop.close()

    def reasons(name):
        seq = next(q for q, t in tl.tasks.items() if t.name == name)
        return [tl.wait_reason(seq, s)[1] for st, s, _e in tl.task_segments(seq) if st == WAITING], seq

    second, _ = reasons("second")
    assert second[0].startswith("semaphore `sem`") and second[1:] == ["sleep"]
    assert reasons("first")[0] == ["sleep"]
    _, sleeper_seq = reasons("sleeper")
    timers = [x for x in loop_at(tl, marks["mid"]).timers if x.task == sleeper_seq]
    assert [x.what for x in timers] == ["sleep"]
