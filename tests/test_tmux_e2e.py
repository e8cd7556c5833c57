"""End to end in a real terminal: tmux runs `uv run coffeeshop-tui`, a user drives it.

Picks blocking-barista, types a shorter brew time, raises customers, sees the lanes and the
caption change, starts a long run and quits in the middle of it: afterwards no process the
app started is left. The tmux server (own socket) is killed in any case.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [
    pytest.mark.slow,  # starts a real terminal
    pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("uv") is None, reason="needs tmux and uv"),
]


class Tmux:
    def __init__(self) -> None:
        self.socket = f"coffeeshop-e2e-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def __call__(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                             timeout=20)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app", check=False)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "app", *keys)

    def type_over(self, text: str) -> None:
        """Clear the focused input, then type ``text`` (sent apart: a terminal delivers
        backspaces and text typed by a person in separate reads)."""
        for _ in range(4):
            self.keys("BSpace")
            time.sleep(0.05)
        time.sleep(0.2)
        self("send-keys", "-t", "app", "-l", text)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "app"],
                              capture_output=True).returncode == 0

    def wait_for(self, predicate, what: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        size = self("list-windows", "-F", "#{window_width}x#{window_height}", check=False).strip()
        raise AssertionError(f"timed out waiting for {what}; window {size}; screen was:\n{text}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                out[p] = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        todo.extend(children.get(p, []))
    return out


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def make_coffee_lanes(text: str) -> int:
    return len(re.findall(r"Task-\d+ \(make_coffee\)", text))


def pick_blocking_barista(tmux: Tmux) -> None:
    """From the first entry, down to blocking-barista: one Down at a time, each waited for
    (its source file's name heads the source panel), so a slow screen is never pressed past it."""
    for source in ("async_barista.py", "blocking_barista.py"):
        tmux.keys("Down")
        tmux.wait_for(lambda s, source=source: f" {source} " in s, f"{source} in the source panel")
    tmux.wait_for(lambda s: "time.sleep inside" in s, "the blocking-barista lesson")


def test_tmux_blocking_barista_knobs_and_clean_quit():
    tmux = Tmux()
    try:
        env_cmd = f"cd {ROOT} && TERM=xterm-256color exec uv run coffeeshop-tui"
        tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", env_cmd)
        pane_pid = int(tmux("list-panes", "-t", "app", "-F", "#{pane_pid}").split()[0])

        tmux.wait_for(lambda s: "Scenarios" in s and "blocking-barista" in s and "Run" in s, "the app")
        pick_blocking_barista(tmux)
        assert "Run" in tmux.screen() and "Quit" in tmux.screen()  # the footer

        # select the brew_s knob and type a shorter brew: that runs it
        tmux.keys("k")
        tmux.keys("i")
        tmux.wait_for(lambda s: "enter applies" in s, "the knob input")
        tmux.type_over("0.2")
        tmux.wait_for(lambda s: re.search(r"^ 0\.2 ", s, re.M), "the typed value")
        tmux.keys("Enter")
        first = tmux.wait_for(lambda s: "serialized: 3 coffees took" in s and make_coffee_lanes(s) == 3,
                              "the first caption and three coffee lanes")
        assert "event loop" in first and "brew_s=0.2" in first
        assert "time.sleep(brew_s)" in first  # the source, with the blocking line

        # raise customers: select the customers knob, nudge it up: the scenario reruns
        tmux.keys("k")
        tmux.keys(">")
        second = tmux.wait_for(lambda s: "serialized: 4 coffees took" in s and make_coffee_lanes(s) == 4,
                               "the caption and the lanes to change")
        assert "customers=4" in second

        # a long run, then quit in the middle of it
        tmux.keys("k", "i")
        tmux.wait_for(lambda s: "enter applies" in s, "the knob input")
        tmux.type_over("5")
        tmux.wait_for(lambda s: re.search(r"^ 5 ", s, re.M), "the typed value")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "running blocking-barista" in s and "blocked right now" in s, "a long run")
        procs = descendants(pane_pid)
        children = {p: c for p, c in procs.items() if "coffeeshop_tui.scenarios.child" in c}
        assert children, procs
        tmux.keys("q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (tmux.alive() or any(running(p) for p in procs)):
            time.sleep(0.1)
        assert not tmux.alive(), "the app did not quit"
        left = {p: c for p, c in procs.items() if running(p)}
        assert not left, f"processes left behind: {left}"
    finally:
        tmux.kill()


def _start_long_run(tmux: Tmux) -> dict[int, str]:
    """Start the app, run blocking-barista with 5 s brews; returns the processes below the pane."""
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40",
         f"cd {ROOT} && TERM=xterm-256color exec uv run coffeeshop-tui")
    pane_pid = int(tmux("list-panes", "-t", "app", "-F", "#{pane_pid}").split()[0])
    tmux.wait_for(lambda s: "Scenarios" in s and "Quit" in s, "the app")
    pick_blocking_barista(tmux)
    tmux.keys("k")
    time.sleep(0.2)
    tmux.keys("i")
    tmux.wait_for(lambda s: "enter applies" in s, "the knob input")
    tmux.type_over("5")
    tmux.wait_for(lambda s: re.search(r"^ 5 ", s, re.M), "the typed value")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "blocked right now" in s, "a long run")
    procs = descendants(pane_pid)
    assert any("coffeeshop_tui.scenarios.child" in c for c in procs.values()), procs
    return procs


