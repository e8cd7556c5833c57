"""In-process recorder overhead, traced vs untraced side by side; or one part of the recorder.

    uv run python bench/part_overhead.py [--repeat N] [--part loop-queue]

(``bench/tracer_overhead.py`` measures what users get: a program run with and without
``record``. This one measures the hook in one process, without the drain thread.)

Workloads (from the issue):
  (a) 10,000 tasks x 10 `await asyncio.sleep(0)`   -- the worst case: tiny steps
  (b)  1,000 tasks x  5 `await asyncio.sleep(0.01)` -- a realistic I/O-bound shape
Runs alternate untraced / traced; the ratio of medians is printed (target: a <= 1.5x,
b <= 1.02x), for wall time and for the loop thread's CPU time (steadier on a busy
machine), plus the recorder's bytes per recorded step and the cost of draining.

``--part loop-queue``: the cost of one part of the recorder instead: runs alternate
traced without it / traced with it (``scenarios/loop_queue.py``: selects, timers, fds).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from coffeeshop_tui.scenarios import recorder as _recorder  # noqa: E402
from coffeeshop_tui.scenarios.recorder import Recorder  # noqa: E402


class _NoLoopQueue:
    """Stands in for ``scenarios.loop_queue`` in the recorder: the recorder without that part."""

    @staticmethod
    def install(rec, loop, undo):
        return None


PARTS = {"loop-queue": "_lq"}
_part: str | None = None  # the recorder attribute to stub out in "untraced" runs


async def _sleeper(n: int, delay: float) -> None:
    for _ in range(n):
        await asyncio.sleep(delay)


async def workload_a() -> None:
    await asyncio.gather(*(_sleeper(10, 0) for _ in range(10_000)))


async def workload_b() -> None:
    await asyncio.gather(*(_sleeper(5, 0.01) for _ in range(1_000)))


def run_once(workload, traced: bool) -> tuple[float, float, int, int, float]:
    loop = asyncio.new_event_loop()
    if _part is not None:  # compare the recorder without / with one part
        setattr(_recorder, _part, _recorder.__dict__["_real_" + _part] if traced else _NoLoopQueue)
        traced = True
    rec = Recorder() if traced else None
    gc.collect()
    try:
        if rec:
            rec.install(loop)
        t, c = time.perf_counter(), time.thread_time()
        loop.run_until_complete(workload())
        elapsed, cpu = time.perf_counter() - t, time.thread_time() - c
        steps = nbytes = 0
        drain_s = 0.0
        if rec:
            steps = len(rec._steps) // 3
            nbytes = len(rec._steps) * rec._steps.itemsize
            rec.uninstall()
            t = time.perf_counter()
            rec.drain()
            drain_s = time.perf_counter() - t
        return elapsed, drain_s, steps, nbytes, cpu
    finally:
        if rec:
            rec.uninstall()
        loop.close()


def bench(name: str, workload, repeat: int) -> None:
    run_once(workload, False)  # warm up both paths
    run_once(workload, True)
    base, traced, drains, base_cpu, traced_cpu = [], [], [], [], []
    steps = nbytes = 0
    for _ in range(repeat):
        t, _d, _s, _n, c = run_once(workload, False)
        base.append(t)
        base_cpu.append(c)
        t, d, steps, nbytes, c = run_once(workload, True)
        traced.append(t)
        traced_cpu.append(c)
        drains.append(d)
    b, tr = statistics.median(base), statistics.median(traced)
    cpu = statistics.median(traced_cpu) / statistics.median(base_cpu)
    print(f"{name}: untraced {b * 1000:8.1f} ms   traced {tr * 1000:8.1f} ms   ratio {tr / b:5.3f}x"
          f" (loop thread CPU {cpu:5.3f}x)"
          f"   ({steps} steps, {nbytes / max(steps, 1):.1f} B/step in the buffer,"
          f" drain {statistics.median(drains) * 1000:.1f} ms = {statistics.median(drains) / b:.2f}x of the run)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--part", choices=sorted(PARTS),
                    help="measure one part of the recorder: traced without it vs traced with it")
    args = ap.parse_args()
    global _part
    if args.part:
        _part = PARTS[args.part]
        setattr(_recorder, "_real_" + _part, getattr(_recorder, _part))
        print(f"part {args.part}: 'untraced' = the recorder without it, 'traced' = with it")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat} alternating runs")
    bench("(a) 10,000 tasks x 10 sleep(0)   ", workload_a, args.repeat)
    bench("(b)  1,000 tasks x 5 sleep(0.01) ", workload_b, args.repeat)


if __name__ == "__main__":
    main()
