import asyncio

from coffeeshop_tui.scenarios.api import scenario

undefined_name_here  # noqa: F821 - a NameError on import


@scenario("broken", lesson="never loads")
async def main() -> None:
    await asyncio.sleep(0)
