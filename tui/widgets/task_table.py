"""The task table: every task of the run shown, with its time per state; sortable, filterable,
and a row jumps to the task's lane in the timeline.

Opened with ``a`` on the main screen (tui/keymap.py). The figures come from the snapshot on
screen (:func:`task_rows`), so a paused view lists the tasks of the moment shown.
"""

from __future__ import annotations

from typing import NamedTuple

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from coffeeshop_tui.scenarios.explain import fmt_s

from .. import keymap

#: (column title, TaskRow field) in the order the columns are shown and ``S`` cycles the sort
COLUMNS = (("total", "total"), ("running", "running"), ("waiting", "waiting"),
           ("starved", "starved"), ("blocked", "blocked"))
#: what each lane state counts as in the table
_STATE_COLUMN = {"running": "running", "blocked": "blocked", "starved": "starved", "waiting": "waiting",
                 "lock": "waiting", "io": "waiting", "thread": "waiting", "queued": "waiting"}


class TaskRow(NamedTuple):
    key: str  # the lane's key (to jump to it)
    group: str
    task: int
    label: str
    start: float
    total: float
    running: float
    waiting: float
    starved: float
    blocked: float


def task_rows(snapshot, t: float | None = None) -> list[TaskRow]:
    """One row per task lane of ``snapshot``, its time per state (up to ``t`` if given)."""
    rows = []
    for lane in snapshot.lanes:
        if lane.kind != "task" or not lane.segments:
            continue
        tot = dict.fromkeys(("running", "waiting", "starved", "blocked"), 0.0)
        start = lane.segments[0].start
        if t is not None and start > t:
            continue
        end = start
        for seg in lane.segments:
            if t is not None and seg.start >= t:
                break
            e = seg.end if t is None else min(seg.end, t)
            col = _STATE_COLUMN.get(seg.state)
            if col:
                tot[col] += e - seg.start
            end = e
        rows.append(TaskRow(lane.key, lane.group, lane.task, lane.label, start, end - start, **tot))
    return rows


class TaskTableScreen(ModalScreen[TaskRow | None]):
    """Every task, sortable (``S`` or a click on a column) and filterable by name; enter
    jumps to the task's lane (the screen closes with the chosen row)."""

    KEYMAP = keymap.TASKS
    BINDINGS = keymap.bindings(keymap.TASKS)

    DEFAULT_CSS = """
    TaskTableScreen { align: center middle; }
    TaskTableScreen > Vertical { width: 90%; height: 90%; background: $panel; border: round $accent; }
    TaskTableScreen #task-title { height: auto; max-height: 3; padding: 0 1; color: $text-accent; text-style: bold; }
    TaskTableScreen #task-filter { margin: 0 1; }
    TaskTableScreen DataTable { height: 1fr; }
    """

    def __init__(self, rows: list[TaskRow], title: str = "") -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title
        self.sort_col = 0  # index in COLUMNS
        self.query_text = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="task-title")
            yield Input(placeholder="filter by name (enter: to the table)", id="task-filter", compact=True)
            yield DataTable(id="task-table", cursor_type="row", zebra_stripes=True)
            yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("task", key="label")
        for title, field in COLUMNS:
            table.add_column(title, key=field)
        self._fill()
        table.focus()

    def shown_rows(self) -> list[TaskRow]:
        """The rows listed: filtered by name, sorted by the chosen column (largest first)."""
        q = self.query_text.lower()
        rows = [r for r in self.rows if q in r.label.lower()] if q else list(self.rows)
        field = COLUMNS[self.sort_col][1]
        rows.sort(key=lambda r: (getattr(r, field), -r.task), reverse=True)
        return rows

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = self.shown_rows()
        for r in rows:
            label = f"{r.group} · {r.label}" if r.group else r.label
            table.add_row(label, *(fmt_s(getattr(r, field)) for _t, field in COLUMNS),
                          key=f"{r.group}|{r.key}")
        title = COLUMNS[self.sort_col][0]
        self.query_one("#task-title", Static).update(
            f"{len(rows)} of {len(self.rows)} tasks{' · ' + self.title_text if self.title_text else ''}"
            f" · sorted by {title} (S or click a column) · enter: go to its lane")

    def action_sort_next(self) -> None:
        """Sort by the next column."""
        self.sort_col = (self.sort_col + 1) % len(COLUMNS)
        self._fill()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        fields = [f for _t, f in COLUMNS]
        if event.column_key.value in fields:
            self.sort_col = fields.index(event.column_key.value)
            self._fill()

    @on(Input.Changed, "#task-filter")
    def _filter(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self._fill()

    @on(Input.Submitted, "#task-filter")
    def _to_table(self, _event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        for r in self.rows:
            if f"{r.group}|{r.key}" == key:
                self.dismiss(r)
                return

    def action_close(self) -> None:
        self.dismiss(None)
