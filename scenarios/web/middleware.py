"""Plumbing for the demo server, kept out of app.py so that file stays short.

`LabMiddleware` is a plain ASGI middleware that works around any ASGI app:

* echoes the client's ``x-request-id`` header on the response, and exposes it to the
  request's code (and to instruments in the server) through the ``REQUEST_ID`` context var;
  tags the request's task with it in the recording (every task that task creates inherits
  the tag: ``@app.middleware("http")``, ``StreamingResponse``, spawned tasks) and notes the
  point ``RESPONSE_SENT`` when the last body byte went out (``BackgroundTasks`` run after it);
* optional concurrency limit: with ``max_in_flight=N`` a request arriving while N requests
  are already in flight gets ``503`` at once (``/health`` and ``/_admin/*`` are exempt);
* a tiny admin API (JSON):

  - ``GET  /_admin/pool``             -> {"total", "borrowed", "waiting", "default_executor_workers",
                                          "in_flight", "max_in_flight", "rejected"}
  - ``POST /_admin/pool?size=N``      -> set anyio's default thread limiter to N tokens (1..10000);
                                         this is the pool FastAPI uses for ``def`` endpoints
                                         and ``run_in_threadpool``. Takes effect live.
  - ``POST /_admin/limit?max_in_flight=N`` -> change the 503 limit live (0 turns it off).

Environment variables read by :func:`max_in_flight_from_env`:
``COFFEESHOP_MAX_IN_FLIGHT`` (unset, empty or 0 = no limit).
"""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, MutableMapping
from urllib.parse import parse_qs

from coffeeshop_tui.scenarios.recorder import mark_current, tag_current
from coffeeshop_tui.scenarios.web.load_settings import MAX_POOL

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The current request's ``x-request-id`` (str) while a request is being handled, else None.
#: Copied into worker threads by ``run_in_threadpool`` / ``asyncio.to_thread``.
REQUEST_ID: ContextVar[str | None] = ContextVar("coffeeshop_request_id", default=None)

#: Requests in flight in this process, over every LabMiddleware (read by the recorder's gauges).
IN_FLIGHT = [0]

ENV_MAX_IN_FLIGHT = "COFFEESHOP_MAX_IN_FLIGHT"
#: The recorder point (``TaskInfo.points``) of the moment a request's last body byte was sent.
RESPONSE_SENT = "response-sent"
REQUEST_ID_HEADER = b"x-request-id"
EXEMPT_PATHS = ("/health",)
ADMIN_PREFIX = "/_admin/"
#: the most anyio tokens /_admin/pool accepts: the load settings' limit (one rule, one place)
MAX_POOL_SIZE = MAX_POOL


def max_in_flight_from_env() -> int | None:
    """Read ``COFFEESHOP_MAX_IN_FLIGHT``; None (no limit) when unset, empty or <= 0."""
    raw = os.environ.get(ENV_MAX_IN_FLIGHT, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_MAX_IN_FLIGHT} must be an integer, got {raw!r}") from exc
    return value if value > 0 else None


def default_executor_workers() -> int:
    """Size of asyncio's default ThreadPoolExecutor (used by asyncio.to_thread)."""
    return min(32, (os.cpu_count() or 1) + 4)


def pool_info() -> dict[str, int]:
    """anyio's default thread limiter, as seen from inside the running event loop."""
    import anyio.to_thread  # here, not at import: the app imports this module for its constants

    limiter = anyio.to_thread.current_default_thread_limiter()
    stats = limiter.statistics()
    return {
        "total": int(limiter.total_tokens),
        "borrowed": int(limiter.borrowed_tokens),
        "waiting": int(stats.tasks_waiting),
        "default_executor_workers": default_executor_workers(),
    }


def set_pool_size(size: int) -> None:
    """Set anyio's default thread limiter (must run inside the server's event loop)."""
    import anyio.to_thread

    if not 1 <= size <= MAX_POOL_SIZE:
        raise ValueError(f"pool size must be 1..{MAX_POOL_SIZE}, got {size}")
    anyio.to_thread.current_default_thread_limiter().total_tokens = size


async def _send_json(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class LabMiddleware:
    """Request-id echo + optional 503 concurrency limit + /_admin endpoints (pure ASGI)."""

    def __init__(self, app: ASGIApp, max_in_flight: int | None = None, admin: bool = True) -> None:
        self.app = app
        self.max_in_flight = max_in_flight if (max_in_flight or 0) > 0 else None
        self.admin = admin
        self.in_flight = 0
        self.rejected = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        rid: bytes | None = None
        for key, value in scope["headers"]:
            if key == REQUEST_ID_HEADER:
                rid = value
                break
        echo = [(REQUEST_ID_HEADER, rid)] if rid is not None else []

        if self.admin and path.startswith(ADMIN_PREFIX):
            await self._admin(scope, send, echo)
            return

        counted = path not in EXEMPT_PATHS
        if counted and self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            self.rejected += 1
            await _send_json(send, 503, {"detail": "too many requests in flight",
                                         "max_in_flight": self.max_in_flight}, echo)
            return

        if rid is not None:
            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = dict(message)
                    message["headers"] = [*message.get("headers", ()), *echo]
                    await send(message)
                    return
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    mark_current(RESPONSE_SENT)  # work of the request after this is "after the response"
        else:
            send_with_id = send

        token = REQUEST_ID.set(rid.decode("latin-1") if rid is not None else None)
        if rid is not None:  # the handler task's lane is matched to the client's by this id
            tag_current(rid.decode("latin-1"))
        if counted:
            self.in_flight += 1
            IN_FLIGHT[0] += 1
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if counted:
                self.in_flight -= 1
                IN_FLIGHT[0] -= 1
            REQUEST_ID.reset(token)

    async def _admin(self, scope: Scope, send: Send, echo: list[tuple[bytes, bytes]]) -> None:
        method = scope["method"]
        route = scope["path"][len(ADMIN_PREFIX):].rstrip("/")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))

        def state() -> dict[str, Any]:
            return {**pool_info(), "in_flight": self.in_flight,
                    "max_in_flight": self.max_in_flight, "rejected": self.rejected}

        def int_param(name: str) -> int:
            values = query.get(name)
            if not values:
                raise ValueError(f"missing query parameter {name!r}")
            return int(values[0])

        try:
            if route == "pool" and method == "GET":
                await _send_json(send, 200, state(), echo)
            elif route == "pool" and method == "POST":
                set_pool_size(int_param("size"))
                await _send_json(send, 200, state(), echo)
            elif route == "limit" and method == "POST":
                n = int_param("max_in_flight")
                if n < 0:
                    raise ValueError("max_in_flight must be >= 0 (0 = off)")
                self.max_in_flight = n or None
                await _send_json(send, 200, state(), echo)
            else:
                await _send_json(send, 404, {"detail": f"no admin route {method} {scope['path']}"}, echo)
        except ValueError as exc:
            await _send_json(send, 422, {"detail": str(exc)}, echo)
