"""The loop panel: what the event loop held at the cursor's time (``w``).

The answer comes from ``scenarios.loop_moment.loop_at`` over the snapshot's recording; this
module only words it: what ran, the ready queue (and how each handle got there), the next
timers and, while the loop sat in select, its timeout and the fds it waited on.
"""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.widgets import Static

from coffeeshop_tui.scenarios.explain import fmt_s
from coffeeshop_tui.scenarios.loop_moment import NEW_TASK, LoopMoment, Ready

from .quiet import update_static

#: at most this many entries of a list on screen (the rest are counted)
SHOWN = 6


def _who(task: int, label: Callable[[int], str]) -> str:
    return label(task) if task else "callback"


def _ready_words(r: Ready, label: Callable[[int], str]) -> str:
    who = _who(r.task, label)
    if r.what == NEW_TASK:
        return f"{who} ← new task" + (f" of {label(r.by)}" if r.by else "")
    if r.how == "call_soon":  # by: the one task that ran in the iteration before, if only one did
        return f"{who} ← call_soon" + (f" by {label(r.by)}" if r.by else "")
    if r.how == "timer":
        by = f", set by {label(r.by)}" if r.by and r.by != r.task else ""
        return f"{who} ← {r.what}{by}"
    return f"{who} ← {r.what}"


def _items(out: Text, title: str, items: list[str], total: int | None = None) -> None:
    total = len(items) if total is None else total
    out.append(f"\n{title} ({total}): ", style="bold")
    if not items:
        out.append("empty", style="dim")
        return
    for i, words in enumerate(items[:SHOWN]):
        if i:
            out.append(" · ", style="dim")
        out.append(words)
    if total > SHOWN:
        out.append(f" · +{total - SHOWN} more", style="dim")


def held_at(snap, t: float) -> tuple[int, float] | None:
    """(task, since_s) of the step that holds the loop at ``t`` and had not ended when ``snap``
    was taken (``Snapshot.holding``): at the live edge of a block, the recorded steps lack it.
    (-1, t): ``t`` is the live edge of a live run, where what the loop does now (a step or a
    select) is recorded only when it ends."""
    if snap is None or not snap.live:
        return None
    held = getattr(snap, "holding", None)
    if held is not None and held[1] <= t <= snap.t_end:
        return held[0], held[1]
    if t >= snap.t_end:
        return -1, t
    return None


def moment_text(m: LoopMoment | None, t_s: float, label: Callable[[int], str],
                held: tuple[int, float] | None = None, behind: tuple | None = None) -> Text:
    """The panel's text for the moment ``m`` (at ``t_s`` seconds into the run).

    ``held``: (task, since_s) of a step that holds the loop at ``t_s`` and has not ended yet
    (the live edge during a block): the recorded steps do not have it, the loop lane does.
    ``behind``: then, ``loop_moment.queued_behind`` (entries, count): what the select before
    it queued, less what ran since."""
    out = Text(overflow="fold")
    out.append(f"Loop at {fmt_s(t_s)}", style="bold")
    if m is None or not m.recorded:
        out.append("  not recorded: this run has no loop-queue data (recorded before "
                   "coffeeshop-tui kept it)", style="dim")
        return out
    t = m.t_ns
    if m.state == "select":
        out.append(": idle in select", style="bold green")
        waited = (t - m.select_start_ns) / 1e9
        if m.timeout_ns is None:
            out.append(f" for {fmt_s(waited)}, no timeout: only I/O can wake it")
        else:
            out.append(f" for {fmt_s(waited)}, timeout {fmt_s(m.timeout_ns / 1e9)}")
            if m.timers and abs(m.timers[0].due_ns - (m.select_start_ns + m.timeout_ns)) < 2_000_000:
                out.append(" (= the next timer)", style="dim")
            elif m.timeout_ns == 0:
                out.append(" (handles were ready)", style="dim")
    elif m.state == "running":
        r = m.running
        out.append(": running ", style="bold")
        out.append(_who(r.task, label), style="bold cyan")
        out.append(f", {fmt_s((t - r.runs_ns) / 1e9)} into a {fmt_s((r.ends_ns - r.runs_ns) / 1e9)} step")
        out.append(" · " + _ready_words(r, label).partition(" ← ")[2], style="dim")
    elif m.state == "between" and held is not None and held[0] == -1:
        out.append(": the live edge (the select or step under way now is recorded when it ends)",
                   style="dim")
    elif m.state == "between" and held is not None:
        out.append(": running ", style="bold")
        out.append(_who(held[0], label), style="bold cyan")
        out.append(f", {fmt_s(t_s - held[1])} into a step that has not ended yet")
    elif m.state == "between":
        out.append(": between steps (asyncio's own bookkeeping)", style="dim")
    else:
        out.append(": before the loop's first iteration", style="dim")
    ready = [_ready_words(r, label) for r in m.ready]
    if held is not None and not ready and m.state == "between" and behind is not None and held[0] != -1:
        # the live edge during a step: what the select before it queued, less what ran since
        entries, n = behind
        soon = sum(1 for r in entries if not r.certain)
        named = [_ready_words(r, label) for r in entries if r.certain]
        items = ([f"{soon} call_soon'd (named once they run)"] if soon else []) + named[:SHOWN - 1]
        out.append(f"\nReady queue ({n}, from the select before this step): ", style="bold")
        out.append(" · ".join(items) if items else "empty", style="" if items else "dim")
        rest = n - soon - len(named[:SHOWN - 1])
        if rest > 0:
            out.append(f" · +{rest} more", style="dim")
    elif held is not None and not ready and m.state == "between":
        # the live edge: the queue is read from the steps that ran after ``t``, and the step (or
        # select) under way has not ended: what waits behind it is not recorded yet
        out.append("\nReady queue: ", style="bold")
        out.append("not known yet (read from the steps that run after this one: "
                   "recorded when it ends)", style="dim")
    else:
        _items(out, "Ready queue", ready, max(m.n_ready, len(ready)))
    timers = []
    for x in m.timers:
        due = (x.due_ns - t) / 1e9
        when = f"overdue {fmt_s(-due)}" if x.overdue else f"in {fmt_s(due)}"
        who = f" {label(x.task)}" if x.task else ""
        timers.append(f"{when} {x.what}{who}")
    _items(out, "Next timers", timers, m.n_timers)
    if m.state == "select":
        waits = [f"fd {w.fd} {w.mode} {w.what}" + (f" ({label(w.task)})" if w.task else "")
                 for w in m.waiting_on]
        _items(out, "Waits on", waits)
    if m.later:  # last: the least sure (a small panel cuts it first)
        new = [_ready_words(r, label) for r in m.later if r.what == NEW_TASK]
        rest = [r for r in m.later if r.what != NEW_TASK]
        more = max(0, m.n_later - len(m.later))  # beyond the listed ones: counted only
        if new:
            _items(out, "For the next iteration", new)
        if rest or more:
            sure = all(r.certain for r in rest)
            out.append(f"\n+{len(rest) + more} call_soon'd for the next iteration")
            out.append("" if sure else " (by the end of this one: when is not recorded)", style="dim")
    return out


class LoopPanel(Static):
    """Shows :func:`moment_text`; hidden until ``w``."""

    def show(self, text: Text) -> None:
        update_static(self, text)
