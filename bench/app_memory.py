"""Memory of the app during a long open-shop run: it must stay bounded.

    uv run python bench/app_memory.py [--minutes 10] [--rate 4] [--every 30] [--tracemalloc]

Runs the real app headless (Textual's run_test) with the real runner, starts `open-shop`
at the given arrival rate and samples the resident memory of the app process and of the
scenario child every `--every` seconds. Prints one line per sample and the growth over
the second half of the run (which should be ~0 once the model's bounds are reached).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from coffeeshop_tui.tui.app import create_app  # noqa: E402
from _proc import rss_mb  # noqa: E402 (bench/ is the script's folder)




def child_pids(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


async def main(minutes: float, rate: float, every: float, trace: bool = False) -> None:
    if trace:
        tracemalloc.start(8)
    snap1 = None
    app = create_app()
    samples = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        for _ in range(100):  # (a slow start, e.g. under tracemalloc: wait for the panels)
            if app.screen.query("#timeline"):
                break
            await pilot.pause(0.1)
        app.start_run("open-shop", {"rate": rate, "brew_s": 1.0, "baristas": 2 + int(rate)})
        t0 = time.monotonic()
        while time.monotonic() - t0 < minutes * 60:
            await pilot.pause(every)
            kids = child_pids(os.getpid())
            app_mb = rss_mb(os.getpid())
            child_mb = sum(rss_mb(k) for k in kids)
            elapsed = time.monotonic() - t0
            samples.append((elapsed, app_mb, child_mb))
            print(f"{elapsed:7.0f} s  app {app_mb:7.1f} MB  scenario child {child_mb:7.1f} MB", flush=True)
            if trace and snap1 is None:
                snap1 = tracemalloc.take_snapshot()
        if snap1 is not None:
            for st in tracemalloc.take_snapshot().compare_to(snap1, "lineno")[:25]:
                print(st)
        await pilot.press("s")
        await pilot.pause(0.5)
    half = [s for s in samples if s[0] >= samples[-1][0] / 2]
    if len(half) >= 2:
        grow = half[-1][1] - half[0][1]
        print(f"app memory over the second half: {half[0][1]:.1f} -> {half[-1][1]:.1f} MB ({grow:+.1f} MB)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=4.0)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--tracemalloc", action="store_true",
                    help="print the allocation sites that grew between the first and the last sample")
    a = ap.parse_args()
    asyncio.run(main(a.minutes, a.rate, a.every, a.tracemalloc))
