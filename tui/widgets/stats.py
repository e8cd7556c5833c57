"""The stats panel: wall vs ideal, speed-up, blocked share, worst lag, states, sparklines."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from coffeeshop_tui.scenarios.explain import TOO_FAST, fmt_s, plural, speedup_verdict

from .quiet import update_static


def stats_table(stats: dict | None) -> Table | Text:
    """A small two-column table of what was measured (``report.summary`` dict): the verdicts
    first (wall, speed-up, blocked share), then what they rest on."""
    if not stats:
        return Text("no run yet", style="dim")
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True, min_width=9)
    t.add_column(no_wrap=False, overflow="fold")  # a narrow panel wraps: nothing is cut
    wall = stats.get("wall_s") or 0.0
    seq, ovl = stats.get("ideal_sequential_s"), stats.get("ideal_overlapped_s")
    t.add_row("wall", Text(fmt_s(wall), style="bold"))
    o = stats.get("open")
    if o:  # an open system: arrivals, throughput, time in the shop, Little's law
        t.add_row("arrivals", Text.assemble((f"{o['arrival_rate']:.1f}/s", "bold"),
                                            (f" {o['arrived']} in all", "dim")))
        t.add_row("served", Text.assemble((f"{o['throughput']:.1f}/s", "bold"), (f" {o['served']} in all", "dim")))
        t.add_row("in shop", Text.assemble((str(o["in_system_now"]), "bold"),
                                           (f" now, {o['mean_in_system']:.1f} avg", "dim")))
        t.add_row("time in", Text.assemble(fmt_s(o["time_in_system_s"]), (" avg (W)", "dim")))
        ok = o["little_ok"]
        t.add_row("Little", Text.assemble((f"L {o['mean_in_system']:.1f} ≈ λW {o['little_l']:.1f}"
                                           if ok else f"L {o['mean_in_system']:.1f} ≠ λW {o['little_l']:.1f}",
                                           "green" if ok else "yellow"),
                                          (" ✓" if ok else " not steady", "dim")))
    value, note, flag = speedup_verdict(stats)
    if flag:
        style = "yellow" if flag == TOO_FAST else "dim"
        t.add_row("speed-up", Text.assemble((value, f"bold {style}" if flag == TOO_FAST else "bold"),
                                            (f" {note}" if note else "", style)))
    blocked = stats.get("blocked_s") or 0.0
    share = blocked / wall if wall > 0 else 0.0
    t.add_row("blocked", Text.assemble((f"{share:.0%}", "bold red" if share >= 0.5 else "bold"),
                                       (f" {fmt_s(blocked)} in {plural(stats.get('blocks', 0), 'block')}", "dim")))
    if not o:  # what the speed-up is measured against (after the verdicts: 80x24 shows ~5 rows)
        t.add_row("ideal", Text.assemble(fmt_s(seq), (" one by one", "dim")))
        t.add_row("", Text.assemble(fmt_s(ovl), (" overlapped", "dim")))
    t.add_row("worst lag", fmt_s(stats.get("max_lag_s") or 0.0))
    return t


def compare_table(pins: list | None) -> Text:
    """One line per compared run: letter, wall, speed-up, blocked share, scenario."""
    if not pins:
        return Text("")
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append("   wall      speed  blocked", style="dim")
    for pin in pins:
        ps = pin.stats or {}
        pw = ps.get("wall_s") or 0.0
        pb = (ps.get("blocked_s") or 0.0) / pw if pw else 0.0
        out.append("\n")
        out.append(f"{pin.letter} ", style="bold magenta")
        out.append(f"{fmt_s(pw):>8}  {(ps.get('speedup') or 0):5.2f}x  ")
        out.append(f"{pb:>6.0%}", style="bold red" if pb >= 0.5 else "")
        out.append(f"  {pin.scenario}", style="dim")
    return out


def states_table(stats: dict | None) -> Table | Text:
    """Time summed over tasks, per state."""
    if not stats:
        return Text("")
    st = stats.get("states_s") or {}
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True, min_width=9)
    t.add_column(no_wrap=True)
    t.add_row("tasks ran", fmt_s(st.get("running", 0.0)))
    t.add_row("waited", fmt_s(st.get("waiting", 0.0)))
    t.add_row("starved", fmt_s(st.get("starved", 0.0)))
    return t


class StatsPanel(VerticalScroll):
    """Numbers first, then sparklines of loop lag and ready-but-starved tasks over the run."""

    DEFAULT_CSS = """
    StatsPanel { height: 1fr; }
    StatsPanel > #states-table { height: auto; }
    StatsPanel > #compare-table { height: auto; margin-bottom: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    StatsPanel > #stats-table { height: auto; }
    StatsPanel .spark-row { height: 1; }
    StatsPanel .spark-row > Label { width: 12; color: $text-muted; }
    StatsPanel .spark-row > Sparkline { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        # a compare's table first: at 80x24 the panel shows ~5 rows, A B C must be among them
        yield Static("", id="compare-table")
        yield Static(stats_table(None), id="stats-table")
        with Horizontal(classes="spark-row"):
            yield Label("lag", id="lag-label")
            yield Sparkline([], id="lag-spark")
        with Horizontal(classes="spark-row"):
            yield Label("ready", id="ready-label")
            yield Sparkline([], id="ready-spark")
        yield Static("", id="states-table")

    def show(self, stats: dict | None, lag=(), runnable=(), pins=None) -> None:
        update_static(self.query_one("#stats-table", Static), stats_table(stats))
        compare = self.query_one("#compare-table", Static)
        update_static(compare, compare_table(pins))
        if bool(pins) != compare.display:
            compare.display = bool(pins)
            self.scroll_home(animate=False)  # the compare table (first) in view
        update_static(self.query_one("#states-table", Static), states_table(stats))
        self.query_one("#lag-spark", Sparkline).data = list(lag) or [0.0]
        self.query_one("#ready-spark", Sparkline).data = list(runnable) or [0.0]
        worst = max(lag) if lag else 0.0
        most = max(runnable) if runnable else 0.0
        update_static(self.query_one("#lag-label", Label), f"lag {fmt_s(worst)}" if worst else "loop lag")
        update_static(self.query_one("#ready-label", Label), f"ready {most:.1f}" if most else "ready tasks")
