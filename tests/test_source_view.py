"""The source panel: where the marked line ends up depends on the line and the panel's
height, not on whether the mark came before or after the layout settled."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from coffeeshop_tui.tui.widgets.source_view import SourceView, top_for

CODE = "\n".join(f"x{i} = {i}" for i in range(1, 41))


class _Rig(App):
    def compose(self) -> ComposeResult:
        yield SourceView()


async def _settled_top(first: tuple[int, int], then: tuple[int, int] | None, line: int):
    """(scroll_y, rows) of the source after marking ``line`` at terminal size ``first``,
    then (if given) resizing the terminal to ``then``."""
    app = _Rig()
    async with app.run_test(size=first) as pilot:
        view = app.query_one(SourceView)
        view.show(CODE, "/tmp/rig.py")
        await pilot.pause()
        view.mark(line, "here")
        await pilot.pause()
        if then is not None:
            await pilot.resize_terminal(*then)
        for _ in range(3):
            await pilot.pause()
        scroll = view._scroll
        return scroll.scroll_y, scroll.scrollable_content_region.height


def test_mark_before_a_resize_ends_where_a_mark_after_it_would():
    for line in (5, 20, 38):
        late = asyncio.run(_settled_top((60, 20), None, line))
        early = asyncio.run(_settled_top((60, 8), (60, 20), line))
        assert early == late, line
        y, rows = late
        assert y == min(top_for(line, rows), len(CODE.splitlines()) - rows), line
        assert y <= line - 1 < y + rows  # and it shows


def test_mark_in_view_does_not_scroll():
    async def go():
        app = _Rig()
        async with app.run_test(size=(60, 20)) as pilot:
            view = app.query_one(SourceView)
            view.show(CODE, "/tmp/rig.py")
            view.mark(30)
            await pilot.pause()
            await pilot.pause()
            y = view._scroll.scroll_y
            view.mark(31)  # the next line: already in view, the source stays put
            await pilot.pause()
            await pilot.pause()
            return y, view._scroll.scroll_y

    before, after = asyncio.run(go())
    assert before > 0 and after == before
