"""The one producer loop of every screen: pace a feed's builds, post each as a message.

Data flows one way: a feed (the scenario runner, a load test, or a recorded capture in the
tests) -> :func:`paced` builds an immutable update at most ``max_hz`` times a second, and
never spends more than ``share`` of its time building -> :func:`produce` (in a thread worker)
posts each as :class:`~coffeeshop_tui.tui.messages.FeedUpdated` -> the screen applies it inside
``batch_update()``. The UI thread never waits on the producer: posting is thread-safe, and a
newer update replaces one the screen has not handled yet.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Hashable, Iterable, Iterator, TypeVar

from textual.message_pump import MessagePump

from .messages import FeedFailed, FeedUpdated

U = TypeVar("U")

MAX_HZ = 20.0


def paced(
    build: Callable[[], U],
    *,
    max_hz: float = MAX_HZ,
    share: float = 0.5,
    wake: threading.Event | None = None,
    is_final: Callable[[U], bool] | None = None,
    stopped: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.perf_counter,
) -> Iterator[U]:
    """Yield ``build()`` again and again: at most ``max_hz`` a second, and building takes at
    most ``share`` of the time (a slow build slows the rate instead of eating a core).

    ``wake``: wait for it (at most 0.25 s) before each build, so a quiet feed costs nothing.
    Ends after an update for which ``is_final`` is true, or when ``stopped()`` says so.
    """
    period = 1.0 / max_hz
    while stopped is None or not stopped():
        if wake is not None:
            wake.wait(0.25)
            wake.clear()
        t0 = clock()
        update = build()
        spent = clock() - t0
        yield update
        if is_final is not None and is_final(update):
            return
        sleep(max(period - spent, spent * (1.0 - share) / share, 0.001))


def produce(
    target: MessagePump,
    feed: Hashable,
    updates: Iterable,
    cancelled: Callable[[], bool],
    on_error: Callable[[], None] | None = None,
    title: str = "",
) -> None:
    """Post every update of ``updates`` to ``target`` (thread-safe) until ``cancelled()``.

    A feed that raises is reported as :class:`FeedFailed` (never a crash); ``on_error`` runs
    first (e.g. to stop the feed's process)."""
    try:
        for update in updates:
            if cancelled():
                break
            target.post_message(FeedUpdated(feed, update))
    except Exception as exc:
        try:
            if on_error is not None:
                on_error()
        finally:
            target.post_message(FeedFailed(feed, f"{type(exc).__name__}: {exc}", title))
