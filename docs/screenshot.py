"""Make docs/screenshot.svg: the app after a real run of blocking-barista.

    uv run python docs/screenshot.py
"""

import asyncio
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from coffeeshop_tui.tui.app import create_app  # noqa: E402


async def main() -> None:
    app = create_app()
    async with app.run_test(size=(130, 42)) as pilot:
        await pilot.pause(0.5)
        for _ in range(2):  # to blocking-barista
            await pilot.press("down")
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.1)
            if "done" in str(app.query_one("#status").render()):
                break
        await pilot.pause(0.5)
        app.save_screenshot(filename="screenshot.svg", path=os.path.join(ROOT, "docs"))


if __name__ == "__main__":
    asyncio.run(main())
    print("wrote docs/screenshot.svg")
