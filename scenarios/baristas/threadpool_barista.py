"""The fix for blocking code: send it to a worker thread, and see each pool's size."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from starlette.concurrency import run_in_threadpool  # = fastapi.concurrency.run_in_threadpool

from coffeeshop_tui.scenarios.api import param, scenario


def make_coffee(n: int, brew_s: float) -> None:
    time.sleep(brew_s)  # still blocking, but now it blocks a worker thread, not the loop


@scenario(
    "threadpool-barista",
    lesson="asyncio.to_thread / run_in_threadpool free the loop; the pool size makes waves.",
    params=[
        param("customers", 10, 1, 200, help="coffees to make"),
        param("brew_s", 0.5, 0.0, 10.0, help="seconds per coffee", step=0.1),
        param("via", "both", choices=["both", "to_thread", "run_in_threadpool"],
              help="which pool to use"),
        param("executor_workers", 0, 0, 64, help="asyncio's pool size (0 = default)"),
        param("anyio_tokens", 40, 1, 200, help="anyio's thread limiter (FastAPI's pool)"),
    ],
    ideal=lambda p: (p["customers"] * p["brew_s"], p["brew_s"]),
)
async def main(customers: int, brew_s: float, via: str, executor_workers: int,
               anyio_tokens: int) -> None:
    loop = asyncio.get_running_loop()
    if executor_workers:
        loop.set_default_executor(ThreadPoolExecutor(max_workers=executor_workers))
    anyio.to_thread.current_default_thread_limiter().total_tokens = anyio_tokens

    if via in ("both", "to_thread"):
        # asyncio's default executor: min(32, CPUs + 4) threads unless set above
        await asyncio.gather(*(asyncio.to_thread(make_coffee, n, brew_s)
                               for n in range(1, customers + 1)))
    if via in ("both", "run_in_threadpool"):
        # FastAPI / Starlette: anyio's worker threads, at most `anyio_tokens` at once
        await asyncio.gather(*(run_in_threadpool(make_coffee, n, brew_s)
                               for n in range(1, customers + 1)))
