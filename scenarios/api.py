"""The scenario API: what a scenario file declares.

A scenario is an ``async def`` entry point plus a name, a one-line lesson and its
parameters (with defaults and ranges). Write your own in a Python file and load it with
``coffeeshop-tui run NAME --scenario-file my_scenarios.py`` (or in the app with
``coffeeshop-tui --scenario-file my_scenarios.py``)::

    import asyncio
    from coffeeshop_tui.scenarios.api import scenario, param

    @scenario(
        "two-waiters",
        lesson="Two waiters overlap their waits.",
        params=[param("wait_s", 0.5, 0.0, 5.0, help="how long each waits")],
    )
    async def main(wait_s: float) -> None:
        await asyncio.gather(asyncio.sleep(wait_s), asyncio.sleep(wait_s))

Every module-level object made by ``@scenario`` in the file becomes a scenario. The
entry point is called with every parameter as a keyword argument, on an event loop
that the recorder watches, in a child process of its own.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable


class ScenarioError(Exception):
    """A user mistake: unknown scenario, bad parameter, broken scenario file."""


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple | None = None
    step: float | None = None  # how much one key press changes it in the app

    @property
    def kind(self) -> type:
        return type(self.default)

    def parse(self, text: str) -> Any:
        """Parse and validate a value given as text (``--set name=value``)."""
        kind = self.kind
        try:
            if kind is bool:
                low = text.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                value: Any = low in ("1", "true", "yes", "on")
            elif kind is int:
                value = int(text)
            elif kind is float:
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = text
        except ValueError:
            raise ScenarioError(
                f"parameter {self.name!r}: {text!r} is not a valid {kind.__name__}"
            ) from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        kind = self.kind
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ScenarioError(f"parameter {self.name!r}: expected {kind.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ScenarioError(
                f"parameter {self.name!r}: {value!r} is not one of {', '.join(map(str, self.choices))}"
            )
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise ScenarioError(
                f"parameter {self.name!r}: {value!r} is out of range [{self.min}, {self.max}]"
            )
        return value

    def nudge(self, value: Any, direction: int) -> Any:
        """One step up (+1) or down (-1), clamped to the range."""
        if self.choices:
            i = self.choices.index(value) if value in self.choices else 0
            return self.choices[(i + direction) % len(self.choices)]
        if self.kind is bool:
            return not value
        step = self.step or (1 if self.kind is int else 0.1)
        new = value + direction * step
        if self.kind is float:
            new = round(new, 6)
        if self.min is not None:
            new = max(self.min, new)
        if self.max is not None:
            new = min(self.max, new)
        return self.kind(new)

    def description(self) -> dict:
        return {"name": self.name, "default": self.default, "min": self.min, "max": self.max,
                "help": self.help, "choices": list(self.choices) if self.choices is not None else None,
                "step": self.step}

    @classmethod
    def from_description(cls, d: dict) -> "Param":
        choices = d.get("choices")
        return cls(d["name"], d["default"], d.get("min"), d.get("max"), d.get("help", ""),
                   tuple(choices) if choices is not None else None, d.get("step"))



class Knobs:
    """Live parameter values of the running scenario.

    ``knobs["rate"]`` always returns the newest value: the app changes knobs while the
    scenario runs (see the ``open-shop`` scenario). Plain scenarios can ignore this and
    use the keyword arguments they were started with.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def _set_all(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    def _set(self, name: str, value: Any) -> None:
        values = dict(self._values)
        values[name] = value
        self._values = values  # swapped whole: readers never see a half-made dict


knobs = Knobs()


def param(name: str, default: Any, min: float | None = None, max: float | None = None,
          help: str = "", choices=None, step: float | None = None) -> Param:
    return Param(name, default, min, max, help, tuple(choices) if choices else None, step)


@dataclass(frozen=True)
class Scenario:
    name: str
    lesson: str
    main: Callable[..., Any]
    params: tuple[Param, ...] = ()
    group: str = "Barista scenarios"
    ideal: Callable[[dict], tuple[float, float]] | None = None
    source_file: str = ""
    module: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def live(self) -> bool:
        """True if the scenario reads ``knobs`` while it runs (knob changes apply live)."""
        return bool(self.extra.get("live"))

    @property
    def open_system(self) -> bool:
        """True for an open system (``@scenario(..., open_system=True)``: customers keep
        arriving): judged by arrivals, throughput, time in the system and Little's law, not
        by an ideal run time. Carried to the parent in ``extra`` (describe mode)."""
        return bool(self.extra.get("open_system"))

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise ScenarioError(f"scenario {self.name!r} has no parameter {name!r} (known: {known})")

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def resolve(self, settings: dict[str, Any] | None = None) -> dict:
        """Defaults overridden by ``settings`` (text values are parsed), all validated."""
        values = self.defaults()
        for key, value in (settings or {}).items():
            p = self.param(key)
            values[key] = p.parse(value) if isinstance(value, str) and p.kind is not str else p.check(value)
        return values

    def ideal_times(self, params: dict) -> tuple[float, float] | None:
        if self.ideal is None:
            return None
        return self.ideal(params)

    def ideal_or_none(self, params: dict) -> list[float] | None:
        """``ideal_times`` as a JSON-ready list; None if there is none or it does not fit."""
        try:
            ideal = self.ideal_times(params)
            return [float(ideal[0]), float(ideal[1])] if ideal is not None else None
        except Exception:  # a user's ideal() that does not fit its params
            return None

    def description(self) -> dict:
        """What the parent needs to know of a scenario, as JSON-ready data (no callables)."""
        return {
            "name": self.name, "lesson": self.lesson, "group": self.group,
            "params": [p.description() for p in self.params],
            "source_file": self.source_file, "module": self.module,
            "has_ideal": self.ideal is not None,
            "extra": {k: v for k, v in self.extra.items() if isinstance(v, (str, int, float, bool))},
        }

    @classmethod
    def from_description(cls, d: dict) -> "Scenario":
        """A scenario known by its description only (``main`` is None): it runs in a child."""
        return cls(
            name=str(d["name"]), lesson=str(d.get("lesson", "")), main=None,
            params=tuple(Param.from_description(p) for p in d.get("params", ())),
            group=str(d.get("group", "")), ideal=None, source_file=str(d.get("source_file", "")),
            module=str(d.get("module", "")), extra=dict(d.get("extra") or {}),
        )

    def source(self) -> str:
        try:
            with open(self.source_file, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return ""


def scenario(name: str, lesson: str, params=(), group: str = "Barista scenarios",
             ideal: Callable[[dict], tuple[float, float]] | None = None, **extra):
    """Decorator: turn an ``async def main(**params)`` into a Scenario."""

    def wrap(fn: Callable[..., Any]) -> Scenario:
        if not inspect.iscoroutinefunction(fn):
            raise ScenarioError(f"scenario {name!r}: the entry point must be an 'async def'")
        return Scenario(
            name=name,
            lesson=lesson,
            main=fn,
            params=tuple(params),
            group=group,
            ideal=ideal,
            source_file=inspect.getsourcefile(fn) or "",
            module=fn.__module__,
            extra=dict(extra),
        )

    return wrap


def load_file(path: str) -> list[Scenario]:
    """Import a user's scenario file and return the scenarios it declares.

    Only ever called in a child process (``scenarios/child.py``): a file that hangs, loops or
    exits at import must not take the CLI or the app with it. The parent learns what a file
    declares from :func:`coffeeshop_tui.scenarios.catalog.describe_file`.
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ScenarioError(f"scenario file not found: {path}")
    mod_name = "user_scenarios_" + str(abs(hash(path)))
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"not a Python file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    except SyntaxError as exc:
        raise ScenarioError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except BaseException as exc:  # any error importing the user's file is their mistake
        tb = exc.__traceback__
        line = ""
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == path:
                line = f":{tb.tb_lineno}"
            tb = tb.tb_next
        raise ScenarioError(f"{path}{line}: {type(exc).__name__}: {exc}") from None
    found = list({id(v): v for v in vars(module).values() if isinstance(v, Scenario)}.values())
    seen: set[str] = set()
    for s in found:
        if s.name in seen:
            raise ScenarioError(f"{path}: declares two scenarios named {s.name!r}")
        seen.add(s.name)
    if not found:
        raise ScenarioError(f"{path}: declares no scenario (decorate an async def with @scenario(...))")
    return [s if s.source_file else _with_source(s, path) for s in found]


def _with_source(s: Scenario, path: str) -> Scenario:
    from dataclasses import replace

    return replace(s, source_file=path)
