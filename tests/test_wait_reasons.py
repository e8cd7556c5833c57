"""Wait reasons: each waiting segment knows what the task waited on (scenarios/wait_reasons.py)."""

import asyncio
import inspect
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from coffeeshop_tui.scenarios.recorder import Recorder, record
from coffeeshop_tui.scenarios.report import to_chrome_trace, to_json, text_summary
from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import WAITING

from conftest import line_of


def _reasons(tl, name):
    """The reasons of the waiting segments of the task called ``name`` (or numbered), in order."""
    seq = name if isinstance(name, int) else next(q for q, t in tl.tasks.items() if t.name == name)
    out = []
    for st, s, _e in tl.task_segments(seq):
        if st == WAITING:
            r = tl.wait_reason(seq, s)
            out.append(r[1] if r else None)
    return out


def _double(x):
    return 2 * x


def test_each_kind_of_wait_has_its_reason():
    lines = {}

    async def main():
        lock = asyncio.Lock()
        sem = asyncio.Semaphore(1)
        ev = asyncio.Event()
        cond = asyncio.Condition()
        q = asyncio.Queue()
        for name in ("lock", "sem", "ev", "cond", "q"):
            lines[name] = line_of(__file__, f"        {name} = asyncio.")
        release = asyncio.Event()

        async def holder():
            async with lock, sem:
                await release.wait()

        async def on_lock():
            async with lock:
                pass

        async def on_sem():
            async with sem:
                pass

        async def on_event():
            await ev.wait()

        async def on_cond():
            async with cond:
                await cond.wait()

        async def on_queue():
            await q.get()

        async def sleeper():
            await asyncio.sleep(0.01)

        async def reader(port):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await r.readline()
            w.close()
            await w.wait_closed()

        async def handle(r, w):
            await asyncio.sleep(0.02)
            w.write(b"hello\n")
            await w.drain()
            w.close()

        async def awaiter(t):
            await t

        tasks = [asyncio.create_task(holder(), name="holder")]
        await asyncio.sleep(0)
        tasks += [asyncio.create_task(f(), name=f.__name__)
                  for f in (on_lock, on_sem, on_event, on_cond, on_queue)]
        sleeping = asyncio.create_task(sleeper(), name="sleeper")
        tasks += [sleeping, asyncio.create_task(awaiter(sleeping), name="awaiter")]
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tasks.append(asyncio.create_task(reader(port), name="reader"))
        await asyncio.sleep(0.03)
        release.set()
        ev.set()
        q.put_nowait(1)
        await asyncio.sleep(0.01)
        async with cond:
            cond.notify_all()
        await asyncio.gather(*tasks)
        await asyncio.create_task(asyncio.to_thread(_double, 2), name="thread")
        server.close()
        await server.wait_closed()

    tl = record(main)
    f = "test_wait_reasons.py"
    assert _reasons(tl, "on_lock") == [f"lock `lock` ({f}:{lines['lock']})"]
    assert _reasons(tl, "on_sem") == [f"semaphore `sem` ({f}:{lines['sem']})"]
    assert _reasons(tl, "on_event") == [f"event `ev` ({f}:{lines['ev']})"]
    # waits for the notification, then to re-acquire the condition's lock: still the condition
    assert set(_reasons(tl, "on_cond")) == {f"condition `cond` ({f}:{lines['cond']})"}
    assert _reasons(tl, "on_queue") == [f"queue get `q` ({f}:{lines['q']})"]
    assert _reasons(tl, "sleeper") == ["sleep"]
    sleeper_seq = next(q for q, t in tl.tasks.items() if t.name == "sleeper")
    assert _reasons(tl, "awaiter") == [f"task #{sleeper_seq} sleeper"]
    assert "socket read" in _reasons(tl, "reader")
    assert _reasons(tl, "thread") == ["thread job _double"]

    # --json: a reason on every waiting segment (None where unknown), and none on others
    doc = to_json(tl, "t", {})
    segs = [s for t in doc["tasks"] for s in t["segments"]]
    assert all(("reason" in s) == (s["state"] == "waiting") for s in segs)
    by_name = {t["name"]: t for t in doc["tasks"]}
    assert [s["reason"] for s in by_name["on_sem"]["segments"] if s["state"] == "waiting"] == \
        [f"semaphore `sem` ({f}:{lines['sem']})"]
    assert "semaphore" in text_summary(doc).split("waits      ", 1)[1].splitlines()[0]
    waits_s = doc["summary"]["waits_s"]
    assert {"sleep", "lock", "semaphore", "event", "condition", "queue get", "socket read", "task"} <= set(waits_s)
    assert all(v > 0 for v in waits_s.values())
    # the trace export: in the event's name and args
    ev = [e for e in to_chrome_trace(tl)["traceEvents"] if e.get("args", {}).get("wait_kind") == "queue get"]
    assert ev and ev[0]["name"] == f"waiting: queue get `q` ({f}:{lines['q']})"


