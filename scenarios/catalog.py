"""Where scenarios come from: the built-in modules and users' scenario files.

Built-in scenarios are ours and are imported here. A user's scenario file is imported only
in a child process: :func:`describe_file` asks a child (``child.py`` in describe mode) what
the file declares, within ``DESCRIBE_TIMEOUT_S``; the parent gets description-only
:class:`Scenario` objects (``main`` is None) that run in a child like every scenario. A file
that hangs, loops, exits or crashes at import is a one-line :class:`ScenarioError`.
"""

from __future__ import annotations

import importlib
import os
import threading

from .api import Scenario, ScenarioError, load_file
from .baristas import MODULES

#: how long a scenario file may take to load (import) in a child: describing it, or running it
DESCRIBE_TIMEOUT_S = 10.0
CHILD_MODULE = "coffeeshop_tui.scenarios.child"


def builtin() -> list[Scenario]:
    out = []
    for name in MODULES:
        module = importlib.import_module(f"coffeeshop_tui.scenarios.baristas.{name}")
        out.extend(v for v in vars(module).values() if isinstance(v, Scenario))
    return out


def builtin_names() -> list[str]:
    return [s.name for s in builtin()]


def check_names(user: list[Scenario], path: str) -> None:
    """The one rule for names: a file's scenario may not take a built-in's name."""
    taken = set(builtin_names())
    for s in user:
        if s.name in taken:
            raise ScenarioError(f"{path}: scenario {s.name!r} has the name of a built-in scenario; "
                                f"rename it")


def import_user_file(path: str) -> list[Scenario]:
    """In a child process only: import the file, check its names, return its scenarios."""
    found = load_file(path)
    check_names(found, os.path.abspath(path))
    return found


def describe_file(path: str, timeout: float = DESCRIBE_TIMEOUT_S) -> list[Scenario]:
    """What a scenario file declares, learnt from a child process within ``timeout`` seconds."""
    from .procs import Tail, spawn
    from .protocol import read_messages, spec_arg

    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ScenarioError(f"scenario file not found: {path}")
    spec = {"mode": "describe", "scenario_file": path, "parent": os.getpid()}
    child = spawn(CHILD_MODULE, [spec_arg(spec)])
    found: dict = {}
    tail = Tail()

    def read() -> None:
        for msg in read_messages(child.proc.stdout):
            if msg["type"] in ("describe", "error"):
                found["msg"] = msg
                return

    reader = threading.Thread(target=read, name="describe-reader", daemon=True)
    reader.start()
    errs = threading.Thread(target=tail.read_from, args=(child.proc.stderr,), daemon=True)
    errs.start()
    try:
        reader.join(timeout)
        timed_out = reader.is_alive()
    finally:
        code = child.stop()  # the whole group: also anything the file started at import
        reader.join(5)
        errs.join(5)
        for stream in (child.proc.stdout, child.proc.stderr):
            stream.close()
    msg = found.get("msg")
    if msg is None:
        if timed_out:
            raise ScenarioError(f"{path}: still loading after {timeout:g} s (does the file run "
                                f"something at import time?)")
        last = tail.last_line()
        raise ScenarioError(f"{path}: the process exited with status {code} while loading the file"
                            + (f": {last}" if last else ""))
    if msg["type"] == "error":
        raise ScenarioError(str(msg.get("message", "cannot load the file")))
    return [Scenario.from_description(d) for d in msg.get("scenarios", ())]


def all_scenarios(scenario_file: str | None = None) -> list[Scenario]:
    found = builtin()
    if scenario_file:
        found += describe_file(scenario_file)
    return found


def find(name: str, scenario_file: str | None = None) -> Scenario:
    """A scenario by name (a user file's scenarios are described by a child)."""
    if scenario_file:
        user = describe_file(scenario_file)
        for s in user:
            if s.name == name:
                return s
        found = builtin() + user
    else:
        module = name.replace("-", "_")
        if module in MODULES:  # import just the one module
            mod = importlib.import_module(f"coffeeshop_tui.scenarios.baristas.{module}")
            for s in vars(mod).values():
                if isinstance(s, Scenario) and s.name == name:
                    return s
        found = builtin()
    for s in found:
        if s.name == name:
            return s
    raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(s.name for s in found)})")


def find_in_child(name: str, scenario_file: str | None = None) -> Scenario:
    """In a child process only: the runnable scenario (imports the user's file)."""
    if scenario_file:
        for s in import_user_file(scenario_file):
            if s.name == name:
                return s
    return find(name)
