"""A scenario named like a built-in one: rejected with a clear message."""

from coffeeshop_tui.scenarios.api import scenario


@scenario("sync-barista", lesson="shadows a built-in")
async def main() -> None:
    pass
