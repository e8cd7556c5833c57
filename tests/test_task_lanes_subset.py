"""A long open run has more tasks than the timeline draws lanes for (``SnapshotBuilder``'s
``max_task_lanes``, the newest ones): the older tasks' lanes are built too (``hidden``, a
chunk a build), so a paused moment's figures are every kept task's and the oldest / slowest
order picks from every task; the snapshot says how many it draws of how many the recording
keeps and the whole run made, and the main screen says which ones it draws."""

from types import SimpleNamespace

from coffeeshop_tui.scenarios.explain import moment
from coffeeshop_tui.scenarios.report import summary
from coffeeshop_tui.scenarios import snapshot as snapshot_mod
from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline
from coffeeshop_tui.tui.app_display import DisplayMixin, lanes_note

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


def _open_shop_run(n: int) -> tuple[list, list]:
    """The batches of ``n`` customers (a hundred a batch, as a busy drain sends them) and the
    messages of a whole open-shop run that carries them, for the app."""
    batches: list = []
    for b in _customers(n, gap=2 * MS):
        if len(batches) < 2 or len(batches[-1]["tasks"]) >= 100:
            batches.append({k: list(v) if isinstance(v, list) else v for k, v in b.items()})
            continue
        for k, v in b.items():
            batches[-1][k] = batches[-1].get(k, []) + v if isinstance(v, list) else v
    messages = [{"type": "start", "t": 1_000_000, "pid": 0, "scenario": "open-shop", "params": {}}]
    messages += [{"type": "batch", **b} for b in batches]
    messages.append({"type": "end", "t": batches[-1]["t"] + MS, "error": None})
    return batches, messages


def _fed(tl: Timeline, n: int) -> Timeline:
    tl.start(1_000_000)
    for batch in _customers(n):
        tl.ingest(batch)
    return tl


def test_the_snapshot_says_how_many_task_lanes_it_draws_of_how_many_tasks():
    tl = _fed(Timeline(), 60)
    snap = SnapshotBuilder(tl, max_task_lanes=20).build()
    assert sum(1 for lane in snap.lanes if lane.kind == "task") == 20
    assert snap.extra["task_lanes"] == {"drawn": 20, "built": 61, "kept": 61, "run": 61}
    assert len(snap.hidden) == 41 and [lane.task for lane in snap.hidden] == list(range(1, 42))
    everything = SnapshotBuilder(tl).build()  # all drawn: nothing to say
    assert "task_lanes" not in everything.extra
    # after trims the run's count is the whole run's (Timeline.task_counts), the kept ones fewer
    trimmed = _fed(Timeline(max_age_s=0.3), 60)
    b = SnapshotBuilder(trimmed, max_task_lanes=5)
    note = b.build().extra["task_lanes"]
    assert note["drawn"] == 5 and note["built"] == note["kept"] == len(trimmed.tasks) < note["run"]
    assert note["run"] == trimmed.task_counts()[0] == 61


def test_a_live_build_keeps_the_count_as_tasks_come():
    tl = Timeline()
    tl.start(1_000_000)
    b = SnapshotBuilder(tl, max_task_lanes=10)
    for i, batch in enumerate(_customers(30)):
        tl.ingest(batch)
        snap = b.build()
        kept = len(tl.tasks)
        if kept > 10:
            assert snap.extra["task_lanes"] == {"drawn": 10, "built": kept, "kept": kept, "run": kept}, i
        else:
            assert "task_lanes" not in snap.extra


def test_older_lanes_are_built_a_chunk_a_build(monkeypatch):
    """After a first build (or a trim) with more tasks than it draws, each build adds at most
    BACKFILL older lanes; the drawn ones stay the newest."""
    monkeypatch.setattr(snapshot_mod, "BACKFILL", 7)
    tl = _fed(Timeline(), 40)
    b = SnapshotBuilder(tl, max_task_lanes=10)
    built = []
    for _ in range(6):
        snap = b.build()
        built.append(snap.extra["task_lanes"]["built"])
        assert [lane.task for lane in snap.lanes if lane.kind == "task"] == list(range(32, 42))
        assert len(snap.hidden) == built[-1] - 10
    assert built == [17, 24, 31, 38, 41, 41]
    assert [lane.task for lane in snap.hidden] == list(range(1, 32))


def test_lanes_note_names_the_tasks_drawn_for_each_order():
    snap = SimpleNamespace(extra={"task_lanes": {"drawn": 2000, "built": 3412, "kept": 3412, "run": 9000}})
    assert lanes_note(snap, "newest") == "lanes: the newest 2,000 of 3,412 tasks kept (9,000 in the run)"
    assert lanes_note(snap, "slowest") == "lanes: the slowest 2,000 of 3,412 tasks kept (9,000 in the run)"
    assert lanes_note(snap, "oldest") == "lanes: the oldest 2,000 of 3,412 tasks kept (9,000 in the run)"
    building = SimpleNamespace(extra={"task_lanes": {"drawn": 2000, "built": 2500, "kept": 3412, "run": 3412}})
    assert lanes_note(building, "newest") == "lanes: the newest 2,000 of 3,412 tasks"
    assert lanes_note(building, "slowest") == "lanes: the slowest 2,000 of the newest 2,500 of 3,412 tasks"
    assert lanes_note(SimpleNamespace(extra={}), "slowest") == ""


