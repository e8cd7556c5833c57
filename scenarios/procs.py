"""Child-process plumbing: the one spawner every child of ours is started with.

Parent side::

    child = spawn("coffeeshop_tui.scenarios.child", [arg, ...], stdout=PIPE, ...)
    child.pid / child.proc          # the subprocess.Popen
    child.stop(term_s=0.0)          # (SIGTERM the group, wait term_s,) SIGKILL the group, reap
    child.kill_group(sig)           # signal the whole process group

:func:`spawn` owns the rules: ``python -P -m MODULE`` (:func:`safe_python`), a new session
(the child leads its own process group, so one signal reaches everything it started), forked
from the main thread or from one long-lived spawner thread (PR_SET_PDEATHSIG fires when the
*thread* that forked the child ends), every live child stopped at exit (atexit).

Child side, first thing in ``main()``::

    parent = child_setup()          # dies with the parent; guards the group

:func:`child_setup` asks Linux to SIGKILL the child when the parent dies (also by SIGKILL),
exits at once if the parent is already gone, and starts a *guardian* (a small isolated
interpreter in the child's group, holding none of its files) that SIGKILLs the child's whole
process group as soon as the child exits, for any reason. So nothing the child started
(process-pool workers, forked grandchildren, a grandchild holding our pipes open) outlives it,
not even when the parent was SIGKILLed; only a process that leaves the group on purpose
(setsid) escapes. Other helpers: :class:`Tail` (a stream's last bytes, bounded),
:func:`kill_group`, :func:`group_members`, :func:`set_pdeathsig`, :func:`safe_python`.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from typing import Iterator

PR_SET_PDEATHSIG = 1
PARENT_ENV = "COFFEESHOP_PARENT_PID"
PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL


def set_pdeathsig(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent (the thread that forked it) dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group (a child started with start_new_session: pgid == pid)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live (not zombie) process (Linux: /proc)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                yield int(name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in a process group."""
    return [pid for pid, _ppid, group in processes() if group == pgid]


def group_alive(pgid: int) -> bool:
    """True while a live process of the group exists."""
    return bool(group_members(pgid))


def safe_python() -> list[str]:
    """The interpreter command for a child: ``-P`` keeps the current folder off ``sys.path``.

    Nothing from the user's folder is imported unless asked for (``--app``, a scenario file):
    a ``selectors.py`` or ``scenarios/`` package there cannot shadow the stdlib or ours.
    """
    return [sys.executable, "-P"]


class Tail:
    """The last ``max_bytes`` a child wrote to a stream (its stderr): bounded in bytes."""

    def __init__(self, max_bytes: int = 16 << 10) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        with self._lock:
            self._buf += data
            if len(self._buf) > self.max_bytes:
                del self._buf[: len(self._buf) - self.max_bytes]

    def read_from(self, stream) -> None:
        """Read ``stream`` (binary) to EOF in chunks, keeping the tail."""
        read = getattr(stream, "read1", stream.read)
        try:
            while chunk := read(1 << 16):
                self.feed(chunk)
        except (OSError, ValueError):
            pass

    @property
    def size(self) -> int:
        return len(self._buf)

    def text(self) -> str:
        with self._lock:
            return bytes(self._buf).decode("utf-8", "replace")

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def last_line(self, max_chars: int = 300) -> str:
        """The last non-blank line, clipped (for a one-line error message)."""
        for line in reversed(self.lines()):
            if line.strip():
                line = line.strip()
                return line if len(line) <= max_chars else line[:max_chars] + "..."
        return ""


# ------------------------------------------------------------------------------ parent side
_spawner: concurrent.futures.ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()
_live: "set[Child]" = set()  # until stopped (every owner stops its child when it ends)


class Child:
    """One child process leading its own process group (pgid == pid)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        kill_group(self.pid, sig)

    def stop(self, term_s: float = 0.0) -> int | None:
        """End the child and everything in its group, and reap it. Idempotent, any thread.

        ``term_s`` > 0: SIGTERM first and give it that long to finish cleanly.
        """
        with self._lock:
            proc = self.proc
            if term_s > 0 and proc.poll() is None:
                self.kill_group(signal.SIGTERM)
                try:
                    proc.wait(term_s)
                except subprocess.TimeoutExpired:
                    pass
            self.kill_group(signal.SIGKILL)  # also stragglers when the leader has exited
            try:
                code = proc.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
                code = None
            for stream in (proc.stdin,):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
            _live.discard(self)
            return code


def spawn(module: str, args: list[str] = (), *, stdin=PIPE, stdout=PIPE, stderr=PIPE,
          pass_fds: tuple[int, ...] = (), cwd: str | None = None,
          env: dict[str, str] | None = None) -> Child:
    """Start ``python -P -m module *args`` as the leader of a new process group.

    ``stdin`` defaults to a pipe: its write end closes when we die, one more way for the
    child to notice. ``env`` adds to (does not replace) this process's environment.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env[PARENT_ENV] = str(os.getpid())
    cmd = [*safe_python(), "-m", module, *args]
    kwargs = dict(stdin=stdin, stdout=stdout, stderr=stderr, pass_fds=tuple(pass_fds), cwd=cwd,
                  env=full_env, start_new_session=True)
    proc = _fork_from_long_lived_thread(cmd, kwargs)
    child = Child(proc)
    _live.add(child)
    return child


def _fork_from_long_lived_thread(cmd: list[str], kwargs: dict) -> subprocess.Popen:
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(cmd, **kwargs)
    with _spawner_lock:
        if _spawner is None:
            _spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="coffeeshop-spawner")
    return _spawner.submit(subprocess.Popen, cmd, **kwargs).result()


@atexit.register
def stop_all() -> None:
    """Stop every child :func:`spawn` started that is still running (the last line of defence)."""
    for child in list(_live):  # a copy: stop() discards
        try:
            child.stop()
        except Exception:
            pass


# ------------------------------------------------------------------------------- child side
def child_setup(parent: int | None = None) -> int:
    """Call first in a child's ``main()``: die with the parent; guard the process group.

    Returns the parent's pid (from ``parent``, else the spawner's environment variable).
    """
    if parent is None:
        parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    set_pdeathsig()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    _start_guardian()
    return parent


_GUARDIAN = """
import os, select, signal, sys, time
leader = int(sys.argv[1])
if os.getppid() == leader:
    try:
        fd = os.pidfd_open(leader)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while os.getppid() == leader:
            time.sleep(0.1)
os.killpg(leader, signal.SIGKILL)
"""


def _start_guardian() -> None:
    """Start a process that SIGKILLs our process group once we have exited.

    It is a fresh, isolated interpreter (fork + exec), holding none of our files: the pipes
    we write to reach EOF without it, and it does not look like us in ``ps``.
    """
    me = os.getpid()
    if os.getpgrp() != me:  # not a group leader: the group is not ours to kill
        return
    if os.fork():
        return
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for name in os.listdir("/proc/self/fd"):
            if int(name) > 2:
                try:
                    os.close(int(name))
                except OSError:
                    pass
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", _GUARDIAN, str(me)])
    finally:
        os._exit(1)
