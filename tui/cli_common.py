"""What every subcommand of ``coffeeshop-tui`` shares: exit codes and one-line errors.

The command-line modules (``cli``, ``cli_load``) both import this; neither imports the other's
internals, so there is no import cycle.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

PROG = "coffeeshop-tui"
EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``coffeeshop-tui: error: ...`` and exit 2, no usage dump."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message}\n")


def fail(message: str) -> int:
    """Print a one-line error for a user's mistake; return the usage exit status."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (``nan``, ``inf``, ``0`` and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def seconds_at(text: str) -> float:
    """An argparse type: a moment of a run in seconds, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds into the run (a number >= 0), got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds into the run (a finite number >= 0), got {text!r}")
    return value


LOOP_AT_HELP = ("with --json: also print what the event loop held S seconds into the run (ready "
                "queue, next timers, what select waited on) as the document's 'loop_at'")


def loop_at_problem(args) -> str | None:
    """Why ``--loop-at`` cannot be used as given (it goes with --json), or None."""
    if getattr(args, "loop_at", None) is not None and not args.json:
        return "--loop-at goes with --json (it adds 'loop_at' to the JSON document)"
    return None


def add_loop_at(doc: dict, timeline, args) -> str | None:
    """``doc["loop_at"]``: the loop at ``args.loop_at`` s (``report.loop_moment_doc``); the
    one-line problem if that time is outside the run, else None."""
    if getattr(args, "loop_at", None) is None:
        return None
    from coffeeshop_tui.scenarios.report import loop_moment_doc

    try:
        doc["loop_at"] = loop_moment_doc(timeline, args.loop_at)
    except ValueError as exc:
        return str(exc)
    return None


def check_trace(path: str, option: str = "--trace") -> str | None:
    """Why the output file of ``option`` (--trace, --save) cannot be written, or None; creates it
    (empty) if it is missing."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return f"{option}: {path} is a folder; give a file name"
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"{option}: folder does not exist: {folder}"
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        return f"{option}: cannot write {path}: {exc.strerror or exc}"
    return None


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Terminated(KeyboardInterrupt):
    """SIGTERM / SIGHUP: unwinds like Ctrl-C, so every child is stopped on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
