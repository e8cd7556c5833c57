"""Launch-to-first-frame time of the real command against a bare Textual app, side by side.

    uv run python bench/app_launch.py [--repeat N]

Starts `coffeeshop-tui` (the venv's console script, as `uv run coffeeshop-tui` does after
its own start-up) and, alternating with it, a bare Textual app with a list and a footer
(bench/_bare_app.py, the same interpreter) in a detached tmux pane, and polls capture-pane
until the first frame is drawn (the menu and the footer). Prints the medians and their
ratio (issue 10.8: within 1.2x). Needs tmux.

Both start as on a user's machine, with Python's bytecode caches (written by the warm-up
launches into a temporary PYTHONPYCACHEPREFIX, whatever PYTHONDONTWRITEBYTECODE says).
``--no-pyc-cache`` compiles every module from source at every launch instead (what an
environment with PYTHONDONTWRITEBYTECODE=1 does): that measures the size of the code imported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def launch_once(cmd: str, sock: str, env: dict[str, str]) -> float:
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    for attempt in range(5):  # a server still going away can refuse a new session for a moment
        t0 = time.perf_counter()
        started = subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "40", cmd],
                                 cwd=ROOT, env=env, capture_output=True)
        if started.returncode == 0:
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"tmux could not start {cmd}: {started.stderr.decode().strip()}")
    try:
        while time.perf_counter() - t0 < 20:
            screen = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p"], capture_output=True, text=True).stdout
            if "blocking-barista" in screen and "Quit" in screen:
                return time.perf_counter() - t0
            time.sleep(0.005)
        raise RuntimeError(f"{cmd}: no first frame within 20 s")
    finally:
        subprocess.run(["tmux", "-L", sock, "send-keys", "q"], capture_output=True)
        time.sleep(0.3)
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-pyc-cache", action="store_true",
                    help="compile every module from source at every launch (no bytecode caches)")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed: skipped")
        return
    app = os.path.join(os.path.dirname(sys.executable), "coffeeshop-tui")
    bare = f"{sys.executable} {os.path.join(HERE, '_bare_app.py')}"
    sock = f"cs-launch-{os.getpid()}"
    # ignore_cleanup_errors: a launch still exiting (under load) may write one more .pyc meanwhile
    with tempfile.TemporaryDirectory(prefix="cs-launch-pyc-", ignore_cleanup_errors=True) as cache:
        env = dict(os.environ)
        if args.no_pyc_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPYCACHEPREFIX"] = cache  # empty and never written: no cache is read
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        # tmux passes the client's environment to a new server's sessions
        launch_once(bare, sock, env)  # warm the file cache (and the bytecode caches) for both
        launch_once(app, sock, env)
        ours, ref = [], []
        for _ in range(args.repeat):  # alternating: both see the same machine load
            ref.append(launch_once(bare, sock, env))
            ours.append(launch_once(app, sock, env))
    m_ours, m_ref = statistics.median(ours), statistics.median(ref)
    print(f"coffeeshop-tui   median {m_ours:.3f} s  (min {min(ours):.3f}, max {max(ours):.3f})")
    print(f"bare Textual app median {m_ref:.3f} s  (min {min(ref):.3f}, max {max(ref):.3f})")
    mode = "no bytecode caches" if args.no_pyc_cache else "with bytecode caches"
    print(f"ratio {m_ours / m_ref:.2f}x over {args.repeat} alternating launches each, {mode} "
          f"(target <= 1.2x); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
