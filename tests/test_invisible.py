"""The recorder is invisible to the program it records (issue 9): each test runs the same
program with and without it and compares what the program can observe."""

import asyncio
import contextvars
import gc
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from asyncio import events

import pytest

from coffeeshop_tui.scenarios import recorder_hooks
from coffeeshop_tui.scenarios.recorder import Recorder, active, record

from conftest import line_of

OWN = recorder_hooks.OWN_FILES


pytestmark = pytest.mark.usefixtures("recorder_impl")  # both hot paths: compiled and Python

def _both(fn):
    """``fn(loop)`` on a fresh loop without the recorder, then with it: both results."""
    out = []
    for recorded in (False, True):
        loop = asyncio.new_event_loop()
        rec = Recorder().install(loop) if recorded else None  # no sink, never drained
        try:
            out.append(fn(loop))
        finally:
            if rec is not None:
                rec.uninstall()
            loop.close()
    return out


def test_custom_exception_handler_is_called_for_callback_errors():
    var = contextvars.ContextVar("var", default="unset")

    def program(loop):
        seen = []

        def handler(lp, context):
            seen.append((type(context["exception"]).__name__, context["message"].split(" at ")[0],
                         type(context["handle"]).__name__, var.get()))

        def bad():
            raise KeyError("oops")

        loop.set_exception_handler(handler)
        ctx = contextvars.copy_context()
        ctx.run(var.set, "callback's context")
        loop.call_soon(bad, context=ctx)  # 3.12+ runs the handler in this context
        loop.run_until_complete(asyncio.sleep(0.01))
        return seen

    without, with_rec = _both(program)
    assert len(without) == 1 and without[0][0] == "KeyError"
    assert with_rec == without


def test_callback_exception_traceback_has_no_recorder_frames():
    def program(loop):
        caught = []
        loop.set_exception_handler(lambda lp, c: caught.append(c["exception"]))
        loop.call_soon(lambda: 1 / 0)
        loop.run_until_complete(asyncio.sleep(0))
        import traceback

        return [fs.filename for fs in traceback.extract_tb(caught[0].__traceback__)]

    without, with_rec = _both(program)
    assert not set(with_rec) & set(OWN)
    assert with_rec[-1] == without[-1] == __file__


def test_no_strong_reference_to_tasks_without_a_drain():
    def program(loop):
        async def child():
            await asyncio.sleep(0)
            return [1] * 1000

        async def main():
            t = asyncio.create_task(child())
            await t
            return weakref.ref(t)

        gc.disable()  # freed by reference counting alone, as without the recorder
        try:
            wr = loop.run_until_complete(main())
            return wr() is None
        finally:
            gc.enable()

    assert _both(program) == [True, True]


def test_failed_task_is_freed_at_once_and_never_retrieved_is_logged_there():
    """No reference cycle through the traced step: a failed task dropped by the program is
    freed right away (gc disabled) and asyncio logs it from the loop's thread."""

    def program(loop):
        logged = []

        class Grab(logging.Handler):
            def emit(self, record):
                if "never retrieved" in record.getMessage():
                    logged.append(threading.get_ident())

        async def fails():
            await asyncio.sleep(0)
            raise RuntimeError("nobody looks at me")

        async def main():
            t = asyncio.get_running_loop().create_task(fails())
            await asyncio.sleep(0.01)
            assert t.done()
            wr = weakref.ref(t)
            del t
            return wr

        h = Grab(level=logging.ERROR)
        logger = logging.getLogger("asyncio")
        logger.addHandler(h)
        gc.disable()
        try:
            wr = loop.run_until_complete(main())
            return wr() is None, logged
        finally:
            gc.enable()
            logger.removeHandler(h)

    without, with_rec = _both(program)
    assert without == (True, [threading.get_ident()])
    assert with_rec == without


def test_debug_mode_checks_and_created_at_are_unchanged():
    def program(loop):
        loop.set_debug(True)

        async def coro_fn():
            pass

        async def main():
            try:
                loop.run_in_executor(None, coro_fn)
                raised = None
            except TypeError as exc:
                raised = str(exc)
            t = loop.create_task(asyncio.sleep(0))  # created here
            await t
            return raised, t._source_traceback[-1][:3], type(t), repr(t).split(" ")[0]

        return loop.run_until_complete(main())

    without, with_rec = _both(program)
    assert "coroutines cannot be used with run_in_executor()" in without[0]
    assert without[1][:2] == (__file__, line_of(__file__, "asyncio.sleep(0))  # created here"))
    assert with_rec == without
    assert with_rec[2] is asyncio.Task


