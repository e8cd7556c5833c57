"""Switch the recorder on for every asyncio event loop a process creates.

    from coffeeshop_tui.scenarios.autorecord import record_all_loops
    record_all_loops(sink=my_sink)      # before the program creates its loops

One ``Recorder`` is active in a process at a time (``Handle._run`` is patched once, for
the whole process). It follows the loops the program uses:

* a new loop gets the recorder when none is active, or when the active one's loop is not
  running (that recording then ends);
* a loop that starts running takes the recorder over the same way; a loop that runs
  while another loop runs in another thread is not recorded (its steps are not mixed in);
* ``loop.close()`` ends the loop's recording, and so does the end of the process.

While the recorded loop runs, the recorder's thread drains it every ``drain_s`` seconds
into ``sink(recording, batch)``; ``recording`` numbers the recordings of this process
(1, 2, ...), task numbers inside batches are per recording. That watchdog thread lives from
the loop's first run to its close: when ``run_forever`` returns it pauses (no sampling), its
next drain (within ``drain_s``) takes what the run left, and it then parks without the GIL
until the loop runs again (asyncio.run runs its loop three times: one thread, no hand-over
between them) or closes. The close's last batch is sent from that thread, not the program's;
:func:`flush` sends a stopped loop's records at once and waits for the batches on their way,
and so does :func:`stop_recording` (and the end of the process).

A forked child stops recording (it has nobody draining), and so does a subinterpreter
(the recording belongs to the main interpreter). Stdlib loops only: with uvloop (or any
loop without a selector) that loop is simply not recorded.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import os
import threading

from . import recorder as _recorder
from . import recorder_hooks as _h
from .recorder import Recorder

_state: dict = {}  # "on", "sink", "opts", "orig", "ours", "serial", "rec", "rec_id", "hooks"
_lock = threading.RLock()
_h.OWN_FILES.add((lambda: 0).__code__.co_filename)


def keep_last(n: int = 64):
    """A bounded sink: keeps the last ``n`` batches (``sink.batches``), drops older ones."""
    batches: collections.deque = collections.deque(maxlen=n)

    def sink(recording: int, batch: dict) -> None:
        batches.append((recording, batch))

    sink.batches = batches
    return sink


def in_main_interpreter() -> bool:
    """Whether this is the process's main interpreter (not a PEP 554/734 subinterpreter).
    A subinterpreter runs ``site`` (hence a sitecustomize that records) too; the recording
    and its sink belong to the main interpreter."""
    for name in ("_interpreters", "_xxsubinterpreters"):  # 3.13+, 3.12
        try:
            mod = __import__(name)
        except ImportError:
            continue
        try:
            return mod.get_current() == mod.get_main()
        except Exception:  # pragma: no cover - an API we do not know
            return True
    return True


def _recordable(loop) -> bool:
    # stdlib selector loops only (a bare BaseEventLoop with a stand-in selector is a test rig)
    return isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop)


def _end_current(background: bool = False) -> None:
    """Uninstall the active recording and hand its last batch to the sink (``background``:
    from a thread of its own; :func:`stop_recording` waits for it)."""
    rec = _state.get("rec")
    if rec is None:
        return
    _state["rec"] = None
    # its watchdog (paused since the loop stopped) sends the last batch on its way out;
    # none (it raised): from here, or a thread of its own
    taken = rec.stop_watch(wait=False, last=True)
    rec.uninstall()
    if taken:
        _sending(rec)
    else:
        _deliver_last(rec, background)


def _sending(rec) -> None:
    """Note that ``rec``'s last batch is on its way (see :func:`_flush`). Only its ``sent``
    event is kept, not the Recorder: that would keep its closed loop alive."""
    sending = _state.setdefault("sending", [])
    sending[:] = [(sent, flag) for sent, flag in sending if not sent.is_set()]
    sending.append((rec._sent, rec._stop_flag))


def _deliver(rec_id: int, batch: dict) -> None:
    try:
        _state["sink"](rec_id, batch)
    except Exception:  # a broken sink must never break the program under study
        pass


def _deliver_last(rec, background: bool = False) -> None:
    """What ``rec`` recorded since its last batch, to the sink (after the watchdog's batches)."""
    rec_id = _state["rec_id"]
    rec.deliver(lambda batch: _deliver(rec_id, batch), background)
    if background:
        _sending(rec)


def _flush() -> None:
    """Wait for the last batches still being sent in the background (``Recorder.deliver``)."""
    sending = _state.pop("sending", ())
    for _sent, flag in sending:  # (a last batch waiting out its grace goes now)
        _recorder.hurry(flag)
    for sent, _flag in sending:
        sent.wait(_recorder.SEND_WAIT_S)


def flush() -> None:
    """Wait until the sink has every batch of the loops that have stopped: a run's last batch
    is sent from the recorder's own thread, shortly after ``run_forever`` / ``asyncio.run``
    returns (not on the program's thread). :func:`stop_recording` waits for them too."""
    with _lock:
        rec = _state.get("rec")
        _flush()
    if rec is not None:
        rec.flush()


def _claim(loop) -> "Recorder | None":
    """Give ``loop`` the recorder if it may have it; return its recorder (or None)."""
    with _lock:
        if not _state.get("on") or not _recordable(loop) or loop.is_closed():
            return None
        rec = _state.get("rec")
        if rec is not None:
            if rec._loop is loop:
                return rec
            if rec._loop.is_running():
                return None  # another loop runs (in another thread): leave this one alone
            _end_current()
        if _recorder.active() is not None:
            return None  # someone else's Recorder (e.g. installed by hand)
        _state["serial"] += 1
        rec_id = _state["serial"]
        opts = _state["opts"]
        rec = Recorder(block_ms=opts["block_ms"], drain_s=opts["drain_s"], raw=opts.get("raw", False),
                       sink=lambda batch: _deliver(rec_id, batch), watch="running")
        # its batches come after the last batch of the recording before (which may still wait
        # out its grace: Recorder.LAST_GRACE_S): the reader numbers tasks in that order
        waiting = [sent for sent, _flag in _state.get("sending", ()) if not sent.is_set()]
        if waiting:
            rec._sent = waiting[-1]
        rec.install(loop)
        _state["rec"], _state["rec_id"] = rec, rec_id
        return rec


def record_all_loops(sink=None, *, block_ms: float = 25.0, drain_s: float = 0.05, raw: bool = False) -> None:
    """Record every stdlib event loop this process creates from now on (see module doc).

    ``sink(recording, batch)`` receives the batches; default: :func:`keep_last`. ``raw``: the
    batches are ``Recorder.drain_raw()``'s (resolved by the reader, see ``resolver.py``).
    Calling it again only changes the sink and options. :func:`stop_recording` undoes it.
    Does nothing in a subinterpreter (see :func:`in_main_interpreter`).
    """
    if not in_main_interpreter():
        return
    with _lock:
        _state["sink"] = sink if sink is not None else keep_last()
        _state["opts"] = {"block_ms": block_ms, "drain_s": drain_s, "raw": raw}
        if _state.get("on"):
            return
        _warm_up(raw)
        _state.setdefault("serial", 0)
        _state["rec"] = None
        base, sel_base = asyncio.BaseEventLoop, asyncio.selector_events.BaseSelectorEventLoop
        orig = {(sel_base, "__init__"): sel_base.__init__,
                (base, "run_forever"): base.run_forever, (base, "close"): base.close}
        _state["orig"] = orig

        @functools.wraps(orig[sel_base, "__init__"])
        def __init__(self, *args, **kwargs):
            orig[sel_base, "__init__"](self, *args, **kwargs)
            _claim(self)

        @functools.wraps(orig[base, "run_forever"])
        def run_forever(self):
            rec = None if self.is_running() else _claim(self)
            if rec is None:  # not recorded, or already running (asyncio raises)
                if (not self.is_running() and _state.get("on") and _recordable(self)
                        and not getattr(self, "_coffeeshop_skipped", False)):
                    self._coffeeshop_skipped = True  # counted once per loop
                    with _lock:
                        _state["skipped"] = _state.get("skipped", 0) + 1
                return orig[base, "run_forever"](self)
            with _lock:
                if _state.get("rec") is rec:
                    _state.setdefault("threads", {})[_state["rec_id"]] = threading.current_thread().name
            rec.start_watch()
            try:
                return orig[base, "run_forever"](self)
            except BaseException as exc:
                _recorder.drop_own_frame(exc)  # a traceback shows asyncio's frames only
                raise
            finally:
                # The loop stopped: its watchdog pauses (the loop may run again: asyncio.run
                # runs it three times) and sends what the run left at its next drain, not
                # here (encoding it would hold the program's thread).
                with _lock:
                    if _state.get("rec") is rec:
                        if not rec.pause_watch():
                            _deliver_last(rec)
                    else:
                        rec.stop_watch(wait=False)

        @functools.wraps(_state.get("os_exit") or os._exit)
        def _exit(status):
            # os._exit skips atexit and kills the recorder's threads: a run's last batch (sent
            # from the watchdog's thread, within drain_s of the run's end or at the close) would
            # be lost, so the recording ends here first (not in a forked child: not ours)
            if _state.get("on") and _state.get("pid") == os.getpid():
                try:
                    stop_recording()
                except Exception:  # never keeps the program from exiting
                    pass
            _state["os_exit"](status)

        _state.setdefault("os_exit", os._exit)
        _state["pid"] = os.getpid()
        orig[os, "_exit"] = _state["os_exit"]

        @functools.wraps(orig[base, "close"])
        def close(self):
            with _lock:
                rec = _state.get("rec")
                if rec is not None and rec._loop is self:
                    _end_current(background=True)  # the program goes on meanwhile
            return orig[base, "close"](self)

        _state["ours"] = {(sel_base, "__init__"): __init__, (base, "run_forever"): run_forever,
                          (base, "close"): close, (os, "_exit"): _exit}
        for (cls, name), fn in _state["ours"].items():
            setattr(cls, name, fn)
        _state["on"] = True
        if not _state.get("hooks"):
            _state["hooks"] = True
            atexit.register(stop_recording)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)


