"""What a waiting task waits on: a timer, a lock or queue (which one), a socket, a thread
job, another task, a subprocess...

The recorder's step hook (``recorder_hooks.traced_run``) calls :func:`classify` at the end
of a task's step when the task is still pending and awaits a future (``task._fut_waiter``
is set; not after ``await asyncio.sleep(0)``). It looks at the task's chain of suspended
coroutines (``cr_await``), innermost last:

* the outermost frame that is one of asyncio's known waits names the kind (``sleep``,
  ``Semaphore.acquire``, ``Queue.get``, ``StreamReader.readline``, ``to_thread``,
  ``Process.communicate``...). Codes are classified once and cached;
* for a lock, semaphore, event, condition, barrier or queue, the primitive itself (the
  frame's ``self``) is named by where the program created it (see below) and the name the
  creating line assigns it to (``counter = asyncio.Semaphore(2)`` -> ``counter``);
* a waiter that is a task: ``("task", "", "", id(task))``, resolved to a task number at the
  drain (the name can change later; the timeline says it when asked);
* a plain future awaited by the program: a ``gather``, a thread job (a future chained to an
  executor's), a process job (the recorder's own wrapper), else ``future`` with the line
  that awaits it.

A reason is a tuple ``(kind, detail, where, raw id of an awaited task or 0)``: ``detail``
a name (```counter```, a job's function, "of 3"), ``where`` a ``path:line`` (where the
primitive was made, or where the program awaits); :func:`reason_text` words it. The common ones are
shared constants (no allocation per step). Nothing here keeps a reference to a task, a
future or a coroutine; primitives are known by ``id()`` only (``_SITES``, bounded).

Creation sites: while a recorder is installed, the ``__init__`` of asyncio's Lock, Event,
Condition, Semaphore, Barrier and Queue is wrapped (:func:`patch_primitives`) to note
``id(obj) -> (type, file:line)`` of the program's line that made it. Arguments, results and
exceptions pass through (the wrapper's frame is taken off a raised exception's traceback,
``inspect.signature`` sees the original); uninstall puts the originals back.

Kinds and what the app draws for them (``CATEGORY``): ``timer`` (sleep), ``sync``
(lock, semaphore, event, condition, barrier, queue), ``io`` (sockets, pipes, subprocesses,
thread and process jobs), ``other`` (a task, gather, task group, a plain future).
"""

from __future__ import annotations

import asyncio
import functools
import linecache
import os
import re
import sys
from types import CoroutineType, GeneratorType

_ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__)) + os.sep

# The kinds, and the drawing category of each (one place: timeline, report and app use it).
CATEGORY = {
    "sleep": "timer",
    "lock": "sync", "semaphore": "sync", "event": "sync", "condition": "sync", "barrier": "sync",
    "queue get": "sync", "queue put": "sync", "queue join": "sync",
    "socket read": "io", "socket write": "io", "socket connect": "io", "socket accept": "io",
    "pipe read": "io", "pipe write": "io", "subprocess": "io",
    "thread job": "io", "process job": "io",
    "task": "other", "gather": "other", "task group": "other", "asyncio.wait": "other",
    "wait_for": "other", "server": "other", "future": "other",
}

# asyncio's coroutines that are waits: (module, qualname) -> kind. The outermost one in a
# task's chain wins (Condition.wait re-acquiring its Lock is a condition wait).
_KNOWN = {
    ("tasks", "sleep"): "sleep",
    ("tasks", "wait"): "asyncio.wait", ("tasks", "_wait"): "asyncio.wait",
    ("tasks", "wait_for"): "wait_for",
    ("locks", "Lock.acquire"): "lock",
    ("locks", "Semaphore.acquire"): "semaphore",
    ("locks", "Event.wait"): "event",
    ("locks", "Condition.wait"): "condition", ("locks", "Condition.wait_for"): "condition",
    ("locks", "Barrier.wait"): "barrier",
    ("queues", "Queue.get"): "queue get", ("queues", "Queue.put"): "queue put",
    ("queues", "Queue.join"): "queue join",
    ("selector_events", "BaseSelectorEventLoop.sock_recv"): "socket read",
    ("selector_events", "BaseSelectorEventLoop.sock_recv_into"): "socket read",
    ("selector_events", "BaseSelectorEventLoop.sock_recvfrom"): "socket read",
    ("selector_events", "BaseSelectorEventLoop.sock_recvfrom_into"): "socket read",
    ("selector_events", "BaseSelectorEventLoop.sock_sendall"): "socket write",
    ("selector_events", "BaseSelectorEventLoop.sock_sendto"): "socket write",
    ("selector_events", "BaseSelectorEventLoop.sock_connect"): "socket connect",
    ("selector_events", "BaseSelectorEventLoop.sock_accept"): "socket accept",
    ("base_events", "BaseEventLoop.create_connection"): "socket connect",
    ("base_events", "Server.serve_forever"): "server",
    ("streams", "open_connection"): "socket connect",
    ("streams", "open_unix_connection"): "socket connect",
    ("streams", "StreamReader.read"): "socket read",
    ("streams", "StreamReader.readline"): "socket read",
    ("streams", "StreamReader.readuntil"): "socket read",
    ("streams", "StreamReader.readexactly"): "socket read",
    ("streams", "StreamReader.__anext__"): "socket read",
    ("streams", "StreamReader._wait_for_data"): "socket read",
    ("streams", "StreamWriter.drain"): "socket write",
    ("streams", "FlowControlMixin._drain_helper"): "socket write",
    ("subprocess", "Process.wait"): "subprocess",
    ("subprocess", "Process.communicate"): "subprocess",
    ("subprocess", "Process._read_stream"): "subprocess",
    ("subprocess", "Process._feed_stdin"): "subprocess",
    ("subprocess", "create_subprocess_exec"): "subprocess",
    ("subprocess", "create_subprocess_shell"): "subprocess",
    ("base_subprocess", "BaseSubprocessTransport._wait"): "subprocess",
    ("threads", "to_thread"): "thread job",
    ("taskgroups", "TaskGroup.__aexit__"): "task group",
}
_PRIMITIVE = {"lock", "semaphore", "event", "condition", "barrier", "queue get", "queue put", "queue join"}
_STREAM = {"socket read": "pipe read", "socket write": "pipe write"}

