"""One import package, `coffeeshop_tui`, that runs from any folder of a user's project.

The user's folder here has its own `scenarios/` package, a `tui.py` and a `selectors.py` (a stdlib
name): none of them may be imported by our children, and `tui`/`scenarios` are not importable
from the installed copy.
"""

import json
import os
import subprocess
import sys

import pytest

EXE = os.path.join(os.path.dirname(sys.executable), "coffeeshop-tui")


@pytest.fixture
def user_folder(tmp_path):
    marker = tmp_path / "imported.txt"
    trap = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "__init__.py").write_text(trap + "raise ImportError('user scenarios')\n")
    (tmp_path / "tui.py").write_text(trap)
    (tmp_path / "selectors.py").write_text(trap + "raise ImportError('user selectors')\n")
    return tmp_path, marker


def test_generic_names_are_not_importable_from_the_install(tmp_path):
    code = ("import importlib.util as u, coffeeshop_tui.scenarios.api, coffeeshop_tui.tui.cli\n"
            "print(u.find_spec('tui'), u.find_spec('scenarios'))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None"]


@pytest.mark.slow
def test_run_from_a_folder_with_its_own_scenarios_package(user_folder):
    folder, marker = user_folder
    out = subprocess.run([EXE, "run", "async-barista", "--set", "brew_s=0.01", "--json"],
                         capture_output=True, text=True, cwd=folder, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "done"
    assert not marker.exists(), marker.read_text()


@pytest.mark.slow
def test_load_from_a_folder_with_its_own_scenarios_package(user_folder, no_leftover_children):
    folder, marker = user_folder
    out = subprocess.run([EXE, "load", "--endpoint", "/async", "--concurrency", "2", "--requests", "4",
                          "--delay", "0", "--json"], capture_output=True, text=True, cwd=folder, timeout=90)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["stats"]["done"] == 4
    assert not marker.exists(), marker.read_text()
