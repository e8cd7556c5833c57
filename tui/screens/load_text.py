"""The load screen's numbers as text: the stats block, the latency histogram, sparklines.

Pure functions of a :class:`~coffeeshop_tui.scenarios.web.loadtest.LoadUpdate` (rich Text
only, no widgets), split from :mod:`.load` to keep that module one screen's layout and keys.
"""

from __future__ import annotations

import bisect

from rich.text import Text

from coffeeshop_tui.scenarios.web.explain_load import errors_text, fmt_latency, littles_law
from coffeeshop_tui.scenarios.web.load_stats import HIST_EDGES_NS

from ..lanes import format_duration

BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts) -> str:
    """Counts as bars (the highest is a full bar; 0 is blank)."""
    top = max(counts, default=0)
    if not top:
        return " " * len(counts)
    return "".join(BARS[0] if c == 0 else BARS[max(1, round(c / top * 8))] for c in counts)


def histogram_text(counts) -> str:
    """'5ms ▁▅█▃ 100ms': the non-empty span of the log buckets, labelled by its edges."""
    nz = [i for i, c in enumerate(counts) if c]
    if not nz:
        return ""
    lo, hi = nz[0], nz[-1]
    lower = "0" if lo == 0 else format_duration(HIST_EDGES_NS[lo - 1] / 1e9)
    upper = "∞" if hi == len(HIST_EDGES_NS) - 1 else format_duration(HIST_EDGES_NS[hi] / 1e9)
    return f"{lower} {sparkline(counts[lo:hi + 1])} {upper}"


