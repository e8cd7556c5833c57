"""A long live run trims its old recording (``Timeline._trim``): the figures the stats show
(time per state, worst lag, leaves' work, an open system's counts, blocks, tasks) stay the
whole run's. Each test feeds the same batches to a trimming timeline and to one that keeps
everything (the whole run's truth) and asks both the same questions."""

import asyncio
import random
import time

import pytest

from coffeeshop_tui.scenarios.report import open_figures, summary
from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline


def _answers(tl: Timeline) -> dict:
    return {
        "figures": tl.figures(),
        "figures_sum": tl.figures_sum(),
        "open_counts": tl.open_counts(),
        "max_lag": tl.max_lag_ns(),
        "blocks": tl.block_totals(),
        "tasks": tl.task_counts(),
        "busy": tl.busy_ns(),
    }


def _same(trimmed: Timeline, whole: Timeline) -> None:
    got, want = _answers(trimmed), _answers(whole)
    assert got == want
    for seq in trimmed.tasks:  # each kept task's figures are all of it, not what is kept
        assert trimmed.task_totals(seq) == whole.task_totals(seq), seq
    s_got, s_want = summary(trimmed, open_system=True), summary(whole, open_system=True)
    assert s_got == s_want


def _synthetic(seed: int, n_batches: int = 80):
    """Batches of a made-up open system: a long-lived parent that makes customers (each
    waits, is woken by a timer, sometimes starved behind a long step, some live across
    many batches), loop iterations between steps and now and then a block."""
    rng = random.Random(seed)
    t = 1_000_000
    seq = 2
    live: dict[int, int] = {}  # customer -> steps left
    yield {"t": t, "tasks": [[1, t, "main", "main", "shop.py:1", 0, False]]}
    for _ in range(n_batches):
        batch = {"tasks": [], "steps": [], "iters": [], "ready": [], "done": [], "waits": []}
        for _k in range(rng.randint(3, 8)):
            t += rng.randint(50_000, 400_000)  # the loop idles
            batch["iters"] += [t - 40_000, t]
            who = rng.random()
            if who < 0.3 or not live:  # main makes a customer
                batch["tasks"].append([seq, t + 1_000, f"customer {seq}", "customer", "shop.py:9", 1, False])
                live[seq] = rng.randint(1, 6)
                seq += 1
                e = t + rng.choice([5_000, 5_000, 30_000_000])  # sometimes a block
                batch["steps"] += [t, e, 1]
                batch["waits"].append([1, e, "sleep", "", "shop.py:12", 0])
                t = e
            else:  # a customer takes a step (woken by a timer a while ago)
                c = rng.choice(sorted(live))
                woke = t - rng.randint(0, 80_000)
                batch["ready"] += [c, woke]
                e = t + rng.randint(1_000, 20_000)
                batch["steps"] += [t, e, c]
                live[c] -= 1
                if live[c] <= 0:
                    batch["done"].append([c, e, "ok"])
                    del live[c]
                else:
                    batch["waits"].append([c, e, "lock", "`counter`", "shop.py:20", 0])
                t = e
        batch["t"] = t + 10_000
        yield batch


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_figures_after_trims_are_the_whole_runs(seed):
    trimmed, whole = Timeline(block_ms=20, max_age_s=0.02), Timeline(block_ms=20)
    builder = SnapshotBuilder(trimmed)
    trimmed.start(1_000_000)
    whole.start(1_000_000)
    trims = 0
    last_cut = None
    for batch in _synthetic(seed):
        trimmed.ingest(batch)
        whole.ingest(batch)
        if trimmed.trimmed_before != last_cut:
            trims += 1
            last_cut = trimmed.trimmed_before
        for k in range(2):  # and as time passes with nothing new
            if k:
                trimmed.ingest({"t": batch["t"] + 3_000_000})
                whole.ingest({"t": batch["t"] + 3_000_000})
            _same(trimmed, whole)
        snap = builder.build()
        if trimmed.trimmed_before is not None:  # the lanes are drawn from the cut on
            kept = snap.extra["kept_from"]
            assert min(lane.segments[0].start for lane in snap.lanes
                       if lane.kind == "task" and lane.segments) >= kept - 1e-9
    assert trims >= 5
    assert trimmed.gone.tasks > 0 and len(trimmed.tasks) < len(whole.tasks)
    assert trimmed.gone.blocks > 0
    # a task that lived through trims keeps its segments after its cut as they were
    main_w = whole.task_segments(1)
    main_t = trimmed.task_segments(1)
    assert main_t == main_w[len(main_w) - len(main_t):]
    trimmed.finish(batch["t"] + 5_000_000)
    whole.finish(batch["t"] + 5_000_000)
    _same(trimmed, whole)


def test_a_trim_by_task_count_keeps_the_figures_too():
    trimmed, whole = Timeline(block_ms=20, max_tasks=12), Timeline(block_ms=20)
    trimmed.start(1_000_000)
    whole.start(1_000_000)
    for batch in _synthetic(7, 60):
        trimmed.ingest(batch)
        whole.ingest(batch)
        _same(trimmed, whole)
    assert trimmed.trimmed_before is not None and trimmed.gone.tasks > 0