_USER = None  # a code of the program's (not asyncio's): the await site of a plain future
_LIB = ""  # asyncio's (or the stdlib's) but not a wait of its own: look further in
_code_kind: dict = {}  # code object -> kind, _LIB or _USER (codes live as long as their functions)

SLEEP = ("sleep", "", "", 0)
_SIMPLE: dict = {}  # kind -> the shared reason tuple with no detail
_Task = asyncio.Task
_Future = asyncio.Future
_SLEEP_CODE = asyncio.tasks.sleep.__code__
#: innermost codes that decide the kind alone (no asyncio wait is built on them, except on
#: Lock.acquire by Condition.wait re-acquiring its lock; Condition.wait is left out: a Barrier)
_COND_WAIT_CODE = asyncio.Condition.wait.__code__
_INNERMOST = {f.__code__: kind for f, kind in (
    (asyncio.Lock.acquire, "lock"), (asyncio.Semaphore.acquire, "semaphore"), (asyncio.Event.wait, "event"),
    (asyncio.Queue.get, "queue get"), (asyncio.Queue.put, "queue put"), (asyncio.Queue.join, "queue join"))}
_task_types: dict = {}  # type -> whether it is an asyncio task


def _learn_code(code) -> str | None:
    fn = code.co_filename
    if fn.startswith(_ASYNCIO_DIR):
        mod = os.path.splitext(os.path.basename(fn))[0]
        kind = _KNOWN.get((mod, code.co_qualname), _LIB)
    elif fn.startswith("<frozen") or fn in _OWN:
        kind = _LIB
    else:
        kind = _USER
    if len(_code_kind) >= 10_000:  # a program that makes code objects on the fly
        _code_kind.clear()
    _code_kind[code] = kind
    return kind


def _is_task(tp) -> bool:
    r = _task_types.get(tp)
    if r is None:
        r = isinstance(tp, type) and (issubclass(tp, asyncio.Task) or (
            getattr(asyncio.tasks, "_PyTask", None) is not None and issubclass(tp, asyncio.tasks._PyTask)))
        if len(_task_types) < 256:
            _task_types[tp] = r
    return r


def classify(task) -> tuple:
    """What ``task`` (pending, ``_fut_waiter`` set) waits on: ``(kind, detail, awaited raw)``.
    Never raises; holds on to nothing.

    The common case, a sleep a few coroutines deep, is a fast path: the chain is followed
    to its innermost coroutine (one attribute and one type check per coroutine) and that
    one's code is ``asyncio.sleep``'s. Anything else walks the chain again, classifying
    each code (:func:`_classify_chain`)."""
    try:
        w = task._fut_waiter
        tw = type(w)
        if tw is not _Future and (tw is _Task or _task_types.get(tw) or (tw not in _task_types and _is_task(tw))):
            return ("task", "", "", id(w))
        c = task._coro
        if type(c) is CoroutineType:
            p = None
            n = c.cr_await
            while type(n) is CoroutineType:
                p = c
                c = n
                n = c.cr_await
            code = c.cr_code
            if code is _SLEEP_CODE:
                return SLEEP
            k = _INNERMOST.get(code)
            if k is not None and (k != "lock" or p is None or p.cr_code is not _COND_WAIT_CODE):
                # a lock (not a Condition taking its lock back), semaphore, event or queue
                return _primitive(k, c.cr_frame.f_locals.get("self"), None, task._coro)
        return _classify_chain(task._coro, w)
    except Exception:  # an unusual awaitable: never disturb the program
        return _simple("future")


