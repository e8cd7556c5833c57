"""Launch-to-first-frame time of the real command, in a real terminal (tmux).

    uv run python bench/app_launch.py [--repeat N]

Starts `coffeeshop-tui` (the venv's console script, as `uv run coffeeshop-tui` does after
its own start-up) in a detached tmux pane and polls capture-pane until the scenario menu
is drawn. Prints the median over N launches (target <= 1.0 s). Needs tmux.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch_once(cmd: str, sock: str) -> float:
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "40", cmd], check=True, cwd=ROOT)
    try:
        while time.perf_counter() - t0 < 20:
            screen = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p"], capture_output=True, text=True).stdout
            if "blocking-barista" in screen and "Quit" in screen:
                return time.perf_counter() - t0
            time.sleep(0.01)
        raise RuntimeError("the app did not draw its first frame within 20 s")
    finally:
        subprocess.run(["tmux", "-L", sock, "send-keys", "q"], capture_output=True)
        time.sleep(0.3)
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed: skipped")
        return
    exe = os.path.join(os.path.dirname(sys.executable), "coffeeshop-tui")
    times = [launch_once(exe, f"cs-launch-{os.getpid()}") for _ in range(args.repeat)]
    print(f"launch to first frame: median {statistics.median(times):.3f} s, "
          f"min {min(times):.3f} s, max {max(times):.3f} s over {len(times)} launches")


if __name__ == "__main__":
    main()
