"""The timeline model: derived states, and memory that stays bounded on long runs."""

import pytest

from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline


def _batch(t0, n_tasks, first_seq):
    tasks, steps, iters = [], [], []
    for k in range(n_tasks):
        seq = first_seq + k
        c = t0 + k * 1000
        tasks.append([seq, c, f"t{seq}", "customer", "f.py:1", 0, False])
        steps += [c + 10, c + 20, seq, c + 500, c + 510, seq]
        iters += [c + 400, c + 490]
    return {"t": t0 + n_tasks * 1000, "tasks": tasks, "steps": steps, "iters": iters,
            "done": [[first_seq + k, t0 + k * 1000 + 510, "ok"] for k in range(n_tasks)]}


def test_states_of_a_task():
    tl = Timeline(block_ms=1)
    tl.start(0)
    tl.ingest({"tasks": [[1, 0, "a", "main", "", 0, False]],
               "steps": [100, 200, 1, 5_000_000, 5_100_000, 1],
               "iters": [300, 4_000_000],
               "done": [[1, 5_100_000, "ok"]]})
    tl.finish(6_000_000)
    assert tl.task_segments(1) == [("starved", 0, 100), ("running", 100, 200),
                                   ("waiting", 200, 4_000_000), ("starved", 4_000_000, 5_000_000),
                                   ("running", 5_000_000, 5_100_000)]


def test_long_runs_stay_bounded():
    tl = Timeline(max_steps=2_000, max_tasks=500)
    tl.start(0)
    builder = SnapshotBuilder(tl)
    seq = 1
    for i in range(100):
        tl.ingest(_batch(i * 100_000, 100, seq))
        seq += 100
        if i % 10 == 0:
            builder.build()
    assert len(tl.tasks) <= 500
    assert len(tl.steps) // 3 <= 2_000
    assert tl.trimmed_before is not None and tl.dropped > 0
    snap = builder.build()
    assert len(snap.lanes) <= 1 + 500
    newest = max(tl.tasks)
    assert newest == seq - 1  # the newest tasks are kept


def test_a_live_run_keeps_its_newest_window():
    tl = Timeline(max_age_s=1e-3)  # keep 1 ms (batches below are 0.1 ms apart)
    tl.start(0)
    seq = 1
    for i in range(100):
        tl.ingest(_batch(i * 100_000, 100, seq))
        seq += 100
    assert tl.trimmed_before is not None
    assert tl.last_ns - tl.trimmed_before <= 1_000_000 * 5 // 4 + 100_000
    # (a kept task keeps when it was made: its time in the system is the whole of it)
    assert all(t.steps[1] >= tl.trimmed_before for t in tl.tasks.values() if t.steps)


def test_a_live_run_keeps_gauges_and_wait_reasons_of_its_window_only():
    """A live server's drains each bring gauges, and its waits name the task awaited (new with
    every request): both go with the trim, not only at the item limits."""
    tl = Timeline(max_age_s=1e-3)
    tl.start(0)
    seq = 1
    for i in range(100):
        b = _batch(i * 100_000, 100, seq)
        b["gauges"] = [[i * 100_000 + 99_000, {"in_flight": i}]]
        b["waits"] = [[q, i * 100_000 + (q - seq) * 1000 + 20, "task", "", "f.py:2", q + 1_000_000]
                      for q in range(seq, seq + 100)]
        tl.ingest(b)
        seq += 100
    assert tl.trimmed_before is not None
    assert tl.gauges and min(t for t, _g in tl.gauges) >= tl.trimmed_before
    assert tl.gauges[-1][1] == {"in_flight": 99}
    kept = {r for t in tl.tasks.values() for r in t.wait_r}
    assert kept and set(tl._reasons) == kept  # (each kept wait's reason still shared)
    assert len(tl._reasons) < 2_000
    last = max(tl.tasks)
    assert tl.wait_reason(last, tl.tasks[last].steps[1])[0] == "task"


def test_a_snapshot_says_from_when_a_trimmed_recording_is_kept():
    tl = Timeline(max_age_s=1e-3)
    tl.start(0)
    builder = SnapshotBuilder(tl)
    tl.ingest(_batch(0, 100, 1))
    assert "kept_from" not in builder.build({"run_id": 1}).extra  # nothing dropped yet
    seq = 101
    for i in range(1, 30):
        tl.ingest(_batch(i * 100_000, 100, seq))
        seq += 100
    snap = builder.build({"run_id": 1})
    assert snap.extra["run_id"] == 1
    assert snap.extra["kept_from"] == pytest.approx(tl.trimmed_before / 1e9)
    assert 0 < snap.extra["kept_from"] < snap.t_end
    # every task lane shown starts at or after it: nothing is drawn from before the cut
    assert min(lane.segments[0].start for lane in snap.lanes if lane.kind == "task") >= snap.extra["kept_from"]


