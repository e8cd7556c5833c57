"""A scenario file that takes 2 s to import (but does load)."""

import asyncio
import time

from coffeeshop_tui.scenarios.api import scenario

time.sleep(2)


@scenario("slow-to-load", lesson="its file takes 2 s to import")
async def main() -> None:
    await asyncio.sleep(0.01)
