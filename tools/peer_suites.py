"""Run other projects' asyncio test suites with the recorder on for every event loop, and off.

    uv run python tools/peer_suites.py --python /root/.pyenv/versions/3.12.1/bin/python3
    uv run python tools/peer_suites.py --suite anyio            # anyio's tests, asyncio backend
    uv run python tools/peer_suites.py --suite asyncio -j 2 --only test_asyncio.test_tasks

The recorder must be invisible to the program it records: a test that passes without it
must pass with it. Each suite runs twice in a fresh interpreter, once plain and once with a
``sitecustomize`` (put first on PYTHONPATH, so every process the suite starts, workers and
subprocesses included, has it) that calls ``autorecord.record_all_loops()``. Per-test
failures come from JUnit XML; the tests that fail only with the recorder are re-run on
their own (recorder on) to tell flaky ones apart. Prints the counts and those tests.

* ``asyncio``: CPython's ``test.test_asyncio`` for ``--python`` (its ``test`` package must
  be installed).
* ``anyio``: anyio's own tests (they ship in its sdist only), for the anyio version this
  project uses, on the asyncio backend, in a venv of ``--python`` with anyio's test extras.
  Skipped with a note if the sdist or its test dependencies cannot be had.

Exit status: 0 when no test fails only with the recorder, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "coffeeshop-tui", "peer_suites")

SITECUSTOMIZE = '''\
import os
if os.environ.get("COFFEESHOP_AUTORECORD") == "1":
    import atexit
    from coffeeshop_tui.scenarios.autorecord import record_all_loops

    _seen = {"recordings": set(), "batches": 0, "steps": 0}

    def _sink(recording, batch):  # bounded: keeps counts only
        _seen["recordings"].add(recording)
        _seen["batches"] += 1
        _seen["steps"] += len(batch["steps"]) // 3

    def _report():
        d = os.environ.get("COFFEESHOP_AUTORECORD_STATS")
        if d and _seen["batches"]:
            with open(os.path.join(d, f"{os.getpid()}.txt"), "w") as f:
                f.write(f"{len(_seen['recordings'])} {_seen['batches']} {_seen['steps']}\\n")

    atexit.register(_report)  # registered first: runs after the recorder's own atexit
    record_all_loops(_sink)
'''


def die(msg: str) -> None:
    print(f"coffeeshop-tui: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def bootstrap_dir(tmp: str, scenarios: str) -> str:
    """A PYTHONPATH entry with our sitecustomize and ``coffeeshop_tui.scenarios`` (the
    recorder is stdlib-only, so any interpreter can import it from a copy of the source)."""
    d = os.path.join(tmp, "boot")
    os.makedirs(os.path.join(d, "coffeeshop_tui"))
    # a copy: edits to the source tree during a run do not mix versions
    shutil.copytree(scenarios, os.path.join(d, "coffeeshop_tui", "scenarios"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(d, "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE)
    return d


def env_for(boot: str, on: bool, stats: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = boot
    env["COFFEESHOP_AUTORECORD"] = "1" if on else "0"
    env["COFFEESHOP_AUTORECORD_STATS"] = stats
    return env


def output_of(xml_path: str) -> str:
    """Where a run's console output goes: beside its JUnit XML (kept with ``--keep``)."""
    return os.path.splitext(xml_path)[0] + ".log"


def results(xml_path: str) -> tuple[set[str], set[str]]:
    """(ids of tests that failed or errored, ids of all tests run) from a JUnit XML file."""
    if not os.path.exists(xml_path):
        return set(), set()
    root = ET.parse(xml_path).getroot()
    failed, ran = set(), set()
    for tc in root.iter("testcase"):
        name = tc.get("name", "")
        cls = tc.get("classname")
        tid = f"{cls}::{name}" if cls else name
        ran.add(tid)
        if tc.find("failure") is not None or tc.find("error") is not None:
            failed.add(tid)
    return failed, ran


def stats_of(d: str) -> str:
    procs = recs = batches = steps = 0
    for p in glob.glob(os.path.join(d, "*.txt")):
        with open(p) as f:
            r, b, s = (int(x) for x in f.read().split())
        procs, recs, batches, steps = procs + 1, recs + r, batches + b, steps + s
    return f"{procs} processes recorded, {recs} recordings, {batches} batches, {steps} steps"


class Suite:
    name = ""

    def run(self, on: bool, xml: str) -> int: ...
    def rerun(self, tid: str, on: bool) -> bool: ...


