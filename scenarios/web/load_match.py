"""Which server handler task served which client request: ONE matcher, live and in the report.

The load generator sends ``x-request-id: r000042``; the server's LabMiddleware tags the
handler task with it (``TaskInfo.tag``). Ids restart with every generator (a model switch,
a resume), and a server restart starts a new recording (an *epoch*), so a tag alone is not
unique: the handler is the FIRST task with that tag created while the request was out
(``sent - slack <= created <= done + slack``), newest epoch first. The tasks it creates
(a middleware's endpoint task, a streaming task, tasks the handler spawns) inherit its tag
in the recording: :func:`request_tasks` lists them.

* :func:`index_tasks` -- ``tag -> [(created_ns, seq)]`` of a Timeline's tasks (the report);
  the live feed grows the same index incrementally (:mod:`.load_feed`);
* :func:`match_handler` -- the match, from such indexes (pure: tested without a server);
* :func:`handler_states` -- the handler's ``(state, start, end, info, where, wait)`` with its
  thread jobs and what each wait awaits (``snapshot.with_reasons``);
* :func:`request_states` -- the same over ALL the request's tasks, merged into one lane
  (:func:`merge_states`): the request's own block shows as ``blocked`` even when it ran in
  a child task while the handler task waited for it, never as starved;
* :func:`block_phase` -- THE rule for a block of a request's task: during the request, after
  its response (``BackgroundTasks``), or after the request ended (a spawned task that
  outlived it: never the request's own share).

This module does not import textual.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from coffeeshop_tui.scenarios.snapshot import IO, LOCK, QUEUED, split_waiting_info, with_reasons
from coffeeshop_tui.scenarios.web.middleware import RESPONSE_SENT  # the point LabMiddleware notes
from coffeeshop_tui.scenarios.timeline import BLOCKED, GIL, RUNNING, STARVED, THREAD, WAITING
from coffeeshop_tui.scenarios.wait_reasons import CATEGORY

MATCH_SLACK_NS = 2_000_000  # a handler task is created a moment after its client sent the request
NOT_DONE = 1 << 62


def add_to_index(index: dict, tag: str, created_ns: int, seq: int) -> None:
    index.setdefault(tag, []).append((created_ns, seq))


def index_tasks(tasks: dict) -> dict[str, list[tuple[int, int]]]:
    """tag -> [(created_ns, seq)] in creation order, for every tagged task."""
    index: dict[str, list[tuple[int, int]]] = {}
    for seq, t in sorted(tasks.items()):
        if t.tag:
            add_to_index(index, t.tag, t.created_ns, seq)
    return index


def match_handler(indexes: Sequence[tuple[Any, dict]], tag: str, sent_ns: int,
                  done_ns: int) -> tuple[Any, int] | None:
    """(epoch, task seq) of the handler of request ``tag`` sent at ``sent_ns`` and done at
    ``done_ns`` (0: not done yet), or None. ``indexes``: (epoch, tag index), oldest first."""
    lo = (sent_ns or 0) - MATCH_SLACK_NS
    hi = (done_ns + MATCH_SLACK_NS) if done_ns else NOT_DONE
    for ep, index in reversed(indexes):
        for created, seq in index.get(tag, ()):  # the first: its children carry the tag too
            if lo <= created <= hi:
                return ep, seq
    return None


def request_tasks(index: dict, tag: str, root_created: int, done_ns: int) -> list[int]:
    """Every task of the request whose handler (first tagged task) was created at
    ``root_created``: the tasks with its tag created from then until it was done."""
    hi = (done_ns + MATCH_SLACK_NS) if done_ns else NOT_DONE
    return [seq for created, seq in index.get(tag, ()) if root_created <= created <= hi]


def handler_states(tl, seq: int, jobs: Iterable) -> list[tuple]:
    """The handler task's segments ``(state, start_ns, end_ns, info, where, wait)``: its waits
    by what they await (``lock`` / ``io`` / ``waiting``, the reason in ``info``, ``where``
    and ``wait``: ``snapshot.with_reasons``), those for its own thread jobs split into
    ``queued`` (for a free thread) and ``thread`` (running there); a long step in which the
    loop thread waited for the GIL is ``gil``, not ``blocked``."""
    segs = split_waiting_info(with_reasons(tl, seq, tl.task_segments(seq)),
                              sorted(jobs, key=lambda j: j.submit_ns), tl.origin, tl.block_ns)
    gil = tl.gil_starts
    if gil:
        segs = [(GIL, *x[1:]) if x[0] == BLOCKED and x[1] in gil else x for x in segs]
    return segs


#: When a request's tasks overlap, the lane shows the state that says most about the request
#: (a wait for a lock or a socket says more than a plain wait, often for the request's own child task).
STATE_RANK = {BLOCKED: 9, GIL: 8, RUNNING: 7, THREAD: 6, QUEUED: 5, STARVED: 4, LOCK: 3, IO: 2, WAITING: 1}


def _rank(key: tuple) -> tuple:
    """A merge key's rank: its state's, then (equal states) a wait whose reason says what it
    awaits (a timer, lock, socket...) before one for another task or future, then unknown."""
    wait = key[3] if len(key) > 3 else ()
    cat = CATEGORY.get(wait[0]) if wait else None
    return STATE_RANK.get(key[0], 0), 2 if cat not in (None, "other") else 1 if cat else 0


def merge_states(lists: Sequence[Sequence[tuple]]) -> list[tuple]:
    """Several tasks' ``(state, start, end, *more)`` lists (``more``: e.g. handler_states'
    info, where, wait) -> one non-overlapping list: at each moment the highest-ranked segment
    of any task (:data:`STATE_RANK`, then :func:`_rank`); equal neighbours merge."""
    if len(lists) == 1:
        return list(lists[0])
    events = sorted((x[1] if d == 1 else x[2], -d, i, d, (x[0], *x[3:]))
                    for i, x in enumerate(seg for lst in lists for seg in lst if seg[2] > seg[1])
                    for d in (1, -1))
    count: dict[tuple, int] = {}  # key -> segments covering the sweep now (a sweep: n log n)
    out: list[tuple] = []
    i, n = 0, len(events)
    while i < n:
        x = events[i][0]
        while i < n and events[i][0] == x:
            key, d = events[i][4], events[i][3]
            count[key] = count.get(key, 0) + d
            i += 1
        if i == n:
            break
        live = [k for k, c in count.items() if c > 0]
        if not live:
            continue
        best = max(live, key=_rank)
        nxt = events[i][0]
        if out and (out[-1][0], *out[-1][3:]) == best and out[-1][2] == x:
            out[-1] = (best[0], out[-1][1], nxt, *best[1:])
        else:
            out.append((best[0], x, nxt, *best[1:]))
    return out


def request_states(tl, seqs: Iterable[int], jobs_by_task: dict) -> list[tuple]:
    """One lane for a request: :func:`handler_states` of each of its tasks, merged."""
    return merge_states([handler_states(tl, seq, jobs_by_task.get(seq, ()))
                         for seq in seqs if seq in tl.tasks])


def response_sent_ns(tl, seqs: Iterable[int]) -> int:
    """When the request's last body byte was sent (the first such point noted by any of its
    tasks), or 0 if not (yet) known: work of the request after it (``BackgroundTasks``)
    runs *after the response*."""
    times = [tl.tasks[q].points[RESPONSE_SENT] for q in seqs
             if q in tl.tasks and RESPONSE_SENT in tl.tasks[q].points]
    return min(times) if times else 0


def after_response_ns(states: Sequence[tuple[str, int, int]], sent_ns: int) -> int:
    """How long the request's tasks ran, blocked or used threads after its response was sent."""
    if not sent_ns:
        return 0
    return sum(x[2] - max(x[1], sent_ns) for x in states
               if x[2] > sent_ns and x[0] in (RUNNING, BLOCKED, GIL, THREAD, QUEUED))


