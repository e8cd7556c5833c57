"""A long open run has more tasks than the timeline draws lanes for (``SnapshotBuilder``'s
``max_task_lanes``, the newest ones): the snapshot says how many it draws of how many the
recording keeps and the whole run made, and the main screen says so wherever what it shows
is of the drawn ones only (the lane order, a paused moment's figures)."""

from types import SimpleNamespace

from coffeeshop_tui.scenarios.explain import moment
from coffeeshop_tui.scenarios.report import summary
from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline
from coffeeshop_tui.tui.app_display import lanes_note

MS = 1_000_000


def _customers(n: int, t0: int = 1_000_000, gap: int = 20 * MS):
    """Batches of an open shop: a main task that makes ``n`` customers, one every ``gap``;
    each runs 1 ms, waits, runs 1 ms again 50 ms later and is done."""
    t = t0
    yield {"t": t, "tasks": [[1, t, "main", "main", "shop.py:1", 0, False]]}
    for k in range(n):
        seq = k + 2
        t += gap
        yield {"tasks": [[seq, t, f"customer {k}", "customer", "shop.py:9", 1, False]],
               "steps": [t, t + 10_000, 1, t + 100_000, t + 1 * MS, seq,
                         t + 50 * MS, t + 51 * MS, seq],
               "waits": [[seq, t + 1 * MS, "sleep", "", "shop.py:12", 0]],
               "done": [[seq, t + 51 * MS, "ok"]], "t": t + 52 * MS}


def _fed(tl: Timeline, n: int) -> Timeline:
    tl.start(1_000_000)
    for batch in _customers(n):
        tl.ingest(batch)
    return tl


def test_the_snapshot_says_how_many_task_lanes_it_draws_of_how_many_tasks():
    tl = _fed(Timeline(), 60)
    snap = SnapshotBuilder(tl, max_task_lanes=20).build()
    assert sum(1 for lane in snap.lanes if lane.kind == "task") == 20
    assert snap.extra["task_lanes"] == {"drawn": 20, "kept": 61, "run": 61}
    everything = SnapshotBuilder(tl).build()  # all drawn: nothing to say
    assert "task_lanes" not in everything.extra
    # after trims the run's count is the whole run's (Timeline.task_counts), the kept ones fewer
    trimmed = _fed(Timeline(max_age_s=0.3), 60)
    b = SnapshotBuilder(trimmed, max_task_lanes=5)
    note = b.build().extra["task_lanes"]
    assert note["drawn"] == 5 and note["kept"] == len(trimmed.tasks) < note["run"] == trimmed.task_counts()[0] == 61


def test_a_live_build_keeps_the_count_as_tasks_come():
    tl = Timeline()
    tl.start(1_000_000)
    b = SnapshotBuilder(tl, max_task_lanes=10)
    for i, batch in enumerate(_customers(30)):
        tl.ingest(batch)
        snap = b.build()
        kept = len(tl.tasks)
        if kept > 10:
            assert snap.extra["task_lanes"] == {"drawn": 10, "kept": kept, "run": kept}, i
        else:
            assert "task_lanes" not in snap.extra


def test_lanes_note_names_the_subset_for_each_order():
    snap = SimpleNamespace(extra={"task_lanes": {"drawn": 2000, "kept": 3412, "run": 9000}})
    assert lanes_note(snap, "newest") == "lanes: the newest 2,000 of 3,412 tasks kept (9,000 in the run)"
    assert lanes_note(snap, "slowest") == "lanes: slowest of the newest 2,000 of 3,412 tasks kept (9,000 in the run)"
    assert lanes_note(snap, "oldest") == "lanes: oldest of the newest 2,000 of 3,412 tasks kept (9,000 in the run)"
    same = SimpleNamespace(extra={"task_lanes": {"drawn": 2000, "kept": 3412, "run": 3412}})
    assert lanes_note(same, "newest") == "lanes: the newest 2,000 of 3,412 tasks"
    assert lanes_note(SimpleNamespace(extra={}), "slowest") == ""


def test_a_paused_moment_with_lanes_not_drawn_says_its_figures_are_of_the_drawn_ones():
    """explain.moment sums the lanes drawn: with tasks not drawn its task count is short of
    the run's, and the main screen's caption of a paused moment says of which tasks it is."""
    tl = _fed(Timeline(), 60)
    snap = SnapshotBuilder(tl, max_task_lanes=20).build()
    stats, _caption = moment(snap, snap.t_end - 0.1, summary(tl))
    assert stats["tasks"] < tl.task_counts()[0]  # the moment counts the drawn lanes only
    assert "newest 20 of 61" in lanes_note(snap, "newest")


def test_the_main_screen_says_which_tasks_have_lanes_and_what_a_paused_moment_counts():
    """An open shop with more tasks than lanes (the app's builder draws the newest 2,000): the
    status row says which tasks have lanes, ``o`` says "slowest of the newest 2,000", and a
    paused moment's caption says its figures are of the drawn tasks."""
    from test_app import choose
    from test_app_fakes import run, text_of

    from coffeeshop_tui.tui.app import create_app
    from coffeeshop_tui.tui.source import CaptureSource

    n = 2100
    batches = []
    for b in _customers(n, gap=2 * MS):  # (a hundred customers a batch, as a busy drain sends them)
        if len(batches) < 2 or len(batches[-1]["tasks"]) >= 100:
            batches.append({k: list(v) if isinstance(v, list) else v for k, v in b.items()})
            continue
        for k, v in b.items():
            batches[-1][k] = batches[-1].get(k, []) + v if isinstance(v, list) else v
    messages = [{"type": "start", "t": 1_000_000, "pid": 0, "scenario": "open-shop", "params": {}}]
    messages += [{"type": "batch", **b} for b in batches]
    messages.append({"type": "end", "t": batches[-1]["t"] + MS, "error": None})
    notes = []

    async def body():
        app = create_app(source_factory=lambda req: CaptureSource(req, messages))
        app.notify = lambda text, **kw: notes.append(text)
        async with app.run_test(size=(160, 40)) as pilot:
            await choose(pilot, "open-shop")
            status = text_of(app.query_one("#status"))
            assert "lanes: the newest 2,000 of 2,101 tasks" in status
            await pilot.press("o", "o")  # slowest first
            assert notes[-1] == "task lanes: slowest first (slowest of the newest 2,000 of 2,101 tasks)"
            assert "lanes: slowest of the newest 2,000" in text_of(app.query_one("#status"))
            await pilot.press("home")  # paused at the start: a moment
            await pilot.pause()
            assert "(tasks: the newest 2,000 drawn, of 2,101 in the run)" in text_of(app.query_one("#caption"))
    run(body)
