"""A scenario that blocks its loop for hours: the runner must still stop it."""

import time

from coffeeshop_tui.scenarios.api import scenario


@scenario("stuck", lesson="time.sleep(10_000) inside async def.")
async def main() -> None:
    time.sleep(10_000)  # stuck here
