"""The classic mistake: time.sleep inside async def. gather cannot help: the loop is blocked."""

import asyncio
import time

from coffeeshop_tui.scenarios.api import param, scenario


async def make_coffee(n: int, brew_s: float) -> None:
    time.sleep(brew_s)  # BLOCKS the event loop: no other task can run until it returns
    print(f"coffee {n} is ready")


@scenario(
    "blocking-barista",
    lesson="time.sleep inside async def holds the loop: gather runs the coffees one by one.",
    params=[
        param("customers", 3, 1, 50, help="coffees to make"),
        param("brew_s", 1.0, 0.0, 10.0, help="seconds per coffee", step=0.1),
    ],
    ideal=lambda p: (p["customers"] * p["brew_s"], p["brew_s"]),
)
async def main(customers: int, brew_s: float) -> None:
    # Looks concurrent, is not: each coffee's step holds the loop for brew_s seconds,
    # and the others are ready but starved until it lets go.
    await asyncio.gather(*(make_coffee(n, brew_s) for n in range(1, customers + 1)))
