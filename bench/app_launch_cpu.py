"""CPU time to the first frame: the app against a bare Textual app, side by side (issue 10.8).

    uv run python bench/app_launch_cpu.py [--repeat N]

The second figure next to bench/app_launch.py's wall time, less sensitive to a busy machine:
the process's CPU time (user + sys of every thread, since the interpreter started) when the
first frame is written. Each launch runs in a detached tmux pane (a real terminal) through a
small wrapper that wraps Textual's terminal writer: once what it wrote holds the menu's
"blocking-barista" and the footer's "Quit" (the first frame bench/app_launch.py waits for), it
notes ``time.process_time()`` and ends the process. The app is started as the console script
does (``coffeeshop_tui.tui.cli.main`` with no arguments, so its launch path: parser, GC pause,
first frame); the reference is bench/_bare_app.py. Bytecode caches on, as in app_launch.py.
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


def _inner(which: str, out: str) -> None:
    """In the pane: run ``which`` (app | bare) until its first frame, write the CPU time to ``out``."""
    import textual.drivers.linux_driver as linux_driver

    written: list[str] = []
    write = linux_driver.LinuxDriver.write

    def noting_write(self, data: str) -> None:
        write(self, data)
        written.append(data)
        text = "".join(written)
        if "blocking-barista" in text and "Quit" in text:
            cpu = time.process_time()
            with open(out + ".tmp", "w") as fh:
                fh.write(f"{cpu:.6f}\n")
            os.replace(out + ".tmp", out)
            os._exit(0)

    linux_driver.LinuxDriver.write = noting_write
    if which == "app":
        from coffeeshop_tui.tui.cli import main

        sys.argv = ["coffeeshop-tui"]
        main()
    else:
        import runpy

        runpy.run_path(os.path.join(HERE, "_bare_app.py"), run_name="__main__")


def launch_once(which: str, sock: str, env: dict[str, str], folder: str) -> float:
    out = os.path.join(folder, f"{which}.cpu")
    if os.path.exists(out):
        os.unlink(out)
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
    cmd = f"{sys.executable} {os.path.abspath(__file__)} --inner {which} {out}"
    for _ in range(5):  # a server still going away can refuse a new session for a moment
        if subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "40", cmd],
                          cwd=ROOT, env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(out):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{which}: no first frame within 20 s")
            time.sleep(0.01)
        with open(out) as fh:
            return float(fh.read())
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--inner":
        _inner(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed: skipped")
        return
    sock = f"cs-launch-cpu-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="cs-launch-cpu-", ignore_cleanup_errors=True) as folder:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(folder, "pyc")
        launch_once("bare", sock, env, folder)  # warm the file and bytecode caches
        launch_once("app", sock, env, folder)
        ours, ref = [], []
        for _ in range(args.repeat):  # alternating: both see the same machine load
            ref.append(launch_once("bare", sock, env, folder))
            ours.append(launch_once("app", sock, env, folder))
    m_ours, m_ref = statistics.median(ours), statistics.median(ref)
    print(f"coffeeshop-tui   CPU to first frame median {m_ours * 1000:.0f} ms (min {min(ours) * 1000:.0f})")
    print(f"bare Textual app CPU to first frame median {m_ref * 1000:.0f} ms (min {min(ref) * 1000:.0f})")
    print(f"ratio {m_ours / m_ref:.2f}x (min/min {min(ours) / min(ref):.2f}x) over {args.repeat} alternating "
          f"launches each (target <= 1.2x); load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
