"""Every custom message of the app, as small dataclasses.

Data flows one way: a feed (the runner, a load test, or a recorded capture in tests) ->
the producer thread (:mod:`coffeeshop_tui.tui.producer`) -> :class:`FeedUpdated` (posted
thread-safely) -> the screen, which applies it to its widgets inside ``batch_update()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

from textual.message import Message



@dataclass
class FeedUpdated(Message, bubble=False):
    """A new immutable update of feed ``feed`` (a run's id, a load test...), posted by the
    producer (:mod:`coffeeshop_tui.tui.producer`) at <= 20 Hz. Handled by the node it was
    posted to only (no bubbling: each screen owns its feeds)."""

    feed: Hashable
    update: Any

    def can_replace(self, message: Message) -> bool:
        # A newer update of the same feed supersedes this one if it has not been handled yet.
        return isinstance(message, FeedUpdated) and message.feed == self.feed


@dataclass
class FeedFailed(Message, bubble=False):
    """The feed raised (or could not start): shown as an error line, never a crash."""

    feed: Hashable
    error: str
    title: str = ""


@dataclass
class RoutesFound(Message, bubble=False):
    """The served app's GET routes (a user app's, from its /openapi.json)."""

    routes: tuple


@dataclass
class KnobSelected(Message):
    """The knob panel's cursor moved to parameter ``index``."""

    index: int


@dataclass
class KnobEditRequested(Message):
    """Type a value for the selected knob (enter on the knob panel)."""


@dataclass
class KnobNudged(Message):
    """Nudge the selected knob one step: +1 up, -1 down."""

    direction: int
