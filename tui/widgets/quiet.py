"""Update a Static without a screen-wide layout pass unless its height changes.

``Static.update`` lays out the whole screen by default (its size may have changed): on a
screen updated 20 times a second that reflow costs more than drawing the timeline. A status
line, a caption or a stats table that keeps its number of lines needs only a repaint.
"""

from __future__ import annotations

from textual.widgets import Static


def update_static(widget: Static, content) -> None:
    """``widget.update(content)``: skipped if the content is the same; a layout pass only if
    the rendered height (at the widget's width) changes."""
    if getattr(widget, "_quiet_content", None) is not None and widget._quiet_content == content:
        return
    width = widget.content_region.width if widget.is_mounted else 0
    height = None
    if width > 0 and content is not None:
        try:
            console = widget.app.console
            height = len(console.render_lines(content, console.options.update_width(width), pad=False))
        except Exception:  # a renderable Rich cannot measure here: lay out to be safe
            height = None
    same = height is not None and height == getattr(widget, "_quiet_height", None)
    widget._quiet_content = content
    widget._quiet_height = height
    widget.update(content, layout=not same)
