"""What the loop held at a moment: its ready queue, its timers, what it waited on in select.

Recorded (in the program, next to the step recorder; ``Recorder.install`` calls
:func:`install`, ``Recorder._drain`` calls :meth:`QueueProbe.drain`):

* **Selects.** The loop's selector is wrapped (inside the recorder's own probe): each
  ``select`` notes its start, end, timeout, how many handles were already in
  ``loop._ready`` (call_soon'd in the iteration before: then the timeout is 0) and which
  fds it returned (only when it returned some). One Python call per loop iteration,
  never per step.
* **Registrations.** ``register`` / ``modify`` / ``unregister`` on that selector (what
  ``add_reader`` / ``add_writer`` and transports call): the fd, read / write, a label
  (``socket 127.0.0.1:8000 (accept)``, ``self-pipe``, ``127.0.0.1:5555 → ... (_read_ready)``)
  and the task that registered it. Those already registered at install are noted then.
* **Timers.** ``loop.call_at`` (hence ``call_later``, ``asyncio.sleep``, timeouts) is
  wrapped on the loop object (in C where the compiled recorder is used: ``_fastpath.CallAt``):
  when created, when due, the callback's name and the task that created it;
  ``loop._timer_handle_cancelled`` notes a cancellation while the timer is still in the heap
  (``_fastpath.CancelNote`` compiled). Timers are numbered and cancels matched to them where
  the drain is resolved (:class:`TimerBook`: in the parent for a child that ships raw
  batches). A timer leaves the heap at the first iteration whose select ended after it fell
  due (asyncio's own rule, ``_run_once``).

No handle, task, socket or future is kept: ids, ints and strings only (task ids resolved at
the drain like the step recorder's). Debug-mode ``_source_traceback`` of a timer does not
show the wrapper. Each wrapper is undone only if still in place.

What is derived from these records (in the parent) is :mod:`.loop_moment`.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
from array import array
from typing import Callable

from . import recorder_hooks as _h
from .recorder_hooks import now_ns, strip_own_frames

_LIVE_MIN = 4096  # drained timers remembered (for their cancels) before a sweep
TIMER_COLS = 4  # a noted timer: created_ns, id(TimerHandle), creator raw id, due_ns
_h.OWN_FILES.add((lambda: 0).__code__.co_filename)



# ============================================================================ recording
def _addr(a) -> str:
    if isinstance(a, tuple) and len(a) >= 2:
        return f"{a[0]}:{a[1]}"
    return str(a) if a else ""


def _sock_words(sock) -> str:
    try:
        here = _addr(sock.getsockname())
    except Exception:
        here = ""
    try:
        there = _addr(sock.getpeername())
    except Exception:
        there = ""
    if here and there:
        return f"socket {here} → {there}"
    return f"socket {here}" if here else "socket"


def describe_handle(handle, loop) -> str:
    """A short label of what a reader / writer handle serves (called at registration only)."""
    cb = handle._callback
    owner = getattr(cb, "__self__", None)
    name = getattr(cb, "__name__", "") or type(cb).__name__
    args = handle._args or ()
    if owner is loop:
        if name == "_read_from_self":
            return "self-pipe (wake-ups from other threads)"
        sock = next((a for a in args if isinstance(a, socket.socket)), None)
        if name == "_accept_connection" and sock is not None:
            return f"{_sock_words(sock)} (accept)"
        if sock is not None:
            return f"{_sock_words(sock)} ({name.strip('_')})"
        return name.strip("_")
    if owner is not None and hasattr(owner, "get_extra_info"):  # a transport
        sock = owner.get_extra_info("socket")
        words = _sock_words(sock) if sock is not None else type(owner).__name__
        return f"{words} ({name.strip('_')})"
    return _h.label_of(cb)


class QueueSelector:
    """Wraps the loop's selector: notes each select and each (un)registration. Answers
    ``__class__`` / ``isinstance`` as the selector it wraps; passes everything through."""

    def __init__(self, selector, probe: "QueueProbe", loop) -> None:
        self._sel = selector
        self._probe = probe
        self._loop = loop
        self._ready = loop._ready
        # an array's append; or the compiled buffer's push of a row (SelectorProbe's compiled
        # select then writes there itself: this select runs only if called directly)
        self._add = getattr(probe.selects, "append", None)
        self._push = getattr(probe.selects, "push", None)
        self._io = probe.io.append

    @property
    def __class__(self):  # noqa: F811 - deliberately the wrapped selector's class
        return self._sel.__class__

    def select(self, timeout=None):
        # (when it began: the recorder's own SelectorProbe around this one notes that)
        n_ready = len(self._ready)
        try:
            ev = self._sel.select(timeout)
        except BaseException as exc:
            _h.drop_own_frame(exc)
            raise
        t1 = now_ns()
        if self._add is None:
            self._push(t1, -1 if timeout is None else int(timeout * 1e9), n_ready, len(ev))
        else:
            add = self._add  # four appends: array.extend((...)) costs ~10x one append
            add(t1)
            add(-1 if timeout is None else int(timeout * 1e9))
            add(n_ready)
            add(len(ev))
        if ev:
            self._io((t1, [x for key, mask in ev for x in (key.fd, mask)]))
        return ev

    def register(self, fileobj, events, data=None):
        try:
            key = self._sel.register(fileobj, events, data)
        except BaseException as exc:
            _h.drop_own_frame(exc)
            raise
        self._probe.note_key(key)
        return key

    def modify(self, fileobj, events, data=None):
        try:
            key = self._sel.modify(fileobj, events, data)
        except BaseException as exc:
            _h.drop_own_frame(exc)
            raise
        self._probe.note_key(key)
        return key

    def unregister(self, fileobj):
        try:
            key = self._sel.unregister(fileobj)
        except BaseException as exc:
            _h.drop_own_frame(exc)
            raise
        self._probe.regs.append((now_ns(), key.fd, 0, "", 0, "", 0))
        return key

    def __getattr__(self, name):
        return getattr(self._sel, name)


class QueueProbe:
    """The loop-queue part of one recording: buffers filled on the loop's thread, taken by
    :meth:`drain` (under the recorder's drain lock). Only taken: timers are numbered and
    cancels matched to them by whoever resolves the drain (:class:`TimerBook`, in the parent
    for a child that ships raw batches), not by the recorded program."""

    def __init__(self, rec, loop) -> None:
        self.rec = rec
        self.loop = loop
        # end_ns, timeout_ns (-1: none), n_ready, n_events: an array('q'), or the compiled
        # hook's buffer (its select writes there: _fastpath.SelectCall, see SelectorProbe)
        self.selects = _h.new_steps(4)
        self.io: list = []  # (t1, [fd, mask, ...]) of selects that returned events
        # created_ns, id(TimerHandle), creator raw id (task), due (ns: loop.time() * 1e9); an
        # array('q'), or the compiled hook's buffer (its call_at writes there: _fastpath.CallAt)
        self.timers = _h.new_steps(TIMER_COLS)
        self.labels: list[str] = []  # the timers' callback names (shared strings)
        # t_ns, id(TimerHandle), due (ns) of a timer cancelled while in the heap (an array('q'),
        # or the compiled hook's buffer: _fastpath.CancelNote writes there)
        self.cancels = _h.new_steps(3)
        self.regs: list = []  # (t, fd, events, reader label, reader raw, writer label, writer raw)

    def note_key(self, key) -> None:
        """Note a registration (never disturbs the program: a failure notes less)."""
        try:
            try:
                reader, writer = key.data
            except (TypeError, ValueError):  # not asyncio's (reader, writer) pair
                reader = writer = None
            task = asyncio.current_task(self.loop) if self.loop.is_running() else None
            raw = id(task) if task is not None else 0
            del task
            rl = describe_handle(reader, self.loop) if reader is not None else ""
            wl = describe_handle(writer, self.loop) if writer is not None else ""
        except Exception:
            raw, rl, wl = 0, "?", "?"
        self.regs.append((now_ns(), key.fd, key.events, rl, raw if rl else 0, wl, raw if wl else 0))

    # ---------------------------------------------------------------- drain
    def drain(self, pack: Callable = lambda a: a, final: bool = False) -> dict:
        """Take the buffers, task ids left raw, timers unnumbered (the resolver, ``resolver.py``,
        numbers them, matches the cancels and resolves the ids: :func:`resolve_drain`).
        ``pack``: how an int64 array is shipped (``Recorder._collect``)."""
        take = self.rec._take
        selects = _h.take_steps(self.selects, 4)
        io = take(self.io)
        n = min(len(self.timers) // TIMER_COLS, len(self.labels))
        raw_t = _h.take_steps(self.timers, TIMER_COLS, n)
        labels, label_idx = _h.table_of(self.labels[:n])
        del self.labels[:n]
        cancels = _h.take_steps(self.cancels, 3)
        regs = take(self.regs)
        return {
            "selects": pack(selects),
            "io": [[t, fds] for t, fds in io],
            # timers: (created_ns, id, creator raw id, due_ns) a timer, its label (an index
            # into timer_labels)
            "timers_raw": pack(raw_t),
            "timer_labels": labels,
            "timer_label_idx": pack(label_idx),
            "cancels_raw": pack(cancels),  # (t_ns, id, due_ns) a cancel
            "regs": [list(r) for r in regs],
        }


class TimerBook:
    """Numbers one recording's timers (from 1, as they are drained) and matches each cancel
    to its timer by (id of the TimerHandle, due): a live TimerHandle's id and due time name
    it. Keeps, across drains, the timers that may still be in the heap. Runs where the drain
    is resolved (the parent, for a child that ships raw batches)."""

    def __init__(self) -> None:
        self._no = 0
        # (id, due) of drained timers that may still be in the heap -> their number
        self._live: dict[tuple[int, int], int] = {}
        self._unmatched: list = []  # cancels of timers the next drain brings
        self._live_cap = _LIVE_MIN  # _live is swept of timers that left the heap above this size

    def number(self, raw_t, cancels_raw, last_select: int, final: bool) -> tuple[int, list]:
        """(the first new timer's number, [t, number, ...] of the cancels matched)."""
        n = len(raw_t) // TIMER_COLS
        live = self._live
        first_no = self._no + 1
        self._no += n
        live.update(zip(zip(raw_t[1::4], raw_t[3::4]), range(first_no, first_no + n)))  # (id, due) -> number
        cn = cancels_raw
        older = self._unmatched  # noted by the drain before: their timers came with this one
        cancels = older + list(zip(cn[0::3], cn[1::3], cn[2::3]))
        out = []
        self._unmatched = []
        for i, (t, hid, when) in enumerate(cancels):
            no = live.pop((hid, when), None)
            if no is not None:
                out += (t, no)
            elif not final and i >= len(older):
                self._unmatched.append((t, hid, when))  # its timer may come with the next drain
        if last_select and len(live) > self._live_cap:
            # timers due before the last select ended have left the heap: forgotten once
            # there are twice as many as after the last time (a cancel only names a timer
            # still in the heap, so keeping them longer changes nothing but memory)
            for k in [k for k in live if k[1] <= last_select]:
                del live[k]
            self._live_cap = max(_LIVE_MIN, 2 * len(live))
        return first_no, out


def resolve_drain(lq: dict, resolve: Callable[[int, int], int], ints: Callable,
                  book: TimerBook | None = None, final: bool = False) -> dict:
    """A drain's loop part (:meth:`QueueProbe.drain`) with its timers numbered and cancels
    matched (``book``: the recording's :class:`TimerBook`), rows built and task ids resolved
    (``resolver.py``; ``ints`` reads a packed column back)."""
    raw_t = ints(lq.get("timers_raw"))
    selects = ints(lq.get("selects"))
    if book is None:
        book = TimerBook()
    no, cancels = book.number(raw_t, ints(lq.get("cancels_raw")), selects[-4] if len(selects) >= 4 else 0, final)
    labels = lq.get("timer_labels", ())
    timers = [[c, w, no + i, resolve(rid, c), labels[k]] for i, (c, rid, w, k) in
              enumerate(zip(raw_t[0::4], raw_t[2::4], raw_t[3::4], ints(lq.get("timer_label_idx"))))]
    return {
        "selects": selects.tolist(),
        "io": lq.get("io", []),
        "timers": timers,
        "cancels": cancels,
        "regs": [[t, fd, ev, rl, resolve(rr, t), wl, resolve(wr, t)] for t, fd, ev, rl, rr, wl, wr in lq.get("regs", ())],
    }


def install(rec, loop, undo: list) -> QueueProbe:
    """Wrap ``loop``'s selector (a real one only, see below), ``call_at`` and
    ``_timer_handle_cancelled`` for ``rec``. Call it before the recorder wraps the selector
    (its probe then wraps this one)."""
    probe = QueueProbe(rec, loop)
    sel = loop._selector
    # A stand-in selector (not a selectors.BaseSelector: asyncio's own tests give the loop a
    # Mock, then inspect ``loop._selector.register`` and its calls) is left alone: wrapping
    # its register / modify / unregister would hide the stand-in's own. No selects and no
    # registrations then; timers as usual.
    real = isinstance(sel, selectors.BaseSelector)
    try:
        for key in list(sel.get_map().values()) if real else ():
            probe.note_key(key)
    except Exception:  # a selector without a map: registrations from now on only
        pass
    t = now_ns()
    push = getattr(probe.timers, "push", None) or (lambda *row: probe.timers.extend(row))
    for h in list(getattr(loop, "_scheduled", ())):  # timers set before: creator unknown
        if not h._cancelled:
            push(t, id(h), 0, int(h._when * 1e9))
            probe.labels.append(getattr(h._callback, "__qualname__", None) or _h.label_of(h._callback))
    if real:
        qsel = QueueSelector(sel, probe, loop)
        loop._selector = qsel
        undo.append(lambda: loop._selector is qsel and setattr(loop, "_selector", sel))

    orig_call_at = loop.call_at
    call_at = _h.make_call_at(rec, loop, orig_call_at, probe.timers, probe.labels)
    if call_at is None:  # the pure-Python recorder: the same, in Python
        call_at = _call_at(rec, loop, orig_call_at, probe)
    _h.patch_attr(loop, "call_at", call_at, undo)

    orig_cancelled = loop._timer_handle_cancelled
    note = getattr(_h._fast, "CancelNote", None) if type(probe.cancels) is not array else None
    if note is not None:  # the same, compiled
        _timer_handle_cancelled = note(rec, orig_cancelled, probe.cancels)
    else:
        _timer_handle_cancelled = _cancelled(rec, orig_cancelled, probe.cancels)

    _h.patch_attr(loop, "_timer_handle_cancelled", _timer_handle_cancelled, undo)
    return probe


def _cancelled(rec, orig_cancelled, cancels):
    """``loop._timer_handle_cancelled`` noting a timer cancelled while still in the heap (it
    will never run): ``_fastpath.CancelNote`` is the same, compiled."""
    push = getattr(cancels, "push", None)
    if push is None:
        cap = cancels.append

        def push(t, hid, due):
            cap(t)
            cap(hid)
            cap(due)

    def _timer_handle_cancelled(handle):
        if handle._scheduled and _h._active is rec:
            push(now_ns(), id(handle), int(handle._when * 1e9))
        return orig_cancelled(handle)

    return _timer_handle_cancelled


def _call_at(rec, loop, orig_call_at, probe):
    """``loop.call_at`` noting each timer (``_fastpath.CallAt`` is the same, compiled)."""
    add, lap = probe.timers.append, probe.labels.append
    current_task = asyncio.current_task

    def call_at(when, callback, *args, context=None):
        try:
            timer = orig_call_at(when, callback, *args, context=context)
        except BaseException as exc:
            _h.drop_own_frame(exc)
            raise
        if _h._active is rec:
            if timer._source_traceback:
                strip_own_frames(timer._source_traceback)
            try:
                label = getattr(callback, "__qualname__", None) or _h.label_of(callback)
                add(now_ns())
                add(id(timer))
                add(id(current_task(loop)))  # id(None) resolves to 0
                add(int(timer._when * 1e9))
                lap(label)  # (a drain takes as many whole rows as labels)
            except Exception:  # never disturb the program
                pass
        return timer

    return call_at
