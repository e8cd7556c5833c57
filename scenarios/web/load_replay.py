"""A recorded load-test feed, replayed: the load screen without a server (fast tests).

:func:`record` runs a real :class:`~.loadtest.LoadTest` and saves the :class:`~.loadtest.LoadUpdate`
objects it produced, one JSON line each. :class:`ReplayLoad` plays them back behind the
interface the load screen uses (``start``, ``update(view=...)``, ``knobs``, the ``set_*``
knobs, ``pause`` / ``resume``, ``restart``, ``stop``...): each :meth:`ReplayLoad.update`
returns the next recorded update (then the last one again), its lanes filtered by the view
options like the real lanes, its knobs showing what was set. Knob calls are kept in
:attr:`ReplayLoad.calls`.

Re-record a capture used by the tests (a real server, ~3 s; :data:`CAPTURES` says how each is made)::

    uv run python -m coffeeshop_tui.scenarios.web.load_replay tests/app_captures/load-sync-users.jsonl
    uv run python -m coffeeshop_tui.scenarios.web.load_replay tests/app_captures/load-lock-users.jsonl

This module does not import textual.
"""

from __future__ import annotations

import json
import os
import sys
import time

from coffeeshop_tui.scenarios.snapshot import Lane, Segment, Snapshot
from coffeeshop_tui.scenarios.web.explain_load import LoadStats
from coffeeshop_tui.scenarios.web.load_lanes import ViewOptions
from coffeeshop_tui.scenarios.web.load_settings import DEMO_ENDPOINTS, KNOBS, check_endpoint
from coffeeshop_tui.scenarios.web.loadtest import PAUSED, RUNNING_, STOPPED, LoadTest, LoadUpdate


# ----------------------------------------------------------------------------- (de)serialising
def update_to_dict(u: LoadUpdate) -> dict:
    s = u.snapshot
    return {
        "version": u.version, "status": u.status, "caption": u.caption, "error": u.error,
        "knobs": u.knobs, "notes": [list(n) for n in u.notes], "stats": u.stats.to_dict(),
        "snapshot": {
            "version": s.version, "live": s.live, "t_end": s.t_end, "blocks": list(s.blocks),
            "holding": list(s.holding) if s.holding else None, "extra": s.extra,
            "lanes": [{"key": ln.key, "label": ln.label, "kind": ln.kind, "task": ln.task,
                       "group": ln.group,
                       "segments": [[round(seg.start, 6), round(seg.end, 6), *seg[2:6], *([seg.wait] if seg.wait else [])]
                                    for seg in ln.segments]}
                      for ln in s.lanes],
        },
    }


def _segment(seg: list) -> Segment:
    """A Segment from its JSON list (its ``wait`` is a list there; older files have none)."""
    if len(seg) > 6:
        seg = [*seg[:6], tuple(seg[6]), *seg[7:]]
    return Segment(*seg)


def update_from_dict(d: dict) -> LoadUpdate:
    s = d["snapshot"]
    snap = Snapshot(
        version=s["version"], live=s["live"], t_end=s["t_end"], blocks=tuple(s["blocks"]),
        holding=tuple(s["holding"]) if s["holding"] else None, extra=dict(s["extra"]),
        lanes=tuple(Lane(ln["key"], ln["label"], ln["kind"], tuple(_segment(seg) for seg in ln["segments"]),
                         ln["task"], ln["group"]) for ln in s["lanes"]),
    )
    st = dict(d["stats"])  # (JSON has lists where LoadStats keeps tuples)
    st["w_hist"] = tuple(st.get("w_hist", ()))
    st["w_error_series"] = {k: tuple(v) for k, v in st.get("w_error_series", {}).items()}
    return LoadUpdate(d["version"], d["status"], snap, LoadStats(**st), d["caption"], d["error"],
                      dict(d["knobs"]), tuple(tuple(n) for n in d["notes"]))


