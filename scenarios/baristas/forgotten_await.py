"""Forgetting await: calling a coroutine function only creates a coroutine object."""

import asyncio

from coffeeshop_tui.scenarios.api import param, scenario


async def make_coffee(n: int, brew_s: float) -> None:
    await asyncio.sleep(brew_s)
    print(f"coffee {n} is ready")


@scenario(
    "forgotten-await",
    lesson="make_coffee() without await returns at once: nothing brews, Python warns.",
    params=[
        param("customers", 3, 1, 50, help="coffees ordered"),
        param("brew_s", 1.0, 0.0, 10.0, help="seconds per coffee", step=0.1),
    ],
    ideal=lambda p: (p["customers"] * p["brew_s"], p["brew_s"]),
)
async def main(customers: int, brew_s: float) -> None:
    for n in range(1, customers + 1):
        make_coffee(n, brew_s)  # BUG: missing await -> "coroutine ... was never awaited"
    print("the barista says all coffees are done (none was made)")
