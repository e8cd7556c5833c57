"""How many long loop steps get a GIL verdict, with and without the brackets from the
watchdog's tick clocks (``gil_probe.Ticks``), alternating in one process.

    uv run python bench/gil_miss.py [rounds]

* ``cpu-barista mode=threads`` (4 jobs of 3,000,000 iterations in threads): every long loop
  step is the loop thread waiting for the GIL; a step without ``gil`` is a miss.
* ``time.sleep(0.1)`` on the loop against 4 spinning threads (tests/test_gil.py): every long
  step is a real block; a step marked ``gil`` is a false verdict.
* the shop app's ``/report`` (100 ms of CPU in a ``def`` endpoint) at 10 users, one request
  each (the server is a child process: ``COFFEESHOP_GIL_BRACKETS=0`` turns the brackets off
  there): every long loop step between the first request and the last answer is a GIL wait.

The figures depend on how busy the machine is (the watchdog needs the GIL to look): quote
both rows of one run.
"""

from __future__ import annotations

import os
import sys

from coffeeshop_tui.scenarios import gil_probe, recorder
from coffeeshop_tui.scenarios.baristas.cpu_barista import main as barista

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_gil import sleeps_against_threads  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")


def shop_report() -> tuple[int, int]:
    """(long steps in the window, those without a GIL verdict) of /report at 10 users."""
    from coffeeshop_tui.scenarios.web.loadtest import LoadTest

    lt = LoadTest("/report", app="shop_app:app", cwd=DATA, concurrency=10, requests=10, delay=None,
                  lanes=False)
    try:
        lt.start()
        lt.wait(60)
    finally:
        lt.stop(graceful=True)
    rep = lt.report()
    longs = rep["server"]["blocks"]
    return len(longs), sum(1 for b in longs if not b.get("gil"))


def one(bracket: bool) -> tuple[int, ...]:
    os.environ["COFFEESHOP_GIL_BRACKETS"] = "1" if bracket else "0"
    gil_probe.BRACKETS = bracket
    tl = recorder.record(barista.main, customers=4, work=3_000_000, mode="threads")
    longs = [b for b in tl.blocks() if not b.get("ongoing")]
    tl2 = recorder.record(sleeps_against_threads)
    sleeps = [b for b in tl2.blocks() if b["end_ns"] - b["start_ns"] >= 90_000_000]
    return (len(longs), sum(1 for b in longs if not b.get("gil")),
            len(sleeps), sum(1 for b in sleeps if b.get("gil"))) + shop_report()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    tot = {True: [0] * 6, False: [0] * 6}
    for _ in range(rounds):
        for bracket in (False, True):
            for i, v in enumerate(one(bracket)):
                tot[bracket][i] += v
    os.environ.pop("COFFEESHOP_GIL_BRACKETS", None)
    gil_probe.BRACKETS = True
    print(f"{rounds} rounds, alternating")
    for bracket in (False, True):
        n, miss, ns, false, nr, rmiss = tot[bracket]
        print(f"{'with' if bracket else 'without'} brackets: cpu-barista threads: {miss}/{n} long steps "
              f"missed ({miss / max(1, n):.0%}); /report at 10 users: {rmiss}/{nr} missed "
              f"({rmiss / max(1, nr):.0%}); sleeps against threads: {false}/{ns} called GIL "
              f"({false / max(1, ns):.0%})")


if __name__ == "__main__":
    main()