def _warm_up(raw: bool) -> None:
    """Install a recorder on a loop of our own and take it off again, before the program runs:
    the first time those lines run (install, a step, a select) cost the program's first
    ``asyncio.run`` ~0.3 ms more than later times (measured, 3.11, in one process: the first
    run recorded took +0.55 ms over the unrecorded one without this, +0.15 ms with it).
    Nothing of it stays: no recording, no patch, no thread. (Threads kept parked for the
    watchdogs would save the program ~0.05 ms a run more, but a thread alive outside the
    program's loops makes each ``os.fork`` of the program warn on 3.12+.)"""
    if _h._active is not None:
        return
    try:
        loop = asyncio.SelectorEventLoop()
    except Exception:  # (e.g. no socketpair allowed): the first run pays instead
        return
    try:
        rec = Recorder(watch="running", raw=raw).install(loop)
        try:
            if asyncio._get_running_loop() is None:  # (a step, a select, a watchdog: their first time too)
                rec.start_watch()
                # (named: an unnamed task would take a number from the program's Task-N names)
                loop.run_until_complete(loop.create_task(asyncio.sleep(0), name="coffeeshop-warm-up"))
        finally:
            rec.uninstall()  # (its watchdog and its thread end)
    except Exception:
        pass
    finally:
        loop.close()


def skipped_loops() -> int:
    """How many stdlib loops ran unrecorded (another loop was being recorded meanwhile)."""
    return _state.get("skipped", 0)


def loop_thread(recording: int) -> str | None:
    """The name of the thread that ran recording ``recording``'s loop (None: it never ran)."""
    return _state.get("threads", {}).get(recording)


def _unpatch() -> None:
    """Put asyncio's methods back, where ours are still in place."""
    for (cls, name), fn in _state["orig"].items():
        if cls.__dict__.get(name) is _state["ours"][cls, name]:
            setattr(cls, name, fn)


def stop_recording() -> None:
    """End the current recording (its last batch goes to the sink) and stop following loops."""
    with _lock:
        if not _state.get("on"):
            _flush()
            return
        _state["on"] = False
        _end_current()
        _unpatch()
        _flush()


def _after_fork_in_child() -> None:
    # The sink belongs to the parent: a child records nothing (the recorder module
    # already disabled the active recording in this child).
    global _lock
    _lock = threading.RLock()
    if _state.get("on"):
        _state["rec"] = None
        _state["on"] = False
        _unpatch()
