"""Textual's terminal driver, made to let go of a terminal that went away.

When the terminal closes under the app (tmux kill-server, a closed ssh or window), the
kernel hangs the tty up: writes to it fail (EIO), ``isatty`` says no. When the shell that
owned it dies, the kernel then sends the app's process group SIGHUP *and SIGCONT*. Two
things in Textual's :class:`~textual.drivers.linux_driver.LinuxDriver` (8.x) then left the
app alive for good, stuck in ``Queue.put`` (seen with py-spy on the survivors):

- its SIGCONT handler resumes "application mode" although the app was never suspended
  (it is meant for ``fg`` after Ctrl-Z): a second writer thread and a second input thread
  start, the first ones are forgotten (the forgotten input thread read EOF forever);
- its writer thread dies on the first failed write (EIO) and nothing drains its queue
  (30 entries) any more: the app's next writes, at the latest those of its exit (leaving
  application mode, then ``WriterThread.stop`` putting its end marker), block forever.

:class:`HangupSafeDriver` resumes on SIGCONT only after its own SIGTSTP, and writes
through :class:`_TerminalOut`, which drops what cannot be written once the terminal is
gone (so the writer thread keeps draining and stops when asked). :class:`HangupSafe`
makes an app use it wherever Textual would pick ``LinuxDriver``.
"""

from __future__ import annotations

from typing import IO

try:
    from textual.drivers.linux_driver import LinuxDriver
except ImportError:  # pragma: no cover  (Windows: no termios, Textual uses its own driver)
    LinuxDriver = None


class _TerminalOut:
    """The terminal's output file, minus the errors of a terminal that is gone: the first
    failed write or flush marks it gone, and everything after that is dropped."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO / EPIPE, or the file was closed
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.gone = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return not self.gone and self._file.isatty()

    def __getattr__(self, name: str):
        return getattr(self._file, name)


class HangupSafeDriver(LinuxDriver or object):
    """``LinuxDriver`` that survives its terminal going away (see the module's doc)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._file = _TerminalOut(self._file)  # what LinuxDriver's writer thread writes to
        self._stopped_by_tstp = False

    @property
    def terminal_gone(self) -> bool:
        return self._file.gone

    def _sigtstp_application(self, *args) -> None:
        self._stopped_by_tstp = True
        super()._sigtstp_application(*args)

    def _sigcont_application(self, *args) -> None:
        # only the SIGCONT that ends our own stop (``fg``) resumes; the one the kernel sends
        # with SIGHUP when the terminal's shell dies must not start a second writer and reader
        if self._stopped_by_tstp:
            self._stopped_by_tstp = False
            super()._sigcont_application(*args)


class HangupSafe:
    """App mixin: use :class:`HangupSafeDriver` where Textual would use ``LinuxDriver``."""

    def get_driver_class(self):
        cls = super().get_driver_class()
        return HangupSafeDriver if LinuxDriver is not None and cls is LinuxDriver else cls
