"""Pins and compare on the main screen: runs kept on one time axis (A, B, C...)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the first frame does not import the snapshot stack
    from coffeeshop_tui.scenarios.snapshot import Lane, Snapshot

LETTERS = "ABCDEFGH"
MAX_PINS = 4
COMPARE_SET = ("sync-barista", "async-barista", "blocking-barista")
COMPARE_SHARED = ("customers", "brew_s")


@dataclass
class Pinned:
    """A run kept on screen for comparison, drawn in its own lane group."""

    letter: str
    scenario: str
    params: dict
    snapshot: Snapshot
    stats: dict | None
    caption: str
    lanes: tuple[Lane, ...]
    source: Any = None

    @property
    def label(self) -> str:
        return f"{self.letter} {self.scenario}"


class CompareMixin:
    """Mixed into :class:`~coffeeshop_tui.tui.app.CoffeeShopApp` (uses its widgets and state)."""

    # ================================================================== compare
    def _pin_current(self, quiet: bool = False) -> bool:
        upd = self.latest
        if upd is None or upd.snapshot is None or not upd.snapshot.lanes:
            if not quiet:
                self.notify("nothing to pin yet: run a scenario first", timeout=3)
            return False
        if self._current_pinned:
            if not quiet:
                self.notify("this run is already pinned: run another one (r) to compare", timeout=3)
            return False
        if len(self.pins) >= MAX_PINS:
            dropped = self.pins.pop(0)
            for i, pin in enumerate(self.pins):  # re-letter the rest
                self.pins[i] = self._relabel(pin, LETTERS[i])
            if not quiet:
                self.notify(f"dropped the oldest pin ({dropped.label})", timeout=3)
        letter = LETTERS[len(self.pins)]
        pin = Pinned(letter, upd.scenario, dict(upd.params), upd.snapshot, upd.stats, upd.caption,
                     (), self._source)
        self.pins.append(self._relabel(pin, letter))
        self._current_pinned = True
        self._show_snapshot()
        self._show_status()
        self._shown_stats = None
        self._show_stats()
        if not quiet:
            self.notify(f"pinned {pin.label}: run another scenario (r) to see both on one axis; "
                        "x clears the pins", timeout=4)
        return True

    @staticmethod
    def _relabel(pin: Pinned, letter: str) -> Pinned:
        group = f"{letter} {pin.scenario}"
        lanes = tuple(replace(lane, group=group) for lane in pin.snapshot.lanes)
        return replace(pin, letter=letter, lanes=lanes)

    def action_pin(self) -> None:
        """Pin the current run: the next run is drawn under it, on the same time axis."""
        self._pin_current()

    def action_clear_pins(self) -> None:
        """Forget the pinned runs."""
        if not self.pins:
            self.notify("no pinned runs", timeout=2)
            return
        self.pins.clear()
        self._current_pinned = False
        self._shown_stats = None
        with self.batch_update():
            self._show_snapshot()
            self._show_status()
            self._show_stats()

    def _compare_params(self, name: str) -> dict:
        base = self.values.get(self.selected.name, {})
        params = dict(self.values[name])
        for key in COMPARE_SHARED:
            if key in base and key in params:
                params[key] = base[key]
        return params

    def action_compare(self) -> None:
        """Compare sync vs async vs blocking baristas: run each, pin each, one time axis."""
        missing = [n for n in COMPARE_SET if n not in self.by_name]
        if missing:
            self.notify(f"missing scenarios: {', '.join(missing)}", severity="error")
            return
        params = {n: self._compare_params(n) for n in COMPARE_SET}
        self.pins.clear()
        self._current_pinned = False
        self._comparing = True
        self._compare_queue = list(COMPARE_SET[1:])
        self.start_run(COMPARE_SET[0], params[COMPARE_SET[0]])
        for n in COMPARE_SET[1:]:
            self.values[n] = params[n]
        shared = ", ".join(f"{k}={params[COMPARE_SET[0]][k]}" for k in COMPARE_SHARED
                           if k in params[COMPARE_SET[0]])
        self.notify(f"running {', then '.join(COMPARE_SET)} ({shared}); each is pinned when it ends",
                    title="compare", timeout=5)

    def _end_compare(self) -> None:
        self._comparing = False
        self._compare_queue = []

