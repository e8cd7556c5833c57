"""The one producer loop (tui/producer.py): pacing and posting, without an app or a clock."""

from __future__ import annotations

from coffeeshop_tui.tui.messages import FeedFailed, FeedUpdated
from coffeeshop_tui.tui.producer import paced, produce


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_paced_keeps_to_max_hz_and_to_its_share_of_the_time():
    clock = Clock()
    cost = [0.001]

    def build():
        clock.t += cost[0]
        return clock.t

    gen = paced(build, max_hz=20, share=0.5, sleep=clock.sleep, clock=clock)
    next(gen)
    next(gen)
    assert abs(clock.slept[-1] - (0.05 - 0.001)) < 1e-9  # a cheap build: 20 a second
    cost[0] = 0.2
    next(gen)
    next(gen)
    assert abs(clock.slept[-1] - 0.2) < 1e-9  # a dear one: half the time building, no more


def test_paced_ends_on_the_final_update_or_when_stopped():
    clock = Clock()
    n = iter(range(10))
    out = list(paced(lambda: next(n), is_final=lambda u: u == 3, sleep=clock.sleep, clock=clock))
    assert out == [0, 1, 2, 3]
    stop = [False]

    def build():
        stop[0] = True
        return "x"

    assert list(paced(build, stopped=lambda: stop[0], sleep=clock.sleep, clock=clock)) == ["x"]


class Target:
    def __init__(self) -> None:
        self.posted: list = []

    def post_message(self, message) -> bool:
        self.posted.append(message)
        return True


def test_produce_posts_each_update_and_reports_a_failing_feed():
    target = Target()
    produce(target, 7, iter([1, 2]), lambda: False)
    assert [(m.feed, m.update) for m in target.posted] == [(7, 1), (7, 2)]
    assert all(isinstance(m, FeedUpdated) for m in target.posted)

    def broken():
        yield 1
        raise RuntimeError("boom")

    stopped = []
    target = Target()
    produce(target, 8, broken(), lambda: False, on_error=lambda: stopped.append(True), title="t")
    assert isinstance(target.posted[-1], FeedFailed)
    assert target.posted[-1].error == "RuntimeError: boom" and stopped == [True]
    # a newer update of the same feed replaces an unhandled one; another feed's does not
    a, b, c = FeedUpdated(1, "a"), FeedUpdated(1, "b"), FeedUpdated(2, "c")
    assert b.can_replace(a) and not c.can_replace(a)


def test_a_live_run_is_updated_as_often_as_its_cells_can_change():
    """RunnerSource.pace_for: a few updates per column of the timeline shown, within
    MIN_HZ..MAX_HZ (a long run seen whole is not rebuilt 20 times a second)."""
    from coffeeshop_tui.scenarios.catalog import all_scenarios
    from coffeeshop_tui.tui.source import MAX_HZ, MIN_HZ, UPDATES_PER_CELL, RunnerSource, RunRequest

    sc = {s.name: s for s in all_scenarios()}["open-shop"]
    src = RunnerSource(RunRequest(1, sc, sc.defaults()))  # not started: no process
    assert src.max_hz == MAX_HZ
    src.pace_for(1.0)  # a 3-minute run fitted in ~170 columns
    assert src.max_hz == MIN_HZ
    src.pace_for(0.5)
    assert src.max_hz == UPDATES_PER_CELL / 0.5
    src.pace_for(0.001)  # zoomed in at the live edge
    assert src.max_hz == MAX_HZ
    src.pace_for(0.0)  # nothing shown yet: unchanged
    assert src.max_hz == MAX_HZ
