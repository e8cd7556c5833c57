"""The client lanes of a load test (and the server handler lane under each), built from
view options passed in (:class:`ViewOptions`), never from flags flipped on a live object.

Two layouts (``ViewOptions.lane_mode``):

* ``requests`` -- one lane per request, newest first (the last ``max_lanes``);
* ``users`` -- one lane per user (closed model) or arrival slot (open model), its requests
  one after another: rows stay put. Finished requests go into their user's lane for good.

Client lane states (from ``snapshot.STATES``, so the timeline colours them): ``queued``
(intended start -> sent), ``waiting`` (sent -> first byte), ``running`` (first byte -> done),
``blocked`` (sent -> done of a request that FAILED; the segment's info names the error).

Only the load test's reader thread uses a :class:`LaneBuilder`. This module does not import
textual.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

from coffeeshop_tui.scenarios.snapshot import QUEUED, Lane, Segment
from coffeeshop_tui.scenarios.timeline import BLOCKED, RUNNING, WAITING
from coffeeshop_tui.scenarios.web.load_feed import trim_lane
from coffeeshop_tui.scenarios.web.load_match import match_handler, split_at
from coffeeshop_tui.scenarios.web.load_settings import LANE_MODES, LoadTestError, endpoint_path
from coffeeshop_tui.scenarios.web.loadgen_records import KIND_NAMES, OK, format_request_id

USER_GROUP = "users, one lane each (their requests one after another), then the server tasks"
REQUEST_GROUP = "requests, newest first: client lane, then the server task that handled it"
PRUNE_EVERY_NS = 2_000_000_000
PENDING_NS = 3_000_000_000  # a handler's events may still be on the way this long after its answer


@dataclass(frozen=True)
class ViewOptions:
    """What the lanes show: handler lanes, worker-thread lanes, one lane per user or request."""

    handlers: bool = True
    threads: bool = True
    lane_mode: str = "requests"

    def __post_init__(self) -> None:
        if self.lane_mode not in LANE_MODES:
            raise LoadTestError(f"lane mode must be one of {LANE_MODES}, got {self.lane_mode!r}")


def client_segments(intended: int, sent: int, first: int, done: int, kind: int, status: int,
                    now: int, sec, rid_s: str = "") -> tuple:
    """A request's client lane segments (0 for what did not happen yet)."""
    segs = []
    end = done or now
    s_at = sent or end
    who = f"{rid_s} " if rid_s else ""
    if s_at > intended:
        segs.append(Segment(sec(intended), sec(s_at), QUEUED, 0, f"{who}queued in the client"))
    if sent:
        if done and kind != OK:
            what = KIND_NAMES[kind] + (f" (HTTP {status})" if status else "")
            segs.append(Segment(sec(sent), sec(max(done, sent + 1000)), BLOCKED, 0, f"{who}failed: {what}"))
        else:
            fb = first or end
            if fb > sent:
                segs.append(Segment(sec(sent), sec(fb), WAITING, 0, f"{who}waiting for the server"))
            if first and done and done > first:
                segs.append(Segment(sec(first), sec(done), RUNNING, 0, f"{who}reading the answer"))
    return tuple(segs)


def _add_sorted(lane: list, segs: tuple) -> None:
    if lane and segs and lane[-1].start > segs[0].start:
        for seg in segs:
            bisect.insort(lane, seg, key=lambda x: x.start)
    else:
        lane.extend(segs)