def test_uninstall_undoes_only_its_own_changes():
    loop = asyncio.new_event_loop()
    try:
        real_sel = loop._selector
        rec = Recorder().install(loop)
        assert loop._selector.__class__ is real_sel.__class__  # the probe answers as the selector
        # the program replaces some things after install ...
        other_sel = type(real_sel)()
        loop._selector = other_sel

        def my_rie(*a):
            return None

        loop.run_in_executor = my_rie

        def my_factory(lp, coro, **kw):
            return asyncio.Task(coro, loop=lp, **kw)

        loop.set_task_factory(my_factory)
        prev_show = warnings.showwarning

        def my_show(*a, **k):
            return None

        warnings.showwarning = my_show
        try:
            rec.uninstall()
            assert loop._selector is other_sel
            assert loop.run_in_executor is my_rie
            assert loop.get_task_factory() is my_factory
            assert warnings.showwarning is my_show
            assert "create_task" not in loop.__dict__  # ... and what it did not replace is undone
            assert events.Handle._run is recorder_hooks.ORIG_RUN
        finally:
            warnings.showwarning = prev_show
            other_sel.close()
            loop._selector = real_sel
    finally:
        loop.close()


def test_task_factory_set_after_install_is_used_recorded_and_kept():
    made = []

    def factory(lp, coro, **kw):
        made.append(1)
        return asyncio.Task(coro, loop=lp, **kw)

    async def child():
        await asyncio.sleep(0)

    async def main():
        asyncio.get_running_loop().set_task_factory(factory)
        await asyncio.create_task(child(), name="via-factory")

    tl = record(main)
    assert made  # the program's factory made the tasks
    assert any(t.name == "via-factory" for t in tl.tasks.values())


def test_asyncio_logger_keeps_no_handler_of_ours():
    logger = logging.getLogger("asyncio")
    before = (list(logger.handlers), logger.hasHandlers())
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    try:
        assert (list(logger.handlers), logger.hasHandlers()) == before
    finally:
        rec.uninstall()
        loop.close()


