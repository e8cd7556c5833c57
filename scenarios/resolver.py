"""Raw recorder batches -> resolved batches: the part of the drain that need not run in the
recorded process.

The recorder (``recorder.py``) only *takes* its buffers at each drain (``Recorder.drain_raw``:
raw ``id()`` values, the step buffer as packed int64). Turning raw ids into task numbers
(using creation and end times, so a recycled address is not confused with an earlier task),
closing finished tasks and passing tags down to child tasks is done here, by one
:class:`Resolver` per recording: in the recorded process for ``Recorder.drain()``, or in the
parent for children that ship raw batches (``protocol.Reader`` resolves ``raw`` messages), so
the program under study does not pay for it (measured: bench/tracer_overhead.py).

A raw batch's arrays (``steps``: STEP_COLS int64 a step; ``meta``: created_ns, parent raw id,
raw id a new task) are bytes-like objects of native int64 (``Recorder.drain_raw``);
``protocol.encode`` sends them as base64 text.
"""

from __future__ import annotations

import base64
from array import array

from . import loop_queue, recorder_hooks
from .recorder_hooks import STEP_COLS  # int64 values a recorded step (the one definition)


def _fast():
    """The compiled module when the compiled recorder is in use (one switch for both)."""
    return recorder_hooks._fast


def _arr(v, typecode: str = "q") -> array:
    """A packed column back (base64 off the wire, bytes in this process, or a list)."""
    if isinstance(v, array):
        return v
    a = array(typecode)
    if isinstance(v, str):  # off the wire
        a.frombytes(base64.b64decode(v))
    elif isinstance(v, (bytes, bytearray, memoryview)):  # in the same process
        a.frombytes(v)
    elif v:
        a.extend(v)
    return a


