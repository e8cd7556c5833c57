"""A task inherits its creator's tag (recorder), and a request's lane merges all its tasks
(load_match / load_feed). Fast: a recorded loop in-process, and hand-made batches."""

from __future__ import annotations

import asyncio
import threading

from coffeeshop_tui.scenarios.recorder import record, tag_current
from coffeeshop_tui.scenarios.timeline import Timeline
from coffeeshop_tui.scenarios.web.load_feed import ServerFeed
from coffeeshop_tui.scenarios.web.load_match import match_handler, merge_states

MS = 1_000_000
S = 1_000_000_000
T0 = 500 * S


def test_children_created_after_the_tag_inherit_it_and_earlier_ones_do_not():
    async def leaf():
        await asyncio.sleep(0)

    async def child():
        await asyncio.create_task(leaf(), name="grandchild")

    async def handler():
        early = asyncio.create_task(leaf(), name="before-tag")
        tag_current("r1")
        await asyncio.gather(asyncio.create_task(child(), name="child"), early)

    async def main():
        await asyncio.create_task(handler(), name="handler")
        await asyncio.create_task(leaf(), name="unrelated")

    tl = record(main)
    tags = {t.name: t.tag for t in tl.tasks.values()}
    assert tags["handler"] == tags["child"] == tags["grandchild"] == "r1"
    assert tags["before-tag"] == "" and tags["unrelated"] == ""


def test_merge_ranks_blocked_over_waiting_and_keeps_gaps():
    a = [("waiting", 0, 100), ("running", 100, 110)]
    b = [("running", 10, 20), ("blocked", 20, 90)]
    assert merge_states([a, b]) == [("waiting", 0, 10), ("running", 10, 20), ("blocked", 20, 90),
                                    ("waiting", 90, 100), ("running", 100, 110)]
    assert merge_states([[("starved", 0, 5)], [("blocked", 0, 5)]]) == [("blocked", 0, 5)]
    assert merge_states([[("running", 0, 5)], [("running", 8, 9)]]) == [("running", 0, 5), ("running", 8, 9)]


def test_merge_agrees_with_a_point_by_point_reading():
    import random

    from coffeeshop_tui.scenarios.web.load_match import STATE_RANK

    rng = random.Random(8)
    states = list(STATE_RANK)
    for _ in range(200):
        lists = []
        for _task in range(rng.randint(2, 4)):
            x, lst = rng.randint(0, 5), []
            for _seg in range(rng.randint(0, 5)):
                e = x + rng.randint(1, 6)
                lst.append((rng.choice(states), x, e))
                x = e + rng.randint(0, 3)
            lists.append(lst)
        merged = merge_states(lists)
        for p in range(0, 60):
            covering = [st for lst in lists for st, s, e in lst if s <= p < e]
            want = max(covering, key=STATE_RANK.get) if covering else None
            got = [st for st, s, e in merged if s <= p < e]
            assert got == ([want] if want else []), (lists, p)


class FakeServer:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.timeline = Timeline(block_ms=25)
        self.timeline.start(T0)


def test_a_block_in_the_middlewares_endpoint_task_is_the_requests_own_block():
    """@app.middleware("http"): the handler task (tagged) waits while the endpoint runs in a
    child task (which inherited the tag) and blocks 200 ms; its sync dependency's thread job
    belongs to the child. The request's lane: blocked and thread, never starved."""
    srv = FakeServer()
    feed = ServerFeed(srv, origin_ns=T0, history_ns=60 * S)
    t = T0 + S
    srv.timeline.ingest({
        "tasks": [(1, t, None, "RequestResponseCycle.run_asgi", "h11_impl.py:1", 0, False),
                  (2, t + 2 * MS, None, "TaskHandle._run_coro", "anyio.py:1", 1, False)],
        "tags": [(1, "o1"), (2, "o1")],
        "steps": [t + 1 * MS, t + 2 * MS, 1,
                  t + 3 * MS, t + 4 * MS, 2,  # submits the dependency to the pool
                  t + 55 * MS, t + 255 * MS, 2,  # time.sleep(0.2) in the endpoint
                  t + 256 * MS, t + 257 * MS, 1],
        "ready": [2, t + 2 * MS, 1, t + 255 * MS],
        "jobs": [("anyio", "AnyIO worker thread|7", t + 4 * MS, t + 4 * MS, t + 54 * MS, 2, "db_session")],
        "done": [(2, t + 255 * MS, "ok"), (1, t + 257 * MS, "ok")],
        "t": t + 300 * MS,
    })
    feed.poll()
    m = match_handler(feed.live_indexes(), "o1", t, t + 258 * MS)
    assert m is not None and m[1] == 1  # the handler is the first task with the tag
    _task, states = feed.handler(*m)
    total = {}
    for st, s, e, *_more in states:
        total[st] = total.get(st, 0) + e - s
    assert total["blocked"] == 200 * MS
    assert total["thread"] == 50 * MS
    assert total.get("starved", 0) <= 3 * MS  # only the moments between creation and first step


def test_a_point_noted_in_a_tasks_last_step_is_kept():
    """mark_current in the step that ends the task, drained together with its end."""
    from coffeeshop_tui.scenarios.recorder import mark_current

    async def handler():
        await asyncio.sleep(0)
        mark_current("response-sent")

    async def main():
        await asyncio.create_task(handler(), name="handler")

    tl = record(main)
    (h,) = [t for t in tl.tasks.values() if t.name == "handler"]
    assert set(h.points) == {"response-sent"}
    assert h.created_ns <= h.points["response-sent"] <= h.done_ns
