"""A user's own scenario file, written against the scenario API."""

import asyncio

from coffeeshop_tui.scenarios.api import param, scenario


@scenario(
    "two-waiters",
    lesson="Two waiters overlap their waits.",
    params=[param("wait_s", 0.05, 0.0, 5.0, help="how long each waits")],
    ideal=lambda p: (p["wait_s"] * 100, p["wait_s"]),  # not true: shows where it was computed
)
async def main(wait_s: float) -> None:
    await asyncio.gather(asyncio.sleep(wait_s), asyncio.sleep(wait_s))
