"""A scenario that forks a grandchild which outlives it, holding the child's pipes open."""

import asyncio
import os
import time

from coffeeshop_tui.scenarios.api import scenario


@scenario("forks-grandchild", lesson="a forked process that sleeps on after the scenario ends")
async def main() -> None:
    pid = os.fork()
    if pid == 0:  # the grandchild: keeps stdout/stderr (and our protocol pipe) open
        time.sleep(600)
        os._exit(0)
    print(f"grandchild {pid}")
    await asyncio.sleep(0.05)
