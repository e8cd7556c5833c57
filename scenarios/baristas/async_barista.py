"""An async barista: start every coffee, then wait for all of them together."""

import asyncio

from coffeeshop_tui.scenarios.api import param, scenario


async def make_coffee(n: int, brew_s: float) -> None:
    await asyncio.sleep(brew_s)  # waiting gives the loop back: other coffees brew meanwhile
    print(f"coffee {n} is ready")


@scenario(
    "async-barista",
    lesson="asyncio.gather + await asyncio.sleep: the waits overlap, total time = one brew.",
    params=[
        param("customers", 3, 1, 200, help="coffees to make"),
        param("brew_s", 1.0, 0.0, 10.0, help="seconds per coffee", step=0.1),
    ],
    ideal=lambda p: (p["customers"] * p["brew_s"], p["brew_s"]),
)
async def main(customers: int, brew_s: float) -> None:
    await asyncio.gather(*(make_coffee(n, brew_s) for n in range(1, customers + 1)))
