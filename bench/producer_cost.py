"""CPU the producer thread spends building updates for a live open-shop run, over time.

    uv run python bench/producer_cost.py --seconds 60 --rate 12     # ~ minute 3+ at rate 4 by t=30 s

Runs open-shop for real (a child process, as the app does) and pulls updates from the
app's own ``RunnerSource.updates()`` (snapshot every update, stats/caption a few times a
second), timing each build with the thread's CPU clock. Prints, per interval: builds, mean
ms per build, and the producer's share of one core. Open-shop with too few baristas keeps
more customers in the shop every second (rate - 2/s), so a higher ``--rate`` reaches the
state of a long run (hundreds of waiting customers) sooner: the shortened horizon. The goal
(issue 10.8): the share does not grow with the run's length.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coffeeshop_tui.scenarios.catalog import all_scenarios  # noqa: E402
from coffeeshop_tui.tui.source import RunnerSource, RunRequest  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=12.0, help="customers per second (open-shop's knob)")
    args = ap.parse_args()
    sc = {s.name: s for s in all_scenarios()}["open-shop"]
    params = sc.resolve({**sc.defaults(), "rate": args.rate})
    source = RunnerSource(RunRequest(1, sc, params))
    source.start()
    print(f"open-shop rate={args.rate:g}/s; producer CPU per {args.every:g} s")
    t0 = last = time.monotonic()
    cpu = n = 0
    try:
        it = source.updates()
        while True:
            c0 = time.thread_time()
            upd = next(it)
            cpu += time.thread_time() - c0
            n += 1
            now = time.monotonic()
            if now - last >= args.every:
                tasks = sum(1 for lane in upd.snapshot.lanes if lane.kind == "task")
                print(f"  t={now - t0:5.0f} s  {tasks:5d} task lanes  {n:4d} builds  "
                      f"{1000 * cpu / max(n, 1):6.2f} ms/build  {100 * cpu / (now - last):5.1f} % of a core",
                      flush=True)
                last, cpu, n = now, 0, 0
            if upd.final or now - t0 >= args.seconds:
                break
    finally:
        source.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
