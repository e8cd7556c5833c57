"""The scenario menu: scenarios grouped under their group's heading."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from scenarios.api import Scenario


class ScenarioList(OptionList):
    """An OptionList of scenarios; group headings are disabled options. Option id = name."""

    DEFAULT_CSS = """
    ScenarioList { height: 1fr; }
    """

    def __init__(self, scenarios: list[Scenario], **kwargs) -> None:
        self.scenarios = {s.name: s for s in scenarios}
        options: list[Option | None] = []
        group = None
        for s in scenarios:
            if s.group != group:
                group = s.group
                options.append(Option(Text(group, style="bold"), id=f"group:{group}", disabled=True))
            options.append(Option(f" {s.name}", id=s.name))
        super().__init__(*options, **kwargs)

    def highlight_name(self, name: str) -> None:
        """Move the highlight to scenario ``name`` (no-op if unknown)."""
        try:
            index = self.get_option_index(name)
        except Exception:
            return
        if self.highlighted != index:
            self.highlighted = index

    @property
    def highlighted_name(self) -> str | None:
        if self.highlighted is None:
            return None
        opt = self.get_option_at_index(self.highlighted)
        return opt.id if opt.id in self.scenarios else None
