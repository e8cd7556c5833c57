"""The measured core on every Python the machine has (asyncio internals differ: 3.12 eager
tasks, task-factory keyword arguments). Runs the core suites under 3.12 and 3.13 where
pyenv has them, each in a venv of its own."""

import glob
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # starts other interpreters

CORE = ["tests/test_recorder.py", "tests/test_runner.py", "tests/test_scenarios.py",
        "tests/test_eager.py", "tests/test_autorecord.py", "tests/test_invisible.py",
        # read suspended coroutine frames (3.13: f_locals is a proxy) and wrap loop internals
        "tests/test_wait_reasons.py", "tests/test_loop_queue.py"]


def _pythons():
    found = []
    for minor in ("3.12", "3.13"):
        paths = sorted(glob.glob(f"/root/.pyenv/versions/{minor}.*/bin/python{minor}"))
        found.append(pytest.param(paths[-1] if paths else None, id=minor))
    return found


@pytest.mark.parametrize("python", _pythons())
def test_core_suite_passes_on(python, tmp_path):
    if python is None:
        pytest.skip("this Python is not installed here")
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS")}
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "venv")
    out = subprocess.run(
        [uv, "run", "--quiet", "--python", python, "pytest", "-q", "-p", "no:cacheprovider", *CORE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
