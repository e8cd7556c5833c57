"""CPU of the app process while it animates a long open-shop run, over time (in tmux).

Starts ``coffeeshop-tui`` in a detached tmux session of the given size, runs open-shop (it
never ends by itself) and samples the app process's CPU time (user + system, all threads:
the UI and the producer thread) every ``--every`` seconds, printing CPU% of one core per
interval. The goal (issue 10.8): the figure does not grow with the run's length and stays
under 25% at 200x60.

    uv run python bench/app_cpu.py --seconds 180 --size 200x60

Needs tmux. Everything it starts is stopped at the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def app_pid(pane_pid: int) -> int:
    """The python process of the app: the pane's process itself (the command ``exec``s it),
    else the pane shell's child running coffeeshop_tui (never the scenario's own child)."""
    with open(f"/proc/{pane_pid}/cmdline", "rb") as fh:
        if b"coffeeshop_tui.tui.cli" in fh.read():
            return pane_pid
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pane_pid)], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "coffeeshop_tui.tui.cli" in args:
            return int(pid)
    return pane_pid


def wait_for(session: str, text: str, timeout: float = 20.0) -> None:
    t0 = time.monotonic()
    while text not in tmux("capture-pane", "-p", "-t", session):
        if time.monotonic() - t0 > timeout:
            screen = tmux("capture-pane", "-p", "-t", session)
            raise RuntimeError(f"app_cpu: {text!r} did not appear within {timeout:g} s:\n{screen}")
        time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--size", default="200x60")
    ap.add_argument("--rate", default="4", help="open-shop's rate knob (customers/s): a higher rate "
                    "reaches a long run's state (hundreds of customers waiting) sooner")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("app_cpu: tmux is not installed", file=sys.stderr)
        return 2
    cols, rows = args.size.split("x")
    session = f"coffee-cpu-{os.getpid()}"
    cmd = f"cd {ROOT} && exec {sys.executable} -m coffeeshop_tui.tui.cli"
    tmux("new-session", "-d", "-s", session, "-x", cols, "-y", rows, cmd)
    try:
        wait_for(session, "blocking-barista")
        pane_pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        pid = app_pid(pane_pid)
        # open-shop is the 8th barista scenario; its rate knob first
        for _ in range(7):
            tmux("send-keys", "-t", session, "Down")
            time.sleep(0.1)
        wait_for(session, "open-shop  (live knobs)")
        if args.rate != "4":  # type the rate knob's value (i), then run (r)
            tmux("send-keys", "-t", session, "i")
            wait_for(session, "enter applies")
            time.sleep(0.5)  # the input takes the focus
            tmux("send-keys", "-t", session, *["BSpace"] * 8)
            tmux("send-keys", "-t", session, "-l", args.rate)
            tmux("send-keys", "-t", session, "Enter")
            time.sleep(0.5)
            tmux("send-keys", "-t", session, "r")
        else:
            tmux("send-keys", "-t", session, "Enter")
        wait_for(session, "running open-shop")
        print(f"app pid {pid}, size {args.size}, open-shop rate={args.rate}; "
              f"CPU % of one core per {args.every:g} s")
        t0 = time.monotonic()
        last_t, last_c = t0, cpu_seconds(pid)
        while time.monotonic() - t0 < args.seconds:
            time.sleep(args.every)
            now, c = time.monotonic(), cpu_seconds(pid)
            print(f"  t={now - t0:6.0f} s  cpu {100 * (c - last_c) / (now - last_t):5.1f} %", flush=True)
            last_t, last_c = now, c
        screen = tmux("capture-pane", "-p", "-t", session)
        print("\n".join(line.rstrip() for line in screen.splitlines()[1:4]))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