NBSP = "\u00a0"
UNSTEADY_WHY = " (the load or the server changed in this window)"  # (littles_law's words)
EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(frac: float, cells: int) -> str:
    eighths = round(max(0.0, min(1.0, frac)) * cells * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def histogram_rows(s, width: int) -> Text:
    """The latency histogram as a row per bucket (a wide screen's panel): the bucket's edges,
    a bar scaled to the fullest bucket, its count, and which buckets hold p50 / p95 / p99.
    The non-empty span of :data:`HIST_EDGES_NS` over the window, successes only."""
    counts = s.w_hist
    nz = [i for i, c in enumerate(counts) if c]
    if not nz:
        return Text("no successful request in the window yet", style="dim")
    lo, hi = nz[0], nz[-1]
    marks: dict[int, list[str]] = {}
    for name, value in (("p50", s.p50_s), ("p95", s.p95_s), ("p99", s.p99_s)):
        if value is not None:
            marks.setdefault(bisect.bisect_left(HIST_EDGES_NS, int(value * 1e9)), []).append(name)
    top = max(counts)
    count_w = len(str(top))

    def edge(i: int) -> str:
        return "0" if i < 0 else format_duration(HIST_EDGES_NS[i] / 1e9)

    last = len(HIST_EDGES_NS) - 1
    labels = {i: f"> {edge(i - 1)}" if i == last else f"{edge(i - 1)}–{edge(i)}" for i in range(lo, hi + 1)}
    label_w = max(map(len, labels.values()))
    cells = max(4, width - label_w - count_w - 3 - 12)  # (room for the marks: " p50 p95 p99")
    t = Text(no_wrap=True, overflow="crop")
    for i in range(lo, hi + 1):
        if i > lo:
            t.append("\n")
        t.append(f"{labels[i]:>{label_w}} ", style="dim")
        t.append(f"{_bar(counts[i] / top, cells):<{cells}}", style="bold")
        t.append(f" {counts[i]:>{count_w}}")
        if i in marks:
            t.append(" " + " ".join(marks[i]), style="cyan")
    return t


def stats_text(u, narrow: bool = False, short: bool = False) -> Text:
    """The numbers under the caption, the most telling first (a short screen shows the first
    rows): in flight, throughput (successes; failures beside it), percentiles ('—' without a
    success), errors, dropped; loop and pool use; Little's law; the latency histogram; error
    kinds over the window. A label stays with its figure where a row could end between them
    (a no-break space: "errors 0", "p99 1.01 s").

    ``narrow`` (80 columns, ~54 for this text): shorter words, so that each group takes one
    row there and every row up to the histogram fits a 24-row screen; what only adds detail
    (to_thread workers, requests done) goes last, after the error kinds, and is left out
    when the screen is ``short`` too (its row is the timeline's)."""
    s = u.stats
    t = Text()

    def chunk(*parts: tuple[str, str]) -> None:
        """A label and its figures, two spaces after what came before on its row."""
        if t.plain and not t.plain.endswith("\n"):
            t.append("  ")
        for text, style in parts:
            t.append(text, style=style)

    def pct(name: str, value) -> str:  # (one unit: "p50 203 ms")
        return f"{name} {fmt_latency(value)}".replace(" ", NBSP)

    parts = [("in flight ", "dim"), (f"{s.in_flight}", "bold")]
    if s.earlier_in_flight:  # sent before the last switch, still out
        parts.append((f" (+{s.earlier_in_flight} before the switch)", "dim"))
    if s.server_in_flight is not None and not (narrow and s.server_in_flight == s.in_flight):
        parts.append((f" (server {s.server_in_flight})", "dim"))  # (narrow: only when it differs)
    chunk(*parts)
    chunk((f"throughput{NBSP}", "dim"), (f"{s.w_ok_rps:.1f} req/s ok", "bold"))
    w_err = sum(s.w_errors.values())
    if w_err and s.window_s > 0:
        chunk((f"+ {w_err / s.window_s:.1f}/s failing".replace(" ", NBSP), "bold red"))
    chunk((f"latency{NBSP}", "dim"), (pct("p50", s.p50_s), "bold"))
    chunk((pct("p95", s.p95_s), "bold"))
    chunk((pct("p99", s.p99_s), "bold"))
    if s.error_total:
        chunk((f"errors{NBSP}", "dim"), (f"{s.error_total} ({errors_text(s.errors)})", "bold red"))
    else:
        chunk((f"errors{NBSP}", "dim"), ("0", "bold"))
    if s.dropped:
        chunk((f"dropped {s.dropped}", "bold yellow"))
    extras: list[str] = []
    if s.recorded:  # the server's loop: the line that tells /bad from /async (2nd: never cut)
        t.append("\n")
        share = min(1.0, s.w_blocked_s / s.window_s) if s.window_s > 0 else 0.0
        chunk(("loop ", "dim"), (f"blocked {share:.0%}", "bold red" if share >= 0.2 else "bold"),
              (f" · busy {s.w_busy_share:.0%}", "dim"))
        if s.pool_total:
            busy = s.pool_borrowed if s.pool_borrowed is not None else 0
            full = s.pool_total and s.pool_max_borrowed >= s.pool_total
            chunk(("pool ", "dim"),
                  (f"{busy}/{s.pool_total} {'busy' if narrow else 'threads busy'}", "bold red" if full else "bold"),
                  (f" (max{NBSP}{s.pool_max_borrowed})", "dim"))
        if s.executor_workers:
            extras.append(f"to_thread workers{NBSP}{s.executor_workers}")
        extras.append(f"done{NBSP}{s.done}")
        if not narrow:  # (room on the loop's row)
            for extra in extras:
                chunk((extra, "dim"))
            extras = []
    t.append("\n")
    law = littles_law(s)
    if narrow:  # (the why of "not steady yet" takes a row there: the help says it)
        law = law.replace(UNSTEADY_WHY, "").replace("Little's law", f"Little's{NBSP}law")
    t.append(law, style="cyan")
    t.append(f"  [last {s.window_s:.1f} s]", style="dim")
    hist = histogram_text(s.w_hist)
    if hist:
        t.append("\nlatency ", style="dim")
        t.append(hist, style="bold")
        t.append(" (successes, log buckets)", style="dim")
    for kind, series in sorted(s.w_error_series.items(), key=lambda kv: -sum(kv[1]))[:3]:
        t.append(f"\n{kind:>7} ", style="dim")
        t.append(sparkline(series), style="red")
        t.append(f" {sum(series)} over the window", style="dim")
    if extras and not short:
        t.append("\n")
        for extra in extras:
            chunk((extra, "dim"))
    return t
