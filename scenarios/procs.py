"""Child-process plumbing shared by the scenario runner and the web server."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def set_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent (the thread that forked it) dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a whole process group (a child started with start_new_session: pgid == pid)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def safe_python() -> list[str]:
    """The interpreter command for a child: ``-P`` keeps the current folder off ``sys.path``.

    Nothing from the user's folder is imported unless asked for (``--app``, a scenario file):
    a ``selectors.py`` or ``scenarios/`` package there cannot shadow the stdlib or ours.
    """
    return [sys.executable, "-P"]
