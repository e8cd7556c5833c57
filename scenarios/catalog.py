"""Where scenarios come from: the built-in modules and users' scenario files."""

from __future__ import annotations

import importlib

from .api import Scenario, ScenarioError, load_file
from .baristas import MODULES


def builtin() -> list[Scenario]:
    out = []
    for name in MODULES:
        module = importlib.import_module(f"coffeeshop_tui.scenarios.baristas.{name}")
        out.extend(v for v in vars(module).values() if isinstance(v, Scenario))
    return out


def all_scenarios(scenario_file: str | None = None) -> list[Scenario]:
    found = builtin()
    if scenario_file:
        found += load_file(scenario_file)
    return found


def find(name: str, scenario_file: str | None = None) -> Scenario:
    if scenario_file:
        for s in load_file(scenario_file):
            if s.name == name:
                return s
    module = name.replace("-", "_")
    if module in MODULES:  # import just the one module: a child starts faster
        mod = importlib.import_module(f"coffeeshop_tui.scenarios.baristas.{module}")
        for s in vars(mod).values():
            if isinstance(s, Scenario) and s.name == name:
                return s
    found = all_scenarios(scenario_file)
    for s in found:
        if s.name == name:
            return s
    raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(s.name for s in found)})")
