"""The measured core never imports Textual (the TUI presents; scenarios measure)."""

import pkgutil
import subprocess
import sys

import pytest

import coffeeshop_tui.scenarios as scenarios

from conftest import ROOT

pytestmark = pytest.mark.slow  # starts another interpreter


def test_scenarios_import_without_textual():
    names = ["coffeeshop_tui.scenarios"] + [
        m.name for m in pkgutil.walk_packages(scenarios.__path__, "coffeeshop_tui.scenarios.")
        if m.name != "coffeeshop_tui.scenarios.child"]
    assert "coffeeshop_tui.scenarios.recorder" in names and "coffeeshop_tui.scenarios.baristas.sync_barista" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not bad, bad\n"
        "print('ok', len(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
