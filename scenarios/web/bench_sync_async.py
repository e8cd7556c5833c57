"""The blog post's benchmark, re-measured: "sync takes ~10 s, async ~1 s" -- does it?

    uv run python -m coffeeshop_tui.scenarios.web.bench_sync_async [--delay 1.0] [--n 10] [--n-pool 41] [--fresh]

Like the post, each case fires N concurrent GETs from one ``httpx.AsyncClient`` and times the
whole batch -- but with a timeout long enough for the slowest case (httpx's default of 5 s
makes the post's own client fail against /bad at N=10). Every measurement is printed beside
the popular claim and the reason it differs, using the server's real pool sizes (read from
``GET /_admin/pool``).

Default cases: /sync and /async with N=10 (the post's), /bad and /to_thread with N=10, and
/sync with N=41 (one more than anyio's 40 thread tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from dataclasses import dataclass

import httpx

from coffeeshop_tui.scenarios.web.server import WebServer

DEFAULT_CASES: tuple[tuple[str, int | None], ...] = (
    ("/sync", None),  # None -> n
    ("/async", None),
    ("/bad", None),
    ("/to_thread", None),
    ("/sync", -1),  # -1 -> n_pool
)


@dataclass(frozen=True, slots=True)
class PoolInfo:
    tokens: int  # anyio default thread limiter (def endpoints, run_in_threadpool)
    executor_workers: int  # asyncio default executor (asyncio.to_thread)


@dataclass(frozen=True, slots=True)
class BenchRow:
    endpoint: str
    n: int
    delay: float
    total_s: float  # wall time for the whole batch
    median_s: float  # median per-request time
    max_s: float
    errors: int  # requests that failed (exception or non-200)
    claim_s: float  # what the popular claim predicts
    claim: str
    expected_s: float  # what the real pool sizes predict
    reason: str  # why the measurement is what it is

    @property
    def ok(self) -> bool:
        return self.errors == 0


def _model(endpoint: str, n: int, delay: float, pools: PoolInfo) -> tuple[float, str, float, str]:
    """(claim_s, claim, expected_s, reason) for one case."""
    waves_tokens = math.ceil(n / pools.tokens)
    waves_exec = math.ceil(n / pools.executor_workers)
    if endpoint == "/sync":
        claim = f"blog: sync handles one request at a time -> {n} x {delay:g} s"
        exp = waves_tokens * delay
        if n <= pools.tokens:
            reason = (f"`def` endpoints run in anyio's thread pool ({pools.tokens} tokens); "
                      f"time.sleep blocks a worker thread, not the loop, so all {n} sleep together")
        else:
            reason = (f"{n} requests > {pools.tokens} thread tokens: the first {pools.tokens} sleep "
                      f"together, the rest wait for a free token -> {waves_tokens} waves")
        return n * delay, claim, exp, reason
    if endpoint in ("/async", "/good"):
        return (delay, f"blog: async waits together -> ~{delay:g} s", delay,
                "await asyncio.sleep hands the loop back: all requests wait at the same time")
    if endpoint == "/bad":
        return (delay, f"'async is fast' -> ~{delay:g} s", n * delay,
                "time.sleep inside `async def` blocks the event loop itself: requests run one "
                f"after another -> {n} x {delay:g} s")
    if endpoint == "/to_thread":
        return (delay, f"off the loop, like /safe -> ~{delay:g} s", waves_exec * delay,
                f"asyncio.to_thread uses the loop's default executor: min(32, CPUs + 4) = "
                f"{pools.executor_workers} threads, not anyio's {pools.tokens} -> {waves_exec} waves")
    if endpoint == "/safe":
        return (delay, f"blog: run_in_threadpool is safe -> ~{delay:g} s", waves_tokens * delay,
                f"run_in_threadpool shares anyio's {pools.tokens} tokens with `def` endpoints")
    return (delay, "(no claim)", float("nan"), "(no model for this endpoint)")


async def _batch(client: httpx.AsyncClient, url: str, n: int) -> tuple[float, list[float], int]:
    async def one(i: int) -> tuple[float, bool]:
        t0 = time.perf_counter()
        try:
            r = await client.get(url, headers={"x-request-id": f"b{i:06d}"})
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        return time.perf_counter() - t0, ok

    t0 = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(n)))
    total = time.perf_counter() - t0
    return total, [d for d, _ in results], sum(1 for _, ok in results if not ok)


def measure(base_url: str, endpoint: str, n: int, delay: float, pools: PoolInfo,
            timeout: float | None = None) -> BenchRow:
    """Fire n concurrent GETs at base_url+endpoint?delay=..., like the blog's script."""
    timeout = timeout if timeout is not None else n * delay + 30.0
    url = f"{base_url}{endpoint}?delay={delay:g}"

    async def go():
        limits = httpx.Limits(max_connections=max(100, n), max_keepalive_connections=max(20, n))
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            return await _batch(client, url, n)

    total, durations, errors = asyncio.run(go())
    claim_s, claim, exp, reason = _model(endpoint, n, delay, pools)
    return BenchRow(endpoint, n, delay, total, statistics.median(durations), max(durations),
                    errors, claim_s, claim, exp, reason)


