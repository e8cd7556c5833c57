"""The child-stream protocol: one JSON object a line, the only encoder and decoder.

The scenario child (``scenarios/child.py``), the server child's recorder events
(``scenarios/web/serve_child.py``), the runner, the server's event reader, capture replay
(``tui/source.py``) and the tests all speak it through this module::

    write(f, {"type": "start", ...})     # or f.write(encode(msg)) on a bytes stream
    for msg in read_messages(f):         # a binary stream; bounded memory per line
        ...
    decode(line) -> dict | None          # one line (bytes or str); None if not a message
    spec_arg(spec) / read_spec(arg)      # the scenario child's spec, its one argument

Message types (``type``): ``start`` (t, pid, scenario, params, ideal), ``batch`` (recorder
data plus ``output``: [t, line] pairs), ``raw`` (a recorder's unresolved batch, with ``rec``
and ``label`` for one recording of several: the reader turns it into its ``batch``, see
``scenarios/resolver.py``; readers never see ``raw``), ``knob`` (t, name, value, ideal), ``knob-error``
(message), ``end`` (t, error), ``error`` (message: the scenario could not start),
``describe`` (scenarios: what a scenario file declares).

Lines are bounded: a reader skips (and counts in ``Reader.skipped``) any line longer than
``MAX_LINE_BYTES``, without ever holding more than that in memory; printed output lines are
clipped by :func:`clip` before they are sent.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
from typing import IO, Iterator

MAX_LINE_BYTES = 32 << 20  # one protocol line (a batch) at most; longer lines are skipped
MAX_OUTPUT_CHARS = 2000  # one printed line is kept up to this many characters
_CHUNK = 1 << 16
DEFER_BYTES = 64 << 20  # batches a reader that looks only at the end holds before decoding them
PIPE_BYTES = 1 << 20  # what a recorder's pipe holds (widen_pipe), and the buffers at its two ends


_PACK_MARK = os.urandom(8).hex()  # placeholders no message text can spell by chance
_B64_CHUNK = 3 << 14  # bytes of packed data encoded at a time (a multiple of 3: no padding between)


def encode_parts(msg: dict) -> list:
    """One message as one line of compact JSON (UTF-8, ending in a newline), in pieces whose
    concatenation is the line. Bytes-like values (a recorder's packed int64 arrays) travel as
    base64 text, spliced in without JSON escaping (base64 needs none) and encoded a chunk at a
    time: a drain of a busy loop is megabytes, and one big string costs the recorded process
    ~10-20 ms more (json.dumps scans it; fresh big buffers page-fault)."""
    packed: list = []

    def default(o):
        if isinstance(o, (bytes, bytearray, memoryview)):
            packed.append(o)
            return f"\x00{_PACK_MARK}{len(packed) - 1}\x00"
        return repr(o)

    line = (json.dumps(msg, separators=(",", ":"), default=default) + "\n").encode("utf-8")
    if not packed:
        return [line]
    b64 = _b64()
    parts = []
    view = memoryview(line)  # slices of it, not copies of the rest of the line at each value
    pos = 0
    for i, data in enumerate(packed):
        mark = b'\\u0000%s%d\\u0000' % (_PACK_MARK.encode(), i)
        at = line.index(mark, pos)
        parts.append(view[pos:at])
        pos = at + len(mark)
        if b64 is not None and type(data) is bytes:  # the compiled hook's columns: without the GIL
            parts.append(b64(data))
            continue
        mv = memoryview(data).cast("B")
        parts.extend(base64.b64encode(mv[j:j + _B64_CHUNK]) for j in range(0, len(mv), _B64_CHUNK))
    parts.append(view[pos:])
    return parts


def _b64():
    """The compiled recorder's base64 (it lets the GIL go: a drain runs on the recorder's
    thread while the program's runs), or None where it is not built."""
    global _B64
    if _B64 is False:
        try:
            from ._fastpath import b64 as _B64
        except ImportError:
            _B64 = None
    return _B64


_B64 = False


def encode(msg: dict) -> bytes:
    """One message as one line of compact JSON (see :func:`encode_parts`)."""
    return b"".join(encode_parts(msg))


def widen_pipe(fd: int, size: int = PIPE_BYTES) -> None:
    """Let a pipe hold up to ``size`` bytes (Linux; elsewhere, or if refused, as it is): a
    recorded program's last batch, sent on its loop thread as the loop stops, then does not
    wait for the parent to read the ones before it."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError, ValueError):
        pass


def spec_arg(spec: dict) -> str:
    """The scenario child's spec (what to run or describe) as its command-line argument."""
    return json.dumps(spec, separators=(",", ":"))


def read_spec(arg: str) -> dict:
    return json.loads(arg)


def decode(line: bytes | str) -> dict | None:
    """One line back to its message; None for a blank line or anything that is not one."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line:
        return None
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) and isinstance(msg.get("type"), str) else None


def clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """A printed line, at most ``limit`` characters, ending in a note of how much was cut."""
    return clipped(text, 0, limit)


def clipped(kept: str, cut: int, limit: int = MAX_OUTPUT_CHARS) -> str:
    """The same for a line of which only the start (``kept``) is at hand: ``cut`` more
    characters followed it. A clipped line is never clipped again."""
    total = len(kept) + cut
    if total <= limit:
        return kept
    keep = max(0, limit - len(f"... [{total} more characters]"))
    return f"{kept[:keep]}... [{total - keep} more characters]"


class Writer:
    """Thread-safe message writer on a binary file (flushes every message)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._lock = threading.Lock()
        self._fd = None  # a real file's descriptor: a message in pieces goes out in one writev
        if hasattr(os, "writev") and isinstance(f, (io.BufferedWriter, io.FileIO)):
            try:
                self._fd = f.fileno()
            except (OSError, ValueError):
                pass

    def send(self, msg: dict) -> None:
        """Raises BrokenPipeError/OSError/ValueError when the reader is gone."""
        parts = encode_parts(msg)
        with self._lock:
            if len(parts) > 1 and self._fd is not None:
                # One system call, not one a 64 KiB buffer: each lets the GIL go and waits to
                # get it back, and the recorder's drains run beside the program's thread.
                self._f.flush()
                _writev_all(self._fd, parts)
                return
            for data in parts:
                self._f.write(data)
            self._f.flush()


def _writev_all(fd: int, parts: list) -> None:
    """Write every piece, in order, with as few ``writev`` calls as the kernel allows."""
    views = [v for v in (memoryview(p).cast("B") for p in parts) if len(v)]
    i = 0
    while i < len(views):
        n = os.writev(fd, views[i:i + _IOV_MAX])
        while n > 0:  # a partial write: skip what went out
            size = len(views[i])
            if n >= size:
                n -= size
                i += 1
            else:
                views[i] = views[i][n:]
                n = 0


try:
    _IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX")))
except (AttributeError, OSError, ValueError):
    _IOV_MAX = 16


_BATCH_LINES = (b'{"type":"raw"', b'{"type":"batch"')  # how encode() starts a batch's line


class Reader:
    """Messages from a binary stream until EOF, never holding a line over ``max_line``.

    ``defer_bytes``: batch lines (``raw`` / ``batch``) are only read and kept, up to that
    many bytes, and decoded (and resolved) just before the next other message (an ``end``),
    at EOF, or when that much is held. For readers that look at the recording only once it
    has ended (``record --json`` / ``--trace`` / ``--save``): while the program runs, its
    recorder's output costs the reader next to nothing, so this process does not compete
    with the recorded program for the CPU (measured: bench/tracer_overhead.py)."""

    def __init__(self, f: IO[bytes], max_line: int = MAX_LINE_BYTES, defer_bytes: int = 0) -> None:
        self._f = f
        self.max_line = max_line
        self.defer_bytes = defer_bytes
        self.skipped = 0  # lines too long, or not messages (blank lines aside)
        self._resolvers = None  # per recording: raw batches -> batches (scenarios/resolver.py)

    def __iter__(self) -> Iterator[dict]:
        readline = self._f.readline
        held: list = []  # deferred batch lines
        n_held = 0
        while True:
            line = readline(self.max_line + 1)
            if not line:
                yield from self._messages(held)
                return
            if len(line) > self.max_line and not line.endswith(b"\n"):
                self.skipped += 1
                while True:  # drop the rest of the overlong line, a chunk at a time
                    rest = readline(_CHUNK)
                    if not rest or rest.endswith(b"\n"):
                        break
                continue
            if self.defer_bytes:
                if line.startswith(_BATCH_LINES):
                    held.append(line)
                    n_held += len(line)
                    if n_held < self.defer_bytes:
                        continue
                    line = b""
                if held:
                    yield from self._messages(held)
                    held, n_held = [], 0
                if not line:
                    continue
            yield from self._messages((line,))

    def _messages(self, lines) -> Iterator[dict]:
        for line in lines:
            msg = decode(line)
            if msg is None:
                self.skipped += bool(line.strip())
                continue
            if msg["type"] == "raw":  # a recorder's raw batch: resolved here, not in the child
                msg = self._resolve(msg)
            yield msg

    def _resolve(self, msg: dict) -> dict:
        if self._resolvers is None:
            from .resolver import Resolvers

            self._resolvers = Resolvers()
        return self._resolvers.batch_message(msg)


def read_messages(f: IO[bytes], max_line: int = MAX_LINE_BYTES, defer_bytes: int = 0) -> Iterator[dict]:
    """Every message on a binary stream, until EOF (see :class:`Reader`)."""
    return iter(Reader(f, max_line, defer_bytes))


def load(path: str) -> list[dict]:
    """Every message in a file (a recorded capture)."""
    with open(path, "rb") as f:
        return list(read_messages(f))


def loads(text: str) -> list[dict]:
    """Every message in a text (a capture read into memory)."""
    return [m for m in map(decode, text.splitlines()) if m is not None]


def dumps(messages: list[dict]) -> str:
    """Messages as the text of a capture file."""
    return "".join(encode(m).decode("utf-8") for m in messages)