@pytest.mark.slow
def test_last_resort_output_is_not_swallowed():
    """A program that never configured logging still prints asyncio's errors on stderr."""
    import subprocess

    from conftest import ROOT

    code = (
        "import asyncio\n"
        "from coffeeshop_tui.scenarios.recorder import Recorder\n"
        "loop = asyncio.new_event_loop()\n"
        "rec = Recorder().install(loop)\n"
        "def bad(): raise KeyError('oops')\n"
        "loop.call_soon(bad)\n"
        "loop.run_until_complete(asyncio.sleep(0.01))\n"
        "rec.uninstall(); loop.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "Exception in callback" in out.stderr and "KeyError: 'oops'" in out.stderr


def test_forked_child_stops_recording():
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    try:
        r, w = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:  # the child: report, never return into pytest
            ok = (events.Handle._run is recorder_hooks.ORIG_RUN and active() is None
                  and "create_task" not in loop.__dict__ and len(rec._steps) == 0)
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
        os.close(w)
        got = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        assert got == b"1"
        assert events.Handle._run is recorder_hooks.active_hooks()[0] and active() is rec  # parent: still on
    finally:
        rec.uninstall()
        loop.close()


@pytest.mark.slow
def test_cancelled_process_pool_jobs_do_not_run(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    def program(loop):
        d = tmp_path / str(len(list(tmp_path.iterdir())))
        d.mkdir()

        async def main():
            with ProcessPoolExecutor(max_workers=1) as pool:
                # one job runs, two fill the pool's call queue: the rest wait in the parent
                first = loop.run_in_executor(pool, time.sleep, 0.3)
                fill = [loop.run_in_executor(pool, time.sleep, 0) for _ in range(2)]
                rest = [loop.run_in_executor(pool, (d / str(i)).write_text, "ran") for i in range(4)]
                await asyncio.sleep(0.05)
                for f in rest:
                    f.cancel()
                await asyncio.gather(first, *fill)
            return sorted(p.name for p in d.iterdir())

        return loop.run_until_complete(main())

    without, with_rec = _both(program)
    assert without == []  # jobs not yet handed to a worker are cancelled ...
    assert with_rec == without  # ... with the recorder too


def test_other_loops_are_not_recorded_into_this_one():
    loop = asyncio.new_event_loop()
    rec = Recorder().install(loop)
    try:
        other = asyncio.new_event_loop()
        try:
            other.run_until_complete(asyncio.sleep(0))
        finally:
            other.close()
        assert len(rec._steps) == 0
        loop.run_until_complete(asyncio.sleep(0))
        assert len(rec._steps) > 0
    finally:
        rec.uninstall()
        loop.close()


def test_never_awaited_warning_and_origin_tracking_are_unchanged():
    def program(loop):
        async def brew():
            pass

        async def main():
            brew()  # dropped here
            return sys.get_coroutine_origin_tracking_depth()

        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            depth = loop.run_until_complete(main())
            gc.collect()
        return depth, [(str(w.message), w.filename, w.lineno) for w in seen]

    without, with_rec = _both(program)
    assert without[1] and "was never awaited" in without[1][0][0]
    assert with_rec == without


def test_threads_the_program_counts_are_unchanged():
    def program(loop):
        async def main():
            await asyncio.sleep(0.02)  # the recorder's thread is up by now
            return threading.active_count(), sorted(t.name for t in threading.enumerate())

        return loop.run_until_complete(main())

    without, with_rec = _both(program)
    assert with_rec == without


def test_tasks_are_looked_at_only_on_the_loop_thread():
    """The drain runs on the recorder's thread; it must not take task references there (if
    the program dropped the task meanwhile, the task would be freed, and "never retrieved"
    logged, on the wrong thread). Every task method the recorder calls runs on the loop's."""
    callers = set()

    class SpyTask(asyncio.Task):
        def get_name(self):
            callers.add(threading.get_ident())
            return super().get_name()

        def done(self):
            callers.add(threading.get_ident())
            return super().done()

    async def short(i):
        await asyncio.sleep(0.001 * (i % 5))

    async def main():
        asyncio.get_running_loop().set_task_factory(lambda lp, coro, **kw: SpyTask(coro, loop=lp, **kw))
        for _ in range(20):
            await asyncio.gather(*(asyncio.create_task(short(i)) for i in range(20)))
            await asyncio.sleep(0.003)

    batches = []
    loop = asyncio.new_event_loop()
    rec = Recorder(sink=batches.append, drain_s=0.001).install(loop)
    th = threading.Thread(target=loop.run_until_complete, args=(main(),))
    th.start()
    th.join(30)
    rec.uninstall()
    loop.close()
    assert len(batches) > 5  # drained while it ran
    assert sum(len(b["done"]) for b in batches) > 0
    assert callers == {th.ident}


def test_a_loop_that_is_not_stdlib_asyncio_gets_a_clear_error():
    class OtherLoop(asyncio.AbstractEventLoop):  # e.g. uvloop: no selector, no _ready queue
        pass

    with pytest.raises(RuntimeError, match="needs a stdlib asyncio event loop"):
        Recorder().install(OtherLoop())
    assert active() is None


def _blocked_step_samples() -> list:
    async def main():
        time.sleep(0.08)  # a block the watchdog samples

    loop = asyncio.new_event_loop()
    rec = Recorder(block_ms=10, sample_ms=2).install(loop)
    try:
        loop.run_until_complete(main())
    finally:
        rec.uninstall()
        loop.close()
    return rec.drain()["samples"]


def test_no_frame_sampling_while_subinterpreters_exist():
    """sys._current_frames() would hand over other interpreters' frames (3.12/3.13 then
    abort with a double free): the watchdog does not sample while there are any."""
    import importlib

    mod = None
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            mod = importlib.import_module(name)
            break
        except ImportError:
            pass
    if mod is None:
        pytest.skip("no subinterpreters on this Python")
    assert _blocked_step_samples()  # sampled as usual ...
    interp = mod.create()
    try:
        assert _blocked_step_samples() == []  # ... but not while a subinterpreter exists
    finally:
        mod.destroy(interp)


def test_outcomes_are_known_for_tasks_gone_before_any_drain():
    async def ok():
        await asyncio.sleep(0)

    async def bad():
        await asyncio.sleep(0)
        raise ValueError("spilled")

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda lp, ctx: None)  # "never retrieved": expected here
        asyncio.create_task(ok(), name="fine")
        asyncio.create_task(bad(), name="spilled")
        t = asyncio.create_task(asyncio.sleep(10), name="stopped")
        await asyncio.sleep(0.01)
        t.cancel()
        await asyncio.sleep(0.01)

    tl = record(main)
    got = {t.name: t.outcome for t in tl.tasks.values() if t.name in ("fine", "spilled", "stopped")}
    assert got == {"fine": "ok", "spilled": "error", "stopped": "cancelled"}