class AsyncioSuite(Suite):
    name = "test_asyncio"

    def __init__(self, python, boot, tmp, jobs, only):
        self.python, self.boot, self.tmp, self.jobs, self.only = python, boot, tmp, jobs, only

    def check(self) -> str | None:
        r = subprocess.run([self.python, "-c", "import test.test_asyncio"], capture_output=True)
        return None if r.returncode == 0 else "its test package (test.test_asyncio) is missing"

    def run(self, on: bool, xml: str, stats: str) -> int:
        cmd = [self.python, "-m", "test", "-j", str(self.jobs), "--junit-xml", xml,
               *(self.only or ["test_asyncio"])]
        with open(output_of(xml), "wb") as out:
            return subprocess.run(cmd, cwd=self.tmp, env=env_for(self.boot, on, stats),
                                  stdout=out, stderr=subprocess.STDOUT).returncode

    def rerun(self, tid: str, on: bool, stats: str) -> bool:
        test_id = tid.split("::")[-1]
        r = subprocess.run([self.python, "-m", "unittest", test_id], cwd=self.tmp,
                           env=env_for(self.boot, on, stats), capture_output=True, timeout=600)
        return r.returncode == 0


class AnyioSuite(Suite):
    name = "anyio"

    def __init__(self, python, boot, tmp):
        self.python, self.boot, self.tmp = python, boot, tmp
        self.version = importlib.metadata.version("anyio")
        self.src = os.path.join(CACHE, f"anyio-{self.version}")
        self.venv = os.path.join(CACHE, "venvs", f"anyio-{self.version}-" + os.path.basename(
            os.path.dirname(os.path.dirname(os.path.realpath(python)))))

    def check(self) -> str | None:
        os.makedirs(CACHE, exist_ok=True)
        if not os.path.isdir(self.src):
            dl = os.path.join(CACHE, "dl")
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                                ":all:", "-d", dl, f"anyio=={self.version}"], capture_output=True)
            if r.returncode != 0:
                r = subprocess.run(["pip", "download", "--no-deps", "--no-binary", ":all:", "-d", dl,
                                    f"anyio=={self.version}"], capture_output=True)
            tars = glob.glob(os.path.join(dl, f"anyio-{self.version}.tar.gz"))
            if not tars:
                return "anyio's sdist could not be downloaded"
            shutil.unpack_archive(tars[0], CACHE)
        py = os.path.join(self.venv, "bin", "python")
        if not os.path.exists(py):
            uv = shutil.which("uv")
            if uv is None:
                return "uv is not on PATH"
            if subprocess.run([uv, "venv", "-q", "--python", self.python, self.venv]).returncode:
                return "no venv for that Python"
            r = subprocess.run([uv, "pip", "install", "-q", "--python", py, "-e", self.src,
                                *self.test_requirements()], capture_output=True, text=True)
            if r.returncode != 0:
                shutil.rmtree(self.venv, ignore_errors=True)
                return "anyio's test dependencies could not be installed: " + r.stderr.strip()[-300:]
        self.py = py
        return None

    def test_requirements(self) -> list[str]:
        """anyio's "test" dependency group, without coverage and the uvloop/winloop backends."""
        import tomllib

        with open(os.path.join(self.src, "pyproject.toml"), "rb") as f:
            group = tomllib.load(f).get("dependency-groups", {}).get("test", [])
        skip = ("coverage", "uvloop", "winloop")
        return [r.strip() for r in group if isinstance(r, str) and not r.strip().startswith(skip)]

    def _cmd(self, xml: str | None, tests: list[str]) -> list[str]:
        # asyncio backend only (not trio, not uvloop: the recorder needs a stdlib loop)
        cmd = [self.py, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-k", "not trio and not uvloop", "-m", "not network"]
        if xml:
            cmd += ["--junitxml", xml]
        return cmd + tests

    def run(self, on: bool, xml: str, stats: str) -> int:
        with open(output_of(xml), "wb") as out:
            return subprocess.run(self._cmd(xml, ["tests"]), cwd=self.src, env=env_for(self.boot, on, stats),
                                  stdout=out, stderr=subprocess.STDOUT).returncode

    def rerun(self, tid: str, on: bool, stats: str) -> bool:
        cls, _, name = tid.partition("::")
        parts = cls.split(".")
        path = "/".join(parts[:-1]) + ".py" if parts[-1][:1].isupper() else "/".join(parts) + ".py"
        node = f"{path}::{parts[-1]}::{name}" if parts[-1][:1].isupper() else f"{path}::{name}"
        r = subprocess.run(self._cmd(None, [node]), cwd=self.src, env=env_for(self.boot, on, stats),
                           capture_output=True, timeout=600)
        return r.returncode == 0


def compare(suite, tmp: str, reruns: int) -> int:
    """Run ``suite`` recorder off, then on; print the counts and the recorder-only failures
    (each re-run ``reruns`` times with the recorder and without); return how many of those
    are not flaky (they fail again with the recorder)."""
    res = {}
    for on in (False, True):
        stats = os.path.join(tmp, f"stats-{suite.name}-{on}")
        os.makedirs(stats, exist_ok=True)
        xml = os.path.join(tmp, f"{suite.name}-{'on' if on else 'off'}.xml")
        suite.run(on, xml, stats)
        res[on] = results(xml)
        label = "recorder on " if on else "recorder off"
        print(f"  {label}: {len(res[on][0])} failed of {len(res[on][1])} tests"
              + (f"  ({stats_of(stats)})" if on else ""), flush=True)
    missing = sorted(res[False][1] - res[True][1])
    if missing:
        print(f"  not run with the recorder (crashed or not collected): {len(missing)}: {', '.join(missing[:5])}"
              f"  (console output: {output_of(os.path.join(tmp, f'{suite.name}-on.xml'))})")
    only_on = sorted(res[True][0] - res[False][0])
    only_off = sorted(res[False][0] - res[True][0])
    flaky, real = [], []
    rstats = os.path.join(tmp, "stats-rerun")
    os.makedirs(rstats, exist_ok=True)
    for tid in only_on:
        on = sum(suite.rerun(tid, True, rstats) for _ in range(reruns))
        off = sum(suite.rerun(tid, False, rstats) for _ in range(reruns))
        (flaky if on == reruns else real).append((tid, on, off))
    print(f"  failures only with the recorder: {len(real)}"
          + (f"  (+{len(flaky)} flaky: passed {reruns}/{reruns} re-runs with it)" if flaky else ""))
    for tid, on, off in real + flaky:
        kind = "FAIL only with recorder" if (tid, on, off) in real else "flaky"
        print(f"    {kind}: {tid}  (re-runs passed: with recorder {on}/{reruns}, without {off}/{reruns})")
    if only_off:
        print(f"  failures only without the recorder: {len(only_off)} ({', '.join(only_off[:5])})")
    return len(real)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="interpreter to run the suites with")
    ap.add_argument("--suite", choices=["asyncio", "anyio", "all"], default="all")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="test_asyncio worker processes (default 2)")
    ap.add_argument("--only", nargs="*", help="test_asyncio modules to run (default: all of test_asyncio)")
    ap.add_argument("--reruns", type=int, default=3, help="re-runs of each recorder-only failure")
    ap.add_argument("--keep", metavar="DIR", help="keep the JUnit XML files, console output and stats in DIR")
    ap.add_argument("--scenarios", metavar="DIR", default=os.path.join(ROOT, "scenarios"),
                    help="the scenarios package to record with (default: this tree's; another "
                         "version of the recorder to compare, with autorecord.py in it)")
    args = ap.parse_args()
    if not (os.path.isfile(args.python) and os.access(args.python, os.X_OK)):
        die(f"--python: not an executable file: {args.python}")
    if args.jobs < 1 or args.reruns < 1:
        die("--jobs and --reruns must be >= 1")
    ver = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                         capture_output=True, text=True).stdout.strip()
    bad = 0
    if not os.path.isfile(os.path.join(args.scenarios, "autorecord.py")):
        die(f"--scenarios: no autorecord.py in {args.scenarios}")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        if os.listdir(args.keep):
            die(f"--keep: not an empty directory: {args.keep}")
    with tempfile.TemporaryDirectory(prefix="peer-suites-") as tmp:
        boot = bootstrap_dir(tmp, args.scenarios)
        tmp = args.keep or tmp
        suites = []
        if args.suite in ("asyncio", "all"):
            suites.append(AsyncioSuite(args.python, boot, tmp, args.jobs, args.only))
        if args.suite in ("anyio", "all"):
            suites.append(AnyioSuite(args.python, boot, tmp))
        probe = subprocess.run([args.python, "-c", "from coffeeshop_tui.scenarios import recorder_hooks as h; "
                                "print(h.describe_recorder())"], capture_output=True, text=True,
                               env=env_for(boot, False, tmp))
        impl = probe.stdout.strip() or f"unknown ({probe.stderr.strip().splitlines()[-1:]})"
        for suite in suites:
            print(f"{suite.name} on Python {ver} ({args.python}), recorder: {impl}", flush=True)
            if not impl.startswith("compiled"):
                print("  (the compiled recorder is built per Python: run this project's tests with that "
                      "Python once, e.g. tests/test_pythons.py, to build it into scenarios/)", flush=True)
            why = suite.check()
            if why:
                print(f"  skipped: {why}")
                continue
            bad += compare(suite, tmp, args.reruns)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
