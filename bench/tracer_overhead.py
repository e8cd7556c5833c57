"""Recorder overhead as users get it: the program's own time with and without `record`.

    uv run python bench/tracer_overhead.py [--repeat N] [--server-s S] [--skip-server] [--in-process]

Workloads (issue 9):
  (a) 10,000 tasks x 10 `await asyncio.sleep(0)`   -- the worst case: tiny steps   (target <= 1.10x)
  (b)  1,000 tasks x  5 `await asyncio.sleep(0.01)` -- a realistic I/O-bound shape   (target <= 1.02x)
  (c)  1 task x 20,000 `await asyncio.sleep(0)`      -- a loop iteration a step: what each
       iteration costs (the select probe), for information (no target)
Each is a small program that times itself (perf_counter around `asyncio.run`), run as
`python prog.py` and as `coffeeshop-tui record --json -- prog.py`, once with the pure-Python
hook (COFFEESHOP_RECORDER=python) and once with the compiled accelerator: the recorder's
drain thread, the pipe to the parent and the parent are all running, as they do for a user
(with --json the parent only reads the batches while the program runs, and decodes and
resolves them once it has ended: protocol.Reader's defer_bytes). The variants alternate, run after run; medians and their ratios to
the unrecorded program are printed, for its wall time and for its process's CPU time (the
program's threads and the recorder's drain thread: what recording costs the program itself,
without the other processes of a busy machine), and for its wall time less the time its
main thread waited for a CPU (``unqueued``: Linux schedstat): on a machine other processes
keep busy, the wall time is mostly their doing; this is what is left of it, the program's
own CPU time and its waits (the GIL, sleeps, the pipe).

Server: the demo app's `/async?delay=0` served by uvicorn (`WebServer`), recorded or not,
driven by 50 closed-loop users (aiohttp, in a process of its own, as the load screen and
`load --tui` drive it; the bench's process reads the recording; a headless `load` keeps its
generator in a thread) for `--server-s` seconds each, alternating: requests per second,
recorded / unrecorded (target >= 0.90x). `recorded[c]` reads the recording live (the load
screen, `load --save`); `headless[c]` only reads it while the server runs and decodes it at
the end, as a headless `load` / `load --json` does (`WebServer(defer_events=True)`).

`--in-process` adds the old side-by-side in one process (the hook alone, no drain thread),
with the cost of resolving a drain in the recorded process, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from coffeeshop_tui.scenarios import recorder_hooks as _h  # noqa: E402

PROGRAM = '''\
import asyncio, os, sys, time

async def sleeper(n, delay):
    for _ in range(n):
        await asyncio.sleep(delay)

async def main(which):
    if which == "a":
        await asyncio.gather(*(sleeper(10, 0) for _ in range(10_000)))
    elif which == "c":
        await sleeper(20_000, 0)
    else:
        await asyncio.gather(*(sleeper(5, 0.01) for _ in range(1_000)))

def queued():  # seconds this thread was runnable but waited for a CPU (Linux), else 0
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0

if os.environ.get("BENCH_NO_GC") == "1":  # --no-gc: the recorder's cost without the collector's
    import gc
    gc.disable()
q, t, c = queued(), time.perf_counter(), time.process_time()
asyncio.run(main(sys.argv[1]))
w = time.perf_counter() - t
print(f"OWN {w:.6f} {time.process_time() - c:.6f} {w - (queued() - q):.6f}", file=sys.stderr)
'''

EXE = os.path.join(os.path.dirname(sys.executable), "coffeeshop-tui")
VARIANTS = ("plain", "python", "c")
# "matched": the program started as `record`'s child starts it (python -P, the recorder's modules
# imported, gc.freeze, runpy), without recording: a baseline where the ratio is the recorder's
# own cost (record[c] / matched), apart from what the launch changes (e.g. (a) runs faster than
# under plain `python`: its heap and collector start from another state)
MATCHED = ("import gc, runpy, sys; import coffeeshop_tui.scenarios.record_child; gc.collect(); gc.freeze(); "
           "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def own_time(prog: str, which: str, variant: str) -> tuple[float, float, float]:
    env = dict(os.environ)
    if variant == "plain":
        cmd = [sys.executable, prog, which]
    elif variant == "matched":
        cmd = [sys.executable, "-P", "-c", MATCHED, prog, which]
    else:
        cmd = [EXE, "record", "--json", "--", prog, which]
        env[_h.ENV] = variant
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    for line in out.stderr.splitlines():
        if line.startswith("OWN "):
            _own, wall, cpu, unqueued = line.split()
            return float(wall), float(cpu), float(unqueued)
    raise RuntimeError(f"{variant}: no time reported\n{out.stderr[-2000:]}")


def bench_programs(repeat: int, variants: tuple[str, ...]) -> None:
    with tempfile.TemporaryDirectory() as d:
        prog = os.path.join(d, "prog.py")
        with open(prog, "w") as f:
            f.write(PROGRAM)
        for which, label in (("a", "(a) 10,000 tasks x 10 sleep(0)  "), ("b", "(b)  1,000 tasks x 5 sleep(0.01)"),
                             ("c", "(c) 1 task x 20,000 sleep(0)     ")):
            times: dict[str, list[tuple[float, float, float]]] = {v: [] for v in variants}
            for v in variants:  # warm-up (page cache, .pyc)
                own_time(prog, which, v)
            for _ in range(repeat):
                for v in variants:
                    times[v].append(own_time(prog, which, v))
            base = statistics.median(w for w, _c, _u in times["plain"])
            base_cpu = statistics.median(c for _w, c, _u in times["plain"])
            base_unq = statistics.median(u for _w, _c, u in times["plain"])
            parts = [f"plain {base * 1000:6.1f} ms"]
            for v in variants[1:]:
                m = statistics.median(w for w, _c, _u in times[v])
                c = statistics.median(c for _w, c, _u in times[v])
                u = statistics.median(u for _w, _c, u in times[v])
                parts.append(f"record[{v}] {m * 1000:6.1f} ms = {m / base:5.3f}x (CPU {c / base_cpu:5.3f}x,"
                             f" unqueued {u / base_unq:5.3f}x)")
            if "matched" in times and "c" in times:
                mm = statistics.median(w for w, _c, _u in times["matched"])
                mc = statistics.median(w for w, _c, _u in times["c"])
                parts.append(f"| matched launch {mm * 1000:6.1f} ms: record[c] = {mc / mm:5.3f}x of it")
            print(f"{label}: " + "   ".join(p for p in parts if not p.startswith("record[matched]")), flush=True)


# ------------------------------------------------------------------------------ server
async def _drive(url: str, users: int, seconds: float) -> float:
    import aiohttp

    done = 0
    end = time.monotonic() + seconds

    async def user(session):
        nonlocal done
        while time.monotonic() < end:
            async with session.get(url) as r:
                await r.read()
                if r.status == 200:
                    done += 1

    conn = aiohttp.TCPConnector(limit=users)
    async with aiohttp.ClientSession(connector=conn) as session:
        async with session.get(url) as r:  # warm
            await r.read()
        t = time.monotonic()
        done = 0
        await asyncio.gather(*(user(session) for _ in range(users)))
        return done / (time.monotonic() - t)


def server_rps(record: bool, variant: str, users: int, seconds: float, defer: bool = False) -> float:
    from coffeeshop_tui.scenarios.web.server import WebServer

    env = {_h.ENV: variant}
    srv = WebServer(record=record, env=env, defer_events=defer).start()
    try:
        # the load comes from a process of its own, as the app's load screen and `load --tui`
        # drive it (scenarios/web/loadgen_proc.py): this process only reads the recording
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--drive",
                              f"{srv.url}/async?delay=0", str(users), str(seconds)],
                             capture_output=True, text=True, timeout=seconds + 120)
        if out.returncode != 0:
            raise RuntimeError(f"the load driver failed:\n{out.stderr[-2000:]}")
        return float(out.stdout.split()[-1])
    finally:
        srv.stop()


def bench_server(repeat: int, seconds: float, users: int = 50) -> None:
    runs = {"plain": [], "python": [], "c": [], "headless": []}
    for _ in range(repeat):
        runs["plain"].append(server_rps(False, "c", users, seconds))
        runs["python"].append(server_rps(True, "python", users, seconds))
        runs["c"].append(server_rps(True, "c", users, seconds))
        runs["headless"].append(server_rps(True, "c", users, seconds, defer=True))
    base = statistics.median(runs["plain"])
    # the ratio of each round's runs side by side (a busy machine drifts between rounds), then their median
    ratio = {v: statistics.median(r / p for r, p in zip(runs[v], runs["plain"])) for v in runs}
    print(f"server /async?delay=0, {users} users, {seconds:g} s a run: unrecorded {base:6.0f} req/s   "
          + "   ".join(f"{'headless[c]' if v == 'headless' else f'recorded[{v}]'} "
                       f"{statistics.median(runs[v]):6.0f} req/s = {ratio[v]:5.3f}x"
                       for v in ("python", "c", "headless")), flush=True)


# -------------------------------------------------------------------------- in-process
def bench_in_process(repeat: int) -> None:
    import gc

    from coffeeshop_tui.scenarios.recorder import Recorder

    async def sleeper(n, delay):
        for _ in range(n):
            await asyncio.sleep(delay)

    async def wa():
        await asyncio.gather(*(sleeper(10, 0) for _ in range(10_000)))

    async def wb():
        await asyncio.gather(*(sleeper(5, 0.01) for _ in range(1_000)))

    def once(work, impl):
        loop = asyncio.new_event_loop()
        rec = None
        if impl:
            _h.use_recorder(impl)
            rec = Recorder()
        gc.collect()
        try:
            if rec:
                rec.install(loop)
            t = time.perf_counter()
            loop.run_until_complete(work())
            el = time.perf_counter() - t
            raw_s = res_s = 0.0
            if rec:
                rec.uninstall()
                t = time.perf_counter()
                with rec._drain_lock:
                    raw = rec._collect()
                raw_s = time.perf_counter() - t
                t = time.perf_counter()
                rec._resolver.resolve(raw)
                res_s = time.perf_counter() - t
            return el, raw_s, res_s
        finally:
            if rec:
                rec.uninstall()
            loop.close()

    impls = [None, "python"] + (["c"] if _h.use_recorder("c") == "c" else [])
    for work, label in ((wa, "(a)"), (wb, "(b)")):
        res = {i: [] for i in impls}
        for i in impls:
            once(work, i)
        for _ in range(repeat):
            for i in impls:
                res[i].append(once(work, i))
        base = statistics.median(r[0] for r in res[None])
        line = f"in-process {label}: untraced {base * 1000:6.1f} ms"
        for i in impls[1:]:
            el = statistics.median(r[0] for r in res[i])
            take = statistics.median(r[1] for r in res[i])
            resolve = statistics.median(r[2] for r in res[i])
            line += (f"   hook[{i}] {el / base:5.3f}x (taking the buffers {take / base:4.2f}x,"
                     f" resolving {resolve / base:4.2f}x of the run)")
        print(line, flush=True)
    _h.use_recorder()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--server-s", type=float, default=3.0, help="seconds of load per server run (default 3)")
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--skip-programs", action="store_true")
    ap.add_argument("--in-process", action="store_true")
    ap.add_argument("--matched", action="store_true",
                    help="also run each program launched as record's child launches it, unrecorded "
                         "(a baseline for the recorder's own cost)")
    ap.add_argument("--no-gc", action="store_true",
                    help="the programs run with the garbage collector off (recorded or not): `record` "
                         "freezes the objects made before the program starts (gc.freeze), so the "
                         "program's full collections scan fewer of them than unrecorded; this "
                         "leaves the recorder's own cost")
    ap.add_argument("--drive", nargs=3, metavar=("URL", "USERS", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:  # the load driver's own process (see server_rps)
        url, users, seconds = args.drive
        print(f"{asyncio.run(_drive(url, int(users), float(seconds))):.1f}")
        return
    have_c = _h.use_recorder("c") == "c"
    _h.use_recorder()
    variants = (VARIANTS if have_c else VARIANTS[:2]) + (("matched",) if args.matched else ())
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.repeat} alternating runs;"
          f" compiled accelerator: {'built' if have_c else 'NOT built'}", flush=True)
    if not args.skip_programs:
        if args.no_gc:
            os.environ["BENCH_NO_GC"] = "1"
        bench_programs(args.repeat, variants)
    if not args.skip_server:
        bench_server(max(3, args.repeat // 2), args.server_s)
    if args.in_process:
        bench_in_process(args.repeat)


if __name__ == "__main__":
    main()
