"""Scenarios for the app's tests: one that fails after a short wait."""

import asyncio

from coffeeshop_tui.scenarios.api import param, scenario


@scenario(
    "spilled-coffee",
    lesson="A scenario that raises: the app shows the error, it does not crash.",
    params=[param("wait_s", 0.05, 0.0, 5.0, help="wait before the accident", step=0.05)],
    group="Test scenarios",
)
async def main(wait_s: float) -> None:
    await asyncio.sleep(wait_s)
    cups = 0
    print(f"{1 / cups} coffees per cup")  # ZeroDivisionError
