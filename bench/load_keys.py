"""Key latency on the load-test screen under load: from a key press to its visible effect.

    uv run python bench/load_keys.py [--endpoint /bad] [--users 41] [--presses 20]

Starts ``coffeeshop-tui load --tui`` (the real server and load generator) in a detached
tmux pane, lets the load run a few seconds, then presses ``k`` (select the next knob) again
and again and polls the pane until the knob marker has moved: the time a user waits for a
key to show. Prints the median and the worst. Needs tmux; everything it starts is stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MARK = "▸"


def tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True, text=True).stdout


def marked(screen: str) -> str:
    """The knob line carrying the selection marker."""
    return next((line[:30] for line in screen.splitlines() if MARK in line[:30]), "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="/bad")
    ap.add_argument("--users", type=int, default=41)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds of load before the first press")
    ap.add_argument("--size", default="120x40")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("load_keys: tmux is not installed", file=sys.stderr)
        return 2
    exe = os.path.join(os.path.dirname(sys.executable), "coffeeshop-tui")
    cmd = (f"{exe} load --endpoint {args.endpoint} --concurrency {args.users} --duration 3600 --tui")
    sock = f"cs-keys-{os.getpid()}"
    cols, rows = args.size.split("x")
    tmux(sock, "new-session", "-d", "-x", cols, "-y", rows, cmd)
    try:
        t0 = time.monotonic()
        while "running" not in tmux(sock, "capture-pane", "-p").splitlines()[0]:
            if time.monotonic() - t0 > 30:
                raise RuntimeError("the load test did not start within 30 s")
            time.sleep(0.2)
        time.sleep(args.warmup)
        waits = []
        for _ in range(args.presses):
            before = marked(tmux(sock, "capture-pane", "-p"))
            t = time.perf_counter()
            tmux(sock, "send-keys", "k")
            while marked(tmux(sock, "capture-pane", "-p")) == before:
                if time.perf_counter() - t > 10:
                    break
                time.sleep(0.005)
            waits.append(time.perf_counter() - t)
            time.sleep(0.3)
        title = tmux(sock, "capture-pane", "-p").splitlines()[0].strip()
        print(f"{args.endpoint} with {args.users} users, {args.size}: key -> screen median "
              f"{1000 * statistics.median(waits):.0f} ms, worst {1000 * max(waits):.0f} ms over {len(waits)} presses")
        print(f"  ({title[:100]})")
    finally:
        subprocess.run(["tmux", "-L", sock, "send-keys", "q"], capture_output=True)
        time.sleep(1.0)
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
