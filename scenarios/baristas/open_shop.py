"""An open coffee shop: customers keep arriving; change the knobs while it runs."""

import asyncio
import time

from coffeeshop_tui.scenarios.api import knobs, param, scenario


class Counter:
    """How many baristas are brewing; customers wait here for a free one."""

    def __init__(self) -> None:
        self.brewing = 0
        self.changed = asyncio.Condition()


async def customer(n: int, counter: Counter) -> None:
    async with counter.changed:  # queue until fewer than `baristas` are brewing
        await counter.changed.wait_for(lambda: counter.brewing < knobs["baristas"])
        counter.brewing += 1
    try:
        if knobs["blocking"]:
            time.sleep(knobs["brew_s"])  # the mistake: the whole shop stops
        else:
            await asyncio.sleep(knobs["brew_s"])
        print(f"coffee {n} is ready")
    finally:
        async with counter.changed:
            counter.brewing -= 1
            counter.changed.notify(1)  # the next customer in line may brew


@scenario(
    "open-shop",
    lesson="Customers arrive at `rate` per second; with too few baristas the queue grows.",
    params=[
        param("rate", 4.0, 0.1, 100.0, help="customers arriving per second", step=0.5),
        param("baristas", 2, 1, 100, help="coffees brewed at once"),
        param("brew_s", 1.0, 0.0, 10.0, help="seconds per coffee", step=0.1),
        param("blocking", False, help="brew with time.sleep (blocks the loop)"),
        param("duration_s", 0.0, 0.0, 3600.0, help="stop after this long (0 = until stopped)",
              step=5.0),
    ],
    live=True,
    open_system=True,
)
async def main(rate: float, baristas: int, brew_s: float, blocking: bool,
               duration_s: float) -> None:
    # Every knob is read again at each use (knobs[...]): changes apply while it runs.
    counter = Counter()
    arrivals = set()
    start = asyncio.get_running_loop().time()
    n = 0
    while not knobs["duration_s"] or asyncio.get_running_loop().time() - start < knobs["duration_s"]:
        n += 1
        task = asyncio.create_task(customer(n, counter), name=f"customer {n}")
        arrivals.add(task)
        task.add_done_callback(arrivals.discard)
        async with counter.changed:  # more baristas may have come to work
            counter.changed.notify(max(0, knobs["baristas"] - counter.brewing))
        await asyncio.sleep(1 / knobs["rate"])
    await asyncio.gather(*arrivals)
