"""The scenario's source, syntax highlighted, with the line holding the loop marked."""

from __future__ import annotations

import os

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

DARK_THEME = "monokai"
_highlighter_ready = False  # rich.syntax imported (see SourceView._highlighted)
LIGHT_THEME = "friendly"


def top_for(line: int, height: int) -> int:
    """The scroll offset that shows ``line`` (1-based) in ``height`` rows: the top of the
    file if the line shows there, else the line a third of the way down."""
    return 0 if line - 1 < height - 1 else line - 1 - height // 3


class _SourceScroll(VerticalScroll):
    """The source's scroll area: tells its SourceView when its height changes."""

    def on_resize(self, event) -> None:
        parent = self.parent
        if isinstance(parent, SourceView):
            parent._scroll_resized()


class SourceView(Vertical):
    """Read-only source with a title line. ``show(code, path)``, then ``mark_where(where, note)``
    while a step blocks (the line gets ▶ and a red background; the note goes in the title).

    A mark out of view is scrolled to (:func:`top_for`); one in view stays put. When the
    panel's height changes (the layout settling, a panel opening) the marked line is placed
    again by :func:`top_for`, so where it ends up depends on the line and the height, not on
    whether the mark came before the layout settled (a replay's snapshot depended on that)."""

    DEFAULT_CSS = """
    SourceView { height: 1fr; }
    SourceView > .source-title { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    SourceView > VerticalScroll { height: 1fr; }
    SourceView > VerticalScroll > Static { width: auto; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.code = ""
        self.path = ""
        self.line: int | None = None
        self.note = ""
        self.dark = True
        self._base: Text | None = None
        self._title = Static("", classes="source-title", markup=False)
        self._scroll = _SourceScroll()
        self._placed_height = 0  # the scroll area's height when the marked line was placed
        self._static = Static("", id="source-text", markup=False)

    def compose(self) -> ComposeResult:
        yield self._title
        with self._scroll:
            yield self._static

    def show(self, code: str, path: str) -> None:
        path = os.path.abspath(path) if path else ""
        if code == self.code and path == self.path:
            return
        self.code = code
        self.path = path
        self.line = None
        self.note = ""
        self._base = None
        self._render_source()
        self._scroll.scroll_home(animate=False)

    def set_dark(self, dark: bool) -> None:
        if dark != self.dark:
            self.dark = dark
            self._base = None
            self._render_source()

    def mark_where(self, where: str, note: str = "") -> None:
        """Mark the line of ``where`` ('file:line') if it is in this file, else clear."""
        line = None
        if where:
            path, _, num = where.rpartition(":")
            if path and self.path and os.path.abspath(path) == self.path:
                try:
                    line = int(num)
                except ValueError:
                    line = None
        self.mark(line, note if line else "")

    def mark(self, line: int | None, note: str = "") -> None:
        if line == self.line and note == self.note:
            return
        moved = line != self.line
        self.line, self.note = line, note
        self._render_source(lines_changed=moved)
        if line is not None and moved:
            self.call_after_refresh(self._scroll_to_line, line)

    def _scroll_resized(self) -> None:
        height = self._scroll.scrollable_content_region.height
        if self.line is not None and height and height != self._placed_height:
            self.call_after_refresh(self._scroll_to_line, self.line, True)

    def _scroll_to_line(self, line: int, place: bool = False) -> None:
        """Bring ``line`` into view (after the new text is laid out). ``place`` (the height
        changed): put it where it would be if marked now, with the source at its top."""
        if line != self.line:
            return
        height = self._scroll.scrollable_content_region.height
        self._placed_height = height
        height = height or 10
        top = self._scroll.scroll_y
        if place or not (top <= line - 1 < top + height - 1):
            self._scroll.scroll_to(y=top_for(line, height), animate=False)

    def _highlighted(self) -> Text:
        global _highlighter_ready
        if self._base is None:
            if not _highlighter_ready and self.is_mounted:
                # the first frame shows the code plain: Pygments (rich.syntax) takes a good share
                # of the app's launch, so it is imported just after the first frame is drawn
                self.call_after_refresh(self._highlight_now)
                return Text(self.code.rstrip())
            from rich.syntax import Syntax

            _highlighter_ready = True

            syntax = Syntax(self.code, "python", theme=DARK_THEME if self.dark else LIGHT_THEME,
                            background_color="default")
            self._base = syntax.highlight(self.code)
            self._base.rstrip()
        return self._base

    def _highlight_now(self) -> None:
        global _highlighter_ready
        if not _highlighter_ready:
            import rich.syntax  # noqa: F401

            _highlighter_ready = True
            self._base = None
            self._render_source()

    def _title_text(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(os.path.basename(self.path) or "source", style="bold")
        if self.line is not None:
            out.append(f"  ▶\u00a0line\u00a0{self.line}", style="bold red")  # (wraps whole: app.tcss)
            if self.note:
                out.append(f" {self.note}", style="red")
        return out

    def _render_source(self, lines_changed: bool = True) -> None:
        self._title.update(self._title_text())
        if not lines_changed:
            return
        if not self.code:
            self._static.update(Text("(no source)", style="dim"))
            return
        lines = self._highlighted().split("\n", allow_blank=True)
        width = len(str(len(lines)))
        mark_style = Style(bgcolor="#7a1f24" if self.dark else "#ffc8c8", bold=True)
        out = Text(no_wrap=True, overflow="crop", end="")
        for i, text in enumerate(lines, 1):
            if i > 1:
                out.append("\n")
            marked = i == self.line
            out.append(f"{'▶' if marked else ' '}{i:>{width}} ", style="bold red" if marked else "dim")
            if marked:
                text = text.copy()
                text.stylize(mark_style)
            out.append_text(text)
        self._static.update(out)
