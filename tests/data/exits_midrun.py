"""A scenario whose process leaves with os._exit in the middle of the run (no end message)."""

import asyncio
import os

from coffeeshop_tui.scenarios.api import scenario


@scenario("exits-midrun", lesson="Leaves with os._exit(7) after a short wait.")
async def main() -> None:
    await asyncio.sleep(0.05)
    os._exit(7)