class Resolver:
    """Resolves the raw batches of one recording, in order (it keeps the task history)."""

    def __init__(self, max_steps: int = 2_000_000) -> None:
        self.max_steps = max_steps
        self._seq = 0
        self._live: dict[int, list] = {}  # task seq -> its entry in _hist
        self._dropped = 0
        self._tag_of: dict[int, str] = {}  # live task seq -> its tag (children inherit it)
        # raw id -> [[seq, created_ns, done_ns|None, None, named, last_end, None], ...] (tasks with
        # that address, oldest first; a task that never ends stays, as do its few bytes)
        self._hist: dict[int, list] = {}
        self._eager: list = []  # eager first steps whose task comes with a later batch
        self._timers = loop_queue.TimerBook()  # the loop's timers numbered, cancels matched

    def resolve(self, raw: dict) -> dict:
        """One raw batch as the recorder's JSON-ready batch (task ids resolved; 0 = no task)."""
        live = self._live
        final = raw.get("final", False)
        finished = zip(_arr(raw.get("done_ids")), _arr(raw.get("done_ts")), raw.get("done_hows", ()),
                       raw.get("done_names", ()))
        late_names = raw.get("late_names", ())
        ready = _arr(raw.get("ready"))
        raw_steps = _arr(raw.get("steps"))
        n = len(raw_steps)
        codes = raw.get("codes", ())
        created = ((*codes[i], name) for i, name in zip(_arr(raw.get("new_code")), raw.get("new_names", ())))
        created_meta = _arr(raw.get("meta"))
        eager = self._eager + list(raw.get("eager", ()))
        self._eager = []

        tasks_out = []
        hist = self._hist
        names = []
        for (coro, where, name), t, parent_raw, rid in zip(created, created_meta[0::3],
                                                           created_meta[1::3], created_meta[2::3]):
            self._seq += 1
            seq = self._seq
            entry = [seq, t, None, None, True, t, None]
            names.append([seq, name])
            hist.setdefault(rid, []).append(entry)
            live[seq] = entry
            tasks_out.append([seq, t, None, coro, where, self._resolve(parent_raw, t), False])
        for rid, t, name in late_names:
            seq = self._resolve(rid, t)
            if seq:
                names.append([seq, name])
        dropped = 0
        if n // STEP_COLS > self.max_steps:
            dropped = n // STEP_COLS - self.max_steps
            raw_steps = raw_steps[dropped * STEP_COLS:]
        resolve = self._resolve
        # Fast path: a raw id with one task in its history (nearly all of them).
        single = {rid: lst[0] for rid, lst in hist.items() if len(lst) == 1}
        fast = _fast()
        if fast is not None:  # the same loop, compiled (~10x faster: the parent keeps up)
            steps_out = fast.resolve_steps(raw_steps, STEP_COLS, single, hist, live, resolve)
        else:
            seqs = []
            add = seqs.append
            starts, ends, raws = raw_steps[0::STEP_COLS], raw_steps[1::STEP_COLS], raw_steps[2::STEP_COLS]
            for t0, t1, rid in zip(starts, ends, raws):
                e = single.get(rid)
                if e is None:
                    seq = resolve(rid, t0) if rid in hist else 0
                    if seq:
                        entry = live.get(seq)
                        if entry is not None and t1 > entry[5]:
                            entry[5] = t1
                elif e[1] <= t0 and (e[2] is None or t0 <= e[2]):
                    seq = e[0]
                    if t1 > e[5]:
                        e[5] = t1
                else:
                    seq = 0
                add(seq)
            steps_out = [x for triple in zip(starts, ends, seqs) for x in triple]
        self._dropped += dropped
        # eager first steps ran inside create_task: add them as steps of their own
        for item in eager:
            rid, t, eager_end = item
            seq = resolve(rid, t)
            if seq and seq in live:
                steps_out += (t, eager_end, seq)
                live[seq][5] = max(live[seq][5], eager_end)
            elif not final:
                self._eager.append(item)  # its task comes with the next drain

        ready_out = []
        for rid, t in zip(ready[0::2], ready[1::2]):
            seq = resolve(rid, t)
            if seq:
                ready_out += (seq, t)
        wait_at = _arr(raw.get("wait_at"))
        whys = raw.get("wait_why", ())
        waits_out = []
        for rid, t, i in zip(wait_at[0::2], wait_at[1::2], _arr(raw.get("wait_idx"))):
            seq = resolve(rid, t)
            if seq:
                kind, detail, where, other = whys[i]
                waits_out.append([seq, t, kind, detail, where, resolve(other, t) if other else 0])
        loop_out = raw.get("loop")
        if loop_out:  # loop_queue.py's drain, task ids left raw
            loop_out = loop_queue.resolve_drain(loop_out, resolve, _arr, self._timers, final)
        jobs_out = [[pool, th, sub, s, e, resolve(rid, sub), label]
                    for pool, th, sub, s, e, rid, label in raw.get("jobs", ())]
        samples_out = [[t, w, fn, resolve(rid, t)] for t, w, fn, rid in raw.get("samples", ())]
        points_out = [[seq, t, what] for seq, t, what in
                      ((resolve(rid, t), t, what) for rid, t, what in raw.get("marks", ()))
                      if seq]  # resolved here: closing (below) forgets finished tasks
        tags_out = self._inherit_tags(tasks_out, [(resolve(rid, t), t, label)
                                                  for rid, t, label in raw.get("tags", ())])

        # Close finished tasks: done at the end of their last step.
        done_out = []
        for rid, t_done, outcome, name in finished:
            seq = resolve(rid, t_done)
            entry = live.pop(seq, None)
            if entry is None:
                continue
            entry[2] = max(t_done, entry[5])
            names.append([seq, name])
            done_out.append([seq, entry[2], outcome])
            self._tag_of.pop(seq, None)
        if done_out:
            # (the newest task of an address not done: kept; else all done? nearly always one)
            for rid in [r for r, lst in hist.items()
                        if lst[-1][2] is not None and (len(lst) == 1 or all(e[2] is not None for e in lst))]:
                del hist[rid]

        return {
            "t": raw.get("t", 0),
            "tasks": tasks_out,
            "names": names,
            "done": done_out,
            "steps": steps_out,
            "ready": ready_out,
            "waits": waits_out,
            "loop": loop_out,
            "iters": list(raw.get("iters", ())),
            "samples": samples_out,
            "jobs": jobs_out,
            "warnings": [list(w) for w in raw.get("warnings", ())],
            "tags": tags_out,
            "points": points_out,
            "gil": [list(g) for g in raw.get("gil", ())],
            "gauges": list(raw.get("gauges", ())),
            "dropped": dropped,
        }

    def _inherit_tags(self, tasks_out: list, tags: list) -> list:
        """[[seq, label]]: the tags given, plus one for each new task whose creator carried a
        tag when it created it (the one rule: a task inherits its creator's tag). Tags and
        creations are taken in time order, so a child created before its parent was tagged
        inherits nothing."""
        tag_of = self._tag_of
        if not tags and not tag_of:  # nothing tagged (most programs): nothing to inherit
            return []
        events = [(t, 0, seq, label) for seq, t, label in tags if seq]
        events += [(q[1], 1, q[0], q[5]) for q in tasks_out if q[5]]
        events.sort(key=lambda ev: (ev[0], ev[1]))
        out = []
        for _t, kind, seq, x in events:
            if kind == 0:
                tag_of[seq] = x
                out.append([seq, x])
            else:
                label = tag_of.get(x)
                if label is not None:
                    tag_of[seq] = label
                    out.append([seq, label])
        return out

    def _resolve(self, rid: int, t: int) -> int:
        if not rid:
            return 0
        for entry in reversed(self._hist.get(rid, ())):
            if entry[1] <= t:
                if entry[2] is None or t <= entry[2]:
                    return entry[0]
                return 0
        return 0


