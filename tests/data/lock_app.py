"""A small FastAPI app whose handlers wait on things (tests of wait reasons in load tests).

Ground truth:

* ``/locked`` -- every request takes the one ``asyncio.Lock`` (``ONE_AT_A_TIME``) and holds it
  across ``asyncio.sleep(0.05)``: with several users, all but one wait on the lock (a
  ``lock`` wait), the holder on a timer (a ``sleep`` wait);
* ``/nap`` -- ``asyncio.sleep(0.02)`` only (a ``sleep`` wait).
"""

import asyncio

from fastapi import FastAPI

app = FastAPI()
ONE_AT_A_TIME = None  # made on the server's loop at the first request (a Lock binds to it)


def _lock() -> asyncio.Lock:
    global ONE_AT_A_TIME
    if ONE_AT_A_TIME is None:
        ONE_AT_A_TIME = asyncio.Lock()
    return ONE_AT_A_TIME


@app.get("/locked")
async def locked():
    async with _lock():
        await asyncio.sleep(0.05)
    return {"ok": True}


@app.get("/nap")
async def nap():
    await asyncio.sleep(0.02)
    return {"ok": True}
