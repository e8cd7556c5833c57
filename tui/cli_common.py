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