def warm_up(base_url: str) -> None:
    """A few requests so the first case does not pay for imports and first connections."""
    with httpx.Client(timeout=30) as c:
        for path in ("/health", "/sync?delay=0", "/async?delay=0", "/to_thread?delay=0"):
            c.get(base_url + path)


def read_pools(base_url: str) -> PoolInfo:
    info = httpx.get(f"{base_url}/_admin/pool", timeout=10).json()
    return PoolInfo(int(info["total"]), int(info["default_executor_workers"]))


def run_blog_benchmark(
    delay: float = 1.0,
    n: int = 10,
    n_pool: int = 41,
    cases: tuple[tuple[str, int | None], ...] = DEFAULT_CASES,
    *,
    server: WebServer | None = None,
    fresh_server: bool = False,
    timeout: float | None = None,
) -> list[BenchRow]:
    """Run the cases and return one BenchRow each.

    cases: (endpoint, N) pairs; N None means `n`, -1 means `n_pool`.
    server: an already running demo server to use; otherwise one is started (and stopped).
    fresh_server: a new server per case (no warm threads from the previous case).
    """
    rows: list[BenchRow] = []
    resolved = [(ep, n if k is None else (n_pool if k == -1 else k)) for ep, k in cases]
    if server is not None:
        warm_up(server.url)
        pools = read_pools(server.url)
        for ep, k in resolved:
            rows.append(measure(server.url, ep, k, delay, pools, timeout))
        return rows
    if fresh_server:
        for ep, k in resolved:
            with WebServer() as srv:
                warm_up(srv.url)
                rows.append(measure(srv.url, ep, k, delay, read_pools(srv.url), timeout))
        return rows
    with WebServer() as srv:
        warm_up(srv.url)
        pools = read_pools(srv.url)
        for ep, k in resolved:
            rows.append(measure(srv.url, ep, k, delay, pools, timeout))
    return rows


def format_rows(rows: list[BenchRow]) -> str:
    lines = [f"{'endpoint':<11}{'N':>4}{'total s':>9}{'median':>8}{'max':>7}{'err':>5}"
             f"{'claim s':>9}{'expect s':>10}  why"]
    for r in rows:
        lines.append(f"{r.endpoint:<11}{r.n:>4}{r.total_s:>9.2f}{r.median_s:>8.2f}{r.max_s:>7.2f}"
                     f"{r.errors:>5}{r.claim_s:>9.2f}{r.expected_s:>10.2f}  {r.reason}")
    lines.append("")
    lines.append("claims: " + "; ".join(dict.fromkeys(f"{r.endpoint} {r.claim}" for r in rows)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Re-measure the blog's sync-vs-async benchmark.")
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--n-pool", type=int, default=41)
    p.add_argument("--fresh", action="store_true", help="a fresh server for each case")
    args = p.parse_args(argv)
    rows = run_blog_benchmark(args.delay, args.n, args.n_pool, fresh_server=args.fresh)
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
