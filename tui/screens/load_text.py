"""The load screen's numbers as text: the stats block, the latency histogram, sparklines.

Pure functions of a :class:`~coffeeshop_tui.scenarios.web.loadtest.LoadUpdate` (rich Text
only, no widgets), split from :mod:`.load` to keep that module one screen's layout and keys.
"""

from __future__ import annotations

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


def stats_text(u) -> Text:
    """The numbers under the caption, the most telling first (a short screen shows the first
    rows): in flight, throughput (successes; failures beside it), percentiles ('—' without a
    success), errors, dropped; loop and pool use; Little's law; the latency histogram; error
    kinds over the window."""
    s = u.stats
    t = Text()
    t.append("in flight ", style="dim")
    t.append(f"{s.in_flight}", style="bold")
    if s.earlier_in_flight:  # sent before the last switch, still out
        t.append(f" (+{s.earlier_in_flight} before the switch)", style="dim")
    if s.server_in_flight is not None:
        t.append(f" (server {s.server_in_flight})", style="dim")
    t.append("  throughput ", style="dim")
    t.append(f"{s.w_ok_rps:.1f} req/s ok", style="bold")
    w_err = sum(s.w_errors.values())
    if w_err and s.window_s > 0:
        t.append(f" + {w_err / s.window_s:.1f}/s failing", style="bold red")
    t.append("  latency ", style="dim")
    t.append(f"p50\u00a0{fmt_latency(s.p50_s)}  p95\u00a0{fmt_latency(s.p95_s)}  "  # (each label
             f"p99\u00a0{fmt_latency(s.p99_s)}", style="bold")                   # with its figure)
    t.append("  errors ", style="dim")
    if s.error_total:
        t.append(f"{s.error_total} ({errors_text(s.errors)})", style="bold red")
    else:
        t.append("0", style="bold")
    if s.dropped:
        t.append(f"  dropped {s.dropped}", style="bold yellow")
    if s.recorded:  # the server's loop: the line that tells /bad from /async (2nd: never cut)
        t.append("\n")
        share = min(1.0, s.w_blocked_s / s.window_s) if s.window_s > 0 else 0.0
        t.append("loop ", style="dim")
        t.append(f"blocked {share:.0%}", style="bold red" if share >= 0.2 else "bold")
        t.append(f" · busy {s.w_busy_share:.0%}", style="dim")
        if s.pool_total:
            t.append("   pool ", style="dim")
            busy = s.pool_borrowed if s.pool_borrowed is not None else 0
            full = s.pool_total and s.pool_max_borrowed >= s.pool_total
            t.append(f"{busy}/{s.pool_total} threads busy", style="bold red" if full else "bold")
            t.append(f" (max\u00a0{s.pool_max_borrowed})", style="dim")
        if s.executor_workers:
            t.append(f"   to_thread workers {s.executor_workers}", style="dim")
        t.append(f"   done {s.done}", style="dim")
    t.append("\n")
    t.append(littles_law(s), style="cyan")
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
    return t
