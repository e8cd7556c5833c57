"""What noting wait reasons costs the recorder: traced with reasons vs traced without.

    uv run python bench/wait_reasons_overhead.py [--repeat N]

"Without" swaps ``recorder_hooks._waiting`` (called once per task step that ends awaiting a
future) for a no-op, so the ratio is the cost of ``wait_reasons.classify`` and the two
buffer appends; the one ``task._fut_waiter`` read per pending task step stays in both.
Runs alternate untraced / without / with in one process; medians of the loop thread's CPU
time (steadier than wall time on a shared machine) and of wall time are compared.

Workloads: (a) and (b) of bench/part_overhead.py (10,000 tasks x 10 ``sleep(0)``: no
waits with a reason; 1,000 tasks x 5 ``sleep(0.01)``: every wait a sleep), (c) 20,000
items through an ``asyncio.Queue`` (the consumer waits on ``get``), (d) 2,000 tasks
through a ``Semaphore(5)`` around a 1 ms sleep, (e) 500 tasks taking turns on one ``Lock``.
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from coffeeshop_tui.scenarios import recorder_hooks as _h  # noqa: E402
from coffeeshop_tui.scenarios.recorder import Recorder  # noqa: E402
from part_overhead import workload_a, workload_b  # noqa: E402

WAITING = _h._waiting


def _no_reason(task, t_ns) -> None:
    pass


async def workload_c() -> None:
    q: asyncio.Queue = asyncio.Queue()

    async def produce():
        for i in range(20_000):
            await q.put(i)
            if i % 10 == 0:
                await asyncio.sleep(0)
        await q.put(None)

    async def consume():
        while await q.get() is not None:
            pass

    await asyncio.gather(produce(), consume())


async def workload_d() -> None:
    sem = asyncio.Semaphore(5)

    async def one():
        async with sem:
            await asyncio.sleep(0.001)

    await asyncio.gather(*(one() for _ in range(2_000)))


async def workload_e() -> None:
    lock = asyncio.Lock()

    async def one():
        for _ in range(4):
            async with lock:
                await asyncio.sleep(0)

    await asyncio.gather(*(one() for _ in range(500)))


def run_once(workload, mode: str) -> tuple[float, float]:
    _h.set_waiting(WAITING if mode == "with" else _no_reason)
    loop = asyncio.new_event_loop()
    rec = Recorder() if mode != "untraced" else None
    gc.collect()
    try:
        if rec:
            rec.install(loop)
        t, c = time.perf_counter(), time.thread_time()
        loop.run_until_complete(workload())
        return time.perf_counter() - t, time.thread_time() - c
    finally:
        if rec:
            rec.uninstall()
        loop.close()
        _h.set_waiting(WAITING)


def bench(name: str, workload, repeat: int) -> None:
    modes = ("untraced", "without", "with")
    for m in modes:
        run_once(workload, m)  # warm up
    wall: dict = {m: [] for m in modes}
    cpu: dict = {m: [] for m in modes}
    for _ in range(repeat):
        for m in modes:
            w, c = run_once(workload, m)
            wall[m].append(w)
            cpu[m].append(c)
    med = {m: (statistics.median(wall[m]), statistics.median(cpu[m])) for m in modes}
    print(f"{name}: CPU untraced {med['untraced'][1] * 1000:7.1f} ms, traced without reasons "
          f"{med['without'][1] / med['untraced'][1]:5.3f}x, with {med['with'][1] / med['untraced'][1]:5.3f}x"
          f"  -> reasons cost {med['with'][1] / med['without'][1]:5.3f}x CPU,"
          f" {med['with'][0] / med['without'][0]:5.3f}x wall", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat} alternating runs")
    bench("(a) 10,000 tasks x 10 sleep(0)  ", workload_a, args.repeat)
    bench("(b) 1,000 tasks x 5 sleep(0.01) ", workload_b, args.repeat)
    bench("(c) 20,000 items via a Queue    ", workload_c, args.repeat)
    bench("(d) 2,000 tasks via Semaphore(5)", workload_d, args.repeat)
    bench("(e) 500 tasks x 4 on one Lock   ", workload_e, args.repeat)


if __name__ == "__main__":
    main()