def save(path: str, updates: list[LoadUpdate]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for u in updates:
            fh.write(json.dumps(update_to_dict(u), separators=(",", ":")) + "\n")


def load(path: str) -> list[LoadUpdate]:
    with open(path, encoding="utf-8") as fh:
        return [update_from_dict(json.loads(line)) for line in fh if line.strip()]


def record(path: str, n: int = 5, period: float = 0.3, **kwargs) -> list[LoadUpdate]:
    """Run a real LoadTest (``kwargs``), keep ``n`` updates ``period`` s apart, save them."""
    lt = LoadTest(**kwargs)
    updates = []
    try:
        lt.start()
        for _ in range(n):
            time.sleep(period)
            updates.append(lt.update())
    finally:
        lt.stop()
    save(path, updates)
    return updates


# ----------------------------------------------------------------------------- replay
class ReplayLoad:
    """Recorded updates behind the load screen's interface (see the module docstring)."""

    def __init__(self, updates: list[LoadUpdate], saved: bool = False) -> None:
        """``saved``: a user's saved recording (``open FILE``), where the screen's server and
        load keys say that nothing runs instead of pretending (the tests' replays: False)."""
        if not updates:
            raise ValueError("no updates to replay")
        self.updates = list(updates)
        first = self.updates[0]
        self.saved = saved
        self.demo = True
        self.external = False
        self.recorded = first.stats.recorded
        self.routes = tuple(DEMO_ENDPOINTS)
        self.view = ViewOptions(lane_mode=first.snapshot.extra.get("lane_mode", "requests"))
        self.server_pid = first.stats.server_pid
        self.error = None
        self.calls: list[tuple] = []
        self.last_view: ViewOptions | None = None  # what the last update() was asked to show
        self._knobs = dict(first.knobs)
        self._i = 0
        self._status = ""

    @classmethod
    def from_file(cls, path: str) -> ReplayLoad:
        return cls(load(path))

    # -- what the screen reads
    @property
    def endpoint(self) -> str:
        return self._knobs["endpoint"]

    @property
    def model(self) -> str:
        return self._knobs["model"]

    @property
    def lane_mode(self) -> str:
        return self.view.lane_mode

    @property
    def status(self) -> str:
        return self._status or self.updates[min(self._i, len(self.updates) - 1)].status

    def knobs(self) -> dict:
        return dict(self._knobs)

    def in_flight(self) -> int:
        return self.updates[max(0, self._i - 1)].stats.in_flight

    def start(self, load: bool = True) -> ReplayLoad:
        self.calls.append(("start", load))
        return self

    def update(self, view: ViewOptions | None = None) -> LoadUpdate:
        view = self.last_view = view or self.view
        u = self.updates[min(self._i, len(self.updates) - 1)]
        self._i += 1
        lanes = tuple(ln for ln in u.snapshot.lanes
                      if (view.threads or ln.kind != "thread") and (view.handlers or ln.kind != "task"))
        snap = Snapshot(u.snapshot.version + self._i, u.snapshot.live, u.snapshot.t_end, lanes,
                        u.snapshot.blocks, u.snapshot.warnings, u.snapshot.output, u.snapshot.holding,
                        u.snapshot.extra, loop=u.snapshot.loop)
        return LoadUpdate(u.version + self._i, self._status or u.status, snap, u.stats, u.caption,
                          u.error, dict(self._knobs), u.notes)

    @property
    def finished(self) -> bool:
        """Every recorded update was handed out."""
        return self._i >= len(self.updates)

    # -- what the screen turns (checked like the real knobs, kept in calls)
    def _set(self, name: str, value) -> None:
        value = KNOBS[name].check(value) if name != "endpoint" else check_endpoint(value, True)
        self.calls.append((name, value))
        self._knobs[name] = value

    def set_concurrency(self, n: int) -> None:
        self._set("concurrency", n)

    def set_rate(self, rate: float) -> None:
        self._set("rate", rate)

    def set_delay(self, delay: float) -> None:
        self._set("delay", delay)

    def set_endpoint(self, endpoint: str) -> None:
        self._set("endpoint", endpoint)

    def set_model(self, model: str) -> None:
        self._set("model", model)

    def set_pool_size(self, size: int) -> dict:
        self._set("pool_size", size)
        return {"total": size}

    def set_max_in_flight(self, n: int) -> dict:
        self._set("max_in_flight", n)
        return {"max_in_flight": n}

    def pause(self) -> None:
        self.calls.append(("pause",))
        self._status = PAUSED

    def resume(self) -> None:
        self.calls.append(("resume",))
        self._status = RUNNING_

    def restart(self) -> None:
        self.calls.append(("restart",))

    def retry_start(self) -> None:
        self.calls.append(("retry_start",))

    def kill_server(self) -> None:
        self.calls.append(("kill_server",))

    def stop(self, graceful: bool = False) -> None:
        if self._status != STOPPED:
            self.calls.append(("stop",))
        self._status = STOPPED


#: the test captures and how each is made (a real server, ~3 s each)
CAPTURES = {
    "load-sync-users.jsonl": dict(endpoint="/sync", concurrency=4, delay=0.2, pool_size=3, lane_mode="users",
                                  max_lanes=100),
    # tests/data/lock_app.py: handlers waiting on one asyncio.Lock, then a timer
    "load-lock-users.jsonl": dict(endpoint="/locked", app="lock_app:app", cwd="tests/data", delay=None,
                                  concurrency=3, lane_mode="users", max_lanes=100),
}

if __name__ == "__main__":  # pragma: no cover - re-records a test capture
    out = sys.argv[1] if len(sys.argv) > 1 else "load-sync-users.jsonl"
    recipe = dict(CAPTURES[os.path.basename(out)])
    if "cwd" in recipe:
        recipe["cwd"] = os.path.abspath(recipe["cwd"])
    ups = record(out, **recipe)
    with open(out, encoding="utf-8") as fh:  # paths of this checkout as {ROOT}: any checkout replays it
        text = fh.read().replace(json.dumps(os.getcwd() + os.sep)[1:-1], "{ROOT}" + os.sep)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"{out}: {len(ups)} updates, last: {ups[-1].caption}")