def test_primitives_made_before_recording_plain_futures_and_gather():
    early = asyncio.Lock()  # made before the recorder was installed: no creation site

    async def on_early():
        async with early:
            pass

    async def on_future(fut):
        await fut

    async def main():
        fut = asyncio.get_running_loop().create_future()
        async with early:
            ts = [asyncio.create_task(on_early(), name="early"),
                  asyncio.create_task(on_future(fut), name="future")]
            await asyncio.sleep(0.01)
            fut.set_result(None)
        await asyncio.gather(*ts)

    tl = record(main)
    f = "test_wait_reasons.py"
    assert _reasons(tl, "early") == [f"lock `early`, awaited ({f}:{line_of(__file__, '        async with early:')})"]
    assert _reasons(tl, "future") == [f"future ({f}:{line_of(__file__, '        await fut')})"]
    main_reasons = _reasons(tl, min(tl.tasks))
    assert f"gather of 2 ({f}:{line_of(__file__, '        await asyncio.gather(*ts)')})" in main_reasons
    doc = to_json(tl, "t", {})
    seg = next(s for t in doc["tasks"] if t["name"] == "future" for s in t["segments"] if s["state"] == "waiting")
    assert seg["wait_kind"] == "future" and seg["wait_where"].endswith(f"{f}:{line_of(__file__, '        await fut')}")


@pytest.mark.slow
def test_process_job_and_subprocess_waits():
    async def main():
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(1) as pool:
            await asyncio.create_task(_in_pool(loop, pool), name="pool")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "print('hi')",
                                                    stdout=asyncio.subprocess.PIPE)
        await asyncio.create_task(proc.communicate(), name="communicate")

    async def _in_pool(loop, pool):
        return await loop.run_in_executor(pool, _double, 3)

    tl = record(main)
    assert _reasons(tl, "pool") == ["process job"]
    assert set(_reasons(tl, "communicate")) == {"subprocess"}


def test_limited_baristas_semaphore_waits_are_drawn_apart_from_brewing():
    from coffeeshop_tui.scenarios.baristas import limited_baristas

    tl = record(limited_baristas.main.main, customers=4, baristas=2, brew_s=0.02)
    snap = SnapshotBuilder(tl).build()
    serve = [lane for lane in snap.lanes if lane.kind == "task" and "serve" in lane.label]
    assert len(serve) == 4
    waits = [[(s.state, s.info) for s in lane.segments if s.state in ("waiting", "lock")] for lane in serve]
    where = f"limited_baristas.py:{line_of(limited_baristas.__file__, 'asyncio.Semaphore(')}"
    semaphore = ("lock", f"semaphore `counter` ({where})")
    brewing = ("waiting", "sleep")
    assert sorted(waits, key=len) == [[brewing], [brewing], [semaphore, brewing], [semaphore, brewing]]
    # the caption says what made the waves
    from coffeeshop_tui.scenarios.explain import caption
    from coffeeshop_tui.scenarios.report import summary

    text = caption(tl, summary(tl), {"customers": 4, "baristas": 2, "brew_s": 0.02})
    assert text.startswith("in waves:") and "together they waited" in text and f"on semaphore `counter` ({where})" in text


def test_primitives_stay_the_same_to_the_program():
    """The creation-site wrapper is undone on uninstall, keeps signatures, and adds no
    frame to the tracebacks of errors raised in the constructors."""
    before = {cls: cls.__dict__.get("__init__") for cls in (asyncio.Lock, asyncio.Semaphore, asyncio.Queue)}
    sig = inspect.signature(asyncio.Semaphore)
    loop = asyncio.new_event_loop()
    rec = Recorder()
    try:
        rec.install(loop)
        assert asyncio.Semaphore.__init__ is not before[asyncio.Semaphore]
        assert inspect.signature(asyncio.Semaphore) == sig
        with pytest.raises(ValueError) as info:
            asyncio.Semaphore(-1)
        names = [fr.name for fr in info.traceback]
        assert "__init__" in names and names.count("__init__") == 1  # asyncio's, not ours
        assert asyncio.Queue(3).maxsize == 3
    finally:
        rec.uninstall()
        loop.close()
    assert {cls: cls.__dict__.get("__init__") for cls in before} == before


def test_waits_are_renumbered_with_their_tasks():
    from coffeeshop_tui.scenarios.record_child import Renumber

    ren = Renumber(thread_of=lambda r: None)
    ren(0, {"tasks": [[1, 0, "a", "", "", 0, False], [2, 0, "b", "", "", 0, False]]})
    out = ren(1, {"tasks": [[1, 0, "c", "", "", 0, False]],
                  "waits": [[1, 5, "task", "", "", 1], [1, 6, "sleep", "", "", 0]]})
    assert out["waits"] == [[3, 5, "task", "", "", 3], [3, 6, "sleep", "", "", 0]]


