"""What keeping the server's loop queue costs the load screen (the ``w`` panel there).

    uv run python bench/load_loopq.py [--seconds 60] [--rate 200] [--endpoint /async]
                                      [--delay 0.01] [--rounds 2]

The recorded server always sends what its loop held (ready queue, timers, fds: the
recorder's ``loop_queue`` probe); the load test's Timeline of it drops that part unless
``loop_queue=True`` (``LoadSession(loop_queue=...)``). This runs a live load test as the load
screen does (lanes on, ``update()`` at 10 Hz, open model at ``--rate``) with it off and on,
alternately (``--rounds`` pairs, ``--seconds`` each), and prints per round: this process's CPU
time per second of load, the time spent in ``LoopLog.ingest`` / ``LoopLog.trim``, what the
LoopLog holds at the end (its buffers, bytes) and the process's resident memory. Then the
ratios on/off (CPU) and the LoopLog's size per second of history kept.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from coffeeshop_tui.scenarios import loop_moment  # noqa: E402
from coffeeshop_tui.scenarios.web.loadtest import LoadTest  # noqa: E402
from _proc import rss_mb  # noqa: E402 (bench/ is the script's folder)

SPENT = {"ingest": 0.0, "trim": 0.0}


def _timed(name: str, fn):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - t0
    return wrapper


def deep_bytes(obj, seen=None) -> int:
    """Bytes held by ``obj`` and what it contains (arrays, lists, dicts, tuples, strings)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    n = sys.getsizeof(obj)
    if isinstance(obj, array) or isinstance(obj, (str, bytes, int, float)):
        return n
    if isinstance(obj, dict):
        return n + sum(deep_bytes(k, seen) + deep_bytes(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return n + sum(deep_bytes(x, seen) for x in obj)
    return n


def log_bytes(log) -> int:
    if log is None:
        return 0
    return sum(deep_bytes(v) for k, v in vars(log).items() if k != "_by_when")


def one_round(a, on: bool) -> dict:
    SPENT.update(ingest=0.0, trim=0.0)
    lt = LoadTest(a.endpoint, model="open", rate=a.rate, delay=a.delay, lanes=True, loop_queue=on)
    try:
        lt.start()
        time.sleep(2.0)  # warm up: the server up, the generator at its rate
        gc.collect()
        c0, w0, n0 = time.process_time(), time.monotonic(), lt.update().stats.done
        while time.monotonic() - w0 < a.seconds:
            lt.update()
            time.sleep(0.1)
        u = lt.update()
        cpu, wall = time.process_time() - c0, time.monotonic() - w0
        with lt.server.lock:
            tl = lt.server.timeline
            size = log_bytes(tl.loopq)
            kept_s = (tl.last_ns - (tl.trimmed_before or tl.start_ns)) / 1e9 if tl.start_ns else 0.0
        return {"on": on, "cpu_per_s": cpu / wall, "ingest_per_s": SPENT["ingest"] / wall,
                "trim_per_s": SPENT["trim"] / wall, "log_mb": size / 2**20, "kept_s": kept_s,
                "rss_mb": rss_mb(), "req_per_s": (u.stats.done - n0) / wall}
    finally:
        lt.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--endpoint", default="/async")
    p.add_argument("--delay", type=float, default=0.01)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args(argv)
    loop_moment.LoopLog.ingest = _timed("ingest", loop_moment.LoopLog.ingest)
    loop_moment.LoopLog.trim = _timed("trim", loop_moment.LoopLog.trim)
    rows = []
    for _ in range(a.rounds):
        for on in (False, True):
            r = one_round(a, on)
            rows.append(r)
            print(f"loop queue {'on ' if r['on'] else 'off'}  {r['req_per_s']:6.0f} req/s  "
                  f"cpu {r['cpu_per_s'] * 100:5.1f}% of a core  LoopLog.ingest {r['ingest_per_s'] * 1e3:6.1f} ms/s  "
                  f"trim {r['trim_per_s'] * 1e3:5.1f} ms/s  LoopLog {r['log_mb']:6.2f} MB "
                  f"({r['kept_s']:.0f} s kept)  rss {r['rss_mb']:6.1f} MB", flush=True)
    on = [r for r in rows if r["on"]]
    off = [r for r in rows if not r["on"]]
    ratio = sum(r["cpu_per_s"] for r in on) / max(1e-9, sum(r["cpu_per_s"] for r in off))
    per_s = sum(r["log_mb"] / max(1.0, r["kept_s"]) for r in on) / len(on)
    print(f"CPU on/off: {ratio:.2f}x; LoopLog.ingest+trim {sum(r['ingest_per_s'] + r['trim_per_s'] for r in on) / len(on) * 1e3:.1f} "
          f"ms per s of load; LoopLog {per_s * 1024:.0f} KB per s of history kept "
          f"({per_s * 1024 / max(1.0, a.rate):.2f} KB per request)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
