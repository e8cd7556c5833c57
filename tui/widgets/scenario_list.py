"""The scenario menu: scenarios grouped under their group's heading."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from coffeeshop_tui.scenarios.api import Scenario


class ScenarioList(OptionList):
    """An OptionList of scenarios; group headings are disabled options. Option id = name."""

    DEFAULT_CSS = """
    ScenarioList { height: 1fr; }
    """

    def __init__(self, scenarios: list[Scenario], load_tests: list[tuple[str, str]] = (), **kwargs) -> None:
        """``load_tests``: (endpoint, lesson) pairs, listed as a group of their own with
        option ids ``load:/endpoint``."""
        self.scenarios = {s.name: s for s in scenarios}
        options: list[Option | None] = []
        group = None
        for s in scenarios:
            if s.group != group:
                group = s.group
                options.append(Option(Text(group, style="bold"), id=f"group:{group}", disabled=True))
            options.append(Option(f" {s.name}", id=s.name))
        if load_tests:
            options.append(Option(Text("Load tests (FastAPI)", style="bold"), id="group:load", disabled=True))
            for endpoint, _lesson in load_tests:
                options.append(Option(f" GET {endpoint}", id=f"load:{endpoint}"))
        super().__init__(*options, **kwargs)

    def highlight_name(self, name: str) -> None:
        """Move the highlight to scenario ``name`` (no-op if unknown)."""
        try:
            index = self.get_option_index(name)
        except Exception:
            return
        if self.highlighted != index:
            self.highlighted = index
