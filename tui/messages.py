"""Every custom message of the app, as small dataclasses.

Data flows one way: a source (the runner, or a recorded capture in tests) -> producer
thread -> :class:`RunUpdated` (posted thread-safely) -> the app, which applies it to the
widgets inside ``batch_update()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from textual.message import Message

from .source import RunUpdate


@dataclass
class RunUpdated(Message):
    """A new immutable view of a run. Posted by the producer at <= 20 Hz."""

    update: RunUpdate

    def can_replace(self, message: Message) -> bool:
        # A newer update of the same run supersedes this one if it has not been handled yet.
        return isinstance(message, RunUpdated) and message.update.run_id == self.update.run_id


@dataclass
class ProducerFailed(Message):
    """The producer thread raised: shown as the run's error, never a crash."""

    run_id: int
    error: str


@dataclass
class KnobSelected(Message):
    """The knob panel's cursor moved to parameter ``index``."""

    index: int


@dataclass
class KnobNudged(Message):
    """Nudge the selected knob one step: +1 up, -1 down."""

    direction: int