def test_a_snapshot_carries_the_newest_output_and_counts_all_of_it():
    from coffeeshop_tui.scenarios.snapshot import OUTPUT_TAIL, SnapshotBuilder
    from coffeeshop_tui.scenarios.timeline import Timeline

    tl = Timeline()
    tl.start(0)
    builder = SnapshotBuilder(tl)
    n = OUTPUT_TAIL + 50
    tl.ingest({"output": [(i * 1000, f"line {i}") for i in range(n)], "t": n * 1000})
    snap = builder.build()
    assert snap.output_total == n and len(snap.output) == OUTPUT_TAIL
    assert snap.output[-1][1] == f"line {n - 1}" and snap.output[0][1] == f"line {n - OUTPUT_TAIL}"
    tl.ingest({"output": [(n * 1000, "one more")], "t": n * 1000 + 1})
    assert builder.build().output_total == n + 1


def test_running_tasks_figures_grow_and_their_sum_is_each_tasks_while_time_passes():
    import json
    from pathlib import Path

    from coffeeshop_tui.scenarios.timeline import RUNNING, STARVED, WAITING

    capture = Path(__file__).parent / "app_captures" / "open-shop.jsonl"
    tl = Timeline()
    checked = 0
    for line in capture.read_text().splitlines():
        msg = json.loads(line)
        if msg["type"] == "start":
            tl.start(msg["t"])
        elif msg["type"] == "batch":
            tl.ingest(msg)
            for k in range(3):  # the waiting customers' open ends grow with nothing new
                tl.ingest({"t": msg["t"] + k * 5_000_000})
                totals = {seq: tl.task_totals(seq) for seq in tl.tasks}
                # each task's kept (grown) figures are what summing all its segments gives
                assert {q: (t, tl._stats(q)[1]) for q, t in totals.items()} == {
                    q: Timeline._sum_segments(tl.task_segments(q)) for q in tl.tasks}
                parents = {t.parent for t in tl.tasks.values()}
                sums, worst, leaves = tl.figures_sum()
                assert sums == {s: sum(t[s] for t in totals.values()) for s in (RUNNING, WAITING, STARVED)}
                assert worst == tl.max_lag_ns()
                work = [t[RUNNING] + t[WAITING] for q, t in totals.items() if q not in parents]
                assert leaves == (len(work), sum(work), max(work, default=0))
                checked += 1
    assert checked > 10


def test_kept_figures_equal_a_fresh_sum_while_time_passes_and_tasks_change():
    """Timeline.figures (summed as segments close, task by task) and open_counts are what
    summing every task again gives, at every moment of a real open-shop run, also when a
    task holds the loop and after a trim (then of every task of the run: a timeline fed
    the same batches that keeps everything gives them)."""
    import json
    from pathlib import Path

    from coffeeshop_tui.scenarios.explain import open_figures_of
    from coffeeshop_tui.scenarios.report import open_figures

    capture = Path(__file__).parent / "app_captures" / "open-shop.jsonl"
    tl, whole = Timeline(max_tasks=5), Timeline()
    checked = 0

    def fresh_open():
        origin = whole.origin
        parents = {t.parent for t in whole.tasks.values()}
        spans = [((t.created_ns - origin) / 1e9, (t.done_ns - origin) / 1e9 if t.done_ns is not None else None)
                 for seq, t in whole.tasks.items() if seq not in parents]
        return open_figures_of(spans, (whole.now_ns - origin) / 1e9)

    for line in capture.read_text().splitlines():
        msg = json.loads(line)
        if msg["type"] == "start":
            tl.start(msg["t"])
            whole.start(msg["t"])
        elif msg["type"] == "batch":
            tl.ingest(msg)
            whole.ingest(msg)
            for k in range(3):
                if k:
                    tl.ingest({"t": msg["t"] + k * 5_000_000})
                    whole.ingest({"t": msg["t"] + k * 5_000_000})
                assert tl.figures() == tl.figures_sum() == whole.figures_sum()
                got, want = open_figures(tl), fresh_open()
                assert got.keys() == want.keys()
                for key, v in want.items():
                    assert got[key] == pytest.approx(v, abs=2e-3), key
                checked += 1
    assert checked > 10 and tl.trimmed_before is not None


def test_kept_figures_follow_a_task_holding_the_loop():
    tl = Timeline(block_ms=1)
    tl.start(0)
    tl.ingest({"t": 1_000, "tasks": [[1, 0, "a", "main", "", 0, False], [2, 0, "b", "c", "", 1, False]],
               "steps": [10, 20, 1], "iters": [20, 900]})
    for batch in ({"t": 2_000},
                  {"t": 3_000, "iters": [900, 2_500], "samples": [[2_900, "x.py:1", "f", 2]]},  # b holds it
                  {"t": 5_000, "samples": [[4_900, "x.py:1", "f", 2]]},
                  {"t": 6_000, "steps": [2_500, 5_500, 2], "iters": [5_500, 5_900]},
                  {"t": 9_000, "steps": [8_000, 8_100, 2], "done": [[2, 8_100, "ok"]]}):
        tl.ingest(batch)
        assert tl.figures() == tl.figures_sum()
