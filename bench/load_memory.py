"""Memory of a long live load test: it must stay flat (issue 10.8, the load half).

    uv run python bench/load_memory.py [--minutes 2] [--rate 200] [--endpoint /async]
                                       [--delay 0.01] [--every 10] [--tracemalloc]

Runs a :class:`~coffeeshop_tui.scenarios.web.loadtest.LoadTest` as the load screen does
(lanes on, ``update()`` at 10 Hz from one reader thread, open model at ``--rate``) against
the recorded demo server, and samples this process's resident memory every ``--every``
seconds. Prints one line per sample, then minute 1 vs the last minute and the growth per
request between them (the bar: ~0; before issue 10.8 a 6-minute run at 200 req/s grew by
~1.2 KB per request). ``--tracemalloc``: also print the top allocation sites that grew.
``--minutes 10`` for the long version.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from coffeeshop_tui.scenarios.web.loadtest import LoadTest  # noqa: E402
from _proc import rss_mb  # noqa: E402 (bench/ is the script's folder)




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--endpoint", default="/async")
    p.add_argument("--delay", type=float, default=0.01)
    p.add_argument("--every", type=float, default=10.0)
    p.add_argument("--tracemalloc", action="store_true")
    a = p.parse_args(argv)
    if a.tracemalloc:
        tracemalloc.start(8)
    lt = LoadTest(a.endpoint, model="open", rate=a.rate, delay=a.delay, lanes=True)
    samples: list[tuple[float, float, int]] = []  # (t_s, rss_mb, requests done)
    snap1 = None
    try:
        lt.start()
        t0 = time.monotonic()
        next_sample = 0.0
        end = a.minutes * 60
        while True:
            t = time.monotonic() - t0
            u = lt.update()
            if t >= next_sample:
                gc.collect()
                samples.append((t, rss_mb(), u.stats.done))
                print(f"{t:7.1f} s  rss {samples[-1][1]:7.1f} MB  requests {u.stats.done:8d}  "
                      f"server rss {rss_mb(lt.server_pid):6.1f} MB", flush=True)
                next_sample += a.every
                if a.tracemalloc and snap1 is None and t >= 60:
                    snap1 = tracemalloc.take_snapshot()
            if t >= end:
                break
            time.sleep(0.1)
    finally:
        lt.stop()
    first = next((s for s in samples if s[0] >= 60), samples[0])
    last = samples[-1]
    grow = last[1] - first[1]
    n = max(1, last[2] - first[2])
    print(f"minute 1: {first[1]:.1f} MB at {first[2]} requests; end ({last[0]:.0f} s): {last[1]:.1f} MB at "
          f"{last[2]} requests; growth {grow:+.1f} MB = {grow * 1024 * 1024 / n:+.0f} bytes per request")
    if snap1 is not None:
        top = tracemalloc.take_snapshot().compare_to(snap1, "lineno")[:15]
        for st in top:
            print(st)
    return 0


if __name__ == "__main__":
    sys.exit(main())
