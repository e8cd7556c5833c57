"""A realistic FastAPI app for the attribution tests (issue 8): what each request's code does.

Ground truth (written before the tests; the tests assert the recording against it):

* lifespan: ``time.sleep(0.05)`` on the loop at start-up (line tagged ``LIFESPAN-BLOCK``),
  outside every request.
* ``GET /orders/{order_id}`` (router, path parameter): depends on ``db_session`` (a ``def``
  dependency: FastAPI runs it in anyio's thread pool) which sleeps 50 ms there
  (``DEP-SLEEP``); then the ``async def`` endpoint blocks the loop with ``time.sleep(0.2)``
  (``ENDPOINT-BLOCK``). So the request: ~50 ms thread time, one 200 ms block of its own.
* ``GET /stream``: a ``StreamingResponse`` whose generator blocks the loop 60 ms before each
  of its 2 chunks (``STREAM-BLOCK``): Starlette streams in a task of its own.
* ``GET /spawn``: the endpoint creates a task that blocks the loop 40 ms (``SPAWN-BLOCK``)
  and awaits it.
* ``POST /checkout`` (``GET`` too, for the load generator): answers at once and adds a
  ``BackgroundTasks`` job, an ``async def`` that blocks the loop 70 ms (``BG-BLOCK``): it
  runs AFTER the response is sent, while the request's ASGI call is still going.
* ``GET /report``: a ``def`` endpoint (FastAPI runs it in anyio's thread pool) that burns
  100 ms of its thread's CPU in pure Python (``CPU-WORK``), never on the loop. Alone: ~100 ms
  in a thread. With several at once they take turns holding the GIL: each takes about
  n x 100 ms, and the loop thread waits for the GIL between its steps (GIL-starved, not
  blocked by any line).
* ``GET /fire``: answers at once and leaves behind a task it spawned (fire and forget,
  kept in a set) that blocks the loop 30 ms (``LINGER-BLOCK``) 3 times, 100 ms apart: it
  outlives its request, whose own work blocks nothing.

Apps: ``app`` has one ``@app.middleware("http")``; ``bare`` has none; ``stacked`` has three
(two ``@middleware("http")`` and one pure ASGI middleware). Same routes on each.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI
from fastapi.responses import StreamingResponse

router = APIRouter(prefix="/orders")


def db_session():
    time.sleep(0.05)  # DEP-SLEEP
    return {"db": "ok"}


@router.get("/{order_id}")
async def get_order(order_id: int, db=Depends(db_session)):
    time.sleep(0.2)  # ENDPOINT-BLOCK
    return {"order": order_id, **db}


async def _chunks():
    for i in range(2):
        time.sleep(0.06)  # STREAM-BLOCK
        yield f"chunk {i}\n".encode()
        await asyncio.sleep(0)


async def stream():
    return StreamingResponse(_chunks(), media_type="text/plain")


async def _spawned():
    time.sleep(0.04)  # SPAWN-BLOCK
    return 1


async def spawn():
    return {"child": await asyncio.create_task(_spawned())}


def report():
    t0 = time.thread_time()
    n = 0
    while time.thread_time() - t0 < 0.1:
        for i in range(2000):  # CPU-WORK
            n += i * i % 7
    return {"n": n > 0}


_LINGERING: set = set()


async def _linger():
    for _ in range(3):
        await asyncio.sleep(0.1)
        time.sleep(0.03)  # LINGER-BLOCK


async def fire():
    task = asyncio.create_task(_linger())
    _LINGERING.add(task)
    task.add_done_callback(_LINGERING.discard)
    return {"fired": True}


async def _send_receipt():
    time.sleep(0.07)  # BG-BLOCK


async def checkout(background: BackgroundTasks):
    background.add_task(_send_receipt)
    return {"ok": True}


@asynccontextmanager
async def lifespan(_app):
    time.sleep(0.05)  # LIFESPAN-BLOCK
    yield


class PureAsgiTiming:
    """A pure ASGI middleware (no task of its own)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


def make_app(http_middlewares: int, pure: bool = False) -> FastAPI:
    a = FastAPI(lifespan=lifespan)
    a.include_router(router)
    a.add_api_route("/stream", stream)
    a.add_api_route("/spawn", spawn)
    a.add_api_route("/checkout", checkout, methods=["POST", "GET"])
    a.add_api_route("/report", report)
    a.add_api_route("/fire", fire)
    for i in range(http_middlewares):
        @a.middleware("http")
        async def timing(request, call_next, _i=i):
            response = await call_next(request)
            response.headers[f"x-mw-{_i}"] = "1"
            return response
    if pure:
        a.add_middleware(PureAsgiTiming)
    return a


app = make_app(1)
bare = make_app(0)
stacked = make_app(2, pure=True)