class Renumber:
    """Makes the batches of several recordings (one a loop) one stream: each recording's task
    numbers are shifted past those of the recordings before it, and its tasks labelled
    (``label_of(recording)``, or the label given)."""

    def __init__(self, label_of=lambda recording: "", thread_of=lambda recording: None) -> None:
        self._label_of = label_of
        self._thread_of = thread_of
        self._offset: dict[int, int] = {}
        self._top = 0
        self._loop_thread: str | None = None  # the thread whose loops' queues are kept

    def __call__(self, recording: int, batch: dict, label: str | None = None,
                 thread: str | None = None) -> dict:
        off = self._offset.setdefault(recording, self._top)
        if label is None:
            label = self._label_of(recording)
        if thread is None:
            thread = self._thread_of(recording) or "MainThread"

        def q(seq):
            if not seq:
                return seq
            self._top = max(self._top, seq + off)
            return seq + off

        def named(name, seq):
            if not label:
                return name
            return f"{label} · {name or f'Task-{seq}'}"

        out = dict(batch)
        out["tasks"] = [[q(s), t, named(n, s), c, w, q(p), e] for s, t, n, c, w, p, e in batch.get("tasks", ())]
        out["names"] = [[q(s), named(n, s)] for s, n in batch.get("names", ())]
        out["tags"] = [[q(s), lab] for s, lab in batch.get("tags", ())]
        out["points"] = [[q(s), t, what] for s, t, what in batch.get("points", ())]
        out["done"] = [[q(s), t, o] for s, t, o in batch.get("done", ())]
        steps = list(batch.get("steps", ()))
        steps[2::3] = [q(s) for s in steps[2::3]]
        out["steps"] = steps
        ready = list(batch.get("ready", ()))
        ready[0::2] = [q(s) for s in ready[0::2]]
        out["ready"] = ready
        out["waits"] = [[q(s), t, k, d, w, q(o)] for s, t, k, d, w, o in batch.get("waits", ())]
        out["samples"] = [[t, w, fn, q(s)] for t, w, fn, s in batch.get("samples", ())]
        out["jobs"] = [[p, th, sub, s, e, q(task), lab] for p, th, sub, s, e, task, lab in batch.get("jobs", ())]
        lq = batch.get("loop")
        if lq and self._loop_thread is None:
            self._loop_thread = thread
        if lq and thread != self._loop_thread:
            # loops of two threads run at the same time: what the loop held
            # (scenarios/loop_queue.py) is told for the loops of one thread, the first's
            out["loop"] = None
        elif lq:
            out["loop"] = {**lq,
                           "timers": [[c, w, no, q(s), lab] for c, w, no, s, lab in lq.get("timers", ())],
                           "regs": [[t, fd, ev, rl, q(rs), wl, q(ws)]
                                    for t, fd, ev, rl, rs, wl, ws in lq.get("regs", ())]}
        return out


class Resolvers:
    """The resolvers of one stream of raw batches, one per recording (``rec`` in a message)."""

    def __init__(self) -> None:
        self._by_rec: dict = {}
        self._renumber = Renumber()

    def batch_message(self, msg: dict) -> dict:
        """A ``raw`` protocol message as the ``batch`` message it stands for (with ``rec`` and
        ``label``: one recording of several, renumbered and labelled as :class:`Renumber` does)."""
        rec = msg.get("rec")
        res = self._by_rec.get(rec)
        if res is None:
            res = self._by_rec[rec] = Resolver(msg.get("max_steps") or 2_000_000)
        batch = res.resolve(msg)
        if rec is not None:
            batch = self._renumber(rec, batch, msg.get("label") or "", msg.get("thread"))
        extra = {k: msg[k] for k in ("output",) if k in msg}
        return {"type": "batch", **batch, **extra}