def test_barrier_and_bounded_semaphore_waits():
    async def main():
        barrier = asyncio.Barrier(2)
        bounded = asyncio.BoundedSemaphore(1)

        async def at_barrier():
            await barrier.wait()

        async def on_bounded():
            async with bounded:
                pass

        async with bounded:
            t1 = asyncio.create_task(at_barrier(), name="barrier")
            t2 = asyncio.create_task(on_bounded(), name="bounded")
            await asyncio.sleep(0.01)
        await barrier.wait()
        await asyncio.gather(t1, t2)

    tl = record(main)
    f = "test_wait_reasons.py"
    assert _reasons(tl, "barrier") == [f"barrier `barrier` ({f}:{line_of(__file__, 'barrier = asyncio.Barrier(2)')})"]
    assert _reasons(tl, "bounded") == [
        f"semaphore `bounded` ({f}:{line_of(__file__, 'bounded = asyncio.BoundedSemaphore(1)')})"]


def test_wait_states_draw_their_own_glyphs():
    from coffeeshop_tui.tui.lanes import LEGEND, STATE_CHAR, choose_code, full_code, pair_code

    assert full_code("lock")[0] == STATE_CHAR["lock"] == "═" and full_code("io")[0] == STATE_CHAR["io"] == "≈"
    assert {"lock", "io"} <= {row[0] for row in LEGEND}
    # the wait that covers most of a cell is drawn; a mark (running) is drawn over any wait
    assert choose_code({"lock": 0.3, "waiting": 0.7}, None, None, 0.0, 1.0) == full_code("waiting")
    assert choose_code({"lock": 0.7, "waiting": 0.3}, None, None, 0.0, 1.0) == full_code("lock")
    assert pair_code(0.0, 0.6, "lock", 0.6, 1.0, "io", 0.0, 1.0) == full_code("lock")
    assert "running" in pair_code(0.0, 0.9, "lock", 0.9, 1.0, "running", 0.0, 1.0)[1:]


def test_timeline_keeps_reasons_per_step_end_shared_and_trimmed():
    from coffeeshop_tui.scenarios.timeline import Timeline

    tl = Timeline(max_steps=8)
    tl.start(0)
    tl.ingest({"tasks": [[1, 0, "t", "c", "", 0, False]],
               "steps": [10, 20, 1, 30, 40, 1, 50, 60, 1],
               "waits": [[1, 40, "sleep", "", "", 0], [1, 20, "lock", "`l`", "/x/a.py:3", 0]]})
    assert [st for st, _s, _e in tl.task_segments(1)][:4] == ["starved", "running", "waiting", "running"]
    assert tl.wait_reason(1, 20) == ("lock", "lock `l` (a.py:3)", "/x/a.py:3")
    assert tl.wait_reason(1, 40)[1] == "sleep"
    assert tl.wait_reason(1, 30) is None and tl.wait_reason(2, 20) is None
    tl.ingest({"steps": [70, 80, 1], "waits": [[1, 60, "sleep", "", "", 0]]})
    t = tl.tasks[1]
    assert t.wait_r[1] is t.wait_r[2]  # one tuple per distinct reason
    tl._trim(45)  # drops what ended before 45: the step ending at 20 and its wait
    assert tl.wait_reason(1, 20) is None and tl.wait_reason(1, 60)[1] == "sleep"


def test_report_waits_line_drops_unknown_noise_and_names_unknown():
    """The CLI report's waits line: no "? 0.000 s"; an unknown reason that matters reads "unknown"."""
    from coffeeshop_tui.scenarios.report import waits_line

    def seg(kind, d):
        return {"state": "waiting", "start_s": 0.0, "end_s": d, "wait_kind": kind}
    doc = {"tasks": [{"segments": [seg("sleep", 0.5), seg(None, 0.0001)]}]}
    assert waits_line(doc["tasks"]) == "waits      sleep 0.500 s"
    doc["tasks"][0]["segments"].append(seg(None, 0.2))
    assert waits_line(doc["tasks"]) == "waits      sleep 0.500 s, unknown 0.200 s"



def test_creation_sites_end_with_the_recording():
    # sites are keyed by id(): a lock made after the recording, at a freed lock's address,
    # must not be given that lock's site (seen on 3.13: "lock `cond`" for a lock made earlier)
    from coffeeshop_tui.scenarios import wait_reasons

    async def main():
        cond = asyncio.Condition()
        assert wait_reasons._SITES  # noted while recording (cond and its lock)
        del cond

    record(main)
    assert wait_reasons._SITES == {}
