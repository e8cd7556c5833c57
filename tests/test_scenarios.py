"""The barista scenarios, run for real in a child process, measured by the recorder."""

import itertools

import pytest

from coffeeshop_tui.scenarios.catalog import builtin, find
from coffeeshop_tui.scenarios.report import summary
from coffeeshop_tui.scenarios.runner import DONE, run_scenario
from coffeeshop_tui.scenarios.timeline import RUNNING, WAITING

from conftest import line_of

pytestmark = pytest.mark.slow  # starts real scenario children

BREW = 0.1


def _run(name, **params):
    run = run_scenario(name, params, timeout=60)
    assert run.status == DONE, (run.status, run.error, run.stderr_tail)
    return run.timeline


def _wall(tl):
    return (tl.end_ns - tl.start_ns) / 1e9


def _coffees(tl):
    return [seq for seq, t in tl.tasks.items() if t.coro == "make_coffee"]


def test_sync_barista_runs_one_coffee_after_another():
    tl = _run("sync-barista", customers=3, brew_s=BREW)
    steps = sorted(zip(tl.steps[0::3], tl.steps[1::3]))
    for (s1, e1), (s2, e2) in zip(steps, steps[1:]):
        assert e1 <= s2  # running segments never overlap
    assert 3 * BREW <= _wall(tl) <= 3 * BREW + 0.25  # (+0.1 failed once at load 5: 0.427 s)
    run_s = sum(e - s for seq in tl.tasks for st, s, e in tl.task_segments(seq) if st == RUNNING)
    assert run_s / 1e9 >= 3 * BREW


def test_async_barista_overlaps_the_waits():
    tl = _run("async-barista", customers=3, brew_s=BREW)
    coffees = _coffees(tl)
    assert len(coffees) == 3
    waits = [[(s, e) for st, s, e in tl.task_segments(c) if st == WAITING and e - s > 0.05e9][0]
             for c in coffees]
    for (s1, e1), (s2, e2) in itertools.combinations(waits, 2):
        assert s1 < e2 and s2 < e1  # the waits overlap
    assert BREW <= _wall(tl) <= BREW + 0.08
    assert not tl.blocks()


def test_blocking_barista_blocks_the_loop_at_time_sleep():
    sc = find("blocking-barista")
    tl = _run("blocking-barista", customers=3, brew_s=BREW)
    s = summary(tl)
    assert 3 * BREW <= s["blocked_s"] <= 3 * BREW + 0.05
    blocks = tl.blocks()
    assert len(blocks) == 3
    sleep_line = line_of(sc.source_file, "time.sleep(brew_s)")
    assert {b["where"] for b in blocks} == {f"{sc.source_file}:{sleep_line}"}
    assert {b["task"] for b in blocks} == set(_coffees(tl))
    # the last coffee was ready but starved while the other two held the loop
    assert s["max_lag_s"] >= 2 * BREW - 0.01


def test_forgotten_await_warns_with_creation_site_and_brews_nothing():
    sc = find("forgotten-await")
    tl = _run("forgotten-await", customers=3, brew_s=BREW)
    warns = [w for w in tl.warnings if w.kind == "never-awaited"]
    assert len(warns) == 3
    assert {w.where for w in warns} == {f"{sc.source_file}:{line_of(sc.source_file, 'make_coffee(n, brew_s)  # BUG')}"}
    assert not _coffees(tl)
    assert not any("is ready" in line for _t, line in tl.output if "coffee" in line and "none" not in line)
    assert _wall(tl) < BREW


def _waves(jobs, tol=0.03e9):
    """Group job start times into waves."""
    starts = sorted(j.start_ns for j in jobs)
    waves = [[starts[0]]]
    for s in starts[1:]:
        if s - waves[-1][0] > tol:
            waves.append([s])
        else:
            waves[-1].append(s)
    return [len(w) for w in waves]


def test_threadpool_barista_shows_worker_lanes_and_waves():
    tl = _run("threadpool-barista", customers=5, brew_s=BREW, executor_workers=2, anyio_tokens=3)
    lanes = tl.thread_lanes()
    executor = [j for j in tl.jobs if j.pool == "default executor"]
    anyio = [j for j in tl.jobs if j.pool == "anyio"]
    assert len(executor) == 5 and len(anyio) == 5
    assert len({j.thread for j in executor}) == 2
    assert len({j.thread for j in anyio}) == 3
    assert _waves(executor) == [2, 2, 1]
    assert _waves(anyio) == [3, 2]
    assert len(lanes) == 5
    assert not tl.blocks()


def test_threadpool_barista_default_pools():
    tl = _run("threadpool-barista", customers=8, brew_s=BREW, via="run_in_threadpool")
    assert _waves([j for j in tl.jobs if j.pool == "anyio"]) == [8]  # 40 tokens: one wave


def test_cpu_barista_processes_run_in_parallel_threads_do_not():
    tl = _run("cpu-barista", customers=2, work=400_000, mode="processes")
    jobs = [j for j in tl.jobs if j.pool == "process pool"]
    assert len(jobs) == 2
    a, b = jobs
    assert a.start_ns < b.end_ns and b.start_ns < a.end_ns  # overlapping: real parallelism
    tl = _run("cpu-barista", customers=2, work=400_000, mode="loop")
    assert len(tl.blocks()) >= 1 or max(e - s for s, e in zip(tl.steps[0::3], tl.steps[1::3])) > 0.01e9


def test_limited_baristas_queue_in_waves():
    tl = _run("limited-baristas", customers=5, baristas=2, brew_s=BREW)
    assert 3 * BREW <= _wall(tl) <= 3 * BREW + 0.1


def test_every_builtin_scenario_has_lesson_and_valid_defaults():
    names = [s.name for s in builtin()]
    assert names[:7] == ["sync-barista", "async-barista", "blocking-barista", "forgotten-await",
                         "threadpool-barista", "cpu-barista", "limited-baristas"]
    for s in builtin():
        assert s.lesson and s.source()
        assert s.resolve({}) == s.defaults()


@pytest.mark.parametrize("name", ["sync-barista", "blocking-barista"])
def test_param_validation(name):
    from coffeeshop_tui.scenarios.api import ScenarioError

    sc = find(name)
    with pytest.raises(ScenarioError, match="out of range"):
        sc.resolve({"customers": "0"})
    with pytest.raises(ScenarioError, match="not a valid int"):
        sc.resolve({"customers": "two"})
    with pytest.raises(ScenarioError, match="no parameter"):
        sc.resolve({"milk": "oat"})
