"""Benchmark: render every visible line of a big live timeline, frame after frame.

    uv run python bench/render.py            # 1,000 lanes, ~100,000 segments, 200x60
    uv run python bench/render.py --frames 300 --lanes 2000 --segments 200000

A synthetic run (an event-loop lane with 20% of the segments, task lanes, a few worker-thread
lanes) is shown in a real ``TimelineView`` inside a headless app. Each frame moves the live
edge by 1/30 s, grows the loop lane and a few task / thread lanes (as ``SnapshotBuilder``
does: new tuples for live lanes, the same tuples for finished ones), calls
``update_snapshot`` and then ``render_line`` for every visible line. Reported: ms per frame
for the update and for the render, in several window modes, plus a cold render (all caches
dropped, as after a zoom). Target: render <= 8 ms per frame in steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult  # noqa: E402

from coffeeshop_tui.scenarios.snapshot import Lane, Segment, Snapshot  # noqa: E402
from coffeeshop_tui.tui.timeline_view import TimelineView  # noqa: E402

FPS = 30
TASK_STATES = ("waiting", "starved", "running", "waiting", "running", "blocked", "thread", "queued")


class Synth:
    """A growing synthetic run."""

    def __init__(self, lanes: int, segments: int, t0: float, seed: int = 1) -> None:
        rnd = self.rnd = random.Random(seed)
        self.t = t0
        n_threads = 9
        n_tasks = lanes - 1 - n_threads
        loop_n = segments // 5
        per_task = (segments - loop_n) // (n_tasks + n_threads)
        # loop lane: short steps with idle gaps, the odd block
        loop: list[Segment] = []
        t = 0.0
        step = t0 / loop_n
        while len(loop) < loop_n:
            d = rnd.expovariate(1 / (step * 0.6))
            st = "blocked" if rnd.random() < 0.002 else ("running" if rnd.random() < 0.8 else "callback")
            if st == "blocked":
                d = max(d, 0.03)
            loop.append(Segment(t, t + d, st, 1, ""))
            t += d + rnd.expovariate(1 / (step * 0.4))
        self.loop = loop
        self.loop_t = t
        self.tasks: list[list[Segment]] = []
        for i in range(n_tasks):
            segs = []
            t = rnd.uniform(0, t0 * 0.1)
            mean = t0 / per_task
            while len(segs) < per_task:
                d = rnd.expovariate(1 / mean)
                segs.append(Segment(t, t + d, rnd.choice(TASK_STATES), i + 2))
                t += d
            self.tasks.append(segs)
        self.threads: list[list[Segment]] = []
        for i in range(n_threads):
            segs = []
            t = 0.0
            mean = t0 / per_task
            while len(segs) < per_task:
                t += rnd.expovariate(1 / mean)
                d = rnd.expovariate(1 / mean)
                segs.append(Segment(t, t + d, "thread", 0, "job"))
                t += d
            self.threads.append(segs)
        self.lane_objs = [Lane("loop", "event loop", "loop", tuple(loop))]
        self.lane_objs += [
            Lane(f"task-{i + 2}", f"Task-{i + 2} (barista)", "task", tuple(s), task=i + 2)
            for i, s in enumerate(self.tasks)
        ]
        self.lane_objs += [
            Lane(f"thread-{i}", f"worker {i}", "thread", tuple(s)) for i, s in enumerate(self.threads)
        ]
        # the live ones: a few visible task lanes and some further down, plus a thread lane
        self.live_tasks = [0, 3, 7, 20, 40, 300, 600, 900]
        self.version = 0

    def total_segments(self) -> int:
        return sum(len(lane.segments) for lane in self.lane_objs)

    def advance(self, dt: float) -> Snapshot:
        rnd = self.rnd
        self.t += dt
        now = self.t
        # the loop gets ~dt/step new steps
        while self.loop_t < now:
            d = rnd.expovariate(1 / 0.002)
            st = "running" if rnd.random() < 0.8 else "callback"
            self.loop.append(Segment(self.loop_t, min(now, self.loop_t + d), st, 1, ""))
            self.loop_t += d + rnd.expovariate(1 / 0.001)
        lanes = list(self.lane_objs)
        lanes[0] = Lane("loop", "event loop", "loop", tuple(self.loop))
        for i in self.live_tasks:
            segs = self.tasks[i]
            last = segs[-1]
            if rnd.random() < 0.3:
                segs.append(Segment(max(last.end, now - dt), now, rnd.choice(TASK_STATES), last.task))
            else:
                segs[-1] = last._replace(end=now)
            lanes[1 + i] = Lane(f"task-{i + 2}", f"Task-{i + 2} (barista)", "task", tuple(segs), task=i + 2)
        th = self.threads[0]
        th.append(Segment(now - dt * 0.5, now, "thread", 0, "job"))
        lanes[-9] = Lane("thread-0", "worker 0", "thread", tuple(th))
        self.lane_objs = lanes
        self.version += 1
        return Snapshot(self.version, True, now, tuple(lanes))


class BenchApp(App):
    CSS = "TimelineView { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield TimelineView()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def bench(args) -> None:
    synth = Synth(args.lanes, args.segments, args.t0)
    snap = synth.advance(0.0)
    print(
        f"timeline: {len(snap.lanes)} lanes, {synth.total_segments():,} segments, "
        f"{args.t0:.0f} s run, terminal {args.width}x{args.height}, {args.frames} frames per mode"
    )
    app = BenchApp()
    async with app.run_test(size=(args.width, args.height)) as pilot:
        view = app.query_one(TimelineView)
        t = time.perf_counter()
        view.update_snapshot(snap)
        first_update = (time.perf_counter() - t) * 1e3
        await pilot.pause()
        height = view.scrollable_content_region.height
        print(f"first update_snapshot (index {synth.total_segments():,} segments): {first_update:.1f} ms")
        print(f"visible lines per frame: {height} (axis + {height - 1} lanes)\n")

        def run_mode(label: str, setup) -> None:
            setup()
            upd, ren = [], []
            for _ in range(args.frames):
                snap = synth.advance(1 / FPS)
                t0 = time.perf_counter()
                view.update_snapshot(snap)
                t1 = time.perf_counter()
                for y in range(height):
                    view.render_line(y)
                t2 = time.perf_counter()
                upd.append((t1 - t0) * 1e3)
                ren.append((t2 - t1) * 1e3)
            w0, w1 = view.window
            print(
                f"{label:<34} render mean {statistics.mean(ren):5.2f}  p50 {pct(ren, .5):5.2f}  "
                f"p95 {pct(ren, .95):5.2f}  max {max(ren):6.2f} ms | update mean "
                f"{statistics.mean(upd):5.2f} p95 {pct(upd, .95):5.2f} ms  "
                f"[{view.seconds_per_cell * 1e3:g} ms/col, {w1 - w0:.1f} s window]"
            )

        def follow(dt: float):
            def setup():
                view.action_zoom_fit()
                view._set_window(0, dt, True)  # a fixed zoom, following the live edge

            return setup

        run_mode("follow live, 10 ms/col", follow(0.01))
        run_mode("follow live, 50 ms/col", follow(0.05))
        run_mode("fit whole run (live)", view.action_zoom_fit)

        def cold():
            # every cache dropped: what a zoom step or a theme change costs once
            times = []
            for _ in range(5):
                view._strips.clear()
                for row in view._order:
                    row.index._cells = []
                t0 = time.perf_counter()
                for y in range(height):
                    view.render_line(y)
                times.append((time.perf_counter() - t0) * 1e3)
            return times

        view.action_zoom_fit()
        view._set_window(0, 0.01, True)
        print(f"\ncold render (no caches), 10 ms/col: {statistics.mean(cold()):.1f} ms")
        view.action_zoom_fit()
        print(f"cold render (no caches), fit:       {statistics.mean(cold()):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, default=1000)
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--t0", type=float, default=60.0, help="run length before the first frame (s)")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--height", type=int, default=60)
    asyncio.run(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