def test_a_paused_moment_counts_every_task_not_only_those_drawn():
    """explain.moment sums every lane built (``Snapshot.all_lanes``): with lanes for the newest
    20 tasks only it says what a snapshot drawing all of them says."""
    tl = _fed(Timeline(), 60)
    few, every = SnapshotBuilder(tl, max_task_lanes=20).build(), SnapshotBuilder(tl, max_task_lanes=1000).build()
    whole = summary(tl, open_system=True)
    for f in (0.2, 0.5, 0.9, 1.0):
        t = f * every.t_end
        got, cap_got = moment(few, t, whole)
        want, cap_want = moment(every, t, whole)
        assert got == want and cap_got == cap_want
    assert moment(few, every.t_end, whole)[0]["tasks"] == 61


def test_oldest_and_slowest_pick_from_every_task_lane():
    """The view draws as many lanes as the snapshot has; oldest / slowest first pick them from
    the hidden ones too (the slowest of an open shop: its main task, its longest waits)."""
    tl = _fed(Timeline(), 60)
    snap = SnapshotBuilder(tl, max_task_lanes=20).build()
    raw = snap.raw_lanes
    oldest = DisplayMixin._picked(snap, raw, snap.hidden, "oldest")
    assert [lane.task for lane in oldest.lanes if lane.kind == "task"] == list(range(1, 21))
    slowest = [lane for lane in DisplayMixin._picked(snap, raw, snap.hidden, "slowest").lanes if lane.kind == "task"]
    assert len(slowest) == 20 and slowest[0].task == 1  # main: there from the start to the end
    spans = [lane.segments[-1].end - lane.segments[0].start for lane in slowest]
    every = sorted((lane.segments[-1].end - lane.segments[0].start for lane in snap.all_lanes if lane.kind == "task"),
                   reverse=True)
    assert spans == every[:20]
    assert oldest.lanes[0].kind == "loop"
    for picked in (oldest, DisplayMixin._picked(snap, raw, snap.hidden, "slowest")):  # every lane, once
        assert sorted(lane.task for lane in picked.all_lanes if lane.kind == "task") == list(range(1, 62))


def test_the_main_screen_says_which_tasks_have_lanes_and_what_a_paused_moment_counts():
    """An open shop with more tasks than lanes (the app's builder draws the newest 2,000): the
    status row says which tasks have lanes, ``o`` draws the slowest of them all (main first)
    and says so, and a paused moment counts every task."""
    from test_app import choose
    from test_app_fakes import run, text_of

    from coffeeshop_tui.tui.app import create_app
    from coffeeshop_tui.tui.source import CaptureSource

    n = 2100
    batches, messages = _open_shop_run(n)
    notes = []

    async def body():
        app = create_app(source_factory=lambda req: CaptureSource(req, messages))
        app.notify = lambda text, **kw: notes.append(text)
        async with app.run_test(size=(160, 40)) as pilot:
            await choose(pilot, "open-shop")
            status = text_of(app.query_one("#status"))
            assert "lanes: the newest 2,000 of 2,101 tasks" in status
            await pilot.press("o", "o")  # slowest first
            assert notes[-1] == "task lanes: slowest first (the slowest 2,000 of 2,101 tasks)"
            assert "lanes: the slowest 2,000 of 2,101 tasks" in text_of(app.query_one("#status"))
            drawn = [lane.task for lane in app.query_one("#timeline").snapshot.lanes if lane.kind == "task"]
            assert len(drawn) == 2000 and drawn[0] == 1  # main, hidden among the newest 2,000
            await pilot.press("home")  # paused (at the start), then halfway: a moment
            t = app.latest.snapshot.t_end / 2
            app._set_view_time(t)
            await pilot.pause()
            stats, _caption = app._moment()
            created = sum(1 for b in batches for task in b.get("tasks", ()) if (task[1] - 1_000_000) / 1e9 <= t)
            assert stats["tasks"] == created > 1000  # every task by then, not only those drawn
    run(body)


def test_the_task_table_lists_every_task_and_a_jump_draws_an_undrawn_ones_lane():
    """The task table (``a``) lists every task lane built, also those older than the lanes
    drawn; choosing one of those draws its lane (first) and puts the cursor on it."""
    from test_app import choose
    from test_app_fakes import run

    from coffeeshop_tui.tui.app import create_app
    from coffeeshop_tui.tui.source import CaptureSource
    from coffeeshop_tui.tui.timeline_view import TimelineView
    from coffeeshop_tui.tui.widgets.task_table import TaskTableScreen

    n = 2100
    _batches, messages = _open_shop_run(n)

    async def body():
        app = create_app(source_factory=lambda req: CaptureSource(req, messages))
        async with app.run_test(size=(160, 40)) as pilot:
            await choose(pilot, "open-shop")
            for _ in range(50):  # (older lanes are built a chunk a build)
                if not app.query_one(TimelineView).snapshot.extra.get("task_lanes", {}).get("built", 0) < n + 1:
                    break
                await pilot.pause(0.05)
            view = app.query_one(TimelineView)
            drawn = {lane.key for lane in view.snapshot.lanes if lane.kind == "task"}
            await pilot.press("a")
            screen = app.screen
            assert isinstance(screen, TaskTableScreen)
            rows = screen.shown_rows()
            assert len(rows) == n + 1  # every task, not only the 2,000 drawn
            old = next(r for r in rows if r.key not in drawn)
            screen.dismiss(old)
            await pilot.pause()
            assert not isinstance(app.screen, TaskTableScreen)
            assert view.cursor_lane is not None and view.cursor_lane.key == old.key
            tasks = [lane for lane in view.snapshot.lanes if lane.kind == "task"]
            assert len(tasks) == 2000 and tasks[0].key == old.key  # drawn, the lane count kept
    run(body)
