"""What a :class:`~.timeline.Timeline` keeps of each task, thread job and warning, and the
:class:`Touched` set that tells a reader which tasks got something new."""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass, field


def _intern(s: str) -> str:
    return sys.intern(s) if type(s) is str else s


@dataclass
class TaskInfo:
    seq: int
    created_ns: int
    coro: str = ""
    where: str = ""
    parent: int = 0
    name: str = ""
    done_ns: int | None = None
    outcome: str | None = None
    tag: str = ""  # a label the code gave it (e.g. the request id of a server handler)
    steps: array = field(default_factory=lambda: array("q"))  # start, end pairs
    ready: list = field(default_factory=list)  # ns at which a timer made it ready
    points: dict = field(default_factory=dict)  # what -> ns: points the code named (recorder.mark_current)
    # what it awaited after a step: the step's end (ns, ascending) and the reason there,
    # (kind, detail, where, awaited task seq), one shared tuple per distinct reason
    wait_t: array = field(default_factory=lambda: array("q"))
    wait_r: list = field(default_factory=list)
    # after a trim dropped some of its steps (``Timeline._trim``, ``TaskFigures._fold``): its segments go on from
    # ``seg_from`` (the end of its last dropped step, or the start of its first kept one),
    # ``lead`` the closed segments between the two (worked out before the trim, with what it
    # dropped), and ``base`` what its dropped segments summed to: (running, waiting,
    # starved, the longest starved) ns. Its figures are the whole task's.
    seg_from: int | None = None
    lead: tuple = ()
    base: tuple | None = None

    @property
    def label(self) -> str:
        name = self.name or f"Task-{self.seq}"
        if self.coro and self.coro not in name:
            return f"{name} ({self.coro})"
        return name


def _short_label(t: TaskInfo) -> str:
    """A task's name; a default name ("Task-3") with its coroutine's short name."""
    if t.name and not t.name.startswith("Task-"):
        return t.name
    coro = t.coro.rpartition("<locals>.")[2]
    return f"{t.name or f'Task-{t.seq}'} ({coro})" if coro else (t.name or f"Task-{t.seq}")


class Touched:
    """The tasks that got something new (created, a step, a wake-up, a wait reason, a
    thread job, a name, their end) since a reader last took them (:meth:`Timeline.watch`): a
    reader that keeps what it derived from each task redoes only those."""

    __slots__ = ("seqs", "__weakref__")

    def __init__(self) -> None:
        self.seqs: set[int] = set()

    def take(self) -> set[int]:
        seqs, self.seqs = self.seqs, set()
        return seqs


@dataclass(frozen=True)
class Job:
    pool: str
    thread: str
    submit_ns: int
    start_ns: int
    end_ns: int
    task: int
    label: str


@dataclass(frozen=True)
class Warning_:
    t_ns: int
    kind: str
    message: str
    where: str