def _assert_all_gone(tmux: Tmux, procs: dict[int, str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (tmux.alive() or any(running(p) for p in procs)):
        time.sleep(0.1)
    assert not tmux.alive(), "the app did not quit"
    left = {p: c for p, c in procs.items() if running(p)}
    assert not left, f"processes left behind: {left}"


def test_tmux_ctrl_c_quits_and_stops_the_scenario():
    tmux = Tmux()
    try:
        procs = _start_long_run(tmux)
        tmux.keys("C-c")
        _assert_all_gone(tmux, procs)
    finally:
        tmux.kill()


def test_tmux_sigterm_stops_the_scenario():
    import signal

    tmux = Tmux()
    try:
        procs = _start_long_run(tmux)
        app_pid = next(p for p, c in procs.items() if "bin/coffeeshop-tui" in c)
        os.kill(app_pid, signal.SIGTERM)
        _assert_all_gone(tmux, procs)
    finally:
        tmux.kill()


def _threads(pid: int) -> str:
    """What each thread of ``pid`` waits in (kernel wait channel, state): said when it is left."""
    out = []
    try:
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(f"{base}/comm") as c, open(f"{base}/wchan") as w, open(f"{base}/stat") as st:
                    state = st.read().rsplit(")", 1)[1].split()[0]
                    wchan = w.read().strip()
                    out.append(f"{c.read().strip()}[{tid}] {state} in {wchan if wchan != '0' else '-'}")
            except OSError:
                continue
    except OSError:
        return "gone"
    return "; ".join(out)


def _close_terminal_and_check(tmux: Tmux, procs: dict[int, str]) -> None:
    """Kill the terminal (the tmux server) under ``procs``: every one of them ends."""
    tmux.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(running(p) for p in procs):
        time.sleep(0.1)
    left = {p: f"{c.strip()}  [threads: {_threads(p)}]" for p, c in procs.items() if running(p)}
    assert not left, f"still running after the terminal closed: {left}"


def _sigkill_left(procs: dict[int, str]) -> None:
    import signal

    for p in procs:
        if running(p):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.parametrize("args, ready", [
    ("", "Scenarios"),  # the app, a scenario running
    ("load --tui --endpoint /async --concurrency 2 --delay 0.05", "Load test"),  # a server too
])
def test_closing_the_terminal_under_the_app_leaves_no_process(args, ready):
    """tmux kill-session under the app once left it alive: deadlocked in its SIGHUP handler;
    or (the load screen) waiting at exit for Textual's input thread, which spun on the dead
    terminal at ~50% CPU; or (both) blocked for good in Textual's ``WriterThread.stop``: the
    writer had died on EIO with its queue full, after the SIGCONT the kernel sends with SIGHUP
    had started a second writer. Every process below the pane ends, the server and scenarios too."""
    tmux = Tmux()
    procs: dict[int, str] = {}
    try:
        # not exec: a shell owns the terminal, as when a user starts it from their shell
        cmd = f"cd {ROOT} && TERM=xterm-256color uv run coffeeshop-tui {args}; sleep 30"
        tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", cmd)
        pane_pid = int(tmux("list-panes", "-t", "app", "-F", "#{pane_pid}").split()[0])
        tmux.wait_for(lambda s: ready in s, "the app")
        if not args:
            tmux.keys("Enter")  # runs the highlighted scenario (sync-barista, 3 s)
        time.sleep(1.5)
        procs = {pane_pid: "uv run", **descendants(pane_pid)}
        assert len(procs) >= 3, procs  # uv, the app, its child (scenario or server)
        _close_terminal_and_check(tmux, procs)
    finally:
        tmux.kill()
        _sigkill_left(procs)


@pytest.mark.parametrize("when", ["importing", "first frame"])
def test_closing_the_terminal_while_the_app_starts_leaves_no_process(when):
    """The terminal closed during the launch: while the app imports (the cyclic GC is off, no
    handler of the app's yet), or as soon as its first frame shows (the rest of the panels
    are being mounted). The app ends in either state."""
    tmux = Tmux()
    procs: dict[int, str] = {}
    try:
        cmd = f"cd {ROOT} && TERM=xterm-256color uv run coffeeshop-tui; sleep 30"
        tmux("new-session", "-d", "-s", "app", "-x", "80", "-y", "24", cmd)
        pane_pid = int(tmux("list-panes", "-t", "app", "-F", "#{pane_pid}").split()[0])
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:  # the app's own process (below `uv run`)
            procs = {pane_pid: "uv run", **descendants(pane_pid)}
            if any("bin/coffeeshop-tui" in c for c in procs.values()):
                break
            time.sleep(0.01)
        assert any("bin/coffeeshop-tui" in c for c in procs.values()), procs
        if when == "first frame":
            tmux.wait_for(lambda s: "Scenarios" in s, "the first frame", timeout=40)
            procs = {pane_pid: "uv run", **descendants(pane_pid)}
        _close_terminal_and_check(tmux, procs)
    finally:
        tmux.kill()
        _sigkill_left(procs)
