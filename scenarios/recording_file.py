"""Saved recordings (``--save FILE``): the one reader and writer of the file format.

A recording is a gzip'd text file: a header line, then the child's protocol messages
(``scenarios/protocol.py``), one a line, exactly as they arrived::

    {"format": "coffeeshop-recording", "version": 1, "kind": "scenario"|"record"|"load",
     "name": ..., "params": {...}, "block_ms": 25.0, "scenario_file": ..., "created": ...}
    {"type": "start", ...}
    {"type": "batch", ...}
    ...

For ``load`` the messages are the load test's updates in ``scenarios/web/load_replay.py``'s
encoding (``{"type": "load-update", "update": ...}``). Writing streams (memory stays bounded
however long the run); :func:`read` refuses an unknown format or version, and a corrupt file,
with :class:`RecordingError` (a one-line message).
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from dataclasses import dataclass, field

from . import protocol

FORMAT = "coffeeshop-recording"
VERSION = 1
KINDS = ("scenario", "record", "load")


class RecordingError(Exception):
    """The file is not a recording this version can read (a one-line message)."""


@dataclass
class Recording:
    header: dict
    messages: list[dict] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.header["kind"]

    @property
    def name(self) -> str:
        return self.header.get("name") or "recording"

    @property
    def block_ms(self) -> float:
        return float(self.header.get("block_ms") or 25.0)


def header(kind: str, name: str, params: dict | None = None, block_ms: float = 25.0, **extra) -> dict:
    if kind not in KINDS:
        raise ValueError(f"unknown recording kind {kind!r}")
    return {"format": FORMAT, "version": VERSION, "kind": kind, "name": name, "params": params or {},
            "block_ms": block_ms, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}


class Writer:
    """Writes one recording as its messages arrive: ``add(msg)`` from any one thread, then
    ``close()``. Opening the file fails (OSError) before anything runs."""

    def __init__(self, path: str, head: dict) -> None:
        self._f = gzip.open(path, "wb", compresslevel=6)
        self._f.write(json.dumps(head, separators=(",", ":")).encode("utf-8") + b"\n")

    def add(self, msg: dict) -> None:
        self._f.write(protocol.encode(msg))

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def save(path: str, head: dict, messages) -> None:
    with Writer(path, head) as w:
        for msg in messages:
            w.add(msg)


def read(path: str) -> Recording:
    """The recording in ``path``; :class:`RecordingError` if it cannot be read."""
    try:
        with gzip.open(path, "rb") as f:
            first = f.readline(1 << 20)
            try:
                head = json.loads(first)
            except ValueError:
                head = None
            if not isinstance(head, dict) or head.get("format") != FORMAT:
                raise RecordingError(f"{path} is not a coffeeshop-tui recording")
            if head.get("version") != VERSION:
                raise RecordingError(f"{path}: recording version {head.get('version')!r} is not "
                                     f"supported (this coffeeshop-tui reads version {VERSION})")
            if head.get("kind") not in KINDS:
                raise RecordingError(f"{path}: unknown recording kind {head.get('kind')!r}")
            reader = protocol.Reader(f)
            messages = list(reader)
            if reader.skipped:
                raise RecordingError(f"{path} is corrupt ({reader.skipped} unreadable lines)")
    except FileNotFoundError:
        raise RecordingError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise RecordingError(f"{path} is a folder; give a recording file") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise RecordingError(f"{path} is not a coffeeshop-tui recording, or is corrupt ({exc})") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    return Recording(head, messages)