def _classify_chain(c, w) -> tuple:
    """The reason from the chain of coroutines from ``c`` (the task's) in: the outermost
    known wait, else what the plain future ``w`` is."""
    kinds = _code_kind
    user = None  # the innermost coroutine of the program's
    while type(c) is CoroutineType:
        k = kinds.get(c.cr_code, 0)
        if k:  # the outermost known wait: the kind
            return SLEEP if k == "sleep" else _detail(k, c, w, user)
        if k is None:
            user = c
        elif k == 0:
            _learn_code(c.cr_code)
            continue
        c = c.cr_await
    if type(c) is GeneratorType:  # a generator-based coroutine (types.coroutine): walk on
        return _generator_chain(c, w, user)
    return _plain_future(w, user)


def _generator_chain(c, w, user) -> tuple:
    while type(c) in (CoroutineType, GeneratorType):
        code, nxt = (c.cr_code, c.cr_await) if type(c) is CoroutineType else (c.gi_code, c.gi_yieldfrom)
        k = _code_kind.get(code, 0)
        if k == 0:
            k = _learn_code(code)
        if k:
            return SLEEP if k == "sleep" else _detail(k, c, w, user)
        if k is None:
            user = c
        c = nxt
    return _plain_future(w, user)


def _simple(kind: str) -> tuple:
    r = _SIMPLE.get(kind)
    if r is None:
        r = _SIMPLE[kind] = (kind, "", "", 0)
    return r


def _detail(kind: str, at, w, user) -> tuple:
    """The reason for a known wait ``kind`` found at coroutine ``at``."""
    if kind in _PRIMITIVE:
        return _primitive(kind, _self_of(at), user)
    if kind in _STREAM:
        transport = getattr(_self_of(at), "_transport", None)
        if transport is not None and "Pipe" in type(transport).__name__:
            return _simple(_STREAM[kind])
        return _simple(kind)
    if kind == "thread job":
        func = _frame_of(at).f_locals.get("func")
        if func is not None:
            return ("thread job", label_of(func), "", 0)
    return _simple(kind)


def label_of(fn) -> str:
    """A job's function as a short name (``asyncio.to_thread``'s partials unwrapped)."""
    while isinstance(fn, functools.partial):
        # asyncio.to_thread passes partial(context.run, func, *args)
        if fn.args and getattr(fn.func, "__name__", "") == "run" and callable(fn.args[0]):
            fn = fn.args[0]
        else:
            fn = fn.func
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return name.rpartition("<locals>.")[2]


def _innermost_user(c):
    user = None
    while type(c) in (CoroutineType, GeneratorType):
        code = c.cr_code if type(c) is CoroutineType else c.gi_code
        if _code_kind.get(code, 0) is None or (code not in _code_kind and _learn_code(code) is None):
            user = c
        c = c.cr_await if type(c) is CoroutineType else c.gi_yieldfrom
    return user


def _frame_of(c):
    return c.cr_frame if type(c) is CoroutineType else c.gi_frame


def _self_of(c):
    frame = _frame_of(c)
    return frame.f_locals.get("self") if frame is not None else None


def _await_site(user) -> str:
    """``path:line`` where the program's coroutine ``user`` awaits ("" if none)."""
    frame = _frame_of(user) if user is not None else None
    if frame is None:
        return ""
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _plain_future(w, user) -> tuple:
    tw = type(w).__name__
    if tw == "_GatheringFuture":
        return ("gather", f"of {len(getattr(w, '_children', ()))}", _await_site(user), 0)
    for cb, _ctx in getattr(w, "_callbacks", None) or ():
        code = getattr(cb, "__code__", None)
        if code is None:
            continue
        qn = code.co_qualname
        if qn == "_chain_future.<locals>._call_check_cancel":
            return _simple("thread job")  # run_in_executor: an executor's future chained in
        if qn == "_unwrap_process.<locals>.cancelled" and code.co_filename in _OWN:
            return _simple("process job")  # the recorder's wrapper of a process-pool job
    site = _await_site(user)
    return ("future", "", site, 0) if site else _simple("future")


# ------------------------------------------------------------- primitives
# id(primitive) -> (id of its type, code, line) of the program's line that made it (the words
# are made at its first wait: a program making one lock or event per request pays for an entry
# only, a tuple the garbage collector stops tracking: ints and a code object)
_SITES: dict = {}
_MAX_SITES = 20_000
_SITE_REASON: dict = {}  # (code, line) -> the reason of a wait on a primitive made there
_OWN: set = {__file__ and os.path.abspath(__file__), (lambda: 0).__code__.co_filename}
_NAME_RE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")


