"""A scenario that prints lines of 50 MB (stdout and stderr): the parent keeps a bounded part."""

import asyncio
import sys

from coffeeshop_tui.scenarios.api import param, scenario

MB = 1 << 20


@scenario("huge-output", lesson="prints lines of 50 MB",
          params=[param("lines", 3, 1, 10, help="lines of 50 MB each")])
async def main(lines: int) -> None:
    for i in range(lines):
        print(str(i) * (50 * MB))
        await asyncio.sleep(0)
    sys.stderr.write("e" * (50 * MB) + "\n")
    sys.stderr.flush()
    for i in range(2000):  # many ordinary lines too
        print(f"line {i}")
    print("the end")
