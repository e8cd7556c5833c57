"""Two scenarios with one name: rejected with a clear message."""

from coffeeshop_tui.scenarios.api import scenario


@scenario("twin", lesson="the first")
async def first() -> None:
    pass


@scenario("twin", lesson="the second")
async def second() -> None:
    pass
