"""SnapshotBuilder grows the lanes of unfinished tasks instead of rebuilding them; what it
builds must be exactly what a fresh builder makes from the same recording."""

import json
from pathlib import Path

from coffeeshop_tui.scenarios.explain import series
from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline

CAPTURE = Path(__file__).parent / "app_captures" / "open-shop.jsonl"


def _lanes(snap):
    return [(lane.key, lane.label, lane.kind, lane.parent, lane.segments) for lane in snap.lanes]


_MEMO: dict = {}


def _check(tl, builder):
    grown = builder.build()
    fresh = SnapshotBuilder(tl).build()
    assert _lanes(grown) == _lanes(fresh)
    assert grown.t_end == fresh.t_end
    # the states the builders kept as they built the lanes (the legend's): every one drawn
    drawn = {seg.state for lane in fresh.lanes for seg in lane.segments}
    assert fresh.states == drawn and grown.states >= drawn
    # the lanes as built: the open ones (waiting now) reach t_end once closed
    assert [lane.to(fresh.t_end) for lane in fresh.raw_lanes] == list(fresh.lanes)
    # the lag series from the grown lanes, each looked through once, is the one from scratch
    assert series(grown, memo=_MEMO) == series(fresh)
    return grown


def test_grown_lanes_equal_fresh_ones_over_a_real_open_shop_run():
    messages = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    tl = Timeline()
    builder = SnapshotBuilder(tl)
    reused = 0
    prev = None
    for msg in messages:
        if msg["type"] == "start":
            tl.start(msg["t"])
        elif msg["type"] == "batch":
            tl.ingest(msg)
            # time passes with nothing new: only the open ends of the waiting lanes move
            for k in (1, 2):
                tl.ingest({"t": msg["t"] + k * 7_000_000})
                snap = _check(tl, builder)
                if prev is not None:
                    reused += sum(1 for a, b in zip(prev.lanes, snap.lanes) if a.segments[:-1] == b.segments[:-1]
                                  and a.segments[-1].end < b.segments[-1].end)
                prev = snap
            prev = _check(tl, builder)
        elif msg["type"] == "end":
            tl.finish(msg["t"])
            _check(tl, builder)
    assert reused > 0  # the capture does have customers waiting while time passes


def test_a_lane_is_rebuilt_when_its_task_gets_a_step_a_job_or_finishes():
    tl = Timeline(block_ms=1)
    tl.start(0)
    builder = SnapshotBuilder(tl)
    tl.ingest({"t": 1_000, "tasks": [[1, 0, "a", "main", "", 0, False], [2, 0, "b", "c", "", 1, False]],
               "steps": [10, 20, 1], "iters": [20, 900]})
    _check(tl, builder)
    tl.ingest({"t": 2_000})
    _check(tl, builder)
    tl.ingest({"t": 3_000, "steps": [2_500, 2_600, 2], "iters": [2_600, 2_900]})  # b's first step
    _check(tl, builder)
    tl.ingest({"t": 9_000, "jobs": [["pool", "w|1", 3_000, 4_000, 8_000, 2, "job"]]})  # b's thread job
    _check(tl, builder)
    tl.ingest({"t": 12_000})
    snap = _check(tl, builder)
    assert [s.state for s in snap.lane("task-2").segments][-3:] == ["queued", "thread", "waiting"]
    tl.ingest({"t": 13_000, "steps": [12_500, 12_700, 2], "done": [[2, 12_700, "ok"]]})
    _check(tl, builder)
    tl.finish(14_000)
    _check(tl, builder)


def test_running_tasks_figures_equal_a_fresh_sum():
    """Timeline keeps a running task's closed figures and adds its open end: the same
    totals and worst starved time as summing its segments again."""
    messages = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    tl = Timeline()
    checked = 0
    for msg in messages:
        if msg["type"] == "start":
            tl.start(msg["t"])
        elif msg["type"] == "batch":
            tl.ingest(msg)
            for k in (0, 1, 2):
                if k:
                    tl.ingest({"t": msg["t"] + k * 7_000_000})
                for seq in tl.tasks:
                    want = Timeline._sum_segments(tl.task_segments(seq))
                    assert (tl.task_totals(seq), tl._stats(seq)[1]) == (want[0], want[1])
                    checked += tl.tasks[seq].done_ns is None
    assert checked > 10


def test_new_steps_extend_a_running_lane_from_where_it_was(monkeypatch):
    """A running task that gets new steps is walked from its new steps on, not whole."""
    calls = []
    real = Timeline.task_segments

    def spy(self, seq, since_pair=0):
        calls.append(since_pair)
        return real(self, seq, since_pair)

    monkeypatch.setattr(Timeline, "task_segments", spy)
    test_grown_lanes_equal_fresh_ones_over_a_real_open_shop_run()
    assert any(k > 0 for k in calls)


def test_time_passing_costs_no_lane(monkeypatch):
    """While nothing happens to a waiting task its lane is the same object, open (it reaches
    each snapshot's t_end): a build where only time passed builds no lane (but the one of a
    task holding the loop), and the view's rows see the same lanes."""
    messages = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    tl = Timeline()
    builder = SnapshotBuilder(tl)
    built = []
    real = SnapshotBuilder._lane_of

    def spy(self, seq, *args):
        built.append(seq)
        return real(self, seq, *args)

    monkeypatch.setattr(SnapshotBuilder, "_lane_of", spy)
    shared = 0
    for msg in messages:
        if msg["type"] == "start":
            tl.start(msg["t"])
        elif msg["type"] == "batch":
            tl.ingest(msg)
            before = builder.build()
            tl.ingest({"t": msg["t"] + 7_000_000})
            built.clear()
            again = set(builder._again)  # (lanes that did not end open: a held step's)
            after = builder.build()
            held = {after.holding[0]} if after.holding else set()
            assert set(built) <= held | again
            opened = [a for a, b in zip(before.raw_lanes, after.raw_lanes) if a is b and a.open]
            shared += len(opened)
            for lane in opened:
                assert after.lane(lane.key).segments[-1].end == after.t_end
    assert shared > 0
