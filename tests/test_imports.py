"""The measured core never imports Textual (the TUI presents; scenarios measure)."""

import pkgutil
import subprocess
import sys

import scenarios

from conftest import ROOT


def test_scenarios_import_without_textual():
    names = ["scenarios"] + [m.name for m in pkgutil.walk_packages(scenarios.__path__, "scenarios.")
                             if m.name != "scenarios.child"]
    assert "scenarios.recorder" in names and "scenarios.baristas.sync_barista" in names
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
