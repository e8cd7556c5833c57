"""CPU-bound work: the loop, a thread (the GIL says no) and processes (real parallelism)."""

import asyncio
from concurrent.futures import ProcessPoolExecutor

from coffeeshop_tui.scenarios.api import param, scenario


def grind_beans(work: int) -> int:
    total = 0
    for i in range(work):  # pure Python: holds the GIL the whole time
        total += i * i % 7
    return total


async def grind_on_loop(work: int) -> int:
    return grind_beans(work)  # CPU work inside async def blocks the loop


@scenario(
    "cpu-barista",
    lesson="CPU work: on the loop it blocks, in threads the GIL serializes it, processes overlap.",
    params=[
        param("customers", 3, 1, 16, help="coffees (CPU jobs)"),
        param("work", 2_000_000, 10_000, 50_000_000, help="loop iterations per job", step=500_000),
        param("mode", "all", choices=["all", "loop", "threads", "processes"],
              help="where the work runs"),
    ],
)
async def main(customers: int, work: int, mode: str) -> None:
    loop = asyncio.get_running_loop()
    if mode in ("all", "loop"):
        await asyncio.gather(*(grind_on_loop(work) for _ in range(customers)))
    if mode in ("all", "threads"):
        await asyncio.gather(*(asyncio.to_thread(grind_beans, work) for _ in range(customers)))
    if mode in ("all", "processes"):
        with ProcessPoolExecutor(max_workers=customers) as pool:
            await asyncio.gather(*(loop.run_in_executor(pool, grind_beans, work)
                                   for _ in range(customers)))