def request_root(tl, seq: int) -> int:
    """The first task of ``seq``'s request: its topmost ancestor with the same tag."""
    t = tl.tasks.get(seq)
    if t is None or not t.tag:
        return seq
    root, p = seq, t.parent
    while p in tl.tasks and tl.tasks[p].tag == t.tag:
        root, p = p, tl.tasks[p].parent
    return root


#: When a block of a request's task ran (:func:`block_phase`): while the request was handled,
#: after its response was sent (``BackgroundTasks``: the ASGI call still runs), or after the
#: request's ASGI call ended (a task it spawned and left behind: it outlived its request).
DURING, AFTER_RESPONSE, OUTLIVED = "during", "after_response", "outlived"


def block_phase(tl, index: dict, seq: int, s: int, e: int) -> str:
    """THE rule for where a block ``[s, e]`` of task ``seq`` belongs: ``""`` (no request),
    :data:`DURING`, :data:`AFTER_RESPONSE` or :data:`OUTLIVED`, by its middle (the step that
    sends the last byte may go straight on into a background job). A task keeps its
    request's tag for life (who made it); a block after the request's first task ended is
    not the request's work any more, only spawned by it."""
    root = request_root(tl, seq)
    t = tl.tasks.get(root)
    if t is None or not t.tag:
        return ""
    mid = s + (e - s) // 2
    if t.done_ns is not None and mid > t.done_ns:
        return OUTLIVED
    sent = response_sent_ns(tl, request_tasks(index, t.tag, t.created_ns, t.done_ns or 0) or [root])
    return AFTER_RESPONSE if sent and sent <= mid else DURING


def block_fields(tl, index: dict, seq: int, s: int, e: int) -> dict:
    """A block row's request fields (live rows, whole run, report): ``request_id``,
    ``after_response`` and ``outlived`` (:func:`block_phase`)."""
    t = tl.tasks.get(seq)
    rid = t.tag if t is not None else ""
    phase = block_phase(tl, index, seq, s, e) if rid else ""
    return {"request_id": rid, "after_response": phase == AFTER_RESPONSE, "outlived": phase == OUTLIVED}


def split_at(states: Sequence[tuple], end_ns: int | None):
    """(the states up to ``end_ns``, those after it): a request's own lane ends when its
    first task ends; what its spawned tasks did later outlived it. ``(state, start, end,
    *more)`` in and out."""
    if not end_ns:
        return list(states), []
    before, after = [], []
    for st, s, e, *more in states:
        if s < end_ns:
            before.append((st, s, min(e, end_ns), *more))
        if e > end_ns:
            after.append((st, max(s, end_ns), e, *more))
    return before, after
