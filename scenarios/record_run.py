"""Record a user's own asyncio program (a script or ``-m`` module) in a child process.

    run = RecordRun(script="app.py", argv=["--port", "1"], block_ms=25.0)
    with run:                     # starts scenarios/record_child.py; stops it on the way out
        run.wait(timeout)
    run.timeline / run.status / run.returncode (the program's exit status)

A :class:`~coffeeshop_tui.scenarios.runner.ScenarioRun` whose child is
``scenarios/record_child.py``: the same protocol and Timeline, but the messages come on an
extra pipe (the child's ``events_fd``), so the program keeps our stdin, stdout and stderr.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading

from .procs import DEVNULL, PIPE, Tail, spawn
from .protocol import MAX_OUTPUT_CHARS, spec_arg
from .recorder import now_ns
from .runner import ScenarioRun

STDOUT = subprocess.STDOUT
LOOPS = ("auto", "asyncio")  # --loop: record what the program uses, or force the stdlib loop
END_GRACE_S = 30.0  # after its end message, the program's atexit handlers may still run


class RecordError(Exception):
    """What the user asked to record cannot be run (a one-line message)."""


def check_target(script: str | None, module: str | None) -> None:
    """Raise :class:`RecordError` when the script is not a file or the module is not found.

    A module is looked up as ``python -m`` would, from the current folder, without running it
    (only its parent packages are imported)."""
    if script is not None:
        if not os.path.exists(script):
            raise RecordError(f"no such script: {script}")
        if os.path.isdir(script):
            raise RecordError(f"{script} is a folder; give a Python file")
        return
    if not module:
        raise RecordError("-m needs a module name")
    saved = list(sys.path)
    sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        raise RecordError(f"no module named {module!r}") from None
    finally:
        sys.path[:] = saved
    if found is None:
        raise RecordError(f"no module named {module!r}")


def target_name(script: str | None, module: str | None) -> str:
    """How a recorded program is named (reports, saved recordings, the app's list)."""
    return f"-m {module}" if module else os.path.basename(script or "")


class RecordRun(ScenarioRun):
    """One recorded run of a program; ``returncode`` is its exit status once it has ended."""

    what = "the program"

    def __init__(self, script: str | None = None, module: str | None = None, argv: list[str] = (),
                 block_ms: float = 25.0, loop: str = "auto", stdout: int | None = None,
                 capture_output: bool = False, on_update=None) -> None:
        """``stdout``: a file descriptor for the program's stdout (default: ours).
        ``capture_output``: the program's stdout and stderr become the timeline's printed
        output (the app shows them; a terminal that shows the app cannot show them too), and
        their last lines are kept in ``output_tail``; its stdin is then /dev/null."""
        super().__init__(target_name(script, module), {"argv": list(argv)}, None, block_ms,
                         on_update=on_update, load_timeout=None)
        self.script, self.module, self.argv, self.loop = script, module, list(argv), loop
        self.stdout = stdout
        self.capture_output = capture_output
        self.output_tail = Tail()
        self.end_grace = END_GRACE_S
        self.notes: list[str] = []
        self.ended = False  # the child sent its end message (the recording is complete)

        def keep_notes(msg: dict) -> None:
            if msg["type"] == "end":
                self.notes = list(msg.get("notes") or ())
                self.ended = True
        self._tap = keep_notes

    def _launch(self):
        r, w = os.pipe()
        spec = {"script": self.script, "module": self.module, "argv": self.argv,
                "block_ms": self.block_ms, "loop": self.loop, "events_fd": w, "parent": os.getpid()}
        try:
            if self.capture_output:
                streams = dict(stdin=DEVNULL, stdout=PIPE, stderr=STDOUT)
            else:
                streams = dict(stdin=None, stdout=self.stdout, stderr=None)
            child = spawn("coffeeshop_tui.scenarios.record_child", [spec_arg(spec)],
                          pass_fds=(w,), **streams)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        return child, os.fdopen(r, "rb")

    def start(self) -> "RecordRun":
        super().start()
        if self.capture_output:
            threading.Thread(target=self._read_output, name="record-output", daemon=True).start()
        return self

    def _read_output(self) -> None:
        """The program's printed lines, into the timeline (clipped there) and the tail."""
        stream = self._child.proc.stdout
        try:
            for raw in iter(lambda: stream.readline(MAX_OUTPUT_CHARS * 4), b""):
                self.output_tail.feed(raw)
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.lock:
                    self.timeline.ingest({"output": [[now_ns(), line]]})
                self._notify()
        except (OSError, ValueError):
            pass

    def _read(self) -> None:
        user = self.on_message

        def both(msg: dict) -> None:
            self._tap(msg)
            if user is not None:
                user(msg)
        self.on_message = both
        super()._read()
