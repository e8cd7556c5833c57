"""The coffee shop web app: seven ways to wait for `delay` seconds.

Every endpoint takes `?delay=` (seconds, 0..60, default 1). What differs is WHO waits:
the event loop (everyone waits!), a worker thread, or nobody.
"""

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.concurrency import run_in_threadpool

from coffeeshop_tui.scenarios.web.middleware import LabMiddleware, max_in_flight_from_env

Delay = Annotated[float, Query(ge=0, le=60, description="seconds to wait")]
router = APIRouter()


@router.get("/sync")
def sync_route(delay: Delay = 1.0):
    # Plain `def`: FastAPI runs it in a worker thread (anyio pool: 40 threads).
    # time.sleep blocks only that thread; the event loop keeps serving others.
    time.sleep(delay)
    return {"endpoint": "sync", "delay": delay}


@router.get("/async")
async def async_route(delay: Delay = 1.0):
    # `async def` on the event loop; `await` hands the loop back while waiting.
    await asyncio.sleep(delay)
    return {"endpoint": "async", "delay": delay}


@router.get("/bad")
async def bad_route(delay: Delay = 1.0):
    # MISTAKE: a blocking call inside `async def`. The event loop itself sleeps,
    # so every other request (even /health) waits. N requests take N x delay.
    time.sleep(delay)
    return {"endpoint": "bad", "delay": delay}


@router.get("/good")
async def good_route(delay: Delay = 1.0):
    # The fix for /bad: use the async version of the wait.
    await asyncio.sleep(delay)
    return {"endpoint": "good", "delay": delay}


def blocking_fn(delay: float) -> str:
    # Stand-in for a legacy blocking library call.
    time.sleep(delay)
    return "done"


@router.get("/safe")
async def safe_route(delay: Delay = 1.0):
    # Blocking code from `async def`, done right: run it in anyio's thread pool
    # (the same 40-thread pool that `def` endpoints use).
    result = await run_in_threadpool(blocking_fn, delay)
    return {"endpoint": "safe", "delay": delay, "result": result}


@router.get("/to_thread")
async def to_thread_route(delay: Delay = 1.0):
    # Also off the loop, but in asyncio's default executor:
    # min(32, CPUs + 4) threads -- only 6 on a 2-CPU machine!
    await asyncio.to_thread(time.sleep, delay)
    return {"endpoint": "to_thread", "delay": delay}


@router.get("/cpu")
async def cpu_route(work: Annotated[int, Query(ge=0, le=200_000_000)] = 3_500_000):
    # Pure-Python number crunching in `async def` (~0.2 s with the default `work`).
    # There is nothing to await, so the loop is busy: like /bad, requests queue.
    # (A thread would not help much either: the GIL lets one thread compute at a time.)
    total = 0
    for i in range(work):
        total += i * i
    return {"endpoint": "cpu", "work": work, "total": total}


@router.get("/health")
async def health():
    return {"ok": True}


def create_app(max_in_flight: int | None = None) -> FastAPI:
    """Build the app. max_in_flight=N answers 503 while N requests are in flight."""
    app = FastAPI(title="coffeeshop")
    app.include_router(router)
    # Plumbing (see middleware.py): echoes x-request-id, 503 limit, /_admin/pool.
    app.add_middleware(LabMiddleware, max_in_flight=max_in_flight)
    return app


# The limit can also come from the environment: COFFEESHOP_MAX_IN_FLIGHT=N.
app = create_app(max_in_flight_from_env())