def _primitive(kind: str, obj, user, root=None) -> tuple:
    """The reason for waiting on primitive ``obj``: by where it was made, or (made before
    recording began) where it is awaited (the program's coroutine ``user``, else the
    innermost of the program's in the chain from ``root``)."""
    if obj is None:
        return _simple(kind)
    entry = _SITES.get(id(obj))
    if entry is None or entry[0] != id(type(obj)):  # made before recording began
        if user is None and root is not None:
            user = _innermost_user(root)
        site = _await_site(user)
        name = name_in_line(site, _AWAITED_RE)
        return (kind, f"{name}, awaited" if name else "awaited", site, 0) if site else _simple(kind)
    key = entry[1:]
    r = _SITE_REASON.get(key)
    if r is None:
        if len(_SITE_REASON) >= _MAX_SITES:  # a program making code on the fly
            _SITE_REASON.clear()
        where = f"{entry[1].co_filename}:{entry[2]}"
        r = _SITE_REASON[key] = (kind, name_in_line(where, _NAME_RE), where, 0)
    elif r[0] != kind:  # a Queue waited on by get and by put
        return (kind, r[1], r[2], 0)
    return r


_AWAITED_RE = re.compile(r".*?\b(?:async\s+with|await)\s+(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*)\b")


def name_in_line(where: str, pattern) -> str:
    """```name```: what the source line at ``where`` ("path:line") calls the primitive (the
    assignment's target for a creating line, the awaited name for an awaiting one), or ""."""
    path, _, line = where.rpartition(":")
    try:
        src = linecache.getline(path, int(line))
    except (ValueError, OSError):
        src = ""
    m = pattern.match(src)
    return f"`{m.group(1)}`" if m else ""


def reason_text(kind: str, detail: str, where: str) -> str:
    """A reason as words: ``semaphore `counter` (limited_baristas.py:26)``, ``sleep``,
    ``thread job brew``, ``future (shop.py:40)``."""
    text = f"{kind} {detail}" if detail else kind
    if where:
        path, _, line = where.rpartition(":")
        text += f" ({os.path.basename(path)}:{line})"
    return text


def _evict_sites() -> None:
    """Oldest first out (a program making one lock per request)."""
    for k in list(_SITES)[: _MAX_SITES // 4]:
        del _SITES[k]


def patch_primitives(undo: list, _h) -> None:
    """Wrap the ``__init__`` of asyncio's primitives to note where each is created (while
    installed; ``undo`` puts each original back if ours is still in place). ``_h``: the
    ``recorder_hooks`` module (who is recording, and its frame helpers)."""
    _OWN.update(_h.OWN_FILES)
    # (run last, when the recording ends) the sites go: they are keyed by id, and a lock made
    # later, unrecorded, at a freed one's address would be given its site (seen on 3.13)
    undo.append(_SITES.clear)
    for cls in (asyncio.Lock, asyncio.Event, asyncio.Condition, asyncio.Semaphore,
                asyncio.BoundedSemaphore, asyncio.Barrier, asyncio.Queue):
        orig = cls.__dict__.get("__init__")
        if orig is None:
            continue
        made = _WRAPPED.get(cls)
        if made is None or made[0] is not orig:  # (made once: a recording a loop, many loops)
            made = _WRAPPED[cls] = (orig, _make_init(orig, _h))
        wrapper = made[1]
        cls.__init__ = wrapper
        undo.append(functools.partial(_restore, cls, wrapper, orig))


_WRAPPED: dict = {}  # class -> (its __init__, our wrapper of it)


def _restore(cls, ours, orig) -> None:
    if cls.__dict__.get("__init__") is ours:
        cls.__init__ = orig


def _make_init(orig, _h):
    # On the program's path (uvicorn makes an Event a request): the caller's frame is
    # nearly always the program's line, checked here as ``user_frame`` checks it first.
    own, skip, user_frame, getframe, sites = _h.OWN_FILES, _h._SKIP + ("<frozen",), _h.user_frame, sys._getframe, _SITES

    @functools.wraps(orig)
    def __init__(self, *args, **kwargs):
        try:
            orig(self, *args, **kwargs)
        except BaseException as exc:
            _h.drop_own_frame(exc)
            raise
        if _h._active is not None:
            try:
                f = getframe(1)
                fn = f.f_code.co_filename
                if fn in own or fn.startswith(skip):
                    f = user_frame(f)
                if len(sites) >= _MAX_SITES:
                    _evict_sites()
                sites[id(self)] = (id(type(self)), f.f_code, f.f_lineno)
            except Exception:  # never disturb the program
                pass

    return __init__
