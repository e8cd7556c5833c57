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


def test_the_first_screen_does_not_import_the_load_test_stack():
    """Launch stays fast: the CLI's parser, the app and its first screen import no web
    framework, HTTP client or server, nor the load test itself (only when one is opened)."""
    code = (
        "import asyncio, sys\n"
        "from coffeeshop_tui.tui.cli import build_parser\n"
        "build_parser()\n"
        "from coffeeshop_tui.tui.app import create_app\n"
        "async def main():\n"
        "    app = create_app()\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.pause()\n"
        "        assert app.screen.query_one('#scenarios') is not None\n"
        "asyncio.run(main())\n"
        "heavy = ('fastapi', 'uvicorn', 'aiohttp', 'httpx', 'httpcore', 'h11', 'pydantic', 'uvloop',\n"
        "         'coffeeshop_tui.scenarios.web.loadtest', 'coffeeshop_tui.scenarios.web.load_session',\n"
        "         'coffeeshop_tui.tui.screens.load')\n"
        "bad = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy))\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_the_first_frame_imports_nothing_that_draws_or_measures_a_run():
    """Launch time: until the panels after the first frame are mounted, the app has imported
    neither the run stack (source, runner, explain, snapshot, timeline) nor the timeline view
    and the panels; they come with the panels (or the first run)."""
    code = (
        "import asyncio, sys\n"
        "from coffeeshop_tui.tui.cli import parse_app_launch\n"
        "assert parse_app_launch([]) is not None\n"
        "from coffeeshop_tui.tui.app import create_app\n"
        "late = ('coffeeshop_tui.tui.source', 'coffeeshop_tui.scenarios.runner',\n"
        "        'coffeeshop_tui.scenarios.explain', 'coffeeshop_tui.scenarios.snapshot',\n"
        "        'coffeeshop_tui.scenarios.timeline', 'coffeeshop_tui.scenarios.loop_moment',\n"
        "        'coffeeshop_tui.tui.timeline_view', 'coffeeshop_tui.tui.widgets.stats',\n"
        "        'coffeeshop_tui.tui.widgets.loop_panel', 'coffeeshop_tui.tui.screens.help',\n"
        "        'coffeeshop_tui.tui.cli_load', 'coffeeshop_tui.tui.cli_record')\n"
        "async def main():\n"
        "    app = create_app()\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        assert not app.panels_mounted.is_set()\n"
        "        early = sorted(m for m in late if m in sys.modules)\n"
        "        assert not early, early\n"
        "        await asyncio.wait_for(app.panels_mounted.wait(), 30)\n"
        "        await pilot.pause()\n"
        "        assert 'coffeeshop_tui.tui.timeline_view' in sys.modules\n"
        "asyncio.run(main())\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
