"""What every subcommand of ``coffeeshop-tui`` shares: exit codes and one-line errors.

The command-line modules (``cli``, ``cli_load``) both import this; neither imports the other's
internals, so there is no import cycle.
"""

from __future__ import annotations

import argparse
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
