"""A scenario file that never finishes importing: the CLI and the app must not hang on it."""

import time

from coffeeshop_tui.scenarios.api import scenario

time.sleep(3600)  # stuck at import


@scenario("never-loaded", lesson="its file hangs at import")
async def main() -> None:
    pass
