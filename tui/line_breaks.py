"""Where the TUI's text may wrap: never between a number and what it counts or measures.

Every wrapped text on screen (Textual's ``Content``, Rich's ``Text`` and tables) is divided
into lines by one function, ``rich._wrap.divide_line``, which splits the text into "words" with
the pattern ``rich._wrap.re_word``. That pattern breaks at any whitespace, so a caption could
end a line with "100" and start the next with "ms", and a no-break space (U+00A0, which the
legend uses between a glyph and its word) broke like any space (Rich issues #3545 and #4196).

:func:`install` swaps in one pattern (:data:`WORD`) under which a word also takes:

* the figures in front of it, each followed by one space: ``100 ms``, ``3.00 s``, ``0 blocks``,
  ``41 users``, ``≈ 10 × 1.00 s`` wraps only before ``≈``, after ``×`` or after ``s``;
* no-break spaces (a no-break space joins, as in every typesetting system).

The rule lives here only: the text-making code (``scenarios/explain.py``: ``fmt_s``, ``plural``
and every f-string figure) stays plain text, also for the CLI and ``--json``. (Presentation
code joins a label to its figure with a no-break space where both must stay on one row:
``server pid 4242``, ``p99 6.01 s``.) Measuring and
drawing agree (``widgets/quiet.update_static`` measures with the same function).
:func:`number_cut` is the check the tests use on rendered lines.
"""

from __future__ import annotations

import re

import rich._wrap

_BREAK = r"[^\S\xa0]"  # whitespace a line may break at (not a no-break space)
_INK = r"[\S\xa0]"  # what a word is made of (a no-break space joins its neighbours)
#: a figure: 3, 1.00, 2,000, 95%, -1, (3, ≈10, ~2, <1, p50 is not one (a word)
FIGURE = r"[(\[~≈<>+\-]?\d[\d.,:]*%?"
#: a word: the figures in front of it (each with one space after it), the word, the spaces after it
WORD = re.compile(rf"{_BREAK}*(?:{FIGURE} (?={_INK}))*{_INK}+{_BREAK}*")
_FIGURE_AT_END = re.compile(rf"(?:^|\s){FIGURE}$")


def install() -> None:
    """Make every wrap in this process follow :data:`WORD` (idempotent)."""
    rich._wrap.re_word = WORD


def number_cut(lines: list[str]) -> str | None:
    """The first wrapped line (of consecutive rendered ``lines``, each stripped of padding)
    that ends with a bare figure while the next line goes on with text, else None."""
    for line, nxt in zip(lines, lines[1:]):
        line, nxt = line.rstrip(), nxt.strip()
        if line and nxt and _FIGURE_AT_END.search(line) and nxt[0].isalpha():
            return f"{line!r} / {nxt!r}"
    return None

