"""The terminal driver lets go of a terminal that went away (tui/terminal_driver.py).

Closing the terminal under the app (tmux kill-server) left it alive: Textual's writer thread
died on the first EIO, its queue (30 entries) filled and the app's exit blocked forever in
``WriterThread.stop``; and the SIGCONT the kernel sends with SIGHUP made the driver start a
second writer and reader although the app was never suspended."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
import threading

import pytest

pytest.importorskip("termios")

from textual.drivers._writer_thread import MAX_QUEUED_WRITES, WriterThread  # noqa: E402

from coffeeshop_tui.tui.terminal_driver import HangupSafeDriver, _TerminalOut  # noqa: E402


class _GoneTerminal:
    """A hung-up tty: every write and flush fails with EIO."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(errno.EIO, "Input/output error")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")

    def fileno(self) -> int:
        return 2

    def isatty(self) -> bool:
        return False


def _stop_in_time(writer: WriterThread, timeout: float = 10.0) -> bool:
    """Write more than the queue holds, then stop: True if ``stop()`` returned."""
    done = threading.Event()

    def work() -> None:
        for i in range(MAX_QUEUED_WRITES * 3):
            writer.write(f"frame {i}\n")
        writer.stop()
        done.set()

    threading.Thread(target=work, daemon=True).start()
    return done.wait(timeout)


def test_the_writer_thread_keeps_draining_after_the_terminal_went_away():
    out = _TerminalOut(_GoneTerminal())
    writer = WriterThread(out)
    writer.start()
    assert _stop_in_time(writer), "the writer's queue filled: stop() blocked"
    assert out.gone and not writer.is_alive()
    assert out._file.writes == 1  # after the first EIO nothing more is tried


def test_a_plain_writer_on_a_gone_terminal_blocks_its_caller():
    """What the wrapper is for: Textual's writer on the bare file dies, its caller blocks."""
    writer = WriterThread(_GoneTerminal())
    old_hook = threading.excepthook
    threading.excepthook = lambda args: None  # the writer's EIO is expected here
    try:
        writer.start()
        assert not _stop_in_time(writer, timeout=2.0)
    finally:
        threading.excepthook = old_hook
        while not writer._queue.empty():  # let the blocked caller (a daemon thread) finish
            writer._queue.get_nowait()


def test_terminal_out_passes_writes_through_while_the_terminal_is_there(tmp_path):
    with open(tmp_path / "out", "w") as fh:
        out = _TerminalOut(fh)
        assert out.write("abc") == 3
        out.flush()
        assert not out.gone and out.fileno() == fh.fileno()
    assert (tmp_path / "out").read_text() == "abc"


@pytest.fixture
def driver(monkeypatch):
    """A driver (not started) with its process-wide SIGTSTP / SIGCONT handlers undone after."""
    old = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}

    async def make() -> HangupSafeDriver:  # a driver is made inside the app's event loop
        return HangupSafeDriver(app=None)

    d = asyncio.run(make())
    calls: list[str] = []
    monkeypatch.setattr(d, "resume_application_mode", lambda: calls.append("resume"))
    monkeypatch.setattr(d, "suspend_application_mode", lambda: calls.append("suspend"))
    d.calls = calls
    try:
        yield d
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def test_sigcont_without_our_own_stop_does_not_resume(driver):
    assert signal.getsignal(signal.SIGCONT) == driver._sigcont_application
    driver._sigcont_application(signal.SIGCONT, None)  # the kernel's, with SIGHUP
    assert driver.calls == []


def test_sigcont_after_our_own_stop_resumes_once(driver, monkeypatch):
    stops = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: stops.append(sig))  # no real SIGSTOP
    driver._sigtstp_application(signal.SIGTSTP, None)  # Ctrl-Z
    assert stops == [signal.SIGSTOP]
    driver._sigcont_application(signal.SIGCONT, None)  # fg
    driver._sigcont_application(signal.SIGCONT, None)  # a stray one after
    assert driver.calls == ["suspend", "resume"]


def test_the_apps_use_it():
    from coffeeshop_tui.tui.app import CoffeeShopApp
    from coffeeshop_tui.tui.screens.load import LoadTestApp

    if sys.platform == "win32":  # pragma: no cover
        pytest.skip("Textual's Windows driver")
    for cls in (CoffeeShopApp, LoadTestApp):
        assert cls.get_driver_class(cls.__new__(cls)) is HangupSafeDriver