def test_recorded_open_shop_keeps_whole_run_figures_across_trims():
    """A real open system recorded in-process (customers queueing for two baristas, a main
    task that lives through every trim, some brews that block the loop), fed to both."""
    from coffeeshop_tui.scenarios.recorder import Recorder

    async def customer(n, counter, sem):
        async with sem:
            counter[0] += 1
            if n % 7 == 0:
                time.sleep(0.03)  # a block
            else:
                await asyncio.sleep(0.004)

    async def main():
        counter = [0]
        sem = asyncio.Semaphore(2)
        kids = set()
        for n in range(160):
            t = asyncio.create_task(customer(n, counter, sem), name=f"customer {n}")
            kids.add(t)
            t.add_done_callback(kids.discard)
            await asyncio.sleep(0.002)
        await asyncio.gather(*kids)

    trimmed, whole = Timeline(block_ms=20, max_age_s=0.08), Timeline(block_ms=20)
    checked, failed = [], []

    def sink(batch):  # (called on the recorder's thread: what fails is kept and raised below)
        trimmed.ingest(batch)
        whole.ingest(batch)
        if trimmed.trimmed_before is not None:
            try:
                _same(trimmed, whole)
            except AssertionError as e:
                failed.append(e)
            checked.append(trimmed.trimmed_before)

    loop = asyncio.new_event_loop()
    rec = Recorder(sink=sink).install(loop)
    try:
        t0 = time.monotonic_ns()
        trimmed.start(t0)
        whole.start(t0)
        loop.run_until_complete(main())
    finally:
        rec.uninstall()
        sink(rec.drain())
        loop.close()
    if failed:
        raise failed[0]
    t1 = time.monotonic_ns()
    trimmed.finish(t1)
    whole.finish(t1)
    _same(trimmed, whole)
    assert len(set(checked)) >= 2  # compared after more than one trim
    assert trimmed.gone.tasks > 0
    arrived, served, _s, _a = trimmed.open_counts()
    assert arrived == served == 160
    assert open_figures(trimmed) == open_figures(whole)


@pytest.mark.parametrize("seed", [1, 4])
def test_a_paused_moment_after_a_trim_tells_the_whole_run_up_to_then(seed):
    """explain.moment (the paused view's stats) reads the snapshot: after a trim its lanes
    start at the cut, and the snapshot's ``before`` adds the run up to it."""
    from coffeeshop_tui.scenarios.explain import moment

    trimmed, whole = Timeline(block_ms=20, max_age_s=0.02), Timeline(block_ms=20)
    b_trim, b_whole = SnapshotBuilder(trimmed), SnapshotBuilder(whole, max_task_lanes=100_000)
    trimmed.start(1_000_000)
    whole.start(1_000_000)
    checked = 0
    for i, batch in enumerate(_synthetic(seed)):
        trimmed.ingest(batch)
        whole.ingest(batch)
        s_trim, s_whole = b_trim.build(), b_whole.build()
        if i % 10 or trimmed.trimmed_before is None:
            continue
        kept = s_trim.extra["kept_from"]
        stats_w = summary(whole, open_system=True)
        for f in (0.1, 0.5, 0.9):
            t = kept + f * (s_trim.t_end - kept)
            got, _ = moment(s_trim, t, stats_w)
            want, _ = moment(s_whole, t, stats_w)
            assert got.keys() == want.keys()
            for key in ("wall_s", "busy_s", "blocked_s", "blocks", "tasks", "max_lag_s"):
                assert got[key] == pytest.approx(want[key], abs=1e-5), key
            for state, v in want["states_s"].items():
                assert got["states_s"][state] == pytest.approx(v, abs=1e-5), state
            for key, v in want["open"].items():
                assert got["open"][key] == pytest.approx(v, abs=1e-3), key
            checked += 1
        # before the cut the recording says nothing: the moment is the cut's
        assert moment(s_trim, kept / 2, stats_w)[0]["at_s"] == pytest.approx(kept, abs=1e-6)
    assert checked >= 6


@pytest.mark.slow
def test_the_open_shop_scenario_keeps_whole_run_figures_with_a_short_memory():
    """The real open-shop scenario, run as the app runs it (``runner.ScenarioRun``, a child
    process), its timeline keeping only 0.4 s (``runner.KEEP_S`` keeps 120 s): after every
    message its figures are those of a timeline fed the same messages that keeps all."""
    from coffeeshop_tui.scenarios.runner import DONE, ScenarioRun

    run = ScenarioRun("open-shop", {"rate": 40.0, "baristas": 2, "brew_s": 0.04, "duration_s": 2.5})
    run.timeline = trimmed = Timeline(block_ms=run.block_ms, max_age_s=0.4)
    whole = Timeline(block_ms=run.block_ms)
    failed, cuts = [], set()

    def on_message(msg):  # (before the run's timeline takes it: both have had the same)
        try:
            if trimmed.trimmed_before is not None:
                cuts.add(trimmed.trimmed_before)
                _same(trimmed, whole)
        except AssertionError as e:
            failed.append(e)
        if msg["type"] == "batch":
            whole.ingest(msg)
        elif msg["type"] == "start":
            whole.start(msg["t"])
        elif msg["type"] == "end":
            whole.finish(msg["t"])

    run.on_message = on_message
    try:
        run.start()
        time.sleep(1.0)
        run.set_knob("blocking", True)  # brews that block the loop: blocks and lag
        assert run.wait(60)
    finally:
        run.stop()
    assert run.status == DONE, run.error
    if failed:
        raise failed[0]
    with run.lock:
        _same(trimmed, whole)
        assert len(cuts) >= 3 and trimmed.gone.tasks > 0 and trimmed.gone.blocks > 0
        o = summary(trimmed, open_system=True)["open"]
        assert o["arrived"] == o["served"] > 50  # every customer of the run, not of the window
