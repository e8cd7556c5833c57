"""How fast is our load generator compared with wrk?

    uv run python bench/loadgen_vs_wrk.py [--path /async?delay=0] [--connections 10]
                                           [--duration 4] [--rounds 2] [--clients aiohttp,httpx-aiohttp]

Starts the demo server (a child process on 127.0.0.1), then alternates, for each round:
wrk (-t1, same connections and duration) and our LoadGenerator (closed model, one virtual user
per connection) with each client backend. Prints requests/s of each and the ratio to wrk
(best round of each, and the median).

Needs the `wrk` program (Debian package `wrk`); without it, the script says so and exits 0.
Note: on a 2-CPU machine the server (one core, CPU-bound) and the load generator share the
machine, so the numbers are noisy; compare ratios from alternating rounds, not single runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coffeeshop_tui.scenarios.web.loadgen import CLIENTS, LoadGenerator  # noqa: E402
from coffeeshop_tui.scenarios.web.server import WebServer  # noqa: E402


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, connections: int, duration: float, threads: int = 1,
            headers: tuple[str, ...] = ()) -> float:
    hdr_args = [a for h in headers for a in ("-H", h)]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", *hdr_args, url],
        capture_output=True, text=True, timeout=duration + 30,
    )
    m = re.search(r"Requests/sec:\s*([\d.]+)", out.stdout)
    if not m:
        raise RuntimeError(f"could not parse wrk output:\n{out.stdout}\n{out.stderr}")
    return float(m.group(1))


def run_ours(url: str, connections: int, duration: float, client: str, precise_sent: bool) -> tuple[float, int]:
    lg = LoadGenerator(url, concurrency=connections, duration=duration, client=client,
                       connections=connections, precise_sent=precise_sent, drain_timeout=2.0)
    snap = asyncio.run(lg.run())
    return snap.ok / duration, snap.error_total


async def _raw_aiohttp(url: str, connections: int, duration: float) -> float:
    """The bare minimum aiohttp loop (no recording): the ceiling for our generator."""
    import time

    import aiohttp

    count = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as s:
        end = time.monotonic() + duration

        async def user() -> None:
            nonlocal count
            while time.monotonic() < end:
                async with s.get(url) as resp:
                    await resp.read()
                count += 1

        await asyncio.gather(*(user() for _ in range(connections)))
    return count / duration


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", default="/async?delay=0", help="endpoint (default: a trivial async one)")
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--clients", default="aiohttp,httpx-aiohttp",
                   help=f"comma-separated, from {', '.join(CLIENTS)}")
    p.add_argument("--imprecise-sent", action="store_true",
                   help="aiohttp: do not hook the connector to time 'sent'")
    p.add_argument("--wrk-plain", action="store_true",
                   help="wrk sends no x-request-id (by default it sends one, so the server does "
                        "the same work for both generators)")
    p.add_argument("--raw", action="store_true",
                   help="also run a bare aiohttp loop that records nothing (the ceiling)")
    args = p.parse_args(argv)

    if shutil.which("wrk") is None:
        print("SKIP: wrk is not installed (Debian package 'wrk'); nothing to compare against.")
        return 0
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    for c in clients:
        if c not in CLIENTS:
            p.error(f"unknown client {c!r}")

    wrk_headers = () if args.wrk_plain else ("x-request-id: r000001",)
    results: dict[str, list[float]] = {"wrk": [], **{c: [] for c in clients}}
    with WebServer() as srv:
        url = srv.url + args.path
        print(f"server pid {srv.pid} at {srv.url}; target {args.path}; "
              f"{args.connections} connections, {args.duration:g} s; {os.cpu_count()} CPUs; "
              f"wrk -t1{' -H x-request-id' if wrk_headers else ''}")
        run_wrk(url, args.connections, 1.0, headers=wrk_headers)  # warm-up

        def timed(name: str, fn) -> None:
            c0 = server_cpu_s(srv.pid)
            rps, note = fn()
            busy = (server_cpu_s(srv.pid) - c0) / args.duration * 100
            results.setdefault(name, []).append(rps)
            print(f"round {r}: {name:14s} {rps:9.0f} req/s   server CPU {busy:4.0f}%{note}")

        for r in range(1, args.rounds + 1):
            timed("wrk", lambda: (run_wrk(url, args.connections, args.duration, headers=wrk_headers), ""))
            if args.raw:
                timed("raw aiohttp", lambda: (asyncio.run(
                    _raw_aiohttp(url, args.connections, args.duration)), "  (bare loop, records nothing)"))
            for c in clients:
                def ours(c=c):
                    rps, errors = run_ours(url, args.connections, args.duration, c, not args.imprecise_sent)
                    return rps, f"  ({errors} errors)" if errors else ""
                timed(c, ours)

    print()
    wrk_best, wrk_med = max(results["wrk"]), statistics.median(results["wrk"])
    print(f"{'':16s}{'best':>9s}{'median':>9s}{'best/wrk':>10s}{'med/wrk':>9s}")
    for name, vals in results.items():
        best, med = max(vals), statistics.median(vals)
        print(f"{name:16s}{best:9.0f}{med:9.0f}{best / wrk_best:10.2f}{med / wrk_med:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