class LaneBuilder:
    """Client (and handler) lanes of the newest requests, or of each user (see the module
    docstring). ``gens``: (generation, LoadGenerator) pairs; ``feed``: the ServerFeed or None."""

    def __init__(self, max_lanes: int, history_ns: int) -> None:
        self.max_lanes = max(1, max_lanes)
        self.history_ns = history_ns
        self.recent: deque = deque(maxlen=self.max_lanes)  # (gen, RequestRecord)
        self.slots_hidden = 0
        self._slot_client: dict[int, list[Segment]] = {}  # finished client segments
        self._slot_server: dict[int, list[Segment]] = {}  # finished handler segments
        self._slot_pending: dict[int, list] = {}  # handlers not finished / not seen yet
        self._slot_of: dict[tuple[int, int], int] = {}  # open model: in-flight request -> slot
        self._slot_busy: dict[int, tuple] = {}  # open model: slot -> (request, busy until ns)
        self._match: dict[tuple[int, int], tuple] = {}
        self._handler_cache: dict[tuple[int, int], tuple] = {}
        self._last_prune = 0

    # ------------------------------------------------------------------ input
    def finished(self, gen: int, r, path: str, users: bool, recorded: bool, sec) -> None:
        """A request finished (from the client feed)."""
        self.recent.append((gen, r))
        if not users:
            return
        slot = self._slot_for(gen, r.rid, r.user, r.intended_ns, r.done_ns)
        if slot is None:
            self.slots_hidden += 1
            return
        segs = client_segments(r.intended_ns, r.sent_ns, r.first_byte_ns, r.done_ns, r.kind,
                               r.status, 0, sec, f"{r.request_id} {path}")
        _add_sorted(self._slot_client.setdefault(slot, []), segs)
        if recorded and r.sent_ns:
            self._slot_pending.setdefault(slot, []).append((gen, r.rid, r.sent_ns, r.done_ns))

    def _slot_for(self, gen: int, rid: int, user: int, intended: int, done: int) -> int | None:
        if user >= 0:
            return user if user < self.max_lanes else None
        key = (gen, rid)
        slot = self._slot_of.get(key)
        if slot is not None:
            if done:
                del self._slot_of[key]
                if self._slot_busy.get(slot, (None,))[0] == key:
                    self._slot_busy[slot] = (key, done)
            return slot
        for k in range(self.max_lanes):
            b = self._slot_busy.get(k)
            if b is None or b[1] <= intended:
                self._slot_busy[k] = (key, done or (1 << 62))
                if not done:
                    self._slot_of[key] = k
                return k
        return None

    # ------------------------------------------------------------------ handlers
    def _find(self, feed, gen: int, rid: int, sent: int, done: int):
        key = (gen, rid)
        m = self._match.get(key)
        if m is None:
            m = match_handler(feed.live_indexes(), format_request_id(rid), sent, done)
            if m is not None:
                self._match[key] = m
        return m

    def _handler_segments(self, feed, ep, seq: int, rid_s: str, sec) -> tuple[tuple, bool]:
        """(segments, finished) of a handler task."""
        ck = (ep.index, seq)
        cached = self._handler_cache.get(ck)
        if cached is not None:
            return cached, True
        h = feed.handler(ep, seq)
        if h is None:
            return (), True
        t, raw = h
        raw, _later = split_at(raw, t.done_ns)  # tasks it spawned that outlived it: the loop lane's
        sent = feed.response_sent(ep, seq)
        after = f"{rid_s} · after the response"  # BackgroundTasks: the client has its answer
        # a wait says what it awaits (load_match.handler_states: ``info``, ``where``, ``wait``)
        segs = tuple(Segment(sec(s), sec(e), st, seq, after if sent and s >= sent else rid_s, where, wait)
                     for st, s, e, _info, where, wait in raw if e > s)
        if t.done_ns is not None:
            self._handler_cache[ck] = segs
        return segs, t.done_ns is not None

    # ------------------------------------------------------------------ lanes
    def build(self, now: int, gens, feed, view: ViewOptions, model: str, sec) -> list[Lane]:
        if view.lane_mode == "users":
            lanes, shown = self._user_lanes(now, gens, feed if view.handlers else None, model, sec)
        else:
            lanes, shown = self._request_lanes(now, gens, feed if view.handlers else None, sec)
        if now - self._last_prune > PRUNE_EVERY_NS:
            self.prune(now, shown, sec)
        return lanes

    def _user_lanes(self, now, gens, feed, model, sec) -> tuple[list[Lane], set]:
        live_client: dict[int, list] = {}
        live_server: dict[int, list] = {}
        shown = set()
        for gen, lg in gens:
            path = endpoint_path(lg.url)
            for r in lg.in_flight_requests():
                slot = self._slot_for(gen, r.rid, r.user, r.intended_ns, 0)
                if slot is None:
                    continue
                rid_s = format_request_id(r.rid)
                live_client.setdefault(slot, []).extend(client_segments(
                    r.intended_ns, r.sent_ns, 0, 0, OK, 0, now, sec, f"{rid_s} {path}"))
                if feed is not None and r.sent_ns:
                    shown.add((gen, r.rid))
                    m = self._find(feed, gen, r.rid, r.sent_ns, 0)
                    if m is not None:
                        segs, _done = self._handler_segments(feed, m[0], m[1], rid_s, sec)
                        live_server.setdefault(slot, []).extend(segs)
        if feed is not None:
            for slot, pending in self._slot_pending.items():
                keep = []
                for item in pending:
                    gen, rid, sent, done = item
                    m = self._find(feed, gen, rid, sent, done)
                    if m is None:
                        if now - done < PENDING_NS:
                            keep.append(item)
                            shown.add((gen, rid))
                        continue
                    ep, seq = m
                    segs, finished = self._handler_segments(feed, ep, seq, format_request_id(rid), sec)
                    if not finished:  # answered, its task ends a moment later: drawn then
                        keep.append(item)
                        shown.add((gen, rid))
                        continue
                    _add_sorted(self._slot_server.setdefault(slot, []), segs)
                    self._handler_cache.pop((ep.index, seq), None)
                    self._match.pop((gen, rid), None)
                pending[:] = keep
        word = "user" if model == "closed" else "slot"
        lanes = []
        for slot in sorted(set(self._slot_client) | set(live_client)):
            label = f"{word} {slot + 1}"
            lanes.append(Lane(f"user-{slot}", label, "client",
                              tuple(self._slot_client.get(slot, ())) + tuple(live_client.get(slot, ())),
                              0, USER_GROUP))
            if feed is not None:
                segs = tuple(self._slot_server.get(slot, ())) + tuple(live_server.get(slot, ()))
                lanes.append(Lane(f"user-{slot}-server", " " * len(label) + " └ server", "task", segs,
                                  segs[-1].task if segs else 0, USER_GROUP))
        return lanes, shown

    def _request_lanes(self, now, gens, feed, sec) -> tuple[list[Lane], set]:
        items = []  # (gen, rid, intended, sent, first, done, kind, status, path)
        seen = set()
        for gen, lg in gens:
            path = endpoint_path(lg.url)
            for r in lg.in_flight_requests():
                items.append((gen, r.rid, r.intended_ns, r.sent_ns, 0, 0, OK, 0, path))
                seen.add((gen, r.rid))
        targets = {gen: lg.targets for gen, lg in gens}
        for gen, r in self.recent:
            if (gen, r.rid) in seen:
                continue
            tg = targets.get(gen)
            path = endpoint_path(tg[r.target]) if tg and r.target < len(tg) else ""
            items.append((gen, r.rid, r.intended_ns, r.sent_ns, r.first_byte_ns, r.done_ns, r.kind,
                          r.status, path))
        items.sort(key=lambda x: (x[0], x[1]), reverse=True)
        lanes = []
        shown = set()
        for gen, rid, intended, sent, first, done, kind, status, path in items[: self.max_lanes]:
            shown.add((gen, rid))
            ident = f"#{rid}" if gen == 1 else f"#{gen}:{rid}"
            key = f"{gen}.{rid}"
            rid_s = format_request_id(rid)
            lanes.append(Lane(f"client-{key}", f"{ident} {path}", "client",
                              client_segments(intended, sent, first, done, kind, status, now, sec, rid_s),
                              0, REQUEST_GROUP))
            if feed is not None:
                m = self._find(feed, gen, rid, sent, done) if sent else None
                segs: tuple = ()
                seq = 0
                if m is not None:
                    seq = m[1]
                    segs, _done = self._handler_segments(feed, m[0], seq, rid_s, sec)
                lanes.append(Lane(f"server-{key}", " " * len(ident) + " └ server", "task", segs, seq,
                                  REQUEST_GROUP))
        return lanes, shown

    # ------------------------------------------------------------------ memory
    def prune(self, now: int, shown: set, sec) -> None:
        self._last_prune = now
        for k in [k for k in self._match if k not in shown]:
            del self._match[k]
        keep = {(m[0].index, m[1]) for m in self._match.values()}
        for k in [k for k in self._handler_cache if k not in keep]:
            del self._handler_cache[k]
        horizon = now - self.history_ns  # handlers not drawn meanwhile (hidden): forget old ones
        for pending in self._slot_pending.values():
            pending[:] = [p for p in pending if p[3] >= horizon]
        cut = sec(now - self.history_ns)
        cut_late = sec(now - self.history_ns - self.history_ns // 4)
        for lanes in (self._slot_client, self._slot_server):
            for lane in lanes.values():
                trim_lane(lane, cut, cut_late)
            for k in [k for k, v in lanes.items() if not v]:
                del lanes[k]
